"""Trades, summary, timeline, positions, instruments and backfill through the API."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import psycopg
import pytest

from kifu.ledger.queries import OpenPosition, open_positions_of_pair

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def trades(db, user):
    """Legacy-style trades as the exchange poller writes them (real, positive trade ids)."""
    rows = [
        ("binance_futures", "BTCUSDT", "BUY", "1", "100", None, 0),
        ("binance_futures", "BTCUSDT", "SELL", "1", "110", "10", 1),
        ("binance_futures", "ETHUSDT", "SELL", "2", "50", "-4", 2),
        ("binance_futures", "ETHUSDT", "BUY", "2", "52", "0", 3),
        ("upbit", "KRW-BTC", "BUY", "0.5", "1000", None, 4),
    ]
    with psycopg.connect(db) as conn:
        for n, (ex, sym, side, qty, price, pnl, h) in enumerate(rows, start=1):
            conn.execute(
                "INSERT INTO trades (user_id, binance_trade_id, exchange, symbol, side, quantity,"
                " price, realized_pnl, trade_time) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (user.id, n, ex, sym, side, qty, price, pnl, T0 + timedelta(hours=h)),
            )
    return rows


def test_trades_list_filters_and_pages(client, user, trades, make_user):
    r = client.get("/api/v1/trades?limit=2", headers=user.headers).json()
    assert r["total"] == 5 and len(r["items"]) == 2 and r["page"] == 1
    assert r["items"][0]["symbol"] == "KRW-BTC"  # newest first
    item = r["items"][1]
    assert set(item) >= {"id", "exchange", "symbol", "side", "quantity", "price", "trade_time"}
    assert item["quantity"] == "2" and item["binance_trade_id"] == 4
    # optional fields the reference left out when null are left out (realized_pnl "0" is kept)
    assert item["realized_pnl"] == "0" and "bubble_id" not in item
    assert "realized_pnl" not in r["items"][0] and "position_side" not in r["items"][0]
    r = client.get(
        "/api/v1/trades?exchange=binance_futures&side=sell&sort=asc", headers=user.headers
    ).json()
    assert [i["symbol"] for i in r["items"]] == ["BTCUSDT", "ETHUSDT"]
    r = client.get(
        "/api/v1/trades?from=2026-01-01T02:00:00Z&to=2026-01-01T03:00:00Z", headers=user.headers
    ).json()
    assert r["total"] == 2
    assert (
        client.get("/api/v1/trades?exchange=kraken", headers=user.headers).json()["code"]
        == "INVALID_EXCHANGE"
    )
    assert client.get("/api/v1/trades?from=yesterday", headers=user.headers).status_code == 400
    assert client.get("/api/v1/trades?page=0", headers=user.headers).status_code == 400
    other = make_user()
    assert client.get("/api/v1/trades", headers=other.headers).json()["items"] == []


def test_trade_summary_fills_every_field(client, user, trades):
    s = client.get("/api/v1/trades/summary", headers=user.headers).json()
    assert s["exchange"] == ""  # the reference's value when no exchange filter is given
    t = s["totals"]
    assert t["total_trades"] == 5 and t["buy_count"] == 3 and t["sell_count"] == 2
    # KRW (Upbit's KRW-BTC) is never added to USDT: per quote currency, no single total
    assert t["total_volume"] is None
    assert t["total_volume_by_currency"] == {"KRW": "500", "USDT": str(100 + 110 + 100 + 104)}
    assert t["realized_pnl_total"] == "6"
    assert t["realized_pnl_by_currency"] == {"KRW": "0", "USDT": "6"}
    assert D(t["average_pnl"]) == 2
    assert (t["wins"], t["losses"], t["breakeven"]) == (1, 1, 1)
    sides = {x["side"]: x for x in s["by_side"]}
    assert sides["BUY"]["trade_count"] == 3 and D(sides["SELL"]["total_volume"]) == 210
    sym = {x["symbol"]: x for x in s["by_symbol"]}
    assert sym["ETHUSDT"]["buy_count"] == 1 and sym["ETHUSDT"]["sell_count"] == 1
    assert sym["KRW-BTC"]["total_volume"] == "500"
    assert sym["KRW-BTC"]["total_volume_by_currency"] == {"KRW": "500"}
    assert sym["ETHUSDT"]["realized_pnl_by_currency"] == {"USDT": "-4"}
    ex = {x["exchange"]: x for x in s["by_exchange"]}
    assert ex["upbit"]["total_volume"] == "500" and ex["binance_futures"]["total_volume"]
    assert ex["upbit"]["total_trades"] == 1 and ex["binance_futures"]["realized_pnl_total"] == "6"
    empty = client.get("/api/v1/trades/summary?symbol=NOPE", headers=user.headers).json()
    assert empty["totals"]["total_trades"] == 0 and empty["totals"]["average_pnl"] == "0"
    assert empty["totals"]["total_volume"] == "0"
    assert empty["totals"]["total_volume_by_currency"] == {}
    assert empty["totals"]["realized_pnl_by_currency"] == {}
    timed = client.get(
        "/api/v1/trades/summary?from=2026-01-01T00:30:00Z", headers=user.headers
    ).json()["totals"]
    assert (timed["total_volume"], timed["total_volume_by_currency"]) == (
        None,
        {"KRW": "500", "USDT": "314"},
    )
    usdt = client.get("/api/v1/trades/summary?exchange=binance_futures", headers=user.headers)
    assert usdt.json()["totals"]["total_volume_by_currency"].keys() == {"USDT"}
    assert usdt.json()["totals"]["total_volume"] is not None
    assert usdt.json()["exchange"] == "binance_futures"
    assert empty["by_symbol"] == []


def test_backfill_events_then_timeline_positions_instruments(client, user, trades, sql):
    r = client.post("/api/v1/portfolio/backfill-events?limit=2", headers=user.headers).json()
    assert (r["processed"], r["created"], r["skipped"]) == (5, 5, 0)
    assert r["positions_refreshed"] is True
    again = client.post("/api/v1/portfolio/backfill-events", headers=user.headers).json()
    assert again["created"] == 0 and again["skipped"] == 5
    assert sql("SELECT count(*) FROM trade_events WHERE external_id IS NOT NULL")[0][0] == 5

    page1 = client.get("/api/v1/portfolio/timeline?limit=3", headers=user.headers).json()
    assert len(page1["items"]) == 3 and page1["next_cursor"]
    assert page1["items"][0]["instrument"] == "BTC/KRW"
    assert page1["items"][0]["venue_name"] == "Upbit"
    page2 = client.get(
        f"/api/v1/portfolio/timeline?limit=3&cursor={page1['next_cursor']}", headers=user.headers
    ).json()
    assert len(page2["items"]) == 2 and page2["next_cursor"] is None
    ids = {i["id"] for i in page1["items"]} | {i["id"] for i in page2["items"]}
    assert len(ids) == 5
    only = client.get("/api/v1/portfolio/timeline?venue=upbit", headers=user.headers).json()
    assert [i["venue"] for i in only["items"]] == ["upbit"]
    assert (
        client.get("/api/v1/portfolio/timeline?cursor=%%%", headers=user.headers).status_code == 400
    )

    pos = client.get("/api/v1/portfolio/positions", headers=user.headers).json()
    assert pos["count"] == 3
    by = {p["instrument"]: p for p in pos["positions"]}
    assert by["BTC/USDT"]["realized_pnl_usdt"] == "10" and by["BTC/USDT"]["status"] == "closed"
    assert by["ETH/USDT"]["realized_pnl_usdt"] == "-4"
    assert by["BTC/KRW"]["status"] == "open" and by["BTC/KRW"]["avg_entry"] == "1000"
    assert by["BTC/KRW"]["key"] == "upbit|BTC/KRW|crypto|api-sync"
    opened = client.get("/api/v1/portfolio/positions?status=open", headers=user.headers).json()
    assert opened["count"] == 1
    assert (
        client.get("/api/v1/portfolio/positions?status=x", headers=user.headers).status_code == 400
    )

    inst = client.get("/api/v1/instruments", headers=user.headers).json()
    assert [i["symbol"] for i in inst["items"]] == ["BTC/KRW", "BTC/USDT", "ETH/USDT"]
    assert inst["items"][0]["mappings"] == [{"venue": "upbit", "venue_symbol": "KRW-BTC"}]


def test_incremental_refresh_equals_full_rebuild(client, user, upload, sql):
    header = "executed_at,symbol,side,qty,price,fee\n"
    rows = [
        "2026-01-01T00:00:00Z,BTC/USDT,buy,1,100,0.1\n",
        "2026-01-01T01:00:00Z,ETH/USDT,sell,3,10,0\n",
        "2026-01-01T02:00:00Z,BTC/USDT,sell,0.4,120,0.1\n",
        "2026-01-01T03:00:00Z,BTC/USDT,sell,1,90,0.1\n",
        "2026-01-01T04:00:00Z,ETH/USDT,buy,1,9,0\n",
    ]
    # out of order on purpose: a late file carries an earlier fill
    for chunk in (rows[3:], rows[:1], rows[1:3]):
        assert (
            upload((header + "".join(chunk)).encode(), venue="binance_futures").status_code == 200
        )
    cols = (
        "status, size, avg_entry, avg_exit, opened_at, closed_at, realized_pnl_usdt, fees_usdt,"
        " buy_qty, sell_qty, buy_notional, sell_notional, last_executed_at, realized_pnl"
    )
    incremental = sql(f"SELECT {cols} FROM positions ORDER BY instrument_id")
    r = client.post("/api/v1/portfolio/rebuild-positions", headers=user.headers)
    assert r.status_code == 200
    full = sql(f"SELECT {cols} FROM positions ORDER BY instrument_id")
    assert incremental == full
    btc = next(row for row in full if row[6] != 0 and row[7] == D("0.3"))
    # 1@100 bought; 0.4@120 and 0.6@90 sold -> 8 - 6 - fees 0.3; short 0.4 @90 open
    assert btc[6] == D("1.7") and btc[1] == D("-0.4")
    assert all(v is not None for row in full for v in row[:4] if row[0] == "open")


def test_timeline_cursor_rejects_tampering(client, user):
    from kifu.kit.pagination import encode_cursor

    bad = encode_cursor("not-a-time", str(uuid.uuid4()))
    assert (
        client.get(f"/api/v1/portfolio/timeline?cursor={bad}", headers=user.headers).json()["code"]
        == "INVALID_REQUEST"
    )


def test_open_positions_of_a_pair_across_venues_and_accounts(db, user, make_user, upload, sql):
    def csv(rows):
        head = "executed_at,symbol,side,qty,price,fee,fee_asset,trade_id\n"
        return (head + "".join(f"{r},T{n}\n" for n, r in enumerate(rows))).encode()

    r = upload(
        csv(
            [
                "2026-01-05T10:00:00Z,BTC/USDT,buy,2,100,0,USDT",
                "2026-01-05T11:00:00Z,BTC/USDT,sell,1.5,120,0,USDT",
                "2026-01-05T12:00:00Z,ETH/USDT,buy,1,10,0,USDT",
            ]
        ),
        venue="binance_futures",
    )
    assert r.status_code == 200, r.text
    r = upload(csv(["2026-01-06T10:00:00Z,BTC/USDT,sell,0.25,130,0,USDT"]), venue="binance_spot")
    assert r.status_code == 200, r.text
    other = make_user()
    r = upload(
        csv(["2026-01-06T10:00:00Z,BTC/USDT,buy,9,1,0,USDT"]),
        venue="binance_futures",
        headers=other.headers,
    )
    assert r.status_code == 200, r.text

    async def read(symbol):
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
            return await open_positions_of_pair(conn, user.id, symbol)

    assert asyncio.run(read("btcusdt")) == [
        OpenPosition("binance_futures", "default", "BTC/USDT", "USDT", D("0.5"), D("100")),
        OpenPosition("binance_spot", "default", "BTC/USDT", "USDT", D("-0.25"), D("130")),
    ]
    assert asyncio.run(read("BTCKRW")) == []
    # a fill changed by hand is caught up before the read; a flat book is not listed
    sql(
        "UPDATE trade_events SET qty = 2 WHERE user_id = %s AND side = 'sell' AND qty = 1.5",
        user.id,
    )
    assert [(p.venue, p.size) for p in asyncio.run(read("BTCUSDT"))] == [
        ("binance_spot", D("-0.25"))
    ]


def test_realized_pnl_is_also_given_per_quote_currency(client, user, db):
    """KRW and USDT PnL are added together in ``realized_pnl_total`` (the reference's field) and
    kept apart, exactly, in ``realized_pnl_by_currency``, in the totals and every group."""
    with psycopg.connect(db) as conn:
        for n, (ex, sym, pnl) in enumerate(
            [
                ("upbit", "KRW-BTC", "150000.5"),
                ("upbit", "KRW-ETH", "-20000"),
                ("binance_futures", "BTCUSDT", "12.345678901234567890123456789"),
            ],
            start=1,
        ):
            conn.execute(
                "INSERT INTO trades (user_id, binance_trade_id, exchange, symbol, side, quantity,"
                " price, realized_pnl, trade_time) VALUES (%s,%s,%s,%s,'SELL',1,1,%s,%s)",
                (user.id, n, ex, sym, pnl, T0 + timedelta(hours=n)),
            )
    for query in ("", "?from=2026-01-01T00:30:00Z"):
        s = client.get(f"/api/v1/trades/summary{query}", headers=user.headers).json()
        t = s["totals"]
        assert t["realized_pnl_by_currency"] == {
            "KRW": "130000.5",
            "USDT": "12.345678901234567890123456789",
        }
        assert t["realized_pnl_total"] == "130012.845678901234567890123456789"
        ex = {x["exchange"]: x["realized_pnl_by_currency"] for x in s["by_exchange"]}
        assert ex == {
            "upbit": {"KRW": "130000.5"},
            "binance_futures": {"USDT": t["realized_pnl_by_currency"]["USDT"]},
        }
        side = {x["side"]: x["realized_pnl_by_currency"] for x in s["by_side"]}
        assert side == {"SELL": t["realized_pnl_by_currency"]}
