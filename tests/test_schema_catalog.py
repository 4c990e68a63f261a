"""Schema conformance: the live PostgreSQL catalog vs tests/schema_reference.py.

Fixtures (from conftest) yield psycopg conninfo strings:
* ``db_at_022``: a fresh database with migrations 001-022 applied, and nothing later;
* ``db_migrated``: a fresh database with every migration applied, kifu's fixes (023+) included.
These tests only read; their sessions are read-only.
"""

import difflib
import re

import psycopg
import pytest
from psycopg import sql

from tests.schema_reference import (
    AI_PROVIDER_SEED,
    CAPPED_BY_014,
    CHECK_TRUTH_TABLES,
    DEFAULT_EQUIVALENTS,
    EXTENSIONS,
    FK_COLUMNS_WITHOUT_INDEX,
    NAMED_INDEX_COUNT,
    TABLES,
)

# kifu's own bookkeeping and the procrastinate job queue live in public too; they are not part
# of the reference schema.
IGNORED_PREFIXES = ("kifu_", "procrastinate_")

_COLUMNS_SQL = """
    SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
           pg_get_expr(d.adbin, d.adrelid)
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE n.nspname = 'public' AND c.relname = %(table)s AND c.relkind IN ('r', 'p')
      AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attnum
"""
# contype 'n' (NOT NULL constraints, PostgreSQL 18+) is covered by the columns' not-null flag.
_CONSTRAINTS_SQL = """
    SELECT con.conname, con.contype::text, pg_get_constraintdef(con.oid)
    FROM pg_constraint con
    JOIN pg_class c ON c.oid = con.conrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relname = %(table)s AND con.contype <> 'n'
"""
_CHECK_EXPRESSION_SQL = """
    SELECT pg_get_expr(con.conbin, con.conrelid)
    FROM pg_constraint con
    JOIN pg_class c ON c.oid = con.conrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relname = %(table)s AND con.conname = %(name)s
"""
_INDEXES_SQL = """
    SELECT indexname, indexdef FROM pg_indexes
    WHERE schemaname = 'public' AND tablename = %(table)s
"""
_LEADING_INDEX_COLUMNS_SQL = """
    SELECT a.attname
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
    WHERE n.nspname = 'public' AND c.relname = %(table)s
"""
_TABLES_SQL = """
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
"""
# §4: "No views, functions, triggers, sequences or enum types" (extension members aside).
_OTHER_OBJECTS_SQL = """
    SELECT 'relation ' || c.relkind::text, c.relname
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm', 'S', 'f')
    UNION ALL
    SELECT 'function', p.proname
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public' AND NOT EXISTS (
        SELECT 1 FROM pg_depend d
        WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
    UNION ALL
    SELECT 'trigger ' || t.tgname, c.relname
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND NOT t.tgisinternal
    UNION ALL
    SELECT 'enum type', t.typname
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = 'public' AND t.typtype = 'e'
"""


def connect(conninfo: str) -> psycopg.Connection:
    conn = psycopg.connect(conninfo, autocommit=True)
    # Unqualified names in pg_get_constraintdef() output depend on the search path.
    conn.execute("SET search_path TO public")
    conn.execute("SET default_transaction_read_only TO on")
    return conn


def read_table_catalog(conn: psycopg.Connection, table: str) -> dict:
    """The live counterpart of one schema_reference.TABLES entry."""
    params = {"table": table}
    return {
        "columns": [tuple(row) for row in conn.execute(_COLUMNS_SQL, params)],
        "constraints": {
            name: (contype, definition)
            for name, contype, definition in conn.execute(_CONSTRAINTS_SQL, params)
        },
        "indexes": dict(conn.execute(_INDEXES_SQL, params).fetchall()),
    }


def list_tables(conn: psycopg.Connection) -> set[str]:
    names = {name for (name,) in conn.execute(_TABLES_SQL)}
    return {name for name in names if not name.startswith(IGNORED_PREFIXES)}


def leading_index_columns(conn: psycopg.Connection, table: str) -> set[str]:
    return {name for (name,) in conn.execute(_LEADING_INDEX_COLUMNS_SQL, {"table": table})}


def check_passes(conn: psycopg.Connection, table: str, constraint: str, values: dict) -> bool:
    """Whether the live CHECK accepts a row with these column values (NULL counts as a pass)."""
    params = {"table": table, "name": constraint}
    (expression,) = conn.execute(_CHECK_EXPRESSION_SQL, params).fetchone()
    types = {name: type_ for name, type_, _, _ in TABLES[table]["columns"]}
    row = sql.SQL(", ").join(
        sql.SQL("{}::{} AS {}").format(
            sql.Literal(value), sql.SQL(types[column]), sql.Identifier(column)
        )
        for column, value in values.items()
    )
    query = sql.SQL("SELECT COALESCE(({}), true) FROM (SELECT {}) AS v").format(
        sql.SQL(expression), row
    )
    return conn.execute(query).fetchone()[0]


def _same_verdicts(conn: psycopg.Connection, table: str, constraint: str, truth: dict) -> bool:
    return all(
        check_passes(conn, table, constraint, dict(zip(truth["columns"], values, strict=True)))
        is passes
        for values, passes in truth["cases"]
    )


