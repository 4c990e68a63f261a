"""Apply kifu's migration files, once each, and keep a record of what was applied.

* Files apply in (number, filename) order, each in its own transaction together with its row in
  ``kifu_schema_migrations`` (filename, SHA-256, time, and whether it was applied or adopted).
* A session-level advisory lock serialises concurrent upgrades: the second waits, then finds
  nothing left to do.
* A file whose checksum differs from the recorded one stops the upgrade before anything is
  applied, naming the file. Released files are never edited; changes go in new files.
* A database migrated by hand (reference tables, no record) is adopted: see ``kifu.db.adopt``.
* Repeatable files (``kifu.db.files``: functions and triggers, idempotent SQL) apply after every
  versioned migration, under the same lock, in filename order, each in its own transaction
  together with its row in ``kifu_schema_repeatables`` (name, SHA-256, time). One applies when
  it has no row yet or its checksum differs from the recorded one; unchanged ones are not run.
  A changed repeatable is the normal way to change a definition, not an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from kifu.db import adopt
from kifu.db.files import MigrationFile, RepeatableFile, discover, discover_repeatables

BOOKKEEPING_TABLE = "kifu_schema_migrations"
REPEATABLE_TABLE = "kifu_schema_repeatables"
# Any constant shared by every kifu process; "kifu" in ASCII.
ADVISORY_LOCK_KEY = 0x6B696675

_CREATE_BOOKKEEPING = f"""
CREATE TABLE IF NOT EXISTS {BOOKKEEPING_TABLE} (
    filename   TEXT PRIMARY KEY,
    sha256     CHAR(64) NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    how        TEXT NOT NULL CHECK (how IN ('applied', 'adopted'))
);
CREATE TABLE IF NOT EXISTS {REPEATABLE_TABLE} (
    filename   TEXT PRIMARY KEY,
    sha256     CHAR(64) NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    """The upgrade was refused or a file failed; the message names the file and the reason."""


@dataclass
class FileStatus:
    filename: str
    state: str  # applied | adopted | pending | changed | unknown
    applied_at: datetime | None = None
    repeatable: bool = False  # a repeatable file: "changed" means the next upgrade re-applies it


@dataclass
class UpgradeResult:
    adopted: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    repeatables: list[str] = field(default_factory=list)  # (re-)applied repeatable files


def _repeatables_for(
    files: list[MigrationFile] | None, repeatables: list[RepeatableFile] | None
) -> list[RepeatableFile]:
    """The shipped repeatables go with the shipped migrations: they are written against the
    schema those build, so a caller that passes its own migration files gets none unless it
    passes repeatables too."""
    if repeatables is not None:
        return repeatables
    return discover_repeatables() if files is None else []


def _recorded(conn: psycopg.Connection) -> dict[str, tuple[str, datetime, str]] | None:
    exists = conn.execute("SELECT to_regclass(%s)", (BOOKKEEPING_TABLE,)).fetchone()
    if exists is None or exists[0] is None:
        return None
    rows = conn.execute(f"SELECT filename, sha256, applied_at, how FROM {BOOKKEEPING_TABLE}")
    return {name: (sha, at, how) for name, sha, at, how in rows}


def _recorded_repeatables(conn: psycopg.Connection) -> dict[str, tuple[str, datetime]]:
    exists = conn.execute("SELECT to_regclass(%s)", (REPEATABLE_TABLE,)).fetchone()
    if exists is None or exists[0] is None:
        return {}
    rows = conn.execute(f"SELECT filename, sha256, applied_at FROM {REPEATABLE_TABLE}")
    return {name: (sha, at) for name, sha, at in rows}


def status(
    conninfo: str,
    files: list[MigrationFile] | None = None,
    repeatables: list[RepeatableFile] | None = None,
) -> list[FileStatus]:
    """Every file's state, versioned migrations first, then repeatables (``repeatable=True``);
    ``unknown`` marks recorded files this kifu does not ship. A repeatable is ``applied`` when
    its recorded checksum is the file's, ``changed`` when the next upgrade will apply it again,
    ``pending`` when it was never applied."""
    repeatables = _repeatables_for(files, repeatables)
    files = discover() if files is None else files
    with psycopg.connect(conninfo, autocommit=True) as conn:
        recorded = _recorded(conn) or {}
        recorded_rep = _recorded_repeatables(conn)
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
    for r in repeatables:
        if r.filename not in recorded_rep:
            out.append(FileStatus(r.filename, "pending", repeatable=True))
            continue
        sha, at = recorded_rep[r.filename]
        state = "applied" if sha == r.sha256 else "changed"
        out.append(FileStatus(r.filename, state, at, repeatable=True))
    shipped_rep = {r.filename for r in repeatables}
    out.extend(
        FileStatus(name, "unknown", at, repeatable=True)
        for name, (_, at) in sorted(recorded_rep.items())
        if name not in shipped_rep
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
    repeatables: list[RepeatableFile] | None = None,
    stop_after: str | None = None,
    progress: Callable[[str, str], None] | None = None,
) -> UpgradeResult:
    """Bring the database up to date; returns what was adopted and what was applied.

    ``repeatables`` default to the shipped ones when ``files`` is the shipped set, else none.
    ``stop_after`` names the last file to apply (for tests and staged roll-outs); such a partial
    upgrade applies no repeatable, since those are written for the schema of the last migration.
    ``progress(action, filename)`` is called before each file is applied ("applying", or
    "applying repeatable") and after each adoption ("adopted").
    """
    repeatables = _repeatables_for(files, repeatables)
    files = discover() if files is None else files
    if stop_after is not None:
        names = [f.filename for f in files]
        if stop_after not in names:
            raise MigrationError(f"no migration file named {stop_after}")
        files = files[: names.index(stop_after) + 1]
        repeatables = []
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
            result.repeatables = _apply_repeatables(conn, repeatables, notify)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    return result


def _apply_repeatables(
    conn: psycopg.Connection, repeatables: list[RepeatableFile], notify: Callable[[str, str], None]
) -> list[str]:
    """Apply each repeatable whose checksum is not the recorded one; the names applied.

    Read under the lock, so of two concurrent upgrades the second finds the first one's records
    and applies nothing."""
    recorded = _recorded_repeatables(conn)
    applied = []
    for r in repeatables:
        known = recorded.get(r.filename)
        if known is not None and known[0] == r.sha256:
            continue
        notify("applying repeatable", r.filename)
        try:
            with conn.transaction():
                conn.execute(r.sql)
                conn.execute(
                    f"INSERT INTO {REPEATABLE_TABLE} (filename, sha256) VALUES (%s, %s)"
                    " ON CONFLICT (filename) DO UPDATE"
                    " SET sha256 = EXCLUDED.sha256, applied_at = EXCLUDED.applied_at",
                    (r.filename, r.sha256),
                )
        except psycopg.Error as exc:
            raise MigrationError(
                f"repeatable file {r.filename} failed and was rolled back (it stays as it was and"
                f" is tried again by the next upgrade): {exc}".strip()
            ) from exc
        applied.append(r.filename)
    return applied


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
