"""Binance USDⓈ-M futures through the API: register, sync, resync, resume, income, CSV overlap."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.exchanges.conftest import BINANCE_KEY, BINANCE_SECRET
from tests.exchanges.fake_venues import FakeVenues, Key


def _register(client, user, exchange="binance_futures", key=BINANCE_KEY, secret=BINANCE_SECRET):
    return client.post(
        "/api/v1/exchanges",
        json={"exchange": exchange, "api_key": key, "api_secret": secret},
        headers=user.headers,
    )


def _one(db: str, sql: str, *args):
    with psycopg.connect(db) as conn:
        return conn.execute(sql, args).fetchone()


@pytest.fixture
def account(venues: FakeVenues, now: datetime) -> FakeVenues:
    start = now - timedelta(days=20)
    venues.add_futures("BTCUSDT", 2500, start=start, step=timedelta(seconds=30))
    venues.add_futures("ETHUSDT", 3, start=start, position_side="LONG", price="3000.5", start_id=10)
    # ETHUSDT is only visible through the income history (not on the watch-list, no trades yet)
    venues.add_income("ETHUSDT", "COMMISSION", "-0.02", start, 501)
    venues.add_income("BTCUSDT", "FUNDING_FEE", "-1.23456789", now - timedelta(days=2), 502)
    venues.add_income("BTCUSDT", "FUNDING_FEE", "0.5", now - timedelta(days=1), 503)
    venues.add_income("BTCUSDT", "REALIZED_PNL", "12.5", now - timedelta(hours=5), 504)
    venues.add_income("", "TRANSFER", "100", now - timedelta(hours=4), 505)
    venues.add_income("BTCUSDT", "FUNDING_FEE", "-9", now - timedelta(days=200), 506)  # too old
    return venues


def test_register_sync_resync(client, user, db, account, caplog):
    caplog.set_level(logging.DEBUG)
    r = _register(client, user)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["api_key_masked"] == "****" + BINANCE_KEY[-4:]
    assert body["is_valid"] is True and body["exchange"] == "binance_futures"
    cid = body["id"]
    stored = _one(db, "SELECT api_key_enc, api_secret_enc FROM exchange_credentials")
    assert stored[0].startswith("v1:") and BINANCE_SECRET not in stored[1]

    r = client.post(f"/api/v1/exchanges/{cid}/sync", headers=user.headers)
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["success"] is True and s["message"] == "sync completed"
    assert s["before_count"] == 0 and s["after_count"] == 2503 and s["inserted_count"] == 2503
    assert s["fills_fetched"] == 2503
    assert s["fee_events_inserted"] == 4  # TRANSFER (no market) and the 200-day-old entry: no
    assert s["income_history_limited"] is True and "3" in s["income_history_note"]
    assert s["positions_refreshed"] is True
    assert set(s["symbols"]) == {"BTCUSDT", "ETHUSDT"}

    assert _one(db, "SELECT count(*) FROM trades")[0] == 2503
    assert _one(db, "SELECT count(*) FROM bubbles WHERE bubble_type = 'auto'")[0] == 2503
    assert _one(db, "SELECT count(*) FROM trade_events WHERE event_type = 'perp_trade'")[0] == 2503
    assert _one(db, "SELECT count(*) FROM trades WHERE bubble_id IS NULL")[0] == 0
    # position fields are kept (hedge mode LONG: buy opens, sell closes with PnL)
    row = _one(
        db,
        "SELECT position_side, open_close, reduce_only, realized_pnl FROM trades"
        " WHERE symbol = 'ETHUSDT' AND binance_trade_id = 11",
    )
    assert row[0] == "LONG" and row[1] == "CLOSE" and row[2] is True and str(row[3]) == "1.25"
    row = _one(
        db,
        "SELECT position_side, open_close, reduce_only FROM trades"
        " WHERE symbol = 'BTCUSDT' AND binance_trade_id = 1",
    )
    assert row == (None, "OPEN", False)
    # income: the summary-pack contract
    fee = _one(
        db,
        "SELECT fee, fee_asset, metadata, source FROM trade_events"
        " WHERE event_type = 'fee' AND metadata->>'tran_id' = '502'",
    )
    assert str(fee[0]) == "1.23456789" and fee[1] == "USDT" and fee[3] == "api"
    assert fee[2] == {
        "income_type": "FUNDING_FEE",
        "symbol": "BTCUSDT",
        "asset": "USDT",
        "income": "-1.23456789",
        "tran_id": "502",
    }
    received = _one(db, "SELECT fee FROM trade_events WHERE metadata->>'tran_id' = '503'")
    assert str(received[0]) == "-0.5"
    run = _one(db, "SELECT status, meta, finished_at FROM runs WHERE run_id = %s", s["run_id"])
    assert run[0] == "completed" and run[2] is not None
    assert run[1]["inserted_count"] == 2503 and run[1]["income_history_limited"] is True
    assert (
        _one(db, "SELECT last_trade_id FROM trade_sync_state WHERE symbol = 'BTCUSDT'")[0] == 2500
    )
    assert _one(db, "SELECT count(*) FROM positions")[0] >= 1

    # nothing new: no writes, and fills are asked from the cursor on
    account.requests.clear()
    r = client.post(f"/api/v1/exchanges/{cid}/sync", headers=user.headers)
    assert r.status_code == 200, r.text
    s2 = r.json()
    assert s2["inserted_count"] == 0 and s2["events_inserted"] == 0 and s2["fills_fetched"] == 0
    froms = [
        q["fromId"] for p, q in account.paths("/fapi/v1/userTrades") if q["symbol"] == "BTCUSDT"
    ]
    assert froms == ["2501"]
    # new fills and income arrive (stamped after the syncs above): only they are added
    later = datetime.now(UTC)
    account.add_futures("BTCUSDT", 5, start_id=2501, start=later, step=timedelta(seconds=1))
    account.add_income("BTCUSDT", "COMMISSION", "-0.02", later - timedelta(seconds=1), 507)
    s3 = client.post(f"/api/v1/exchanges/{cid}/sync", headers=user.headers).json()
    assert s3["inserted_count"] == 5 and s3["fee_events_inserted"] == 1
    assert _one(db, "SELECT count(*) FROM trade_events")[0] == 2503 + 5 + 5

    # the list shows the connection masked, with its sync health
    items = client.get("/api/v1/exchanges", headers=user.headers).json()["items"]
    assert len(items) == 1 and items[0]["api_key_masked"].startswith("****")
    assert items[0]["sync"]["last_success_at"] and items[0]["sync"]["consecutive_failures"] == 0
    # the secret is never logged nor returned
    text = caplog.text + str(items) + str(s) + str(body)
    assert BINANCE_SECRET not in text and BINANCE_KEY not in text


def test_interrupted_sync_resumes_without_gaps_or_duplicates(client, user, db, account):
    cid = _register(client, user).json()["id"]
    # the 2nd page of BTCUSDT fills: the connection drops on every retry
    account.inject("/fapi/v1/userTrades", "drop", after=1, times=4)
    r = client.post(f"/api/v1/exchanges/{cid}/sync", headers=user.headers)
    assert r.status_code == 502, r.text
    assert r.json()["code"] == "EXCHANGE_SYNC_FAILED"
    run = _one(
        db, "SELECT status, meta, finished_at FROM runs WHERE run_id = %s", r.json()["run_id"]
    )
    assert run[0] == "failed" and run[2] is not None and "dropped" in run[1]["error"]
    kept = _one(db, "SELECT count(*) FROM trades")[0]
    assert 0 < kept < 2503  # the first page (minus its held-back last second) was kept
    cursor = _one(db, "SELECT last_trade_id FROM trade_sync_state WHERE symbol = 'BTCUSDT'")[0]
    assert cursor <= kept  # never past what was written
    status = _one(db, "SELECT consecutive_failures, next_attempt_at FROM exchange_sync_status")
    assert status[0] == 1 and status[1] is not None

    r = client.post(f"/api/v1/exchanges/{cid}/sync", headers=user.headers)
    assert r.status_code == 200, r.text
    assert _one(db, "SELECT count(*) FROM trades")[0] == 2503
    assert (
        _one(db, "SELECT count(DISTINCT binance_trade_id) FROM trades WHERE symbol = 'BTCUSDT'")[0]
        == 2500
    )
    assert _one(db, "SELECT count(*) FROM trade_events WHERE event_type = 'perp_trade'")[0] == 2503
    assert _one(db, "SELECT count(*) FROM bubbles")[0] == 2503
    assert _one(db, "SELECT consecutive_failures FROM exchange_sync_status")[0] == 0


def test_rate_limits_backoff_and_ban(client, user, db, account):
    cid = _register(client, user).json()["id"]
    # two 429s then success: retried within the same sync
    account.inject("/fapi/v1/income", "429", times=2)
    r = client.post(f"/api/v1/exchanges/{cid}/sync", headers=user.headers)
    assert r.status_code == 200, r.text
    # a ban (418) is reported at once, never retried
    account.inject("/fapi/v2/positionRisk", "418", after=1, times=10, retry_after="600")
    before = len(account.paths("/fapi/v2/positionRisk"))
    r = client.post(f"/api/v1/exchanges/{cid}/sync", headers=user.headers)
    assert r.status_code == 429 and r.json()["code"] == "RATE_LIMITED"
    assert "banned" in r.json()["message"] and r.headers["Retry-After"] == "600"
    assert len(account.paths("/fapi/v2/positionRisk")) == before + 1
    # measured from when the failure was recorded, not from whenever this query runs
    nxt = _one(db, "SELECT next_attempt_at - updated_at FROM exchange_sync_status")[0]
    assert nxt > timedelta(seconds=590)
    # persistent 5xx: bounded retries, then 502
    account.inject("/fapi/v2/positionRisk", "500", after=2, times=10)
    account.faults = [f for f in account.faults if f.action != "418"]
    n0 = len(account.paths("/fapi/v2/positionRisk"))
    r = client.post(f"/api/v1/exchanges/{cid}/sync", headers=user.headers)
    assert r.status_code == 502
    assert len(account.paths("/fapi/v2/positionRisk")) - n0 == 4


def test_garbage_answer_is_a_clean_error(client, user, db, account):
    cid = _register(client, user).json()["id"]
    account.inject("/fapi/v1/income", "garbage")
    r = client.post(f"/api/v1/exchanges/{cid}/sync", headers=user.headers)
    assert r.status_code == 502 and "not JSON" in r.json()["message"]
    assert _one(db, "SELECT count(*) FROM trades")[0] == 0


def test_same_fills_from_csv_export_are_not_stored_twice(client, user, db, venues):
    start = datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)
    venues.add_futures("BTCUSDT", 4, start=start, step=timedelta(seconds=0))  # same second
    venues.add_futures("BTCUSDT", 2, start=start + timedelta(minutes=1), start_id=5)
    csv = "Date(UTC),Pair,Side,Price,Quantity,Amount,Fee,Realized Profit\n"
    for n in range(3):  # three of the four identical fills, exported before
        side = "BUY" if n % 2 == 0 else "SELL"
        csv += f"2026-01-05 10:00:00,BTCUSDT,{side},50000.1,0.01,500.001,0.02 USDT,0\n"
    r = client.post(
        "/api/v1/imports/trades",
        files={"file": ("futures.csv", io.BytesIO(csv.encode()), "text/csv")},
        headers=user.headers,
    )
    assert r.status_code == 200, r.text
    imported = _one(db, "SELECT count(*) FROM trade_events")[0]
    assert imported == 3
    cid = _register(client, user).json()["id"]
    r = client.post(f"/api/v1/exchanges/{cid}/sync", headers=user.headers)
    assert r.status_code == 200, r.text
    # 6 fills in all: 3 came from the file, 3 are new
    assert _one(db, "SELECT count(*) FROM trade_events WHERE event_type = 'perp_trade'")[0] == 6
    assert _one(db, "SELECT count(*) FROM trades")[0] == 6


def test_withdrawal_key_is_refused(client, user, db, venues, caplog):
    caplog.set_level(logging.DEBUG)
    venues.keys["withdrawKEY0123456789"] = Key("withdraw-secret-0123456789", withdrawals=True)
    r = _register(client, user, key="withdrawKEY0123456789", secret="withdraw-secret-0123456789")
    assert r.status_code == 400
    assert r.json()["code"] == "EXCHANGE_PERMISSION_DENIED"
    assert "withdraw" in r.json()["message"] and "never needs" in r.json()["message"]
    venues.keys["nofutKEY0123456789"] = Key("nofut-secret-0123456789", futures=False)
    r = _register(client, user, key="nofutKEY0123456789", secret="nofut-secret-0123456789")
    assert r.status_code == 400 and "Futures" in r.json()["message"]
    # spot does not need futures rights
    r = _register(
        client,
        user,
        exchange="binance_spot",
        key="nofutKEY0123456789",
        secret="nofut-secret-0123456789",
    )
    assert r.status_code == 200
    # wrong secret: the signature check fails at the exchange
    r = _register(client, user, secret="wrong-secret-0123456789")
    assert r.status_code == 400 and r.json()["code"] == "EXCHANGE_PERMISSION_DENIED"
    assert (
        _one(db, "SELECT count(*) FROM exchange_credentials WHERE exchange = 'binance_futures'")[0]
        == 0
    )
    assert "withdraw-secret" not in caplog.text and "wrong-secret" not in caplog.text


def test_big_sync_refreshes_planner_statistics(client, user, db, account, monkeypatch):
    from kifu.ledger import statistics

    monkeypatch.setattr(statistics, "MIN_ROWS", 1000)
    cid = _register(client, user).json()["id"]
    # another session holds the table against ANALYZE (as a running vacuum would): the sync
    # skips the refresh after its lock timeout instead of waiting
    with psycopg.connect(db) as other:
        other.execute("LOCK TABLE trade_events IN SHARE UPDATE EXCLUSIVE MODE")
        r = client.post(f"/api/v1/exchanges/{cid}/sync", headers=user.headers)
        assert r.status_code == 200, r.text
        other.rollback()
    assert _one(db, "SELECT count(*) FROM trade_events")[0] == 2507
    with psycopg.connect(db) as conn:  # a young table: let a full sync refresh it
        conn.execute("DELETE FROM trade_events")
        conn.execute("DELETE FROM trades")
        conn.execute("DELETE FROM trade_sync_state")
    r = client.post(f"/api/v1/exchanges/{cid}/sync", headers=user.headers)
    assert r.status_code == 200 and r.json()["events_inserted"] == 2507, r.text
    # analyzed once the sync had written 1,000 events, again once it had written as many more
    # as the table then held: the statistics know (about) every event
    assert _one(db, "SELECT reltuples FROM pg_class WHERE relname = 'trade_events'")[0] >= 2000


def test_the_connection_list_is_kept_until_a_connection_or_its_health_changes(
    client, user, db, account
):
    """Kept under the exchanges stamp (migration 134): a new connection, a sync's health, an
    edit by hand and a deletion are each seen at once."""

    def listed() -> list[dict]:
        r = client.get("/api/v1/exchanges", headers=user.headers)
        assert r.status_code == 200, r.text
        return r.json()["items"]

    assert listed() == listed() == []
    cid = _register(client, user).json()["id"]
    (item,) = listed()
    assert item["id"] == cid and listed() == [item]
    assert client.post(f"/api/v1/exchanges/{cid}/sync", headers=user.headers).status_code == 200
    (synced,) = listed()
    assert synced["sync"]["last_success_at"] and not item["sync"]["last_success_at"]
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE exchange_sync_status SET consecutive_failures = 4")
    assert listed()[0]["sync"]["consecutive_failures"] == 4
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE exchange_credentials SET is_valid = false")
    assert listed()[0]["is_valid"] is False
    assert client.delete(f"/api/v1/exchanges/{cid}", headers=user.headers).status_code == 200
    assert listed() == []
