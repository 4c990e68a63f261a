"""AI briefings of alerts, end to end: the monitor fires against the planted market, the real
provider clients answer from the AI stand-ins, the user's position comes from fills imported
through the API, and quota, allowlist and failures behave like every other AI call."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from kifu.alerts import briefing, flows, tasks
from kifu.config import Settings
from tests.ai.fake_providers import FakeProviders, serve
from tests.alerts.planted_market import PlantedExchange
from tests.alerts.ticks import run_ticks
from tests.helpers import ApiUser, serving, settings_with_exchange

AI = {
    "ai_allowlist_required": False,
    "ai_timeout_seconds": 5,
    "ai_retry_delay_seconds": 0.01,
}


@pytest.fixture
def fake_ai() -> Iterator[FakeProviders]:
    fake = FakeProviders()
    with serving(serve(fake)):
        yield fake


def ai_settings(
    db: str, exchange: PlantedExchange, fake_ai: FakeProviders, **extra: Any
) -> Settings:
    """Only the OpenAI service key is set: one provider per briefing unless a test adds keys."""
    values: dict[str, Any] = {
        **AI,
        "openai_url": fake_ai.url,
        "anthropic_url": fake_ai.url + "/v1",
        "gemini_url": fake_ai.url + "/v1beta",
        "openai_api_key": "sk-service-openai",
    }
    values.update(extra)
    return settings_with_exchange(db, exchange.url, **values)


@pytest.fixture
def settings(db: str, exchange: PlantedExchange, fake_ai: FakeProviders) -> Settings:
    return ai_settings(db, exchange, fake_ai)


def _rule(
    client: TestClient,
    user: ApiUser,
    symbol: str = "BTCUSDT",
    name: str = "70k",
    price: str = "70000",
) -> None:
    r = client.post(
        "/api/v1/alert-rules",
        json={
            "name": name,
            "symbol": symbol,
            "rule_type": "price_level",
            "config": {"price": price, "direction": "gte"},
        },
        headers=user.headers,
    )
    assert r.status_code == 201, r.text


def _webhook(client: TestClient, user: ApiUser) -> None:
    r = client.post(
        "/api/v1/notifications/channels",
        json={"type": "webhook", "url": "http://127.0.0.1:9/hook"},
        headers=user.headers,
    )
    assert r.status_code == 201, r.text


def _fire(
    client: TestClient,
    user: ApiUser,
    exchange: PlantedExchange,
    db: str,
    settings: Settings,
    workers: int = 1,
) -> dict[str, Any]:
    exchange.set_price("BTCUSDT", "71000")
    _rule(client, user)
    _webhook(client, user)
    run_ticks(db, settings, workers=workers, briefer=briefing.brief)
    (alert,) = client.get("/api/v1/alerts", headers=user.headers).json()["alerts"]
    detail = client.get(f"/api/v1/alerts/{alert['id']}", headers=user.headers).json()
    with psycopg.connect(db) as conn:
        detail["brief_error"] = conn.execute(
            "SELECT brief_error FROM alerts WHERE id = %s", (alert["id"],)
        ).fetchone()[0]
        detail["messages"] = [
            r[0]
            for r in conn.execute(
                "SELECT payload->>'body' FROM notification_outbox WHERE kind = 'alert'"
            ).fetchall()
        ]
    return detail


def _upload(client: TestClient, user: ApiUser, rows: list[str], venue: str) -> None:
    """Fills through the unified import (generic CSV), as a user would bring them in."""
    text = "executed_at,symbol,side,qty,price,fee,fee_asset,trade_id\n" + "".join(
        f"{row},{venue}-{n}\n" for n, row in enumerate(rows)
    )
    r = client.post(
        "/api/v1/imports/trades",
        headers=user.headers,
        files={"file": ("fills.csv", text.encode(), "text/csv")},
        data={"venue": venue},
    )
    assert r.status_code == 200 and r.json()["imported"] == len(rows), r.text


def quota_left(db: str, user: ApiUser) -> int:
    with psycopg.connect(db) as conn:
        return conn.execute(
            "SELECT ai_quota_remaining FROM subscriptions WHERE user_id = %s", (user.id,)
        ).fetchone()[0]


def test_the_worker_briefs_with_the_ai_providers() -> None:
    assert tasks.BRIEFER is briefing.brief


def test_a_briefing_is_stored_notified_and_paid_once(
    db: str,
    settings: Settings,
    client: TestClient,
    user: ApiUser,
    exchange: PlantedExchange,
    fake_ai: FakeProviders,
) -> None:
    fake_ai.text["openai"] = "1. 급등\n2. 즉시 행동: 보유\n<b>확신도: 6</b>"
    detail = _fire(client, user, exchange, db, settings, workers=2)
    assert detail["alert"]["status"] == "briefed" and detail["brief_error"] is None
    (b,) = detail["briefings"]
    assert (b["provider"], b["model"], b["response"], b["tokens_used"]) == (
        "openai",
        "gpt-4o",
        fake_ai.text["openai"],
        120,
    )
    # asked once across both workers, with the §4.10 prompt; one credit for the service key
    (call,) = fake_ai.calls("openai")
    assert call.headers["authorization"] == "Bearer sk-service-openai"
    assert call.body["input"] == b["prompt"]
    assert call.body["temperature"] == 0.3 and call.body["max_output_tokens"] == 512
    prompt = b["prompt"]
    assert "위기 대응 어드바이저" in prompt and "- 심볼: BTCUSDT" in prompt
    assert "- 발생 사유: BTCUSDT $70000.00 이상 도달 (현재 $71000.00)" in prompt
    assert "- 현재 가격: 71000\n" in prompt and "- 보유 포지션: 없음\n" in prompt
    assert "[최근 1h 캔들 50개]" in prompt
    assert sum(1 for line in prompt.splitlines() if ", O:71000 H:71000" in line) == 50
    assert prompt.count("(진행 중)") == 1
    assert "<<<USER_DATA\n70k\nUSER_DATA>>>" in prompt
    assert quota_left(db, user) == 19
    # the notification carries the price, the position and the first briefing
    assert detail["messages"] == ["현재: $71000\n포지션: 없음\n\n" + fake_ai.text["openai"]]
    assert detail["alert"]["notified_at"] is not None


def test_a_provider_down_still_briefs_with_the_error_and_spends_nothing(
    db: str,
    settings: Settings,
    client: TestClient,
    user: ApiUser,
    exchange: PlantedExchange,
    fake_ai: FakeProviders,
) -> None:
    fake_ai.fail["openai"] = [503]
    detail = _fire(client, user, exchange, db, settings)
    assert detail["alert"]["status"] == "briefed" and detail["briefings"] == []
    assert detail["brief_error"].startswith("openai: PROVIDER_ERROR: ")
    assert "503" in detail["brief_error"]
    assert quota_left(db, user) == 20
    assert detail["messages"] == ["현재: $71000\n포지션: 없음"]


def test_quota_used_up_briefs_with_the_error_and_asks_nobody(
    db: str,
    settings: Settings,
    client: TestClient,
    user: ApiUser,
    exchange: PlantedExchange,
    fake_ai: FakeProviders,
) -> None:
    with psycopg.connect(db) as conn:
        conn.execute(
            "UPDATE subscriptions SET ai_quota_remaining = 0 WHERE user_id = %s", (user.id,)
        )
    detail = _fire(client, user, exchange, db, settings)
    assert detail["alert"]["status"] == "briefed" and detail["briefings"] == []
    assert detail["brief_error"].startswith("openai: QUOTA_EXCEEDED: ")
    assert fake_ai.calls("openai") == [] and quota_left(db, user) == 0
    assert len(detail["messages"]) == 1


def test_personal_keys_are_free_and_service_keys_need_the_allowlist(
    db: str,
    client: TestClient,
    user: ApiUser,
    exchange: PlantedExchange,
    fake_ai: FakeProviders,
) -> None:
    gated = ai_settings(db, exchange, fake_ai, ai_allowlist_required=True)
    r = client.put(
        "/api/v1/users/me/ai-keys",
        json={"keys": [{"provider": "claude", "api_key": "sk-user-openai-1234"}]},
        headers=user.headers,
    )
    assert r.status_code == 200, r.text
    detail = _fire(client, user, exchange, db, gated)
    # claude (the user's own key) answered; openai (the service key) was refused by the
    # allowlist before any call; nothing was spent
    assert [b["provider"] for b in detail["briefings"]] == ["claude"]
    assert fake_ai.calls("claude")[0].headers["x-api-key"] == "sk-user-openai-1234"
    assert fake_ai.calls("openai") == []
    assert detail["brief_error"].startswith("openai: ALLOWLIST_REQUIRED: ")
    assert quota_left(db, user) == 20
    assert detail["messages"][0].endswith(fake_ai.text["claude"])


def test_every_enabled_provider_with_a_key_is_asked_and_each_service_call_paid(
    db: str,
    client: TestClient,
    user: ApiUser,
    exchange: PlantedExchange,
    fake_ai: FakeProviders,
) -> None:
    every = ai_settings(
        db, exchange, fake_ai, anthropic_api_key="sk-ant-service", gemini_api_key="gm-service"
    )
    fake_ai.fail["gemini"] = [500]
    detail = _fire(client, user, exchange, db, every)
    assert [b["provider"] for b in detail["briefings"]] == ["claude", "openai"]
    assert detail["brief_error"].startswith("gemini: PROVIDER_ERROR: ")
    assert quota_left(db, user) == 18  # two successful service-key calls; the failed one refunded
    # the first briefing (by provider name) is the one notified
    assert detail["messages"][0].endswith(fake_ai.text["claude"])


def test_the_position_is_what_is_open_now_from_imported_fills(
    db: str,
    settings: Settings,
    client: TestClient,
    user: ApiUser,
    exchange: PlantedExchange,
    fake_ai: FakeProviders,
) -> None:
    _upload(
        client,
        user,
        [
            "2026-01-05T10:00:00Z,BTC/USDT,buy,1,100,0,USDT",
            "2026-01-05T11:00:00Z,BTC/USDT,sell,1,120,0,USDT",  # a closed round trip
            "2026-01-06T10:00:00Z,BTC/USDT,buy,0.5,110,0,USDT",
            "2026-01-06T11:00:00Z,BTC/USDT,buy,0.5,130,0,USDT",
            "2026-01-06T12:00:00Z,BTC/USDT,sell,0.5,140,0,USDT",  # FIFO: the 110 lot goes
            "2026-01-06T13:00:00Z,ETH/USDT,buy,3,10,0,USDT",  # another pair
        ],
        "binance_futures",
    )
    _upload(
        client,
        user,
        [
            "2026-01-07T10:00:00Z,BTC/USDT,buy,0.2,150,0,USDT",
            "2026-01-07T11:00:00Z,BTC/USDT,sell,0.2,151,0,USDT",  # closed on spot
            "2026-01-07T12:00:00Z,BTC/KRW,buy,1,100000000,0,KRW",  # another quote
        ],
        "binance_spot",
    )
    detail = _fire(client, user, exchange, db, settings)
    # what is open now: the 0.5 lot bought at 130 (the 110 lot was sold first); the closed
    # round trips, the spot book that went flat, ETH and the KRW pair are not in it
    line = "롱 0.5 (평균 진입가 130 USDT)"
    assert f"- 보유 포지션: {line}\n" in detail["briefings"][0]["prompt"]
    assert detail["messages"] == [f"현재: $71000\n포지션: {line}\n\n" + fake_ai.text["openai"]]


def test_no_provider_configured_notifies_without_a_briefing(
    db: str, client: TestClient, user: ApiUser, exchange: PlantedExchange, fake_ai: FakeProviders
) -> None:
    bare = ai_settings(db, exchange, fake_ai, openai_api_key=None)
    detail = _fire(client, user, exchange, db, bare)
    assert detail["alert"]["status"] == "briefed" and detail["briefings"] == []
    assert detail["brief_error"] is None and fake_ai.seen == []
    assert detail["messages"] == ["현재: $71000\n포지션: 없음"]


def test_an_unreachable_provider_or_market_never_breaks_the_tick(
    db: str,
    client: TestClient,
    user: ApiUser,
    exchange: PlantedExchange,
    fake_ai: FakeProviders,
) -> None:
    down = ai_settings(db, exchange, fake_ai, openai_url="http://127.0.0.1:9")
    exchange.set_price("BTCUSDT", "71000")
    _rule(client, user)
    # the candles of the prompt fail (the ticker still answers)
    answer = exchange.answer

    def no_candles(path: str, q: dict[str, str]) -> tuple[int, object, dict[str, str]]:
        if "klines" in path or "candles" in path:
            return 500, {"msg": "down"}, {}
        return answer(path, q)

    exchange.answer = no_candles  # type: ignore[method-assign]
    runs = run_ticks(db, down, briefer=briefing.brief)
    assert runs[0].briefed == 1
    with psycopg.connect(db) as conn:
        status, error = conn.execute("SELECT status, brief_error FROM alerts").fetchone()
    assert status == "briefed" and error.startswith("openai: PROVIDER_ERROR: ")
    assert quota_left(db, user) == 20


def test_a_slow_briefing_round_leaves_the_rest_for_the_next_tick(
    db: str,
    settings: Settings,
    client: TestClient,
    user: ApiUser,
    exchange: PlantedExchange,
) -> None:
    seen: list[str] = []

    async def slow(conn: Any, s: Settings, alert: Any) -> flows.BriefingResult:
        seen.append(alert.symbol)
        return flows.BriefingResult()

    exchange.set_price("BTCUSDT", "71000")
    exchange.set_price("ETHUSDT", "71000")
    _rule(client, user)
    _rule(client, user, "ETHUSDT", "eth")
    (run,) = run_ticks(db, settings, briefer=slow, budget=0)
    assert len(run.triggered) == 2 and run.briefed == 0 and seen == []
    (run,) = run_ticks(db, settings, briefer=slow)
    assert run.briefed == 2 and sorted(seen) == ["BTCUSDT", "ETHUSDT"]


def test_an_upbit_alert_is_briefed_with_upbit_candles_and_the_krw_position(
    db: str,
    settings: Settings,
    client: TestClient,
    user: ApiUser,
    exchange: PlantedExchange,
    fake_ai: FakeProviders,
) -> None:
    _upload(
        client,
        user,
        [
            "2026-01-05T10:00:00Z,BTC/KRW,buy,0.02,90000000,0,KRW",
            "2026-01-05T11:00:00Z,BTC/KRW,sell,0.01,95000000,0,KRW",
            "2026-01-05T12:00:00Z,BTC/USDT,buy,1,60000,0,USDT",  # not this pair
        ],
        "upbit",
    )
    exchange.set_price("KRW-BTC", "100000000")
    _rule(client, user, "KRW-BTC", "1억", price="99000000")
    run_ticks(db, settings, briefer=briefing.brief)
    (alert,) = client.get("/api/v1/alerts", headers=user.headers).json()["alerts"]
    detail = client.get(f"/api/v1/alerts/{alert['id']}", headers=user.headers).json()
    (b,) = detail["briefings"]
    assert "- 보유 포지션: 롱 0.01 (평균 진입가 90000000 KRW)\n" in b["prompt"]
    assert "[최근 1h 캔들 50개]" in b["prompt"]
    assert any("/v1/candles/" in path for path, _ in exchange.requests)
