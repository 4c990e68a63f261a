"""Never lost, never doubled; bad input reported and nothing half-written; runs recorded."""

import asyncio
import csv
import io

import psycopg
from fastapi.testclient import TestClient

from kifu.app import create_app
from kifu.config import Settings
from kifu.ingest import service
from tests.helpers import TEST_ENC_KEY, TEST_JWT_SECRET

GENERIC_HEADER = "executed_at,symbol,side,qty,price,fee,fee_asset\n"
ROW = "2026-01-02T03:04:05Z,BTC/USDT,buy,1.50,100,0.1,USDT\n"


def count(sql):
    return sql("SELECT count(*) FROM trade_events")[0][0]


def test_identical_rows_are_fills_and_later_file_adds_only_the_new_one(upload, sql):
    two = (GENERIC_HEADER + ROW * 2).encode()
    r = upload(two, venue="binance_futures")
    assert r.json()["imported"] == 2
    three = (GENERIC_HEADER + ROW * 3).encode()
    body = upload(three, venue="binance_futures").json()
    assert (body["imported"], body["duplicates"]) == (1, 2)
    assert count(sql) == 3


def test_number_and_symbol_forms_are_the_same_fill(upload, sql):
    upload((GENERIC_HEADER + ROW).encode(), venue="binance_futures")
    other = "executed_at,pair,side,quantity,price\n2026-01-02 03:04:05,BTCUSDT,BUY,1.5,100.00\n"
    body = upload(other.encode(), venue="binance", event_type="perp_trade").json()
    # venue "binance" + spot default is another venue, so it is a different fill...
    assert body["imported"] == 1
    perp = "executed_at,pair,side,quantity,price,event_type\n" + (
        "2026-01-02 03:04:05,BTCUSDT,BUY,1.5,100.00,perp_trade\n"
    )
    body = upload(perp.encode(), venue="binance").json()
    # ...while binance + perp_trade is binance_futures: same fill, not stored again
    assert (body["imported"], body["duplicates"]) == (0, 1)
    assert any("read as UTC" in n for n in body["notes"])


def test_trade_id_rows_dedupe_by_id(upload, sql):
    data = (
        "time,symbol,side,size,price,trade_id\n"
        "2026-01-02T03:04:05Z,ETH-USDT,sell,2,10,A1\n"
        "2026-01-02T03:04:05Z,ETH-USDT,sell,2,10,A2\n"
        "2026-01-02T03:04:06Z,ETH-USDT,sell,2,10,A1\n"
    )
    body = upload(data.encode(), venue="bybit").json()
    assert (body["imported"], body["duplicates"]) == (2, 1)
    assert body["issues"][0]["row"] == 4
    assert "trade id" in body["issues"][0]["reason"]
    # the same fill without its id (an export) is recognised by content
    noid = "time,symbol,side,size,price\n2026-01-02T03:04:05Z,ETHUSDT,sell,2,10\n"
    assert upload(noid.encode(), venue="bybit").json()["imported"] == 0


def test_bad_rows_are_reported_and_good_rows_kept(upload, sql):
    data = (
        GENERIC_HEADER
        + ROW
        + "not-a-date,BTC/USDT,buy,1,100,,\n"
        + "2026-01-02T03:04:05Z,BTC/USDT,buy,-1,100,,\n"
        + "2026-01-02T03:04:05Z,BTC/USDT,buy,abc,100,,\n"
        + "2026-01-02T03:04:05Z,BTC/USDT,,1,100,,\n"
        + "2026-01-02T03:04:05Z,,buy,1,100,,\n"
        + "2026-01-02T03:04:05Z,BTC/USDT,buy,1,0,,\n"
        + "2026-01-02T03:04:05Z,BTC/USDT,buy,1,100,-2,USDT\n"
        + ",,,,,,\n"
        + "2026-01-02,ETH/USDT,sell,1,100,,\n"
    )
    body = upload(data.encode(), venue="binance_futures").json()
    assert body["imported"] == 2 and body["rejected"] == 7
    reasons = {i["row"]: i["reason"] for i in body["issues"]}
    assert reasons[3].startswith("invalid executed_at")
    assert reasons[4].startswith("invalid qty") and "negative" in reasons[4]
    assert reasons[5].startswith("invalid qty")
    assert reasons[6] == "side is required for trade events"
    assert reasons[7] == "symbol is required"
    assert reasons[8].startswith("invalid price")
    assert reasons[9].startswith("invalid fee")
    assert 10 not in reasons  # blank rows are ignored
    assert body["notes"] == ["1 row(s) had no time zone and were read as UTC"]
    assert count(sql) == 2


