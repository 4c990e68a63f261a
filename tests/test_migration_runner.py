"""The migration runner: order, bookkeeping, checksums, concurrency, adoption of hand-migrated
databases and refusal of unrecognisable ones, and repeatable files."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import psycopg
import pytest

from kifu.db import catalog, runner
from kifu.db.embedded import find_binaries
from kifu.db.files import (
    MIGRATIONS_DIR,
    MigrationFileError,
    discover,
    discover_repeatables,
)

REFERENCE_FILES = [
    "001_init.sql",
    "002_seed.sql",
    "003_trades_exchange.sql",
    "004_trade_sync_exchange.sql",
    "005_ai_opinion_accuracies.sql",
    "006_review_notes.sql",
    "007_alert_notification.sql",
    "007_unified_portfolio.sql",
    "008_trade_events_dedupe.sql",
    "009_positions_aggregates.sql",
    "010_bubbles_asset_venue.sql",
    "011_trade_safety_reviews.sql",
    "012_trades_derivatives_meta.sql",
    "013_manual_positions.sql",
    "013_widen_trade_numeric_columns.sql",
    "014_relax_numeric_precision.sql",
    "015_add_ai_quota_limit.sql",
    "020_guided_review.sql",
    "021_ai_allowlist.sql",
    "022_create_runs_and_summary_packs.sql",
]


def _snapshot(conninfo: str) -> catalog.Snapshot:
    with psycopg.connect(conninfo) as conn:
        return catalog.snapshot(conn)


def _psql(conninfo: str, *files: str) -> None:
    """Apply files the way operators of the reference system did: ``psql -f`` each file."""
    psql = find_binaries().tool("psql")
    for name in files:
        path = MIGRATIONS_DIR / name
        subprocess.run(
            [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-f", str(path)],
            check=True,
            capture_output=True,
        )


def _recorded(conninfo: str) -> dict[str, str]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(f"SELECT filename, how FROM {runner.BOOKKEEPING_TABLE}").fetchall()
    return dict(rows)


def _write(directory: Path, name: str, body: str) -> None:
    (directory / name).write_text(body)


def _recorded_repeatables(conninfo: str) -> dict[str, str]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(f"SELECT filename, sha256 FROM {runner.REPEATABLE_TABLE}").fetchall()
    return dict(rows)


SHIPPED_REPEATABLES = ["change_stamps.sql", "ledger_rollups.sql", "trades_summary.sql"]


# -- discovery and order ------------------------------------------------------------------------


def test_shipped_reference_files_in_apply_order() -> None:
    names = [f.filename for f in discover()]
    assert names[: len(REFERENCE_FILES)] == REFERENCE_FILES
    own = names[len(REFERENCE_FILES) :]
    assert own, "kifu's own fix files (023+) are shipped"
    assert all(int(n[:3]) >= 23 for n in own)
    assert [f.number for f in discover()] == sorted(f.number for f in discover())


def test_order_is_number_then_filename_with_gaps(tmp_path: Path) -> None:
    for name in ["010_z.sql", "002_b.sql", "002_a.sql", "100_late.sql", "001_first.sql"]:
        _write(tmp_path, name, "SELECT 1;")
    (tmp_path / "README.txt").write_text("not a migration")
    assert [f.filename for f in discover(tmp_path)] == [
        "001_first.sql",
        "002_a.sql",
        "002_b.sql",
        "010_z.sql",
        "100_late.sql",
    ]


def test_badly_named_file_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, "1_too_short.sql", "SELECT 1;")
    with pytest.raises(MigrationFileError, match=r"1_too_short\.sql"):
        discover(tmp_path)


# -- applying and bookkeeping -------------------------------------------------------------------


def test_upgrade_applies_everything_once_and_records_checksums(empty_db: str) -> None:
    first = runner.upgrade(empty_db)
    assert first.adopted == []
    assert first.applied == [f.filename for f in discover()]
    assert first.repeatables == SHIPPED_REPEATABLES
    second = runner.upgrade(empty_db)
    assert second.applied == [] and second.adopted == [] and second.repeatables == []
    with psycopg.connect(empty_db) as conn:
        rows = conn.execute(
            f"SELECT filename, sha256, how FROM {runner.BOOKKEEPING_TABLE}"
        ).fetchall()
    shas = {f.filename: f.sha256 for f in discover()}
    assert {name: sha for name, sha, _ in rows} == shas
    assert {how for _, _, how in rows} == {"applied"}
    assert _recorded_repeatables(empty_db) == {r.filename: r.sha256 for r in discover_repeatables()}
    states = runner.status(empty_db)
    assert all(s.state == "applied" for s in states)
    assert [s.filename for s in states if s.repeatable] == SHIPPED_REPEATABLES


def test_stop_after_applies_a_prefix(empty_db: str) -> None:
    result = runner.upgrade(empty_db, stop_after="015_add_ai_quota_limit.sql")
    assert result.applied == REFERENCE_FILES[:17]
    # Repeatables are written for the schema of the last migration: a partial upgrade skips them.
    assert result.repeatables == []
    states = {s.filename: s.state for s in runner.status(empty_db)}
    assert states["015_add_ai_quota_limit.sql"] == "applied"
    assert states["020_guided_review.sql"] == "pending"
    assert states["ledger_rollups.sql"] == "pending"
    with pytest.raises(runner.MigrationError, match="no migration file named"):
        runner.upgrade(empty_db, stop_after="999_nope.sql")


def test_changed_file_stops_upgrade_before_anything_applies(empty_db: str, tmp_path: Path) -> None:
    _write(tmp_path, "001_one.sql", "CREATE TABLE one (id int);")
    _write(tmp_path, "002_two.sql", "CREATE TABLE two (id int);")
    runner.upgrade(empty_db, files=discover(tmp_path))
    _write(tmp_path, "002_two.sql", "CREATE TABLE two (id bigint);")
    _write(tmp_path, "003_three.sql", "CREATE TABLE three (id int);")
    with pytest.raises(runner.MigrationError, match=r"002_two\.sql was changed"):
        runner.upgrade(empty_db, files=discover(tmp_path))
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT to_regclass('three')").fetchone() == (None,)
    states = {s.filename: s.state for s in runner.status(empty_db, discover(tmp_path))}
    assert states == {
        "001_one.sql": "applied",
        "002_two.sql": "changed",
        "003_three.sql": "pending",
    }


def test_failing_file_is_rolled_back_and_reported(empty_db: str, tmp_path: Path) -> None:
    _write(tmp_path, "001_ok.sql", "CREATE TABLE ok (id int);")
    _write(tmp_path, "002_bad.sql", "CREATE TABLE half (id int);\nSELECT no_such_function();")
    with pytest.raises(runner.MigrationError, match=r"002_bad\.sql failed"):
        runner.upgrade(empty_db, files=discover(tmp_path))
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT to_regclass('half')").fetchone() == (None,)
        assert conn.execute("SELECT to_regclass('ok')").fetchone() == ("ok",)
    assert _recorded(empty_db) == {"001_ok.sql": "applied"}


def test_recorded_file_unknown_to_this_version_is_listed(empty_db: str, tmp_path: Path) -> None:
    _write(tmp_path, "001_one.sql", "SELECT 1;")
    _write(tmp_path, "002_two.sql", "SELECT 2;")
    runner.upgrade(empty_db, files=discover(tmp_path))
    (tmp_path / "002_two.sql").unlink()
    states = {s.filename: s.state for s in runner.status(empty_db, discover(tmp_path))}
    assert states == {"001_one.sql": "applied", "002_two.sql": "unknown"}


def test_two_concurrent_upgrades_apply_each_file_once(empty_db: str) -> None:
    results: list[runner.UpgradeResult] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait()
            results.append(runner.upgrade(empty_db))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    applied = [name for r in results for name in r.applied]
    assert sorted(applied) == sorted(f.filename for f in discover())
    assert len(_recorded(empty_db)) == len(discover())
    assert [name for r in results for name in r.repeatables] == SHIPPED_REPEATABLES
    assert len(_recorded_repeatables(empty_db)) == len(SHIPPED_REPEATABLES)


# -- adoption of hand-migrated databases --------------------------------------------------------


def test_adopts_a_fully_hand_migrated_database(empty_db: str, db: str) -> None:
    _psql(empty_db, *REFERENCE_FILES)
    result = runner.upgrade(empty_db)
    assert result.adopted == REFERENCE_FILES
    assert result.applied == [f.filename for f in discover() if not f.is_reference]
    assert catalog.diff(_snapshot(db), _snapshot(empty_db)) == []
    recorded = _recorded(empty_db)
    assert {recorded[n] for n in REFERENCE_FILES} == {"adopted"}
    assert runner.upgrade(empty_db).applied == []


def test_adopts_a_database_migrated_by_hand_up_to_015(empty_db: str, db: str) -> None:
    _psql(empty_db, *REFERENCE_FILES[:17])
    result = runner.upgrade(empty_db)
    assert result.adopted == REFERENCE_FILES[:17]
    assert result.applied[:3] == REFERENCE_FILES[17:]
    assert catalog.diff(_snapshot(db), _snapshot(empty_db)) == []


def test_adopts_files_applied_out_of_order(empty_db: str, db: str) -> None:
    # The reference QA run applied 021 before 020.
    _psql(empty_db, *REFERENCE_FILES[:17], "021_ai_allowlist.sql")
    result = runner.upgrade(empty_db)
    assert "021_ai_allowlist.sql" in result.adopted
    assert "020_guided_review.sql" in result.applied
    assert catalog.diff(_snapshot(db), _snapshot(empty_db)) == []


def test_adoption_with_bookkeeping_picks_up_a_file_run_by_hand(empty_db: str) -> None:
    runner.upgrade(empty_db, stop_after="021_ai_allowlist.sql")
    _psql(empty_db, "022_create_runs_and_summary_packs.sql")
    result = runner.upgrade(empty_db)
    assert result.adopted == ["022_create_runs_and_summary_packs.sql"]


def test_refuses_an_unrecognisable_database_and_changes_nothing(empty_db: str) -> None:
    _psql(empty_db, *REFERENCE_FILES[:8])  # up to 007_unified_portfolio
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute("ALTER TABLE venues DROP COLUMN display_name")
    before = _snapshot(empty_db)
    with pytest.raises(runner.MigrationError) as err:
        runner.upgrade(empty_db)
    message = str(err.value)
    assert "007_unified_portfolio.sql" in message
    assert "venues.display_name" in message
    assert _snapshot(empty_db) == before
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT to_regclass(%s)", (runner.BOOKKEEPING_TABLE,)).fetchone() == (
            None,
        )


def test_refuses_a_foreign_database(empty_db: str) -> None:
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id serial PRIMARY KEY, login text)")
    with pytest.raises(runner.MigrationError, match=r"001_init\.sql is only partly applied"):
        runner.upgrade(empty_db)


# -- repeatable files ---------------------------------------------------------------------------


def test_repeatables_are_named_without_a_number_and_sorted(tmp_path: Path) -> None:
    assert discover_repeatables(tmp_path / "missing") == []
    for name in ["b_two.sql", "a_one.sql"]:
        _write(tmp_path, name, "SELECT 1;")
    (tmp_path / "notes.txt").write_text("not SQL")
    assert [r.filename for r in discover_repeatables(tmp_path)] == ["a_one.sql", "b_two.sql"]
    _write(tmp_path, "001_numbered.sql", "SELECT 1;")
    with pytest.raises(MigrationFileError, match=r"001_numbered\.sql"):
        discover_repeatables(tmp_path)


def test_shipped_repeatables_are_a_folder_next_to_the_migrations() -> None:
    assert [r.filename for r in discover_repeatables()] == SHIPPED_REPEATABLES
    assert all(r.sql.startswith("-- ") and "-- Why:" in r.sql for r in discover_repeatables())


def _fn_value(conninfo: str, fn: str) -> object:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(f"SELECT {fn}()").fetchone()[0]  # type: ignore[index]


def test_edited_repeatable_is_applied_again_after_the_migrations(
    empty_db: str, tmp_path: Path
) -> None:
    migrations, repeatable = tmp_path / "migrations", tmp_path / "repeatable"
    migrations.mkdir()
    repeatable.mkdir()
    _write(migrations, "001_one.sql", "CREATE TABLE one (n int); INSERT INTO one VALUES (1);")
    _write(
        repeatable,
        "probe.sql",
        "CREATE OR REPLACE FUNCTION probe() RETURNS int\nLANGUAGE sql AS 'SELECT 1';",
    )

    def upgrade() -> runner.UpgradeResult:
        return runner.upgrade(
            empty_db, files=discover(migrations), repeatables=discover_repeatables(repeatable)
        )

    def states() -> dict[str, str]:
        rows = runner.status(empty_db, discover(migrations), discover_repeatables(repeatable))
        return {s.filename: s.state for s in rows if s.repeatable}

    assert states() == {"probe.sql": "pending"}
    first = upgrade()
    assert (first.applied, first.repeatables) == (["001_one.sql"], ["probe.sql"])
    assert _fn_value(empty_db, "probe") == 1
    assert states() == {"probe.sql": "applied"}
    assert upgrade().repeatables == []

    # The edit reads a table that only the new migration creates (SQL function bodies are
    # checked when created), so it can only succeed if the migration went first.
    _write(migrations, "002_two.sql", "CREATE TABLE two (n int); INSERT INTO two VALUES (2);")
    _write(
        repeatable,
        "probe.sql",
        "CREATE OR REPLACE FUNCTION probe() RETURNS int\nLANGUAGE sql AS 'SELECT n FROM two';",
    )
    assert states() == {"probe.sql": "changed"}
    with psycopg.connect(empty_db) as conn:
        before = conn.execute(f"SELECT applied_at FROM {runner.REPEATABLE_TABLE}").fetchone()
    again = upgrade()
    assert (again.applied, again.repeatables) == (["002_two.sql"], ["probe.sql"])
    assert _fn_value(empty_db, "probe") == 2
    assert _recorded_repeatables(empty_db) == {
        "probe.sql": discover_repeatables(repeatable)[0].sha256
    }
    with psycopg.connect(empty_db) as conn:
        after = conn.execute(f"SELECT applied_at FROM {runner.REPEATABLE_TABLE}").fetchone()
    assert before is not None and after is not None and after[0] > before[0]
    assert states() == {"probe.sql": "applied"}
    assert upgrade().repeatables == []

    (repeatable / "probe.sql").unlink()
    assert states() == {"probe.sql": "unknown"}


def test_failing_repeatable_is_rolled_back_and_tried_again(empty_db: str, tmp_path: Path) -> None:
    migrations, repeatable = tmp_path / "migrations", tmp_path / "repeatable"
    migrations.mkdir()
    repeatable.mkdir()
    _write(migrations, "001_one.sql", "CREATE TABLE one (n int);")
    _write(repeatable, "a_fine.sql", "CREATE OR REPLACE VIEW fine AS SELECT 1 AS n;")
    _write(repeatable, "b_bad.sql", "CREATE VIEW half AS SELECT 1 AS n;\nSELECT no_such_fn();")

    def upgrade() -> runner.UpgradeResult:
        return runner.upgrade(
            empty_db, files=discover(migrations), repeatables=discover_repeatables(repeatable)
        )

    with pytest.raises(runner.MigrationError, match=r"repeatable file b_bad\.sql failed"):
        upgrade()
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT to_regclass('one')").fetchone() == ("one",)
        assert conn.execute("SELECT to_regclass('fine')").fetchone() == ("fine",)
        assert conn.execute("SELECT to_regclass('half')").fetchone() == (None,)
    assert set(_recorded_repeatables(empty_db)) == {"a_fine.sql"}
    _write(repeatable, "b_bad.sql", "CREATE OR REPLACE VIEW half AS SELECT 1 AS n;")
    result = upgrade()
    assert (result.applied, result.repeatables) == ([], ["b_bad.sql"])


def test_two_concurrent_upgrades_apply_an_edited_repeatable_once(
    empty_db: str, tmp_path: Path
) -> None:
    migrations, repeatable = tmp_path / "migrations", tmp_path / "repeatable"
    migrations.mkdir()
    repeatable.mkdir()
    _write(migrations, "100_applications.sql", "CREATE TABLE applications (n serial);")
    _write(repeatable, "counted.sql", "INSERT INTO applications DEFAULT VALUES;")
    results: list[runner.UpgradeResult] = []
    errors: list[BaseException] = []

    def run(barrier: threading.Barrier) -> None:
        try:
            barrier.wait()
            results.append(
                runner.upgrade(
                    empty_db,
                    files=discover(migrations),
                    repeatables=discover_repeatables(repeatable),
                )
            )
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    for _round in range(2):  # a first application, then an edit
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=run, args=(barrier,)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        _write(repeatable, "counted.sql", "INSERT INTO applications DEFAULT VALUES; -- edited")
    assert errors == []
    assert sorted(name for r in results for name in r.repeatables) == ["counted.sql"] * 2
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT count(*) FROM applications").fetchone() == (2,)


_DEFINITIONS = """
SELECT 'function ' || p.oid::regprocedure::text, pg_get_functiondef(p.oid)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public' AND p.prokind = 'f'
UNION ALL
SELECT 'trigger ' || t.tgname, pg_get_triggerdef(t.oid) || ' ' || t.tgenabled::text
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND NOT t.tgisinternal
"""


def _definitions(conninfo: str) -> dict[str, str]:
    with psycopg.connect(conninfo) as conn:
        return dict(conn.execute(_DEFINITIONS).fetchall())  # type: ignore[arg-type]


def test_ledger_rollups_repeatable_changes_only_what_it_says(empty_db: str) -> None:
    """The repeatable repeats 046's functions and triggers: applying it to a database that the
    migrations built adds the synthetic trade id function, makes the rollup trigger queue fee
    edits (047's change tracker), makes the duplicate flags probe venue trade ids by their index,
    removes a deleted fill's realized-PnL row and truncates 049's tables (049 dropped the foreign
    key that did it) and changes nothing else."""
    runner.upgrade(empty_db, repeatables=[])
    before, snap = _definitions(empty_db), _snapshot(empty_db)
    assert "trigger trade_events_rollup_insert" in before
    ledger = [r for r in discover_repeatables() if r.filename == "ledger_rollups.sql"]
    assert runner.upgrade(empty_db, repeatables=ledger).repeatables == ["ledger_rollups.sql"]
    after = _definitions(empty_db)
    added = {k: v for k, v in after.items() if k not in before}
    assert list(added) == ["function kifu_synthetic_trade_id(text)"]
    assert "IMMUTABLE" in added["function kifu_synthetic_trade_id(text)"]
    rollup = "function kifu_trade_events_rollup()"
    assert "charged" not in before[rollup] and "charged" in after[rollup]
    flags = "function kifu_ledger_flag_sql(text)"
    assert "OFFSET 0" not in before[flags] and "OFFSET 0" in after[flags]
    # 049 dropped ledger_fill_pnl's foreign key: a deleted fill's row goes in the delete trigger,
    # and TRUNCATE empties it and 049's replay state
    assert "ledger_fill_pnl p USING old_rows" in after[rollup]
    truncated = "function kifu_trade_events_truncated()"
    assert "ledger_fifo_books" not in before[truncated]
    assert "ledger_fill_pnl, ledger_fifo_books" in after[truncated]
    changed = {rollup, flags, truncated}
    assert {k: v for k, v in after.items() if k in before and k not in changed} == {
        k: v for k, v in before.items() if k not in changed
    }
    assert _snapshot(empty_db) == snap
    with psycopg.connect(empty_db) as conn:
        assert conn.execute(
            "SELECT kifu_synthetic_trade_id(repeat('0', 64)), kifu_synthetic_trade_id(NULL),"
            " kifu_synthetic_trade_id(repeat('f', 64))"
        ).fetchone() == (-1, None, -(2**62))
