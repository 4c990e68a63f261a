"""The monitor against planted price paths: exactly-once triggers on racing workers, cooldown,
one price request per symbol, skipped symbols on market failures, Binance and Upbit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from kifu.config import Settings
from kifu.market import MemoryCache
from tests.alerts.planted_market import PlantedExchange
from tests.alerts.ticks import run_ticks, tick
from tests.helpers import ApiUser


def _rule(client: TestClient, user: ApiUser, symbol: str, rule_type: str, **config: Any) -> str:
    r = client.post(
        "/api/v1/alert-rules",
        json={"name": rule_type, "symbol": symbol, "rule_type": rule_type, "config": config},
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _alerts(db: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(db) as conn:
        return conn.execute(
            "SELECT rule_id::text, symbol, trigger_price, severity, status, trigger_reason"
            " FROM alerts ORDER BY created_at"
        ).fetchall()


def _state(db: str, rule_id: str) -> tuple[Any, ...]:
    with psycopg.connect(db) as conn:
        row = conn.execute(
            "SELECT last_check_state, last_triggered_at FROM alert_rules WHERE id = %s",
            (rule_id,),
        ).fetchone()
    assert row is not None
    return row


CASES = {
    "price_level_gte": ("price_level", {"price": "70000", "direction": "gte"}, False),
    "price_level_above": ("price_level", {"price": "70000", "direction": "above"}, True),
    "price_change": (
        "price_change",
        {"direction": "rise", "threshold_type": "percent", "threshold_value": "5",
         "reference": "1h"},
        False,
    ),
    "ma_cross": ("ma_cross", {"ma_period": 5, "ma_timeframe": "1h", "direction": "above"}, True),
    "volatility_spike": ("volatility_spike", {"timeframe": "1h", "multiplier": "2"}, False),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_each_rule_type_fires_once_on_two_workers_and_rests_in_cooldown(
    db: str,
    settings: Settings,
    client: TestClient,
    user: ApiUser,
    exchange: PlantedExchange,
    case: str,
) -> None:
    rule_type, config, crossing = CASES[case]
    exchange.set_past("BTCUSDT", "66000", spread="10")
    exchange.set_price("BTCUSDT", "65000" if crossing else "71000", spread="10")
    rule_id = _rule(client, user, "BTCUSDT", rule_type, **config)
    if crossing:  # the first look records the side; nothing fires
        (first,) = run_ticks(db, settings)
        assert first.triggered == [] and _state(db, rule_id)[0] is not None
        exchange.set_price("BTCUSDT", "71000", spread="10")
    if rule_type == "volatility_spike":
        exchange.set_price("BTCUSDT", "71000", spread="500")

    runs = run_ticks(db, settings, workers=2)
    assert sum(len(r.triggered) for r in runs) == 1
    alerts = _alerts(db)
    assert len(alerts) == 1
    rid, symbol, price, _, status, reason = alerts[0]
    assert (rid, symbol, str(price)) == (rule_id, "BTCUSDT", "71000")
    assert status == "briefed" and "BTCUSDT" in reason  # no briefer yet: briefed at once
    assert _state(db, rule_id)[1] is not None

    # Within the cooldown nothing fires, on any number of workers.
    run_ticks(db, settings, workers=2)
    assert len(_alerts(db)) == 1


def test_level_rule_fires_again_after_its_cooldown(
    db: str, settings: Settings, client: TestClient, user: ApiUser, exchange: PlantedExchange
) -> None:
    exchange.set_price("ETHUSDT", "4100")
    _rule(client, user, "ETHUSDT", "price_level", price="4000", direction="gte")
    now = datetime.now(UTC)
    asyncio.run(tick(db, settings, now))
    asyncio.run(tick(db, settings, now + timedelta(minutes=59)))
    assert len(_alerts(db)) == 1
    asyncio.run(tick(db, settings, now + timedelta(minutes=61)))
    assert len(_alerts(db)) == 2


def test_upbit_rule_fires(
    db: str, settings: Settings, client: TestClient, user: ApiUser, exchange: PlantedExchange
) -> None:
    exchange.set_price("KRW-BTC", "100000000")
    _rule(client, user, "KRW-BTC", "price_level", price="99000000", direction="gte")
    _rule(client, user, "BTCKRW", "price_level", price="99000000", direction="gte")
    exchange.requests.clear()
    (run,) = run_ticks(db, settings)
    assert run.symbols == 1 and len(exchange.requests) == 1  # BTCKRW is KRW-BTC: one ticker
    run_ticks(db, settings, workers=2)
    got = sorted((a[1], a[2]) for a in _alerts(db))
    assert got == [("BTCKRW", Decimal(100000000)), ("KRW-BTC", Decimal(100000000))]


def test_one_price_request_per_symbol_per_tick(
    db: str, settings: Settings, client: TestClient, user: ApiUser, exchange: PlantedExchange
) -> None:
    exchange.set_price("BTCUSDT", "60000")
    for level in ("70000", "80000", "90000"):
        _rule(client, user, "BTCUSDT", "price_level", price=level, direction="gte")
    _rule(client, user, "ETHUSDT", "price_level", price="10", direction="lte")
    exchange.requests.clear()
    asyncio.run(tick(db, settings))
    assert exchange.ticker_requests("BTCUSDT") == 1
    assert exchange.ticker_requests("ETHUSDT") == 1
    assert len(exchange.requests) == 2  # level rules need nothing but the price


def test_a_failing_market_skips_the_symbol_and_keeps_state(
    db: str, settings: Settings, client: TestClient, user: ApiUser, exchange: PlantedExchange
) -> None:
    exchange.set_price("BTCUSDT", "65000")
    exchange.set_price("KRW-ETH", "5000000")
    btc = _rule(client, user, "BTCUSDT", "price_level", price="70000", direction="above")
    eth = _rule(client, user, "KRW-ETH", "price_level", price="4000000", direction="gte")
    asyncio.run(tick(db, settings))
    assert len(_alerts(db)) == 1  # the Upbit level rule
    before = _state(db, btc)

    exchange.binance_status = 500
    exchange.set_price("BTCUSDT", "71000")
    run = asyncio.run(tick(db, settings))
    assert run.skipped_symbols == 1 and run.triggered == []
    assert _state(db, btc) == before and len(_alerts(db)) == 1

    exchange.binance_status = None
    run = asyncio.run(tick(db, settings))
    assert len(run.triggered) == 1  # the crossing seen before the outage still counts
    assert _state(db, eth)[1] is not None


def test_rate_limited_venue_does_not_hold_up_another(
    db: str, settings: Settings, client: TestClient, user: ApiUser, exchange: PlantedExchange
) -> None:
    exchange.set_price("BTCUSDT", "71000")
    exchange.set_price("KRW-BTC", "100")
    _rule(client, user, "BTCUSDT", "price_level", price="70000", direction="gte")
    _rule(client, user, "KRW-BTC", "price_level", price="50", direction="gte")
    exchange.upbit_status = 429
    run = asyncio.run(tick(db, settings))
    assert run.skipped_symbols == 1
    assert [a[1] for a in _alerts(db)] == ["BTCUSDT"]


def test_disabled_rules_are_not_evaluated(
    db: str, settings: Settings, client: TestClient, user: ApiUser, exchange: PlantedExchange
) -> None:
    exchange.set_price("BTCUSDT", "71000")
    rid = _rule(client, user, "BTCUSDT", "price_level", price="70000", direction="gte")
    client.patch(f"/api/v1/alert-rules/{rid}/toggle", headers=user.headers)
    exchange.requests.clear()
    assert asyncio.run(tick(db, settings)).rules == 0
    assert _alerts(db) == [] and exchange.requests == []


def test_a_pair_only_spot_lists_is_priced_from_spot(
    db: str, settings: Settings, client: TestClient, user: ApiUser, exchange: PlantedExchange
) -> None:
    exchange.set_price("PEPEUSDT", "0.00001234")
    _rule(client, user, "PEPEUSDT", "price_level", price="0.00001", direction="gte")
    asyncio.run(tick(db, settings))
    ((_, symbol, price, *_),) = _alerts(db)
    assert (symbol, price) == ("PEPEUSDT", Decimal("0.00001234"))
    assert exchange.paths("/api/v3/ticker/price")


def test_without_a_binance_ticker_the_forming_candle_prices(
    db: str, settings: Settings, client: TestClient, user: ApiUser, exchange: PlantedExchange
) -> None:
    exchange.binance_ticker = False
    exchange.set_price("BTCUSDT", "71000")
    _rule(client, user, "BTCUSDT", "price_level", price="70000", direction="gte")
    assert len(asyncio.run(tick(db, settings)).triggered) == 1
    assert [str(a[2]) for a in _alerts(db)] == ["71000"]


def test_a_worker_remembers_spot_only_pairs_between_ticks(
    db: str, settings: Settings, client: TestClient, user: ApiUser, exchange: PlantedExchange
) -> None:
    exchange.set_price("PEPEUSDT", "0.00001")
    _rule(client, user, "PEPEUSDT", "price_level", price="1", direction="gte")
    memory = MemoryCache(ttl=5.0)
    exchange.requests.clear()
    asyncio.run(tick(db, settings, memory=memory))
    assert len(exchange.requests) == 2  # futures does not list it, then spot
    exchange.requests.clear()
    asyncio.run(tick(db, settings, memory=memory))
    assert [p for p, _ in exchange.requests] == ["/api/v3/ticker/price"]
