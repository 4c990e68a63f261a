"""One owner writes each table, and reads go through the owner: checked against the source.

The owners are the table in ``docs/ARCHITECTURE.md`` ("Who writes which table"), so the document
is checked too: every table the migrations create has exactly one owner there. Then the SQL in
every module of ``src/kifu`` (the statements' upper-case keywords, as the project writes SQL):

* a write (``INSERT INTO``, ``UPDATE``, ``DELETE FROM``, ``TRUNCATE``, ``COPY``) names only tables
  of the module's own capability: another capability calls the owner's service;
* a read (``FROM``, ``JOIN``) of another capability's table is one of ``CROSS_READS`` below, each
  with the reason it is one statement rather than a call to the owner's read API. A new one
  fails here until it goes through the owner (its ``queries.py`` or service) or is listed.

A table named through ``psycopg.sql.Identifier`` is not seen: the one such writer,
``kifu.market.outcomes.Attempts``, releases the claims of the table its owner (journal, alerts)
hands it.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "kifu"

# Tables the migrations do not create: the migration runner's own (kifu.db.runner).
RUNNER_TABLES = {"kifu_schema_migrations", "kifu_schema_repeatables"}

# (module, table it reads, owner): why the read is one statement across capabilities.
CROSS_READS = {
    # AI accuracy: opinions and their scores filtered by the journal's bubble (user, symbol) and
    # outcome (period) in the same aggregate; the rows are the user's own (user_id on bubbles).
    ("ai/store.py", "bubbles", "journal"),
    ("ai/store.py", "outcomes", "journal"),
    # The packs' reconciliation compares the exchange sync cursors with the fills in one
    # statement; the ledger imports no other capability, so the read cannot be a call.
    ("ledger/reconciliation.py", "trade_sync_state", "exchanges"),
    # The journal's bubble backfills, each one statement over the user's rows: labels filled
    # from each bubble's first linked trade (an UPDATE … FROM trades), and the fills that still
    # need an auto bubble (trade events without one at their symbol, hour and price).
    ("journal/store.py", "trades", "ledger"),
    ("journal/store.py", "trade_events", "ledger"),
    ("journal/store.py", "instruments", "ledger"),
    ("journal/store.py", "venues", "ledger"),
    # Review's kept answers are checked against the ledger's and the journal's change stamps
    # (migration 130) on every request: one probe of two primary keys, not two round trips.
    ("review/store.py", "ledger_change_stamps", "ledger"),
    ("review/store.py", "journal_change_stamps", "journal"),
    # The day's guided review and safety check are kept under the ledger's stamp and review's
    # own (migration 133), read by one probe; so is the AI accuracy report under the journal's
    # stamp (its bubbles) and the AI's own.
    ("ai/store.py", "journal_change_stamps", "journal"),
}

_WRITE = re.compile(r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE(?:\s+TABLE)?|COPY)\s+(\w+)")
_READ = re.compile(r"\b(?:FROM|JOIN)\s+(\w+)")


def migration_tables() -> set[str]:
    made: set[str] = set()
    for path in sorted((SRC / "db" / "migrations").glob("*.sql")):
        sql = path.read_text()
        made |= set(re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", sql))
        for names in re.findall(r"DROP TABLE (?:IF EXISTS )?([\w, ]+)", sql):
            made -= {n.strip() for n in names.split(",")}
    return made


def documented_owners(tables: set[str]) -> dict[str, list[str]]:
    """Table → the owners ``docs/ARCHITECTURE.md`` names for it (``_days`` after
    ``trade_summary_totals`` is ``trade_summary_days``)."""
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    start = doc.index("| owner | tables |")
    owners: dict[str, list[str]] = {}
    for line in doc[start:].split("\n\n")[0].splitlines()[2:]:
        _, owner_cell, tables_cell, _ = line.split("|")
        owner = owner_cell.strip().strip("`")
        previous = ""
        for name in re.findall(r"`([a-z_][a-z0-9_]*)`", tables_cell):
            if name.startswith("_") and previous:
                name = previous.rsplit("_", 1)[0] + name
            previous = name
            if name in tables and owner not in owners.get(name, []):
                owners.setdefault(name, []).append(owner)
        # procrastinate's tables "belong to `worker`"
        if "procrastinate" in tables_cell and "`worker`" in tables_cell:
            for name in tables:
                if name.startswith("procrastinate_"):
                    owners.setdefault(name, []).append("worker")
    return owners


def _capability(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def _statements(path: Path) -> list[tuple[str, str]]:
    """(kind, table) of every write and read the module's text names."""
    text = path.read_text()
    found = [("write", t) for t in _WRITE.findall(text)]
    return found + [("read", t) for t in _READ.findall(text)]


def test_every_table_has_one_documented_owner() -> None:
    tables = migration_tables() | RUNNER_TABLES
    owners = documented_owners(tables)
    assert sorted(tables - owners.keys()) == []
    assert {t: o for t, o in owners.items() if len(o) != 1} == {}


def test_writes_are_the_owners_and_reads_go_through_them() -> None:
    tables = migration_tables() | RUNNER_TABLES
    owner = {t: o[0] for t, o in documented_owners(tables).items()}
    bad_writes, cross_reads = [], set()
    for path in sorted(SRC.rglob("*.py")):
        capability = _capability(path)
        module = str(path.relative_to(SRC))
        for kind, table in _statements(path):
            if table not in owner or owner[table] == capability:
                continue
            if kind == "write":
                bad_writes.append((module, table, owner[table]))
            elif capability != "db":  # the schema's catalog and runner read every table
                cross_reads.add((module, table, owner[table]))
    assert bad_writes == []
    assert sorted(cross_reads - CROSS_READS) == []
    assert sorted(CROSS_READS - cross_reads) == []  # a read that went away leaves the list
