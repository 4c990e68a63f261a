"""Each exchange export, written from its documented layout, through the API."""

from decimal import Decimal as D

from tests.ingest.conftest import FILES


def positions(client, user):
    r = client.get("/api/v1/portfolio/positions?status=all", headers=user.headers)
    assert r.status_code == 200
    return {p["instrument"]: p for p in r.json()["positions"]}


def test_binance_futures_export(client, user, upload, sql):
    data = (FILES / "binance_futures.csv").read_bytes()
    r = upload(data)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["format"] == "binance_futures" and body["venue"] == "binance_futures"
    # two identical rows are two fills
    assert (body["imported"], body["skipped"], body["duplicates"]) == (5, 0, 0)
    assert body["positions_refreshed"] is True
    again = upload(data).json()
    assert (again["imported"], again["duplicates"]) == (0, 5)
    assert again["issues"][0] == {"row": 2, "reason": "duplicate event already imported"}
    assert sql("SELECT count(*) FROM trade_events")[0][0] == 5
    pos = positions(client, user)
    btc = pos["BTC/USDT"]
    assert btc["status"] == "open" and btc["net_qty"] == "0.005"
    assert D(btc["realized_pnl_usdt"]) == D("14.9985") - D("0.5940008")
    assert btc["avg_entry"] == "42000.1" and btc["avg_exit"] == "43000"
    eth = pos["ETH/USDT"]
    assert eth["status"] == "closed" and eth["net_qty"] == "0"
    assert D(eth["realized_pnl"]) == D("500.1") - D("480") - D("0.192")
    assert eth["unconverted_fees"] == {"BNB": "0.0012"}
    ev = sql(
        "SELECT event_type, fee_asset, metadata->>'realized_profit' FROM trade_events"
        " WHERE fee_asset = 'BNB'"
    )
    assert ev == [("perp_trade", "BNB", "0")]


def test_binance_spot_export(client, user, upload, sql):
    r = upload((FILES / "binance_spot.csv").read_bytes(), venue="binance")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["format"] == "binance_spot" and body["imported"] == 3
    pos = positions(client, user)
    btc = pos["BTC/USDT"]
    assert btc["net_qty"] == "0.001"
    assert D(btc["realized_pnl"]) == D("0.004") * 1000 - D("0.164")
    assert btc["unconverted_fees"] == {"BTC": "0.000005"}
    assert pos["ETH/BTC"]["unconverted_fees"] == {"BNB": "0.001"}
    assert pos["ETH/BTC"]["quote_asset"] == "BTC"


def test_upbit_export_in_korea_time(client, user, upload, sql):
    r = upload((FILES / "upbit.csv").read_bytes())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["format"] == "upbit" and body["imported"] == 3
    assert any("Korea time" in n for n in body["notes"])
    rows = sql(
        "SELECT to_char(executed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), event_type, qty,"
        " price FROM trade_events ORDER BY executed_at"
    )
    assert rows[0] == ("2026-03-01 00:00", "spot_trade", D("0.01"), D("60000000"))
    assert rows[2][1] == "transfer" and rows[2][3] is None
    btc = positions(client, user)["BTC/KRW"]
    assert D(btc["realized_pnl_krw"]) == D("0.004") * 2_000_000 - 424
    assert btc["fees_krw"] == "424" and btc["realized_pnl_usdt"] == "0"


def test_cp949_upbit_file_is_read(upload):
    data = (FILES / "upbit.csv").read_text().encode("cp949")
    body = upload(data).json()
    assert body["encoding"] == "cp949" and body["imported"] == 3


def test_format_venue_mismatch_is_refused(upload, sql):
    r = upload((FILES / "upbit.csv").read_bytes(), venue="binance")
    assert r.status_code == 400 and r.json()["code"] == "VENUE_MISMATCH"
    assert sql("SELECT count(*) FROM trade_events")[0][0] == 0


def test_binance_futures_realized_profit_reaches_the_trades_screen(client, user, upload, sql):
    assert upload((FILES / "binance_futures.csv").read_bytes()).status_code == 200
    pnl = sorted(str(r[0]) for r in sql("SELECT realized_pnl FROM trades"))
    assert pnl == ["0", "0", "0", "14.9985", "20.1"]
    r = client.get("/api/v1/trades/summary", headers=user.headers)
    assert D(r.json()["totals"]["realized_pnl_total"]) == D("35.0985")
