"""Recognise which reference migrations (001–022) a hand-migrated database already has.

The reference system had no runner: operators ran the files with ``psql``, sometimes only up to
some number and not always in order. To adopt such a database, kifu learns what each file does
to the catalog by applying all reference files in a scratch schema inside a transaction that is
rolled back (so nothing is changed), then compares each file's effect with the live ``public``
schema:

* every fact the file creates or changes is present (with the file's value, or the value a later
  file gives it): the file is in place and is recorded as adopted;
* none of them is present: the file is pending and will be applied;
* some but not all: the database is in a state kifu cannot recognise, and the upgrade is refused
  with the list of what is missing.

Learning from the files themselves, on the same server, keeps this exact across PostgreSQL
versions and removes any hand-kept list of fingerprints that could drift from the SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from kifu.db import catalog
from kifu.db.files import MigrationFile

PROBE_SCHEMA = "kifu_adopt_probe"
_ABSENT = object()


class UnrecognisedDatabase(RuntimeError):
    """The live schema matches no sequence of reference migrations; nothing was changed."""


@dataclass
class Detection:
    present: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)


def _without_positions(snap: catalog.Snapshot) -> catalog.Snapshot:
    return {k: v for k, v in snap.items() if k[0] != "position"}


def learn_effects(
    conn: psycopg.Connection, files: list[MigrationFile]
) -> list[dict[catalog.Key, object]]:
    """What each file creates or changes, learned by applying them all in a scratch schema."""
    effects = []
    with conn.transaction(force_rollback=True):
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(PROBE_SCHEMA)))
        before = _without_positions(catalog.snapshot(conn, PROBE_SCHEMA))
        for f in files:
            conn.execute(sql.SQL("SET LOCAL search_path = {}").format(sql.Identifier(PROBE_SCHEMA)))
            conn.execute(f.sql)
            after = _without_positions(catalog.snapshot(conn, PROBE_SCHEMA))
            effects.append(
                {
                    k: after.get(k, _ABSENT)
                    for k in before.keys() | after.keys()
                    if before.get(k, _ABSENT) != after.get(k, _ABSENT)
                }
            )
            before = after
    return effects


def has_reference_tables(conn: psycopg.Connection) -> bool:
    """True when ``public`` holds any table other than kifu's own."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'public'"
        " AND tablename NOT LIKE ALL (%s))",
        ([p.replace("_", "\\_") + "%" for p in catalog.OWN_TABLE_PREFIXES],),
    ).fetchone()
    return bool(row and row[0])


def detect(
    conn: psycopg.Connection, files: list[MigrationFile], candidates: set[str] | None = None
) -> Detection:
    """Split the ``candidates`` among ``files`` into those in place and those still to apply.

    ``files`` are all the reference files (later ones may depend on earlier ones); only the
    ``candidates`` (default: all) are judged. Raises ``UnrecognisedDatabase`` naming what is
    missing when a candidate is only partly in place.
    """
    effects = learn_effects(conn, files)
    live = _without_positions(catalog.snapshot(conn, "public"))
    result = Detection()
    problems = []
    for i, (f, effect) in enumerate(zip(files, effects, strict=True)):
        if candidates is not None and f.filename not in candidates:
            continue
        evidence = [k for k, v in effect.items() if v is not _ABSENT]
        if not evidence:
            result.present.append(f.filename)
            continue
        matched, missing = [], []
        for key in evidence:
            accepted = [effect[key]] + [later[key] for later in effects[i + 1 :] if key in later]
            value = live.get(key, _ABSENT)
            if any(value == a for a in accepted):
                matched.append(key)
            elif value is _ABSENT:
                missing.append(f"missing {catalog.describe(key)}")
            else:
                missing.append(f"{catalog.describe(key)} is {value!r}, expected {effect[key]!r}")
        if not missing:
            result.present.append(f.filename)
        elif not matched:
            result.absent.append(f.filename)
        else:
            shown = "; ".join(missing[:10])
            more = f" (and {len(missing) - 10} more)" if len(missing) > 10 else ""
            problems.append(f"{f.filename} is only partly applied: {shown}{more}")
    if problems:
        raise UnrecognisedDatabase(
            "the database holds KIFU tables in a state kifu cannot recognise, so nothing was "
            "changed:\n  " + "\n  ".join(problems)
        )
    return result
