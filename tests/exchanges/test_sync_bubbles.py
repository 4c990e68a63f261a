"""Sync's auto bubbles, written by one INSERT … SELECT, are the bubbles ``auto.auto_bubble``
makes of the same trades: memo, candle of the user's chart timeframe, price, venue, tags."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from kifu.exchanges.rules import bubble_timeframe
from kifu.journal import auto
from tests.exchanges.conftest import BINANCE_KEY, BINANCE_SECRET
from tests.exchanges.fake_venues import FakeVenues


def test_sync_bubbles_match_auto_bubble(client, user, db, venues: FakeVenues, now: datetime):
    start = now - timedelta(days=3, minutes=7, seconds=11)
    venues.add_futures("BTCUSDT", 40, start=start, step=timedelta(minutes=37), price="50000.10")
    venues.add_futures("ETHUSDT", 5, start=start, step=timedelta(hours=5), price="3000.5")
    venues.add_futures(
        "PEPEUSDT", 3, start=start, step=timedelta(minutes=3), price="0.00000120", start_id=7
    )
    venues.add_futures("SOLUSDT", 2, start=start, step=timedelta(days=1), price="150")
    with psycopg.connect(db) as conn:  # chart timeframes: 4h, 15m, an unknown one, none
        for symbol, tf in (("ETHUSDT", "4h"), ("PEPEUSDT", "15m"), ("SOLUSDT", "3d")):
            conn.execute(
                "INSERT INTO user_symbols (user_id, symbol, timeframe_default) VALUES (%s, %s, %s)",
                (user.id, symbol, tf),
            )
        conn.execute(
            "INSERT INTO user_symbols (user_id, symbol) VALUES (%s, 'BTCUSDT')", (user.id,)
        )
        tfs = dict(conn.execute("SELECT symbol, timeframe_default FROM user_symbols").fetchall())
    r = client.post(
        "/api/v1/exchanges",
        json={"exchange": "binance_futures", "api_key": BINANCE_KEY, "api_secret": BINANCE_SECRET},
        headers=user.headers,
    )
    assert r.status_code == 200, r.text
    r = client.post(f"/api/v1/exchanges/{r.json()['id']}/sync", headers=user.headers)
    assert r.status_code == 200, r.text
    texts = {s: rows[0]["price"] for s, rows in venues.futures.items()}

    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT t.id, t.symbol, t.side, t.price, t.trade_time, t.exchange, b.user_id,"
            " b.symbol, b.timeframe, b.candle_time, b.price, b.bubble_type, b.asset_class,"
            " b.venue_name, b.memo, b.tags"
            " FROM trades t JOIN bubbles b ON b.id = t.bubble_id ORDER BY t.trade_time"
        ).fetchall()
        assert conn.execute("SELECT count(*) FROM bubbles").fetchone()[0] == 50
    assert len(rows) == 50
    for tid, symbol, side, price, at, exchange, owner, *stored in rows:
        want = auto.auto_bubble(
            "sync",
            trade_id=tid,
            symbol=symbol,
            side=side,
            price=price,
            price_text=texts[symbol],
            at=at,
            timeframe=bubble_timeframe(tfs.get(symbol)),
            tags=[],
            venue_name=exchange,
        )
        assert owner == user.id
        assert stored == [
            want.symbol,
            want.timeframe,
            want.candle_time,
            want.price,
            "auto",
            want.asset_class,
            want.venue_name,
            want.memo,
            want.tags,
        ]
    memos = {r[1]: r[14] for r in rows}
    assert memos["PEPEUSDT"].endswith("@ 0.00000120") and memos["SOLUSDT"].endswith("@ 150")
    assert {r[1]: r[8] for r in rows} == {
        "BTCUSDT": "1h",
        "ETHUSDT": "4h",
        "PEPEUSDT": "15m",
        "SOLUSDT": "1h",
    }