def test_report_csv(upload):
    data = GENERIC_HEADER + ROW + "bad,BTC/USDT,buy,1,1,,\n"
    r = upload(data.encode(), query="?report=csv", venue="binance_futures")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["x-import-imported"] == "1"
    assert r.headers["x-positions-refreshed"] == "true"
    assert "import_issues_" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["row", "reason"] and rows[1][0] == "3"


def test_issue_list_is_capped(upload):
    data = GENERIC_HEADER + "x,BTC/USDT,buy,1,1,,\n" * 150
    body = upload(data.encode(), venue="binance_futures").json()
    assert len(body["issues"]) == 100 and body["issue_count"] == 150
    assert body["issues_truncated"] is True


def _failed(client, user, upload, sql, data, code, venue="binance_futures"):
    r = upload(data, venue=venue)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == code
    assert count(sql) == 0
    run = client.get("/api/v1/runs", headers=user.headers).json()["items"][0]
    assert run["status"] == "failed" and run["finished_at"] is not None
    assert run["meta"]["error"] and run["meta"]["code"] == code
    return r.json()


def test_whole_file_problems_write_nothing(client, user, upload, sql):
    _failed(client, user, upload, sql, b"", "EMPTY_FILE")
    _failed(client, user, upload, sql, b"\n\n  \n", "EMPTY_FILE")
    _failed(client, user, upload, sql, b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "NOT_CSV")
    _failed(client, user, upload, sql, b"\xff\xfe\xff executed_at", "INVALID_ENCODING")
    body = _failed(client, user, upload, sql, b"symbol,side\nBTC,buy\n", "MISSING_COLUMNS")
    assert body["missing"] == ["executed_at", "qty", "price"]
    assert "missing columns: executed_at, qty, price" in body["message"]
    _failed(client, user, upload, sql, (GENERIC_HEADER + ROW).encode(), "MISSING_VENUE", "")


def test_bad_encoding_late_in_the_file_rolls_everything_back(client, user, upload, sql):
    good = (GENERIC_HEADER + ROW * 2000).encode()
    assert len(good) > 70_000
    _failed(
        client,
        user,
        upload,
        sql,
        good + b"2026-01-02T03:04:05Z,\xff\xff,buy,1,1,,\n",
        "INVALID_ENCODING",
    )
    assert sql("SELECT count(*) FROM positions")[0][0] == 0


def test_form_fields_are_validated(upload):
    data = (GENERIC_HEADER + ROW).encode()
    assert upload(data, venue="x", asset_class="bond").json()["code"] == "INVALID_REQUEST"
    assert upload(data, venue="kis", source="api").status_code == 400
    assert upload(data, venue="kis", venue_type="bank").status_code == 400


def test_runs_are_listed_newest_first_and_scoped(client, user, make_user, upload):
    for _ in range(3):
        upload((GENERIC_HEADER + ROW).encode(), venue="binance_futures")
    r = client.get("/api/v1/runs?limit=2", headers=user.headers).json()
    assert r["total"] == 3 and len(r["items"]) == 2
    first, second = r["items"]
    assert first["started_at"] >= second["started_at"]
    assert first["status"] == "completed" and first["finished_at"]
    assert first["meta"]["exchange_rows_duplicated"] == 1
    assert second["run_type"] == "trade_csv_import"
    other = make_user()
    assert client.get("/api/v1/runs", headers=other.headers).json()["items"] == []


def test_over_the_size_limit_is_413(db, user):
    settings = Settings(
        database_url=db, jwt_secret=TEST_JWT_SECRET, enc_key=TEST_ENC_KEY, max_body_bytes=2000
    )
    with TestClient(create_app(settings, db), raise_server_exceptions=False) as c:
        r = c.post(
            "/api/v1/imports/trades",
            headers=user.headers,
            files={"file": ("t.csv", (GENERIC_HEADER + ROW * 100).encode(), "text/csv")},
            data={"venue": "binance_futures"},
        )
    assert r.status_code == 413
    assert r.json()["code"] == "PAYLOAD_TOO_LARGE"


