"""The same fills from a CSV export, the legacy importer and exchange sync: one trade each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.exchanges.conftest import BINANCE_KEY, BINANCE_SECRET
from tests.exchanges.fake_venues import FakeVenues


def _file(client, user, path: str, text: str) -> dict:
    r = client.post(
        path, headers=user.headers, files={"file": ("t.csv", text.encode(), "text/csv")}
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_every_source_shows_each_fill_once(client, user, venues: FakeVenues) -> None:
    start = datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)
    venues.add_futures("BTCUSDT", 4, start=start, step=timedelta(minutes=1))
    export = "Date(UTC),Pair,Side,Price,Quantity,Amount,Fee,Realized Profit\n"
    legacy = "exchange,symbol,side,quantity,price,trade_time\n"
    for n in range(2):  # the first two fills, exported before
        side = "BUY" if n % 2 == 0 else "SELL"
        export += f"2026-01-05 10:0{n}:00,BTCUSDT,{side},50000.1,0.01,500.001,0.02 USDT,0\n"
        legacy += f"binance_futures,BTCUSDT,{side},0.01,50000.1,2026-01-05T10:0{n}:00Z\n"
    assert _file(client, user, "/api/v1/imports/trades", export)["imported"] == 2
    assert _file(client, user, "/api/v1/trades/import", legacy)["imported"] == 0
    cid = client.post(
        "/api/v1/exchanges",
        json={"exchange": "binance_futures", "api_key": BINANCE_KEY, "api_secret": BINANCE_SECRET},
        headers=user.headers,
    ).json()["id"]
    r = client.post(f"/api/v1/exchanges/{cid}/sync", headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.json()["trades_inserted"] == 2
    listed = client.get("/api/v1/trades", headers=user.headers, params={"limit": 50}).json()
    assert listed["total"] == 4
    assert sorted(t["trade_time"] for t in listed["items"]) == [
        f"2026-01-05T10:0{n}:00Z" for n in range(4)
    ]
    summary = client.get("/api/v1/trades/summary", headers=user.headers).json()
    assert summary["totals"]["total_trades"] == 4
    # a second sync and a second export change nothing
    assert client.post(f"/api/v1/exchanges/{cid}/sync", headers=user.headers).status_code == 200
    assert _file(client, user, "/api/v1/imports/trades", export)["imported"] == 0
    assert client.get("/api/v1/trades", headers=user.headers).json()["total"] == 4
