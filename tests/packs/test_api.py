"""Summary packs over HTTP against a real PostgreSQL, with ledger rows inserted by SQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from kifu.packs import rules
from tests.packs.ledger_rows import ANCHOR, Ledger

H = timedelta(hours=1)
D = timedelta(days=1)


@pytest.fixture
def ledger(db, user) -> Ledger:
    return Ledger(db, user.id)


def gen(client, user, run_id, **body):
    return client.post(
        "/api/v1/packs/generate", json={"source_run_id": str(run_id), **body}, headers=user.headers
    )


def pack(client, user, pack_id):
    r = client.get(f"/api/v1/packs/{pack_id}", headers=user.headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_clean_pack_totals_hash_and_idempotency(client, user, ledger, db) -> None:
    run = ledger.run()
    t = ANCHOR - 2 * D
    ledger.fill("binance_spot", "BTC/USDT", "buy", "1", "100", t, fee="0.1", fee_asset="USDT")
    ledger.fill("binance_spot", "BTC/USDT", "buy", "1", "110", t + H, fee="0.1", fee_asset="USDT")
    ledger.fill(
        "binance_spot", "BTC/USDT", "sell", "1.5", "120", t + 2 * H, fee="0.18", fee_asset="usdt"
    )
    ledger.fill("binance_spot", "BTC/USDT", "sell", "0.5", "90", t + 3 * H)
    ledger.fill("upbit", "BTC/KRW", "buy", "0.1", "90000000", t, fee="4500", fee_asset="KRW")
    ledger.fill("upbit", "BTC/KRW", "sell", "0.1", "91000000", t + H, fee="4550", fee_asset="KRW")

    r = gen(client, user, run, range="7d")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["created"] is True
    p = pack(client, user, body["pack_id"])
    pay = p["payload"]
    assert p["reconciliation_status"] == "ok" == body["reconciliation_status"]
    assert p["normalization_warnings"] == [] and pay["reconciliation"]["suspects"] == []
    assert pay["schema_version"] == "summary_pack_v1"
    # FIFO: 1@100 and 0.5@110 sold at 120 → 20 + 5; 0.5@110 sold at 90 → -10
    assert pay["pnl_summary"]["realized_pnl_by_currency"] == {"KRW": "100000", "USDT": "15"}
    assert pay["pnl_summary"]["fees_by_currency"] == {"KRW": "9050", "USDT": "0.38"}
    assert pay["pnl_summary"]["funding_by_currency"] == {}
    # The reference's single-value keys stay decimal strings (clients print them as text):
    # null where KRW and USDT would have to be added, "0" where there is nothing to total.
    assert pay["pnl_summary"]["realized_pnl_total"] is None
    assert pay["pnl_summary"]["fees_total"] is None
    assert pay["pnl_summary"]["funding_total"] == "0"
    act = pay["activity_summary"]
    assert act["trade_count"] == 6 and act["long_short_ratio"] == "1"
    assert act["notional_volume_by_currency"] == {"KRW": "18100000", "USDT": "435"}
    assert act["max_drawdown_by_currency"] == {"KRW": "0", "USDT": "10"}
    # hashes agree and cover the content only
    assert p["content_hash"] == pay["content_hash"] == rules.content_hash(pay)
    assert pay["evidence_index"]["evidence_pack_ref"] == f"evidence_pack://{p['pack_id']}"
    again = gen(client, user, run, range="7d").json()
    assert again == {**body, "created": False}
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM summary_packs").fetchone()[0] == 1
    # changed data → a new pack
    ledger.fill("binance_spot", "ETH/USDT", "buy", "1", "10", t + 4 * H, fee="0", fee_asset="USDT")
    third = gen(client, user, run, range="7d").json()
    assert third["created"] is True and third["content_hash"] != body["content_hash"]


def test_fee_without_asset_is_named(client, user, ledger) -> None:
    run = ledger.run()
    fid = ledger.fill("binance_spot", "BTC/USDT", "buy", "1", "100", ANCHOR - H, fee="0.1")
    p = pack(client, user, gen(client, user, run).json()["pack_id"])
    rec = p["payload"]["reconciliation"]
    assert p["reconciliation_status"] == "warning"
    assert rec["normalization_details"] == [
        {"code": "fee_asset_assumed_quote", "row_count": 1, "event_ids": [str(fid)]}
    ]


def test_every_normalisation_code_names_its_rows(client, user, ledger) -> None:
    """Each row gets the first code that applies (in the documented order), counted from the
    hourly groups and named through the indexed lookups, in whole and in partial hours."""
    run = ledger.run(finished=ANCHOR + 30 * timedelta(minutes=1))
    whole, partial = ANCHOR - 3 * H, ANCHOR + 10 * timedelta(minutes=1)
    v = "binance_spot"
    no_instrument = ledger.fill(v, None, "buy", "1", "10", whole)
    no_side = ledger.fill(v, "BTC/USDT", None, "1", "10", whole)
    zero_qty = ledger.fill(v, "BTC/USDT", "buy", "0", "10", partial, fee="0.1")  # not a fee code
    bad_price = ledger.fill(v, "BTC/USDT", "sell", "1", "-1", whole)
    fee_no_asset = [
        ledger.fill(v, "BTC/USDT", "buy", "1", "10", at, fee="0.1") for at in (whole, partial)
    ]
    weird = ledger._one(
        "INSERT INTO instruments (asset_class, base_asset, quote_asset, symbol)"
        " VALUES ('crypto', 'ABC', 'USDT', 'ABC_USDT') RETURNING id",
        (),
    )
    unmapped = ledger._one(
        "INSERT INTO trade_events (user_id, account_id, venue_id, instrument_id, asset_class,"
        " venue_type, event_type, side, qty, price, fee, executed_at, source)"
        " VALUES (%s, %s, %s, %s, 'crypto', 'cex', 'spot_trade', 'buy', 1, 10, 0.1, %s, 'csv')"
        " RETURNING id",
        (ledger.user_id, ledger.account(v, "csv"), ledger.venue(v), weird, partial),
    )
    no_venue = ledger._one(
        "INSERT INTO trade_events (user_id, instrument_id, asset_class, venue_type, event_type,"
        " side, qty, price, executed_at, source)"
        " VALUES (%s, %s, 'crypto', 'cex', 'spot_trade', 'buy', 1, 10, %s, 'csv') RETURNING id",
        (ledger.user_id, ledger.instrument("BTC/USDT"), whole),
    )
    p = pack(client, user, gen(client, user, run, range="7d").json()["pack_id"])
    details = p["payload"]["reconciliation"]["normalization_details"]
    assert details == [
        {
            "code": "fee_asset_assumed_quote",
            "row_count": 2,
            "event_ids": [str(i) for i in fee_no_asset],
        },
        {"code": "invalid_price", "row_count": 1, "event_ids": [str(bad_price)]},
        {"code": "invalid_qty", "row_count": 1, "event_ids": [str(zero_qty)]},
        {"code": "missing_instrument", "row_count": 1, "event_ids": [str(no_instrument)]},
        {"code": "missing_side", "row_count": 1, "event_ids": [str(no_side)]},
        {"code": "missing_venue", "row_count": 1, "event_ids": [str(no_venue)]},
        {"code": "symbol_mapping_gap", "row_count": 1, "event_ids": [str(unmapped)]},
    ]
    assert p["normalization_warnings"] == [d["code"] for d in details]
    assert p["reconciliation_status"] == "warning"


def test_funding_and_fee_events(client, user, ledger) -> None:
    run = ledger.run(run_type="exchange_sync", meta={"exchange": "binance_futures"})
    t = ANCHOR - D
    v = "binance_futures"
    ledger.fill(
        v,
        "BTC/USDT",
        "sell",
        "2",
        "100",
        t,
        fee="0.2",
        fee_asset="USDT",
        source="api",
        external_id="11",
    )
    ledger.fill(
        v,
        "BTC/USDT",
        "buy",
        "2",
        "90",
        t + H,
        fee="0.2",
        fee_asset="USDT",
        source="api",
        external_id="12",
    )
    ledger.income(v, "FUNDING_FEE", "BTCUSDT", "USDT", "-0.5", t + 2 * H, 1)
    ledger.income(v, "FUNDING_FEE", "BTCUSDT", "USDT", "0.125", t + 3 * H, 2)
    ledger.income(v, "COMMISSION", "BTCUSDT", "USDT", "-0.2", t, 3)
    ledger.income(v, "REALIZED_PNL", "BTCUSDT", "USDT", "20", t + H, 4)
    p = pack(client, user, gen(client, user, run).json()["pack_id"])
    pay = p["payload"]
    assert pay["pnl_summary"]["realized_pnl_by_currency"] == {"USDT": "20"}  # short 100 → cover 90
    assert pay["pnl_summary"]["fees_by_currency"] == {
        "USDT": "0.4"
    }  # commission income not re-added
    assert pay["pnl_summary"]["funding_by_currency"] == {"USDT": "-0.375"}
    assert pay["pnl_summary"]["realized_pnl_total"] == "20"
    assert pay["pnl_summary"]["fees_total"] == "0.4"
    assert pay["pnl_summary"]["funding_total"] == "-0.375"
    assert p["reconciliation_status"] == "ok"
    assert "funding" in pay["data_sources"]["modules"]


def test_realized_pnl_vs_exchange_income(client, user, ledger) -> None:
    run = ledger.run()
    t = ANCHOR - D
    v = "binance_futures"
    ledger.fill(v, "BTC/USDT", "buy", "1", "100", t, source="api", external_id="1")
    ledger.fill(v, "BTC/USDT", "sell", "1", "130", t + H, source="api", external_id="3")
    # the exchange says 25 was realized: a fill is missing from the ledger (e.g. a buy at 105)
    ledger.income(v, "REALIZED_PNL", "BTCUSDT", "USDT", "25", t + H, 9)
    p = pack(client, user, gen(client, user, run).json()["pack_id"])
    (s,) = p["payload"]["reconciliation"]["suspects"]
    assert s["kind"] == "realized_pnl_mismatch" and s["category"] == "missing"
    assert s["evidence"]["ledger_realized_pnl"] == "30"
    assert s["evidence"]["exchange_realized_pnl"] == "25"
    assert s["evidence"]["difference"] == "5"
    assert p["missing_suspects_count"] == 1 and p["reconciliation_status"] == "warning"


def test_missing_buy_on_spot(client, user, ledger) -> None:
    run = ledger.run()
    ledger.fill("upbit", "ETH/KRW", "buy", "1", "1000", ANCHOR - 2 * H, fee_asset="KRW")
    sell = ledger.fill("upbit", "ETH/KRW", "sell", "1.5", "1100", ANCHOR - H)
    p = pack(client, user, gen(client, user, run).json()["pack_id"])
    (s,) = p["payload"]["reconciliation"]["suspects"]
    assert s["kind"] == "spot_position_negative" and s["venue"] == "upbit"
    assert s["evidence"]["lowest_position"] == "-0.5"
    assert s["evidence"]["first_event_id"] == str(sell)
    assert p["reconciliation_status"] == "warning" and p["missing_suspects_count"] == 1


def test_duplicates_are_keyed_per_venue(client, user, ledger) -> None:
    run = ledger.run()
    t = ANCHOR - H
    ledger.fill("binance_spot", "BTC/USDT", "buy", "1", "100", t, external_id="777")
    ledger.fill("upbit", "BTC/KRW", "buy", "1", "100", t, external_id="777")  # other venue: fine
    first = gen(client, user, run).json()
    assert first["reconciliation_status"] == "ok"
    a = ledger.fill(
        "binance_spot", "BTC/USDT", "buy", "1", "100", t, external_id="777", source="api"
    )
    p = pack(client, user, gen(client, user, run).json()["pack_id"])
    kinds = sorted(s["kind"] for s in p["payload"]["reconciliation"]["suspects"])
    assert kinds == ["cross_source_duplicate", "duplicate_external_id"]
    dup = next(
        s
        for s in p["payload"]["reconciliation"]["suspects"]
        if s["kind"] == "duplicate_external_id"
    )
    assert dup["venue"] == "binance_spot" and str(a) in dup["evidence"]["event_ids"]
    assert dup["evidence"]["sources"] == ["api", "csv"]
    assert p["duplicate_suspects_count"] == 2 and p["reconciliation_status"] == "warning"


def test_future_fill_is_an_error(client, user, ledger) -> None:
    run = ledger.run()
    ledger.fill("binance_spot", "BTC/USDT", "buy", "1", "100", ANCHOR - H)
    future = ledger.fill("binance_spot", "BTC/USDT", "buy", "1", "100", datetime.now(UTC) + 3 * D)
    p = pack(client, user, gen(client, user, run).json()["pack_id"])
    (s,) = p["payload"]["reconciliation"]["suspects"]
    assert s["kind"] == "future_fill" and s["key"] == str(future)
    assert s["evidence"]["recorded_at"] and s["evidence"]["executed_at"]
    assert p["reconciliation_status"] == "error"
    assert p["payload"]["activity_summary"]["trade_count"] == 1  # outside the range


def test_order_fills_short_of_executed_qty(client, user, ledger) -> None:
    run = ledger.run()
    meta = {"order_id": "O-1", "order_executed_qty": "3"}
    ledger.fill("binance_spot", "BTC/USDT", "buy", "1", "100", ANCHOR - H, metadata=meta)
    ledger.fill("binance_spot", "BTC/USDT", "buy", "1.5", "100", ANCHOR - H, metadata=meta)
    p = pack(client, user, gen(client, user, run).json()["pack_id"])
    (s,) = p["payload"]["reconciliation"]["suspects"]
    assert s["kind"] == "order_fill_shortfall"
    assert (s["evidence"]["filled_qty"], s["evidence"]["order_executed_qty"]) == ("2.5", "3")


def test_sync_cursor_gap(client, user, ledger) -> None:
    run = ledger.run()
    ledger.fill(
        "binance_futures",
        "BTC/USDT",
        "buy",
        "1",
        "100",
        ANCHOR - H,
        source="api",
        external_id="500",
    )
    ledger.sync_cursor("binance_futures", "BTCUSDT", 500)
    assert gen(client, user, run).json()["reconciliation_status"] == "ok"
    ledger.sync_cursor("binance_futures", "ETHUSDT", 900)
    p = pack(client, user, gen(client, user, run).json()["pack_id"])
    (s,) = p["payload"]["reconciliation"]["suspects"]
    assert s["kind"] == "sync_cursor_gap" and s["symbol"] == "ETHUSDT"
    assert s["evidence"]["cursor_last_trade_id"] == "900"
    assert s["evidence"]["ledger_max_trade_id"] is None


def test_ten_missing_suspects_are_an_error(client, user, ledger) -> None:
    run = ledger.run()
    for i in range(10):
        ledger.fill("upbit", f"C{i}/KRW", "sell", "1", "10", ANCHOR - H)
    assert gen(client, user, run).json()["reconciliation_status"] == "error"


def test_range_and_time_zone(client, user, ledger) -> None:
    run = ledger.run()  # anchor 2026-03-01 12:00 UTC = 21:00 KST
    ledger.fill(
        "binance_spot", "BTC/USDT", "buy", "1", "100", datetime(2026, 2, 23, 16, tzinfo=UTC)
    )
    utc = pack(client, user, gen(client, user, run, range="7d").json()["pack_id"])
    seoul = pack(
        client, user, gen(client, user, run, range="7d", tz="Asia/Seoul").json()["pack_id"]
    )
    assert utc["payload"]["time_range"]["start_ts"] == "2026-02-23T00:00:00Z"
    assert seoul["payload"]["time_range"]["start_ts"] == "2026-02-22T15:00:00Z"
    assert utc["payload"]["activity_summary"]["trade_count"] == 1
    all_ = pack(client, user, gen(client, user, run, range="all").json()["pack_id"])
    assert all_["payload"]["time_range"]["start_ts"] is None
    latest = client.get("/api/v1/packs/latest?range=7d&tz=Asia/Seoul", headers=user.headers)
    assert latest.json()["pack_id"] == seoul["pack_id"]


def test_bad_input(client, user, ledger, make_user) -> None:
    r = gen(client, user, uuid.uuid4())
    assert (r.status_code, r.json()["code"]) == (404, "RUN_NOT_FOUND")
    other = make_user()
    foreign = Ledger(ledger.conninfo, other.id).run()
    assert gen(client, user, foreign).json()["code"] == "RUN_NOT_FOUND"
    for status in ("running", "failed"):
        r = gen(client, user, ledger.run(status=status, finished=None))
        assert r.status_code == 400 and r.json()["code"] == "RUN_NOT_COMPLETED"
        assert r.json()["run_status"] == status and status in r.json()["message"]
    ok = ledger.run()
    r = gen(client, user, ok, range="90d")
    # the reference's code for an unsupported range when generating (§2.15)
    assert r.status_code == 400 and r.json()["code"] == "PACK_GENERATE_FAILED"
    assert "unsupported range: '90d'" in r.json()["message"]
    assert "7d, 30d, all" in r.json()["message"]
    r = client.post("/api/v1/packs/generate-latest", json={"range": "1y"}, headers=user.headers)
    assert r.status_code == 400 and r.json()["code"] == "PACK_GENERATE_FAILED"
    r = client.get("/api/v1/packs/latest?range=1y", headers=user.headers)
    assert r.status_code == 400 and r.json()["code"] == "INVALID_RANGE"
    r = gen(client, user, ok, tz="Mars/Olympus")
    assert r.status_code == 400 and r.json()["code"] == "INVALID_TIMEZONE"
    r = gen(client, user, ok, extra=1)
    assert r.status_code == 400
    r = client.post("/api/v1/packs/generate", json={"source_run_id": "x"}, headers=user.headers)
    assert r.status_code == 400
    assert client.get("/api/v1/packs/latest", headers=user.headers).json()["code"] == (
        "PACK_NOT_FOUND"
    )
    assert client.get("/api/v1/packs/latest?range=1y", headers=user.headers).status_code == 400
    assert client.get("/api/v1/packs/nope", headers=user.headers).status_code == 400
    r = client.get(f"/api/v1/packs/{uuid.uuid4()}", headers=user.headers)
    assert (r.status_code, r.json()["code"]) == (404, "PACK_NOT_FOUND")
    with psycopg.connect(ledger.conninfo) as conn:
        assert conn.execute("SELECT count(*) FROM summary_packs").fetchone()[0] == 0
    # another user's pack is not visible
    mine = gen(client, user, ok).json()["pack_id"]
    assert client.get(f"/api/v1/packs/{mine}", headers=other.headers).status_code == 404


def test_generate_latest_and_list(client, user, ledger) -> None:
    r = client.post("/api/v1/packs/generate-latest", json={}, headers=user.headers)
    assert (r.status_code, r.json()["code"]) == (404, "NO_COMPLETED_RUN")
    ledger.run(status="running", finished=None)
    older = ledger.run(finished=ANCHOR - D)
    newest = ledger.run(run_type="exchange_sync", finished=ANCHOR)
    ledger.run(run_type="other_kind", finished=ANCHOR + D)
    r = client.post("/api/v1/packs/generate-latest", json={"range": "30d"}, headers=user.headers)
    body = r.json()
    assert r.status_code == 200 and body["source_run_id"] == str(newest)
    assert body["anchor_ts"] == "2026-03-01T12:00:00Z" and body["reconciliation_status"] == "ok"
    gen(client, user, older)
    page = client.get("/api/v1/packs?limit=1", headers=user.headers).json()
    assert page["total"] == 2 and len(page["items"]) == 1
    assert page["items"][0]["source_run_id"] == str(older)  # newest first
    page2 = client.get("/api/v1/packs?limit=1&page=2", headers=user.headers).json()
    assert page2["items"][0]["pack_id"] == body["pack_id"]
    assert client.get("/api/v1/packs?limit=0", headers=user.headers).status_code == 400


def test_range_ends_and_anchor_are_whole_seconds_as_the_reference_printed_them(
    client, user, ledger
) -> None:
    run = ledger.run(finished=ANCHOR + timedelta(microseconds=654321))
    r = client.post("/api/v1/packs/generate-latest", json={"range": "7d"}, headers=user.headers)
    assert r.status_code == 200 and r.json()["source_run_id"] == str(run)
    assert r.json()["anchor_ts"] == "2026-03-01T12:00:00Z"
    body = pack(client, user, r.json()["pack_id"])
    assert body["payload"]["time_range"]["end_ts"] == "2026-03-01T12:00:00Z"
    assert body["payload"]["time_range"]["start_ts"] == "2026-02-23T00:00:00Z"
    # the stored row's own time keeps its precision, as the reference's entity did
    assert body["created_at"].endswith("Z")
