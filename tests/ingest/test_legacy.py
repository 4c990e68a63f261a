"""The legacy importer: trades, auto bubbles and trade events, deduped with the unified one."""

LEGACY = (
    "exchange,symbol,side,quantity,price,trade_time,realized_pnl,timeframe,tags\n"
    "binance_futures,BTCUSDT,BUY,1.50,100,2026-01-02T03:04:05Z,,1h,Breakout\n"
    "binance_futures,BTCUSDT,sell,1.5,110.0,2026-01-02T05:00:00Z,15,4h,\n"
    "binance_spot,ETHUSDT,buy,1,10,2026-01-02T06:00:00Z,,,\n"
    "kraken,BTCUSD,buy,1,1,2026-01-02T06:00:00Z,,,\n"
    "upbit,KRW-BTC,bid,0.1,100,2026-01-02T06:00:00Z,,,a,b\n"
)


def legacy(client, user, text):
    return client.post(
        "/api/v1/trades/import",
        headers=user.headers,
        files={"file": ("t.csv", text.encode(), "text/csv")},
    )


def test_legacy_import_writes_trades_bubbles_and_events(client, user, sql):
    r = legacy(client, user, LEGACY)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["imported"] == 4 and body["rejected"] == 1
    assert body["issues"] == [{"row": 5, "reason": body["issues"][0]["reason"]}]
    assert "invalid exchange" in body["issues"][0]["reason"]
    trades = sql(
        "SELECT t.symbol, t.side, t.binance_trade_id < 0, b.bubble_type, b.timeframe,"
        " to_char(b.candle_time AT TIME ZONE 'UTC', 'HH24:MI'), b.tags, b.memo"
        " FROM trades t JOIN bubbles b ON b.id = t.bubble_id ORDER BY t.trade_time, t.symbol"
    )
    assert trades[0] == (
        "BTCUSDT",
        "BUY",
        True,
        "auto",
        "1h",
        "03:00",
        ["breakout", "buy"],
        "CSV import: BTCUSDT BUY @ 100",
    )
    assert trades[1][5] == "04:00" and trades[1][4] == "4h"
    events = sql(
        "SELECT v.code, i.symbol, a.label, e.source, e.metadata ? 'trade_id',"
        " e.metadata ? '_stage' FROM trade_events e JOIN venues v ON v.id = e.venue_id"
        " JOIN instruments i ON i.id = e.instrument_id JOIN accounts a ON a.id = e.account_id"
        " ORDER BY e.executed_at, i.symbol"
    )
    assert events[0] == ("binance_futures", "BTC/USDT", "csv-import", "csv", True, False)
    assert ("upbit", "BTC/KRW", "csv-import", "csv", True, False) in events
    again = legacy(client, user, LEGACY).json()
    assert again["imported"] == 0 and again["duplicates"] == 4
    assert sql("SELECT count(*) FROM trades")[0][0] == 4
    assert sql("SELECT count(*) FROM bubbles")[0][0] == 4


def test_same_fill_through_both_importers_is_stored_once(client, user, upload, sql):
    unified = "executed_at,symbol,side,qty,price\n2026-01-02T03:04:05.000Z,BTC/USDT,buy,1.5,100\n"
    assert upload(unified.encode(), venue="binance_futures").json()["imported"] == 1
    body = legacy(client, user, LEGACY).json()
    assert body["imported"] == 3  # the BTC buy is already in the ledger
    assert sql("SELECT count(*) FROM trade_events")[0][0] == 4
    # and the other way round: legacy first, then the unified import adds nothing
    sell = "executed_at,symbol,side,qty,price\n2026-01-02T05:00:00Z,BTCUSDT,sell,1.500,110\n"
    assert upload(sell.encode(), venue="binance_futures").json()["imported"] == 0
    assert sql("SELECT count(*) FROM trade_events")[0][0] == 4


def test_legacy_missing_columns_and_bad_rows(client, user, sql):
    r = legacy(client, user, "exchange,symbol,side\nupbit,KRW-BTC,buy\n")
    assert r.status_code == 400 and r.json()["code"] == "MISSING_COLUMNS"
    bad = (
        "exchange,symbol,side,quantity,price,trade_time\n"
        "upbit,KRW-BTC,hold,1,1,2026-01-02T00:00:00Z\n"
        "upbit,KRW-BTC,buy,-1,1,2026-01-02T00:00:00Z\n"
        "upbit,KRW-BTC,buy,1,1,yesterday\n"
        "upbit,KRW BTC!,buy,1,1,2026-01-02T00:00:00Z\n"
    )
    body = legacy(client, user, bad).json()
    assert body["imported"] == 0 and body["rejected"] == 4
    assert sql("SELECT count(*) FROM trades")[0][0] == 0