def test_two_concurrent_imports_store_each_fill_once(db, user, sql):
    data = (GENERIC_HEADER + ROW * 3 + ROW.replace("buy", "sell") * 2).encode()

    async def one():
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
            req = service.UnifiedRequest(venue="binance_futures")
            return await service.import_unified(conn, user.id, io.BytesIO(data), req)

    async def both():
        return await asyncio.gather(one(), one())

    a, b = asyncio.run(both())
    assert sorted([a["imported"], b["imported"]]) == [0, 5]
    assert count(sql) == 5
    assert sql("SELECT count(*) FROM positions")[0][0] == 1


def test_an_umbrella_venue_is_reported_and_found_as_the_venue_it_was_stored_under(
    upload, client, user
):
    # ``binance`` is an umbrella: spot fills are stored as binance_spot, perp fills as
    # binance_futures. The report names what was stored, and a filter by the name finds both.
    spot = (GENERIC_HEADER + ROW).encode()
    body = upload(spot, venue="binance").json()
    assert body["imported"] == 1
    assert (body["venue"], body["venues"]) == ("binance_spot", ["binance_spot"])
    perp = "executed_at,pair,side,quantity,price,event_type\n" + (
        "2026-01-03T03:04:05Z,ETHUSDT,BUY,1,10,perp_trade\n"
        "2026-01-03T03:04:06Z,ETHUSDT,BUY,1,10,perp_trade\n"
        "2026-01-03T03:04:07Z,BTCUSDT,BUY,1,10,spot_trade\n"
    )
    body = upload(perp.encode(), venue="binance").json()
    assert body["venue"] == "binance_futures"
    assert body["venues"] == ["binance_futures", "binance_spot"]
    empty = upload(GENERIC_HEADER.encode(), venue="binance").json()
    assert (empty["venue"], empty["venues"]) == ("binance_spot", ["binance_spot"])

    def venues_of(path: str) -> list[str]:
        r = client.get(f"/api/v1/portfolio/{path}", headers=user.headers)
        assert r.status_code == 200, r.text
        return sorted(i["venue"] for i in r.json()["items" if "timeline" in path else "positions"])

    assert venues_of("timeline?venue=binance") == ["binance_futures"] * 2 + ["binance_spot"] * 2
    assert venues_of("timeline?venue=binance_spot") == ["binance_spot"] * 2
    assert venues_of("timeline?venue=binanceusdm") == ["binance_futures"] * 2
    assert venues_of("timeline?venue=upbit,BINANCE-FUTURES") == ["binance_futures"] * 2
    assert venues_of("positions?venue=binance") == ["binance_futures", "binance_spot"]
    assert venues_of("positions?venue=binance_futures") == ["binance_futures"]
    assert venues_of("positions?venue=upbit") == []
    r = client.get("/api/v1/safety/today?date=2026-01-03&venue=binance", headers=user.headers)
    assert r.status_code == 200, r.text
    # (the two ETH fills of one second apart are one split-fill group)
    assert sorted(i["venue"] for i in r.json()["items"]) == ["binance_futures", "binance_spot"]


def test_average_prices_are_served_to_ten_decimals(upload, client, user):
    # as the reference's NUMERIC(30,10) columns held them, rounded half away from zero
    data = GENERIC_HEADER + (
        "2026-01-02T00:00:00Z,ABC/USDT,buy,1,1,,\n"
        "2026-01-02T00:00:01Z,ABC/USDT,buy,1,2,,\n"
        "2026-01-02T00:00:02Z,ABC/USDT,buy,1,2,,\n"
        "2026-01-02T00:00:03Z,DEF/USDT,buy,3,1,,\n"
        "2026-01-02T00:00:04Z,DEF/USDT,sell,3,0.6666666666666666666666,,\n"
        "2026-01-02T00:00:05Z,XYZ/USDT,buy,1,1,,\n"
        "2026-01-02T00:00:06Z,XYZ/USDT,buy,1,1.0000000001,,\n"
    )
    assert upload(data.encode(), venue="binance_spot").json()["imported"] == 7
    r = client.get("/api/v1/portfolio/positions", headers=user.headers)
    by = {p["instrument"]: p for p in r.json()["positions"]}
    assert by["ABC/USDT"]["avg_entry"] == "1.6666666667"  # 5/3
    assert by["DEF/USDT"]["avg_exit"] == "0.6666666667"
    # 1.00000000005: a tie goes away from zero, as PostgreSQL's NUMERIC rounds
    assert by["XYZ/USDT"]["avg_entry"] == "1.0000000001"
