"""Apply kifu's migration files, once each, and keep a record of what was applied.

* Files apply in (number, filename) order, each in its own transaction together with its row in
  ``kifu_schema_migrations`` (filename, SHA-256, time, and whether it was applied or adopted).
* A session-level advisory lock serialises concurrent upgrades: the second waits, then finds
  nothing left to do.
* A file whose checksum differs from the recorded one stops the upgrade before anything is
  applied, naming the file. Released files are never edited; changes go in new files.
* A database migrated by hand (reference tables, no record) is adopted: see ``kifu.db.adopt``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from kifu.db import adopt
from kifu.db.files import MigrationFile, discover

BOOKKEEPING_TABLE = "kifu_schema_migrations"
# Any constant shared by every kifu process; "kifu" in ASCII.
ADVISORY_LOCK_KEY = 0x6B696675

_CREATE_BOOKKEEPING = f"""
CREATE TABLE IF NOT EXISTS {BOOKKEEPING_TABLE} (
    filename   TEXT PRIMARY KEY,
    sha256     CHAR(64) NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    how        TEXT NOT NULL CHECK (how IN ('applied', 'adopted'))
)
"""


class MigrationError(RuntimeError):
    """The upgrade was refused or a file failed; the message names the file and the reason."""


@dataclass
class FileStatus:
    filename: str
    state: str  # applied | adopted | pending | changed | unknown
    applied_at: datetime | None = None


@dataclass
class UpgradeResult:
    adopted: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)


def _recorded(conn: psycopg.Connection) -> dict[str, tuple[str, datetime, str]] | None:
    exists = conn.execute("SELECT to_regclass(%s)", (BOOKKEEPING_TABLE,)).fetchone()
    if exists is None or exists[0] is None:
        return None
    rows = conn.execute(f"SELECT filename, sha256, applied_at, how FROM {BOOKKEEPING_TABLE}")
    return {name: (sha, at, how) for name, sha, at, how in rows}


def status(conninfo: str, files: list[MigrationFile] | None = None) -> list[FileStatus]:
    """Every file's state; ``unknown`` marks recorded files this kifu does not ship."""
    files = discover() if files is None else files
    with psycopg.connect(conninfo, autocommit=True) as conn:
        recorded = _recorded(conn) or {}
    out = []
    for f in files:
        if f.filename not in recorded:
            out.append(FileStatus(f.filename, "pending"))
            continue
        sha, at, how = recorded[f.filename]
        out.append(FileStatus(f.filename, how if sha == f.sha256 else "changed", at))
    shipped = {f.filename for f in files}
    out.extend(
        FileStatus(name, "unknown", at)
        for name, (_, at, _) in sorted(recorded.items())
        if name not in shipped
    )
    return out


def _check_checksums(files: list[MigrationFile], recorded: dict) -> None:
    changed = [
        f.filename for f in files if f.filename in recorded and recorded[f.filename][0] != f.sha256
    ]
    if changed:
        raise MigrationError(
            f"migration file {changed[0]} was changed after it was applied (its SHA-256 no "
            "longer matches the record); nothing was applied. Restore the released file and "
            "put the change in a new migration file."
            + (f" Also changed: {', '.join(changed[1:])}." if changed[1:] else "")
        )


def upgrade(
    conninfo: str,
    *,
    files: list[MigrationFile] | None = None,
    stop_after: str | None = None,
    progress: Callable[[str, str], None] | None = None,
) -> UpgradeResult:
    """Bring the database up to date; returns what was adopted and what was applied.

    ``stop_after`` names the last file to apply (for tests and staged roll-outs).
    ``progress(action, filename)`` is called before each file is applied and after each adoption.
    """
    files = discover() if files is None else files
    if stop_after is not None:
        names = [f.filename for f in files]
        if stop_after not in names:
            raise MigrationError(f"no migration file named {stop_after}")
        files = files[: names.index(stop_after) + 1]
    notify = progress or (lambda _action, _name: None)
    result = UpgradeResult()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        try:
            recorded = _recorded(conn) or {}
            _check_checksums(files, recorded)
            pending = [f for f in files if f.filename not in recorded]
            to_adopt = _adoptable(conn, files, pending)
            with conn.transaction():
                conn.execute(_CREATE_BOOKKEEPING)
                for f in to_adopt:
                    _record(conn, f, "adopted")
            for f in to_adopt:
                result.adopted.append(f.filename)
                notify("adopted", f.filename)
            adopted = {f.filename for f in to_adopt}
            for f in pending:
                if f.filename in adopted:
                    continue
                notify("applying", f.filename)
                try:
                    with conn.transaction():
                        conn.execute(f.sql)
                        _record(conn, f, "applied")
                except psycopg.Error as exc:
                    raise MigrationError(
                        f"{f.filename} failed and was rolled back: {exc}".strip()
                    ) from exc
                result.applied.append(f.filename)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    return result


def _adoptable(
    conn: psycopg.Connection, files: list[MigrationFile], pending: list[MigrationFile]
) -> list[MigrationFile]:
    """The pending reference files that a hand migration already put in place."""
    candidates = {f.filename for f in pending if f.is_reference}
    if not candidates or not adopt.has_reference_tables(conn):
        return []
    reference = [f for f in files if f.is_reference]
    try:
        detection = adopt.detect(conn, reference, candidates)
    except adopt.UnrecognisedDatabase as exc:
        raise MigrationError(str(exc)) from exc
    present = set(detection.present)
    return [f for f in reference if f.filename in present]


def _record(conn: psycopg.Connection, f: MigrationFile, how: str) -> None:
    conn.execute(
        f"INSERT INTO {BOOKKEEPING_TABLE} (filename, sha256, how) VALUES (%s, %s, %s)",
        (f.filename, f.sha256, how),
    )
