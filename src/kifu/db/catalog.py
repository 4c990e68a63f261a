"""A comparable snapshot of one schema's catalog: tables, columns, constraints, indexes, seed rows.

Used by the migration runner to recognise hand-migrated databases, and by tests to prove that two
databases are identical. Values are PostgreSQL's own renderings (``format_type``, ``pg_get_expr``,
``pg_get_constraintdef``, ``pg_get_indexdef``) with the schema name removed, so the same DDL
applied in two schemas yields equal snapshots.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

Key = tuple[str, ...]
Snapshot = dict[Key, Any]

# Tables that belong to kifu's own machinery, not to the KIFU schema.
OWN_TABLE_PREFIXES = ("kifu_", "procrastinate_")

_COLUMNS = """
SELECT c.relname, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = %s AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum
"""

_CONSTRAINTS = """
SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid)
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND k.contype IN ('p', 'f', 'u', 'c', 'x')
"""

_INDEXES = """
SELECT t.relname, i.relname, pg_get_indexdef(i.oid)
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = %s
"""


def _own(table: str) -> bool:
    return table.startswith(OWN_TABLE_PREFIXES)


def snapshot(conn: psycopg.Connection, schema: str = "public") -> Snapshot:
    """Every catalog fact of ``schema`` that the migrations control, as a flat dict.

    Column order is kept as a separate ``("position", table, column)`` fact so that callers
    can choose whether it matters. Reads only; runs in a transaction that is rolled back.
    """
    with conn.transaction(force_rollback=True):
        return _snapshot(conn, schema)


def _snapshot(conn: psycopg.Connection, schema: str) -> Snapshot:
    facts: Snapshot = {}
    # Resolve names relative to the schema so that FK targets render unqualified.
    conn.execute(sql.SQL("SET LOCAL search_path = {}").format(sql.Identifier(schema)))
    positions: dict[str, int] = {}
    for table, column, _attnum, typ, notnull, default in conn.execute(_COLUMNS, (schema,)):
        if _own(table):
            continue
        facts[("table", table)] = True
        facts[("column", table, column)] = (typ, bool(notnull), default)
        positions[table] = positions.get(table, 0) + 1
        facts[("position", table, column)] = positions[table]
    for table, name, kind, definition in conn.execute(_CONSTRAINTS, (schema,)):
        if not _own(table):
            facts[("constraint", table, name)] = (kind, definition)
    prefix = f" ON {schema}."
    for table, name, definition in conn.execute(_INDEXES, (schema,)):
        if not _own(table):
            facts[("index", table, name)] = definition.replace(prefix, " ON ")
    if ("table", "ai_providers") in facts:
        rows = conn.execute(
            sql.SQL("SELECT name, model, enabled, is_default FROM {}.ai_providers").format(
                sql.Identifier(schema)
            )
        )
        for name, model, enabled, is_default in rows:
            facts[("row", "ai_providers", name, model)] = (enabled, is_default)
    return facts


def describe(key: Key) -> str:
    """A human name for a fact, e.g. ``column trade_events.dedupe_key``."""
    kind, *rest = key
    if kind == "table":
        return f"table {rest[0]}"
    if kind in ("column", "position"):
        return f"{kind} {rest[0]}.{rest[1]}"
    if kind == "constraint":
        return f"constraint {rest[1]} on {rest[0]}"
    if kind == "index":
        return f"index {rest[1]} on {rest[0]}"
    if kind == "row":
        return f"{rest[0]} row ({', '.join(rest[1:])})"
    return " ".join(key)


def diff(expected: Snapshot, actual: Snapshot) -> list[str]:
    """Readable differences between two snapshots (empty when identical)."""
    out = []
    for key in sorted(expected.keys() | actual.keys()):
        want, got = expected.get(key), actual.get(key)
        if want == got:
            continue
        if got is None:
            out.append(f"missing {describe(key)}: expected {want!r}")
        elif want is None:
            out.append(f"unexpected {describe(key)}: {got!r}")
        else:
            out.append(f"{describe(key)}: expected {want!r}, found {got!r}")
    return out
