"""Binance spot and Upbit through the API, the connection endpoints' bad input, and the poller."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg

from kifu.exchanges import tasks
from tests.exchanges.conftest import BINANCE_KEY, BINANCE_SECRET, UPBIT_KEY, UPBIT_SECRET
from tests.exchanges.fake_venues import FakeVenues, Key


def _one(db: str, sql: str, *args):
    with psycopg.connect(db) as conn:
        return conn.execute(sql, args).fetchone()


def _details(venues: FakeVenues) -> int:
    return sum(1 for p, _ in venues.requests if p == "/v1/order")


def _register(client, user, exchange, key, secret):
    return client.post(
        "/api/v1/exchanges",
        json={"exchange": exchange, "api_key": key, "api_secret": secret},
        headers=user.headers,
    )


def _spot_sync_after(client, user, db, sql: str) -> tuple[str, dict]:
    """Run ``sql`` (with the user's id) on the database, then register the Binance spot key and
    sync it once: the connection id and the sync's answer."""
    with psycopg.connect(db) as conn:
        conn.execute(sql, (user.id,))
    cid = _register(client, user, "binance_spot", BINANCE_KEY, BINANCE_SECRET).json()["id"]
    r = client.post(f"/api/v1/exchanges/{cid}/sync", headers=user.headers)
    assert r.status_code == 200, r.text
    return cid, r.json()


def test_spot_symbols_from_balances_and_past_trades(client, user, db, venues: FakeVenues, now):
    start = now - timedelta(days=3)
    venues.add_spot("ETHBTC", "ETH", "BTC", 1205, start=start)
    venues.add_spot("SOLUSDT", "SOL", "USDT", 2, start=start)  # found only via the balance
    venues.spot_listed["DOGEUSDT"] = ("DOGE", "USDT")
    venues.balances = [
        {"asset": "SOL", "free": "3.5", "locked": "0"},
        {"asset": "DOGE", "free": "0", "locked": "0"},
    ]
    # ETHBTC is known from an earlier CSV-era trade (past trades)
    cid, s = _spot_sync_after(
        client,
        user,
        db,
        "INSERT INTO trades (user_id, binance_trade_id, exchange, symbol, side, quantity,"
        " price, trade_time) VALUES (%s, -5, 'binance_spot', 'ETHBTC', 'BUY', 1, 1, now())",
    )
    assert s["inserted_count"] == 1207 and set(s["symbols"]) >= {"ETHBTC", "SOLUSDT"}
    assert "DOGEUSDT" not in s["symbols"]  # zero balance
    row = _one(db, "SELECT side FROM trades WHERE symbol = 'ETHBTC' AND binance_trade_id = 1")
    assert row[0] == "SELL"  # isBuyer false
    ev = _one(
        db,
        "SELECT e.fee, e.fee_asset, i.symbol, e.event_type FROM trade_events e"
        " JOIN instruments i ON i.id = e.instrument_id WHERE e.external_id = '2'"
        " AND i.symbol = 'ETH/BTC'",
    )
    assert ev == (Decimal("0.0015"), "ETH", "ETH/BTC", "spot_trade")
    assert _one(db, "SELECT count(*) FROM user_symbols WHERE symbol = 'SOLUSDT'")[0] == 1
    r = client.post(f"/api/v1/exchanges/{cid}/sync", headers=user.headers)
    assert r.json()["inserted_count"] == 0


def test_spot_symbols_from_the_watch_list(client, user, db, venues: FakeVenues, now):
    """A pair with no balance and no past trade is synced because the user watches it (the
    watch-list comes from accounts, ``symbol_timeframes``); an unwatched one is not."""
    start = now - timedelta(days=3)
    venues.add_spot("ADAUSDT", "ADA", "USDT", 4, start=start)
    venues.add_spot("XRPUSDT", "XRP", "USDT", 3, start=start)
    _, s = _spot_sync_after(
        client,
        user,
        db,
        "INSERT INTO user_symbols (user_id, symbol, timeframe_default)"
        " VALUES (%s, 'ADAUSDT', '4h')",
    )
    assert s["inserted_count"] == 4 and "ADAUSDT" in s["symbols"]
    assert "XRPUSDT" not in s["symbols"]


def test_upbit_windows_order_fills_and_krw(client, user, db, venues: FakeVenues, caplog, now):
    caplog.set_level(logging.DEBUG)
    o1 = venues.add_upbit_order(
        "KRW-BTC",
        "bid",
        now - timedelta(days=10),
        [("95000000", "0.001"), ("95010000", "0.002")],
        paid_fee="142.5",
    )
    venues.add_upbit_order("KRW-ETH", "ask", now - timedelta(days=2), [("4100000", "0.5")])
    venues.add_upbit_order(
        "KRW-ETH",
        "bid",
        now - timedelta(days=1),
        [("4000000", "0.1")],
        state="cancel",
        paid_fee="0",
    )
    venues.add_upbit_order("KRW-XRP", "bid", now - timedelta(days=1), [], state="cancel")
    r = _register(client, user, "upbit", UPBIT_KEY, UPBIT_SECRET)
    assert r.status_code == 200, r.text
    cid = r.json()["id"]
    t = client.post(f"/api/v1/exchanges/{cid}/test", headers=user.headers)
    assert t.status_code == 200 and t.json()["expires_at"].startswith("2098-12-31T15:00:00")
    r = client.post(f"/api/v1/exchanges/{cid}/sync?history_days=30", headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.json()["inserted_count"] == 4
    # the closed-order windows are at most 7 days; orders without fills are never opened
    windows = venues.paths("/v1/orders/closed")
    assert len(windows) >= 5
    assert all(
        int(q["end_time"]) - int(q["start_time"]) <= 7 * 86400000
        for _, q in windows
        if "start_time" in q
    )
    assert _details(venues) == 3
    rows = _one(
        db,
        "SELECT array_agg(symbol ORDER BY trade_time), sum(quantity) FROM trades"
        " WHERE symbol = 'BTCKRW'",
    )
    assert rows[0] == ["BTCKRW", "BTCKRW"] and rows[1] == Decimal("0.003")
    fees = _one(
        db,
        "SELECT sum(e.fee), min(e.fee_asset) FROM trade_events e"
        " WHERE e.metadata->>'order_uuid' = %s",
        o1["uuid"],
    )
    assert fees == (Decimal("142.5"), "KRW")
    inst = _one(
        db,
        "SELECT i.base_asset, i.quote_asset FROM trade_events e JOIN instruments i"
        " ON i.id = e.instrument_id WHERE e.metadata->>'order_uuid' = %s LIMIT 1",
        o1["uuid"],
    )
    assert inst == ("BTC", "KRW")
    state = _one(db, "SELECT symbol FROM trade_sync_state WHERE exchange = 'upbit'")
    assert state == ("ALL_MARKETS",)
    # incremental: known orders are not opened again
    n = _details(venues)
    later = datetime.now(UTC) - timedelta(minutes=5)  # created before, closed after the sync
    venues.add_upbit_order("KRW-BTC", "ask", later, [("96000000", "0.003")])
    r = client.post(f"/api/v1/exchanges/{cid}/sync", headers=user.headers)
    assert r.json()["inserted_count"] == 1
    assert _details(venues) == n + 1
    assert UPBIT_SECRET not in caplog.text and UPBIT_SECRET not in r.text


def test_upbit_full_window_is_split(client, user, db, venues: FakeVenues, now):
    base = now - timedelta(days=3)
    for n in range(1100):
        venues.add_upbit_order(
            "KRW-BTC",
            "bid",
            base + timedelta(seconds=n * 60),
            [("90000000", "0.0001")],
            paid_fee="4.5",
        )
    cid = _register(client, user, "upbit", UPBIT_KEY, UPBIT_SECRET).json()["id"]
    r = client.post(f"/api/v1/exchanges/{cid}/sync?history_days=5", headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.json()["inserted_count"] == 1100


def test_upbit_without_read_scope_and_rate_limit(client, user, db, venues: FakeVenues):
    venues.keys["upNOREAD0123456789"] = Key("upnoread-secret-0123456789", reading=False)
    r = _register(client, user, "upbit", "upNOREAD0123456789", "upnoread-secret-0123456789")
    assert r.status_code == 400 and r.json()["code"] == "EXCHANGE_PERMISSION_DENIED"
    assert "주문조회" in r.json()["message"]
    venues.upbit_remaining_sec = 0  # the client waits for the next second, then carries on
    cid = _register(client, user, "upbit", UPBIT_KEY, UPBIT_SECRET).json()["id"]
    venues.inject("/v1/orders/closed", "429", times=2)
    r = client.post(f"/api/v1/exchanges/{cid}/sync?history_days=8", headers=user.headers)
    assert r.status_code == 200, r.text


def test_bad_input_and_ownership(client, user, make_user, db, venues: FakeVenues):
    h = user.headers
    r = client.post(
        "/api/v1/exchanges",
        json={"exchange": "kraken", "api_key": "x" * 10, "api_secret": "y" * 10},
        headers=h,
    )
    assert r.status_code == 400 and r.json()["code"] == "INVALID_EXCHANGE"
    r = client.post(
        "/api/v1/exchanges",
        json={"exchange": "upbit", "api_key": " ", "api_secret": "y" * 10},
        headers=h,
    )
    assert r.status_code == 400 and r.json()["code"] == "INVALID_REQUEST"
    r = client.post(
        "/api/v1/exchanges",
        json={"exchange": "upbit", "api_key": "k" * 10, "api_secret": "s" * 10, "x": 1},
        headers=h,
    )
    assert r.status_code == 400 and "x: unknown field" in r.json()["message"]
    r = _register(client, user, "binance_spot", "unknownKEY012345", "unknown-secret-0123")
    assert r.status_code == 400 and r.json()["code"] == "EXCHANGE_PERMISSION_DENIED"
    cid = _register(client, user, "binance_spot", BINANCE_KEY, BINANCE_SECRET).json()["id"]
    other = make_user()
    for method, path in (("post", f"/{cid}/sync"), ("post", f"/{cid}/test"), ("delete", f"/{cid}")):
        r = getattr(client, method)(f"/api/v1/exchanges{path}", headers=other.headers)
        assert r.status_code == 404 and r.json()["code"] == "EXCHANGE_NOT_FOUND"
    r = client.post("/api/v1/exchanges/not-a-uuid/sync", headers=h)
    assert r.status_code == 400
    r = client.post(f"/api/v1/exchanges/{cid}/sync?history_days=0", headers=h)
    assert r.status_code == 400 and "history_days is invalid" in r.json()["message"]
    assert client.get("/api/v1/exchanges", headers=other.headers).json() == {"items": []}
    assert _one(db, "SELECT count(*) FROM runs")[0] == 0
    r = client.delete(f"/api/v1/exchanges/{cid}", headers=h)
    assert r.json() == {"deleted": True}
    assert client.delete(f"/api/v1/exchanges/{cid}", headers=h).status_code == 404


def test_exchange_timeout_is_502(client, user, venues: FakeVenues, settings):
    settings.binance_spot_url = "http://127.0.0.1:9"  # nothing listens: connection refused
    r = _register(client, user, "binance_spot", BINANCE_KEY, BINANCE_SECRET)
    assert r.status_code == 502 and r.json()["code"] == "EXCHANGE_PERMISSION_CHECK_FAILED"


def test_poller_picks_up_credentials_and_backs_off(client, user, db, venues: FakeVenues):
    async def due() -> list:
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
            from kifu.exchanges import store

            return await store.due_credentials(conn, timedelta(seconds=300), 100)

    assert asyncio.run(due()) == []
    cid = _register(client, user, "binance_spot", BINANCE_KEY, BINANCE_SECRET).json()["id"]
    assert [str(c) for c in asyncio.run(due())] == [cid]  # added while running: picked up
    r = client.post(f"/api/v1/exchanges/{cid}/sync", headers=user.headers)
    assert r.status_code == 200
    assert asyncio.run(due()) == []  # just synced: not due for the interval
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE exchange_sync_status SET last_attempt_at = now() - interval '1 h'")
    assert len(asyncio.run(due())) == 1
    venues.inject("/api/v3/exchangeInfo", "500", times=8)
    r = client.post(f"/api/v1/exchanges/{cid}/sync", headers=user.headers)
    assert r.status_code == 502
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE exchange_sync_status SET last_attempt_at = now() - interval '1 h'")
    assert asyncio.run(due()) == []  # failing: backed off past the interval
    client.delete(f"/api/v1/exchanges/{cid}", headers=user.headers)
    assert _one(db, "SELECT count(*) FROM exchange_sync_status")[0] == 0
    assert tasks.SYNC == "exchanges.sync_credential"