def normalise(conn: psycopg.Connection, table: str, actual: dict) -> dict:
    """Replace spellings the reference accepts as equivalent by the reference's own text."""
    expected = TABLES[table]
    expected_defaults = {column[0]: column[3] for column in expected["columns"]}
    columns = []
    for name, type_, not_null, default in actual["columns"]:
        if default in DEFAULT_EQUIVALENTS.get((table, name), ()):
            default = expected_defaults[name]
        columns.append((name, type_, not_null, default))
    constraints = dict(actual["constraints"])
    for (check_table, name), truth in CHECK_TRUTH_TABLES.items():
        if check_table != table:
            continue
        live, wanted = constraints.get(name), expected["constraints"][name]
        if live and live[0] == "c" and live != wanted and _same_verdicts(conn, table, name, truth):
            constraints[name] = wanted
    return {**actual, "columns": columns, "constraints": constraints}


def _column_line(column: tuple) -> str:
    name, type_, not_null, default = column
    line = f"{name} {type_}" + (" NOT NULL" if not_null else "")
    return line + (f" DEFAULT {default}" if default is not None else "")


def describe_differences(expected: dict, actual: dict) -> list[str]:
    """Readable differences between two catalog entries; empty when they match."""
    problems = []
    expected_columns = [_column_line(column) for column in expected["columns"]]
    actual_columns = [_column_line(column) for column in actual["columns"]]
    if expected_columns != actual_columns:
        problems.append("columns, in attnum order:")
        diff = difflib.unified_diff(expected_columns, actual_columns, "expected", "actual", n=1)
        problems.extend("    " + line.rstrip("\n") for line in diff)
    for kind in ("constraints", "indexes"):
        wanted, found = expected[kind], actual[kind]
        for name in sorted(wanted.keys() - found.keys()):
            problems.append(f"{kind}: missing {name}: {wanted[name]}")
        for name in sorted(found.keys() - wanted.keys()):
            problems.append(f"{kind}: unexpected {name}: {found[name]}")
        for name in sorted(wanted.keys() & found.keys()):
            if wanted[name] != found[name]:
                problems.append(
                    f"{kind}: {name} differs\n"
                    f"    expected: {wanted[name]}\n    actual:   {found[name]}"
                )
    return problems


# --- the reference itself (no database needed) ---


def _first_column(index_definition: str) -> str:
    return re.search(r" USING \w+ \((\w+)", index_definition).group(1)


def test_reference_totals_match_the_document():
    named_indexes = [
        name
        for definition in TABLES.values()
        for name in definition["indexes"]
        if name not in definition["constraints"]
    ]
    assert len(TABLES) == 36
    assert len(named_indexes) == NAMED_INDEX_COUNT


def test_reference_unindexed_fk_list_matches_the_schema():
    """§7.4's list of FK columns with no leading index agrees with §4/§5 as encoded in TABLES."""
    unindexed = set()
    for table, definition in TABLES.items():
        leading = {_first_column(index) for index in definition["indexes"].values()}
        for contype, constraint in definition["constraints"].values():
            column = re.match(r"FOREIGN KEY \((\w+)\)", constraint)
            if contype == "f" and column.group(1) not in leading:
                unindexed.add((table, column.group(1)))
    assert unindexed == set(FK_COLUMNS_WITHOUT_INDEX)


# --- a database migrated to 022 ---


@pytest.mark.parametrize("table", list(TABLES))
def test_table_matches_reference(db_at_022, table):
    with connect(db_at_022) as conn:
        actual = normalise(conn, table, read_table_catalog(conn, table))
    problems = describe_differences(TABLES[table], actual)
    if problems:
        pytest.fail(f"public.{table} differs from the reference:\n" + "\n".join(problems))


def test_table_set_is_exactly_the_reference(db_at_022):
    with connect(db_at_022) as conn:
        live = list_tables(conn)
    missing, unexpected = sorted(TABLES.keys() - live), sorted(live - TABLES.keys())
    assert not (missing or unexpected), f"missing tables: {missing}; unexpected: {unexpected}"


def test_no_views_functions_triggers_sequences_or_enums(db_at_022):
    with connect(db_at_022) as conn:
        rows = conn.execute(_OTHER_OBJECTS_SQL).fetchall()
    extra = sorted(row for row in rows if not row[1].startswith(IGNORED_PREFIXES))
    assert not extra, f"objects the reference schema does not have: {extra}"


def test_extensions_installed(db_at_022):
    with connect(db_at_022) as conn:
        installed = {name for (name,) in conn.execute("SELECT extname FROM pg_extension")}
    assert set(EXTENSIONS) <= installed


def test_ai_providers_seed_rows(db_at_022):
    with connect(db_at_022) as conn:
        rows = conn.execute("SELECT name, model, enabled, is_default FROM ai_providers").fetchall()
    assert sorted(rows) == sorted(AI_PROVIDER_SEED)


def test_no_other_table_has_rows(db_at_022):
    with connect(db_at_022) as conn:
        counts = {
            table: conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            ).fetchone()[0]
            for table in TABLES
            if table != "ai_providers"
        }
    assert {table: n for table, n in counts.items() if n} == {}


# --- a database with every migration, kifu's fixes included ---


def test_fixes_remove_precision_caps(db_migrated):
    """§7.2 item 6 caps are lifted and §7.4 item 16 FK columns get a leading index."""
    problems = []
    with connect(db_migrated) as conn:
        for table in CAPPED_BY_014:
            live_types = {
                column[0]: column[1] for column in read_table_catalog(conn, table)["columns"]
            }
            for name, type_, _, _ in TABLES[table]["columns"]:
                if type_.startswith("numeric(") and live_types.get(name) != "numeric":
                    problems.append(f"{table}.{name} is {live_types.get(name)}, not numeric")
        for table, column in FK_COLUMNS_WITHOUT_INDEX:
            if column not in leading_index_columns(conn, table):
                problems.append(f"{table}.{column} has no index whose first column it is")
    if problems:
        pytest.fail("\n".join(problems))
