"""The one write path: every fill is a trade whatever brought it in, once; the change tracker
reaches positions from hand-written SQL; existing databases get their trades rows (047)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import psycopg
import pytest

from kifu.db import runner

FUTURES_EXPORT = (
    "Date(UTC),Pair,Side,Price,Quantity,Amount,Fee,Realized Profit\n"
    "2026-01-05 10:00:00,BTCUSDT,BUY,50000.1,0.01,500.001,0.02 USDT,0\n"
    "2026-01-05 11:00:00,BTCUSDT,SELL,50100.1,0.01,501.001,0.02 USDT,1\n"
    "2026-01-05 12:00:00,ETHUSDT,BUY,3000,1,3000,0.1 USDT,0\n"
)
LEGACY_SAME = (
    "exchange,symbol,side,quantity,price,trade_time\n"
    "binance_futures,BTCUSDT,BUY,0.01,50000.1,2026-01-05T10:00:00Z\n"
    "binance_futures,BTCUSDT,SELL,0.01,50100.1,2026-01-05T11:00:00Z\n"
    "binance_futures,ETHUSDT,buy,1,3000,2026-01-05T12:00:00Z\n"
)


def _post_file(client, user, path, text):
    r = client.post(
        path, headers=user.headers, files={"file": ("t.csv", text.encode(), "text/csv")}
    )
    assert r.status_code == 200, r.text
    return r.json()


def _trades(client, user, **params):
    r = client.get("/api/v1/trades", headers=user.headers, params={"limit": 100, **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_unified_import_fills_are_on_the_trades_screen(client, user, sql):
    body = _post_file(client, user, "/api/v1/imports/trades", FUTURES_EXPORT)
    assert body["imported"] == 3
    listed = _trades(client, user)
    assert listed["total"] == 3
    assert sorted((t["exchange"], t["symbol"], t["side"]) for t in listed["items"]) == [
        ("binance_futures", "BTCUSDT", "BUY"),
        ("binance_futures", "BTCUSDT", "SELL"),
        ("binance_futures", "ETHUSDT", "BUY"),
    ]
    summary = client.get("/api/v1/trades/summary", headers=user.headers).json()
    assert summary["totals"]["total_trades"] == 3
    # each row projects its event; no venue id in an export: the stable negative id
    rows = sql(
        "SELECT t.binance_trade_id < 0, t.quantity, e.qty, t.trade_time = e.executed_at"
        " FROM trades t JOIN trade_events e ON e.id = t.event_id"
    )
    assert len(rows) == 3 and all(r[0] and r[1] == r[2] and r[3] for r in rows)
    # the unified importer makes no bubbles (the reference's behaviour)
    assert sql("SELECT count(*) FROM bubbles")[0][0] == 0


def test_the_same_fills_from_both_importers_are_one_trade_each(client, user, sql):
    _post_file(client, user, "/api/v1/imports/trades", FUTURES_EXPORT)
    legacy = _post_file(client, user, "/api/v1/trades/import", LEGACY_SAME)
    assert (legacy["imported"], legacy["duplicates"]) == (0, 3)
    assert _trades(client, user)["total"] == 3
    # and the other way round, for another user
    assert sql("SELECT count(*) FROM trades")[0][0] == 3


def test_legacy_then_unified_then_cli_is_still_one_trade_each(client, make_user, sql, db):
    other = make_user()
    legacy = _post_file(client, other, "/api/v1/trades/import", LEGACY_SAME)
    assert legacy["imported"] == 3
    again = _post_file(client, other, "/api/v1/imports/trades", FUTURES_EXPORT)
    assert (again["imported"], again["duplicates"]) == (0, 3)
    assert _trades(client, other)["total"] == 3
    assert sql("SELECT count(*) FROM trades WHERE bubble_id IS NOT NULL")[0][0] == 3


def _position(client, user, symbol):
    r = client.get("/api/v1/portfolio/positions", headers=user.headers)
    assert r.status_code == 200, r.text
    (p,) = [p for p in r.json()["positions"] if p["instrument"] == symbol]
    return p


def test_hand_edits_reach_positions(client, user, sql):
    _post_file(client, user, "/api/v1/imports/trades", FUTURES_EXPORT)
    before = _position(client, user, "BTC/USDT")
    assert Decimal(before["realized_pnl"]) == Decimal("1.00") - Decimal("0.04")
    sql(
        "UPDATE trade_events SET price = 50200.1 WHERE side = 'sell' AND user_id = %s",
        user.id,
    )
    moved = _position(client, user, "BTC/USDT")
    assert Decimal(moved["realized_pnl"]) == Decimal("2.00") - Decimal("0.04")
    # a fee edit moves the position's fees (no FIFO replay needed)
    sql("UPDATE trade_events SET fee = 0.5 WHERE side = 'sell' AND user_id = %s", user.id)
    charged = _position(client, user, "BTC/USDT")
    assert Decimal(charged["fees"]) == Decimal("0.52")
    assert Decimal(charged["realized_pnl"]) == Decimal("2.00") - Decimal("0.52")
    # a deleted book loses its position
    sql(
        "DELETE FROM trade_events e USING instruments i WHERE i.id = e.instrument_id"
        " AND i.symbol = 'ETH/USDT'"
    )
    r = client.get("/api/v1/portfolio/positions", headers=user.headers).json()
    assert [p["instrument"] for p in r["positions"]] == ["BTC/USDT"]
    assert sql("SELECT count(*) FROM ledger_pnl_dirty")[0][0] == 0


def test_a_write_touches_only_the_books_it_changed(client, user, sql):
    _post_file(client, user, "/api/v1/imports/trades", FUTURES_EXPORT)
    stamp = dict(
        sql(
            "SELECT i.symbol, p.updated_at FROM positions p JOIN instruments i"
            " ON i.id = p.instrument_id"
        )
    )
    _post_file(
        client,
        user,
        "/api/v1/imports/trades",
        FUTURES_EXPORT + "2026-01-06 12:00:00,ETHUSDT,SELL,3100,1,3100,0.1 USDT,100\n",
    )
    after = dict(
        sql(
            "SELECT i.symbol, p.updated_at FROM positions p JOIN instruments i"
            " ON i.id = p.instrument_id"
        )
    )
    assert after["BTC/USDT"] == stamp["BTC/USDT"]
    assert after["ETH/USDT"] > stamp["ETH/USDT"]


@pytest.fixture
def at_046(empty_db: str) -> str:
    runner.upgrade(empty_db, stop_after="046_ledger_rollups.sql")
    return empty_db


def test_migration_047_gives_existing_fills_their_trades(at_046: str) -> None:
    user, legacy_trade = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(at_046) as conn:
        conn.execute(
            "INSERT INTO users (id, email, password_hash, name) VALUES (%s, 'a@b.c', 'x', 'A')",
            (user,),
        )
        venue = conn.execute(
            "INSERT INTO venues (code, venue_type, display_name)"
            " VALUES ('binance_futures', 'cex', 'Binance Futures') RETURNING id"
        ).fetchone()[0]
        account = conn.execute(
            "INSERT INTO accounts (user_id, venue_id, label, source) VALUES (%s, %s, 'd', 'csv')"
            " RETURNING id",
            (user, venue),
        ).fetchone()[0]
        inst = conn.execute(
            "INSERT INTO instruments (asset_class, base_asset, quote_asset, symbol)"
            " VALUES ('crypto', 'BTC', 'USDT', 'BTC/USDT') RETURNING id"
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO trades (id, user_id, binance_trade_id, exchange, symbol, side, quantity,"
            " price, trade_time) VALUES (%s, %s, -5, 'binance_futures', 'BTCUSDT', 'BUY', 1, 10,"
            " '2026-01-01T00:00:00Z')",
            (legacy_trade, user),
        )
        rows = [  # (external id, dedupe key, metadata)
            (None, "a" * 64, f'{{"trade_id": "{legacy_trade}"}}'),  # the legacy trade's event
            ("777", "b" * 64, None),  # a synced fill whose trades row was never written
            (None, "c" * 64, None),  # a unified import: no trades row
        ]
        for n, (ext, key, meta) in enumerate(rows):
            conn.execute(
                "INSERT INTO trade_events (user_id, account_id, venue_id, instrument_id,"
                " asset_class, venue_type, event_type, side, qty, price, executed_at, source,"
                " external_id, metadata, dedupe_key, content_key) VALUES (%s, %s, %s, %s,"
                " 'crypto', 'cex', 'perp_trade', 'buy', 1, 10, %s, 'csv', %s, %s, %s, %s)",
                (user, account, venue, inst, f"2026-01-0{n + 1}T00:00:00Z", ext, meta, key, key),
            )
    runner.upgrade(at_046)
    with psycopg.connect(at_046) as conn:
        got = conn.execute(
            "SELECT t.id = %s, t.binance_trade_id, t.symbol, t.side, e.dedupe_key"
            " FROM trades t JOIN trade_events e ON e.id = t.event_id ORDER BY e.executed_at",
            (legacy_trade,),
        ).fetchall()
        synthetic = conn.execute("SELECT kifu_synthetic_trade_id(%s)", ("c" * 64,)).fetchone()[0]
        assert conn.execute("SELECT count(*) FROM trades").fetchone()[0] == 3
    assert got == [
        (True, -5, "BTCUSDT", "BUY", "a" * 64),
        (False, 777, "BTCUSDT", "BUY", "b" * 64),
        (False, synthetic, "BTCUSDT", "BUY", "c" * 64),
    ]


def test_a_read_of_positions_does_not_wait_for_a_running_write(client, user, sql, db):
    """While a writer holds the user's ledger lock, a read of positions answers at once with
    what is stored (the writer catches up when it ends), and catches up the hand edit after."""
    _post_file(client, user, "/api/v1/imports/trades", FUTURES_EXPORT)
    sql("UPDATE trade_events SET price = 50200.1 WHERE side = 'sell' AND user_id = %s", user.id)
    with psycopg.connect(db) as writer_conn:  # a writer in the middle of its transaction
        writer_conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"kifu.ledger:{user.id}",)
        )
        held = _position(client, user, "BTC/USDT")
        assert Decimal(held["realized_pnl"]) == Decimal("1.00") - Decimal("0.04")
    assert sql("SELECT count(*) FROM ledger_pnl_dirty WHERE user_id = %s", user.id)[0][0] > 0
    after = _position(client, user, "BTC/USDT")
    assert Decimal(after["realized_pnl"]) == Decimal("2.00") - Decimal("0.04")


def test_a_write_runs_inside_the_callers_transaction(db, user):
    import asyncio

    from kifu.ledger import writer

    async def outside() -> None:
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
            with pytest.raises(RuntimeError, match="inside the caller's transaction"):
                async with writer.open_write(conn, user.id, source="csv", account_label="d"):
                    pass

    asyncio.run(outside())
