"""The queue's tables come from kifu migration 030, which must be exactly the installed
procrastinate's schema: an upgrade of procrastinate fails here until a migration follows it."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import psycopg
from procrastinate.schema import SchemaManager

from kifu.db.files import MIGRATIONS_DIR

MIGRATION = MIGRATIONS_DIR / "030_procrastinate_schema.sql"
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _body(text: str) -> str:
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines) and (lines[i].startswith("--") or not lines[i].strip()):
        i += 1
    return "".join(lines[i:])


def test_migration_is_the_installed_procrastinate_schema() -> None:
    text = MIGRATION.read_text(encoding="utf-8")
    installed = version("procrastinate")
    assert f"procrastinate {installed}" in text.splitlines()[0], (
        f"030 was written for another procrastinate than the installed {installed}"
    )
    assert _body(text) == _body(SchemaManager.get_schema()), (
        "procrastinate's schema changed: add a migration applying its upgrade files"
    )


def test_pyproject_pins_the_procrastinate_the_migration_was_written_for() -> None:
    pins = re.findall(r'"procrastinate==([0-9.]+)"', PYPROJECT.read_text())
    assert pins == [version("procrastinate")]


def test_migrated_database_has_the_queue(db: str) -> None:
    with psycopg.connect(db) as conn:
        for table in (
            "procrastinate_jobs",
            "procrastinate_periodic_defers",
            "procrastinate_workers",
        ):
            assert conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is not None
