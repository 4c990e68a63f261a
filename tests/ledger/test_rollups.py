"""The ledger rollups of migration 046 against the rows they fold, whatever writes the rows."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kifu.db import runner
from kifu.ledger import queries, tracker
from tests.packs.ledger_rows import ANCHOR, Ledger

# Every column of ledger_event_hours, recomputed from trade_events by the same grouping.
_FRESH = """
SELECT user_id, hour, key, n, notional, fee_n, fee_sum, funding, bad_qty, bad_price, fee_ok
FROM ({}) g WHERE user_id = %s ORDER BY hour, key
"""
_STORED = """
SELECT user_id, hour, key, n, notional, fee_n, fee_sum, funding, bad_qty, bad_price, fee_ok
FROM ledger_event_hours WHERE user_id = %s ORDER BY hour, key
"""


def _hours_match(conninfo: str, user: uuid.UUID) -> None:
    with psycopg.connect(conninfo) as conn:
        sql = conn.execute(
            "SELECT kifu_ledger_hour_rows_sql('SELECT 1 AS sign, t.* FROM trade_events t')"
        ).fetchone()[0]
        fresh = conn.execute(_FRESH.format(sql), (user,)).fetchall()
        stored = conn.execute(_STORED, (user,)).fetchall()
    assert stored == fresh


async def _catch_up(conninfo: str, user: uuid.UUID) -> int:
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        return (await tracker.catch_up_now(conn, user)).replayed


@pytest.fixture
def ledger(db, make_user) -> Ledger:
    return Ledger(db, make_user().id)


ops_st = st.lists(
    st.tuples(
        st.sampled_from(["insert", "insert", "update_fee", "update_time", "update_side", "delete"]),
        st.integers(min_value=0, max_value=50),
        st.sampled_from(["X/USDT", "Y/KRW", None]),
        st.sampled_from(["buy", "sell", None]),
    ),
    min_size=1,
    max_size=20,
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=ops_st)
def test_hourly_groups_follow_every_insert_update_and_delete(ledger: Ledger, ops) -> None:
    with psycopg.connect(ledger.conninfo, autocommit=True) as conn:
        conn.execute("DELETE FROM trade_events WHERE user_id = %s", (ledger.user_id,))
    ids: list[uuid.UUID] = []
    for op, n, symbol, side in ops:
        at = ANCHOR - timedelta(minutes=37 * n)
        if op == "insert" or not ids:
            ids.append(
                ledger.fill(
                    "upbit" if symbol and symbol.endswith("KRW") else "binance_futures",
                    symbol,
                    side,
                    str(Decimal(n) / 7),
                    str(100 + n),
                    at,
                    fee=str(Decimal(n) / 100) if n % 3 else None,
                    fee_asset=None if n % 2 else "USDT",
                )
            )
            continue
        target = ids[n % len(ids)]
        with psycopg.connect(ledger.conninfo, autocommit=True) as conn:
            if op == "update_fee":
                conn.execute("UPDATE trade_events SET fee = %s WHERE id = %s", (n, target))
            elif op == "update_time":
                conn.execute("UPDATE trade_events SET executed_at = %s WHERE id = %s", (at, target))
            elif op == "update_side":
                conn.execute("UPDATE trade_events SET side = %s WHERE id = %s", (side, target))
            else:
                conn.execute("DELETE FROM trade_events WHERE id = %s", (target,))
                ids.remove(target)
    _hours_match(ledger.conninfo, ledger.user_id)


def test_a_deleted_user_takes_their_rollups(ledger: Ledger) -> None:
    ledger.fill("binance_futures", "X/USDT", "buy", "1", "10", ANCHOR - timedelta(hours=2))
    ledger.fill("binance_futures", "X/USDT", "sell", "1", "12", ANCHOR - timedelta(hours=1))
    asyncio.run(_catch_up(ledger.conninfo, ledger.user_id))
    with psycopg.connect(ledger.conninfo, autocommit=True) as conn:
        conn.execute("DELETE FROM users WHERE id = %s", (ledger.user_id,))
        for table in (
            "ledger_event_hours",
            "ledger_pnl_hours",
            "ledger_pnl_dirty",
            "ledger_fill_pnl",
        ):
            count = conn.execute(
                f"SELECT count(*) FROM {table} WHERE user_id = %s", (ledger.user_id,)
            ).fetchone()
            assert count == (0,), table


def test_migration_folds_rows_written_before_it(empty_db: str) -> None:
    """A database with events from before 046 (an adopted reference database, or an earlier
    kifu) gets its hourly groups, duplicate flags and every book queued for a replay."""
    runner.upgrade(empty_db, stop_after="045_drop_content_key_index_without_id.sql")
    with psycopg.connect(empty_db, autocommit=True) as conn:
        user = conn.execute(
            "INSERT INTO users (email, password_hash, name) VALUES ('a@b.c', '!', 'a') RETURNING id"
        ).fetchone()[0]
    old = Ledger(empty_db, user)
    t = ANCHOR - timedelta(hours=3)
    old.fill("binance_futures", "X/USDT", "buy", "2", "10", t, external_id="7")
    old.fill("binance_futures", "X/USDT", "sell", "1", "13", t + timedelta(minutes=70))
    old.fill(
        "binance_futures", "X/USDT", "sell", "1", "13", t + timedelta(minutes=80), external_id="7"
    )
    runner.upgrade(empty_db)
    _hours_match(empty_db, user)
    with psycopg.connect(empty_db) as conn:
        assert conn.execute(
            "SELECT count(*) FROM ledger_duplicate_flags WHERE user_id = %s", (user,)
        ).fetchone() == (2,)
    assert asyncio.run(_catch_up(empty_db, user)) == 1
    with psycopg.connect(empty_db) as conn:
        assert conn.execute(
            "SELECT sum(pnl), sum(fills) FROM ledger_pnl_hours WHERE user_id = %s", (user,)
        ).fetchone() == (Decimal(6), 2)


def test_truncate_empties_the_rollups(ledger: Ledger) -> None:
    ledger.fill("binance_futures", "X/USDT", "buy", "1", "10", ANCHOR - timedelta(hours=2))
    ledger.fill("binance_futures", "X/USDT", "sell", "1", "12", ANCHOR - timedelta(hours=1))
    asyncio.run(_catch_up(ledger.conninfo, ledger.user_id))
    with psycopg.connect(ledger.conninfo, autocommit=True) as conn:
        conn.execute("TRUNCATE trade_events CASCADE")
        for table in (
            "ledger_event_hours",
            "ledger_pnl_hours",
            "ledger_pnl_dirty",
            "ledger_fill_pnl",
            "ledger_duplicate_flags",
        ):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table


@given(
    at=st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    offset=st.sampled_from([0, 330, -210, 345, 60 * 14, -60 * 12]),
)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_a_windows_first_rollup_hour_is_the_one_postgresql_truncates_to(
    db: str, at: datetime, offset: int
) -> None:
    """``start_hour`` is computed in Python (a parameter, so a once-planned statement does not
    truncate per row); pinned to the ``date_trunc('hour', start, 'UTC')`` the SQL used."""
    start = at.astimezone(timezone(timedelta(minutes=offset)))  # the same instant, another offset
    window = queries._window(start, None)
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT date_trunc('hour', %s::timestamptz, 'UTC')", (start,)).fetchone()
    assert window["start_hour"] == row[0]  # type: ignore[index]
    assert window["start_hour"].tzinfo is not None
    assert queries._window(None, None)["start_hour"] == "-infinity"
