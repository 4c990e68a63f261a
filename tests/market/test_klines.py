"""GET /api/v1/market/klines against local Binance and Upbit stand-ins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from fastapi.testclient import TestClient

from kifu.app import create_app
from kifu.config import Settings
from tests.market.fake_exchange import FakeExchange

URL = "/api/v1/market/klines"


def _count(db: str, table: str) -> int:
    with psycopg.connect(db) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]


def test_binance_futures_candles_are_public_and_exact(client: TestClient, exchange: FakeExchange):
    r = client.get(URL, params={"symbol": "btcusdt", "interval": "1h", "limit": "5"})
    assert r.status_code == 200, r.text
    rows = r.json()
    assert len(rows) == 5
    times = [row["time"] for row in rows]
    assert times == sorted(times) and all(t % 3600 == 0 for t in times)
    first = datetime.fromtimestamp(times[0], UTC)
    assert rows[0]["close"] == str(FakeExchange.close("BTCUSDT", first))
    assert set(rows[0]) == {"time", "open", "high", "low", "close", "volume"}
    assert exchange.paths("/fapi/v1/klines")[0][1]["symbol"] == "BTCUSDT"


def test_closed_candles_are_fetched_once_across_processes(
    client: TestClient, exchange: FakeExchange, settings: Settings, db: str
):
    end_ms = int((datetime.now(UTC) - timedelta(days=3)).timestamp() * 1000)
    params = {"symbol": "BTCUSDT", "interval": "15m", "limit": "100", "endTime": str(end_ms)}
    first = client.get(URL, params=params)
    assert first.status_code == 200 and len(first.json()) == 100
    assert len(exchange.requests) == 1
    assert _count(db, "market_candles") == 100
    # A second API process (empty in-process cache) answers from PostgreSQL.
    with TestClient(create_app(settings, db)) as other:
        again = other.get(URL, params=params)
    assert again.json() == first.json()
    assert len(exchange.requests) == 1
    # Without endTime only the open candle is asked for once the closed ones are stored.
    client.get(URL, params={"symbol": "ETHUSDT", "interval": "1h", "limit": "3"})
    with TestClient(create_app(settings, db)) as other:
        latest = other.get(URL, params={"symbol": "ETHUSDT", "interval": "1h", "limit": "3"})
    assert len(latest.json()) == 3
    last = exchange.requests[-1][1]
    assert last["limit"] == "1"


def test_spot_only_pairs_use_binance_spot(client: TestClient, exchange: FakeExchange):
    r = client.get(URL, params={"symbol": "ETHBTC", "interval": "1d", "limit": "2"})
    assert r.status_code == 200 and len(r.json()) == 2
    assert [p for p, _ in exchange.requests] == ["/api/v3/klines"]
    r = client.get(URL, params={"symbol": "PEPEUSDT", "interval": "1d", "limit": "2"})
    assert r.status_code == 200
    assert [p for p, _ in exchange.requests][1:] == ["/fapi/v1/klines", "/api/v3/klines"]


def test_upbit_markets(client: TestClient, exchange: FakeExchange):
    r = client.get(URL, params={"symbol": "KRW-BTC", "interval": "1m", "limit": "10"})
    assert r.status_code == 200, r.text
    rows = r.json()
    assert len(rows) == 10
    assert [row["time"] for row in rows] == sorted(row["time"] for row in rows)
    t = datetime.fromtimestamp(rows[0]["time"], UTC)
    assert rows[0]["close"] == str(FakeExchange.close("KRW-BTC", t))
    r = client.get(URL, params={"symbol": "BTCKRW", "interval": "4h", "exchange": "upbit"})
    assert r.status_code == 200 and len(r.json()) == 200  # Upbit answers at most 200
    assert exchange.requests[-1][0] == "/v1/candles/minutes/240"
    assert exchange.requests[-1][1]["market"] == "KRW-BTC"


def test_stock_and_unknown_symbols_are_refused_not_replaced(
    client: TestClient, exchange: FakeExchange, db: str
):
    r = client.get(URL, params={"symbol": "005930", "interval": "1d"})
    assert r.status_code == 400 and r.json()["code"] == "INVALID_SYMBOL"
    assert exchange.requests == []
    r = client.get(URL, params={"symbol": "FOOUSDT", "interval": "1d"})
    assert r.status_code == 400 and r.json()["code"] == "INVALID_SYMBOL"
    r = client.get(URL, params={"symbol": "KRW-XYZ", "interval": "1d"})
    assert r.status_code == 400 and r.json()["code"] == "INVALID_SYMBOL"
    r = client.get(URL, params={"symbol": "KRW-BTC", "exchange": "binance"})
    assert r.status_code == 400 and r.json()["code"] == "INVALID_SYMBOL"
    assert _count(db, "market_candles") == 0


def test_bad_parameters_name_the_field(client: TestClient, exchange: FakeExchange):
    cases = [
        ({"interval": "1h"}, "INVALID_SYMBOL", "symbol"),
        ({"symbol": "BTC_USDT"}, "INVALID_SYMBOL", "symbol"),
        ({"symbol": "BTCUSDT", "interval": "2h"}, "INVALID_TIMEFRAME", "interval"),
        ({"symbol": "BTCUSDT", "limit": "0"}, "INVALID_REQUEST", "limit"),
        ({"symbol": "BTCUSDT", "limit": "ten"}, "INVALID_REQUEST", "limit"),
        ({"symbol": "BTCUSDT", "endTime": "yesterday"}, "INVALID_REQUEST", "endTime"),
        ({"symbol": "BTCUSDT", "exchange": "kraken"}, "INVALID_EXCHANGE", "exchange"),
    ]
    for params, code, field in cases:
        r = client.get(URL, params=params)
        assert r.status_code == 400, params
        assert r.json()["code"] == code and field in r.json()["message"], r.json()
    assert exchange.requests == []
    r = client.get(URL, params={"symbol": "BTCUSDT", "interval": "1m", "limit": "9999"})
    assert r.status_code == 200 and len(r.json()) == 1500


def test_exchange_failure_is_502_and_writes_nothing(
    client: TestClient, exchange: FakeExchange, db: str
):
    exchange.binance_status = 500
    r = client.get(URL, params={"symbol": "BTCUSDT", "interval": "1h"})
    assert r.status_code == 502 and r.json()["code"] == "EXCHANGE_REQUEST_FAILED"
    assert _count(db, "market_candles") == 0 and _count(db, "market_candle_windows") == 0


def test_upbit_429_cools_down_upbit_only(client: TestClient, exchange: FakeExchange, db: str):
    exchange.upbit_status = 429
    r = client.get(URL, params={"symbol": "KRW-BTC", "interval": "1h"})
    assert r.status_code == 502 and r.json()["code"] == "EXCHANGE_REQUEST_FAILED"
    assert int(r.headers["Retry-After"]) > 0
    with psycopg.connect(db) as conn:
        venues = [row[0] for row in conn.execute("SELECT venue FROM market_cooldowns")]
    assert venues == ["upbit"]
    asked = len(exchange.requests)
    exchange.upbit_status = None
    r = client.get(URL, params={"symbol": "KRW-ETH", "interval": "1h"})
    assert r.status_code == 502  # still cooling down: Upbit is not asked
    assert len(exchange.requests) == asked
    r = client.get(URL, params={"symbol": "BTCUSDT", "interval": "1h"})
    assert r.status_code == 200
