"""Alerts over HTTP: lifecycle (pending → briefed → decided, expiry, dismissal), decisions (a
second is 409), the briefing seam, outcomes computed once each, ownership."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from psycopg import AsyncConnection

from kifu.alerts import flows, store
from kifu.alerts.outcomes import compute_due_outcomes
from kifu.config import Settings
from kifu.kit import money
from kifu.market import MarketData, MarketUrls, http_client
from tests.alerts.planted_market import PlantedExchange
from tests.alerts.ticks import run_ticks, tick
from tests.helpers import ApiUser


def _fire(
    client: TestClient, user: ApiUser, exchange: PlantedExchange, db: str, s: Settings
) -> str:
    exchange.set_price("BTCUSDT", "71000")
    r = client.post(
        "/api/v1/alert-rules",
        json={
            "name": "70k",
            "symbol": "BTCUSDT",
            "rule_type": "price_level",
            "config": {"price": "70000", "direction": "gte"},
        },
        headers=user.headers,
    )
    assert r.status_code == 201
    run_ticks(db, s)
    alerts = client.get("/api/v1/alerts", headers=user.headers).json()
    assert alerts["total"] == 1
    return alerts["alerts"][0]["id"]


def test_list_detail_decide_twice_dismiss(
    db: str, settings: Settings, client: TestClient, user: ApiUser, exchange: PlantedExchange
) -> None:
    aid = _fire(client, user, exchange, db, settings)
    listed = client.get("/api/v1/alerts", headers=user.headers).json()["alerts"][0]
    assert listed["trigger_price"] == "71000" and listed["status"] == "briefed"
    assert listed["severity"] == "normal" and "notified_at" not in listed  # no channels
    assert client.get("/api/v1/alerts?status=decided", headers=user.headers).json() == {
        "alerts": [],
        "total": 0,
    }
    assert client.get("/api/v1/alerts?status=nope", headers=user.headers).status_code == 400

    detail = client.get(f"/api/v1/alerts/{aid}", headers=user.headers).json()
    assert detail["alert"]["id"] == aid
    assert detail["briefings"] == [] and "decision" not in detail and detail["outcomes"] == []

    bad = client.post(
        f"/api/v1/alerts/{aid}/decision", json={"action": "moon"}, headers=user.headers
    )
    assert bad.status_code == 400 and "action" in bad.json()["message"]
    made = client.post(
        f"/api/v1/alerts/{aid}/decision",
        json={"action": "reduce", "memo": "took some off", "confidence": "high"},
        headers=user.headers,
    )
    assert made.status_code == 201, made.text
    assert made.json()["action"] == "reduce" and made.json()["executed_at"]
    again = client.post(
        f"/api/v1/alerts/{aid}/decision", json={"action": "buy"}, headers=user.headers
    )
    assert again.status_code == 409 and again.json()["code"] == "DECISION_EXISTS"
    detail = client.get(f"/api/v1/alerts/{aid}", headers=user.headers).json()
    assert detail["alert"]["status"] == "decided" and detail["decision"]["action"] == "reduce"

    # Dismissing a decided alert keeps its decision.
    assert client.patch(f"/api/v1/alerts/{aid}/dismiss", headers=user.headers).json() == {
        "dismissed": True
    }
    assert (
        client.get(f"/api/v1/alerts/{aid}", headers=user.headers).json()["alert"]["status"]
        == "decided"
    )


def test_dismiss_expires_an_open_alert(
    db: str, settings: Settings, client: TestClient, user: ApiUser, exchange: PlantedExchange
) -> None:
    aid = _fire(client, user, exchange, db, settings)
    client.patch(f"/api/v1/alerts/{aid}/dismiss", headers=user.headers)
    assert (
        client.get(f"/api/v1/alerts/{aid}", headers=user.headers).json()["alert"]["status"]
        == "expired"
    )


def test_other_users_alerts_are_404(
    db: str,
    settings: Settings,
    client: TestClient,
    user: ApiUser,
    make_user: Callable[..., ApiUser],
    exchange: PlantedExchange,
) -> None:
    aid = _fire(client, user, exchange, db, settings)
    other = make_user()
    h = other.headers
    assert client.get(f"/api/v1/alerts/{aid}", headers=h).status_code == 404
    assert client.get(f"/api/v1/alerts/{aid}/outcome", headers=h).status_code == 404
    assert client.patch(f"/api/v1/alerts/{aid}/dismiss", headers=h).status_code == 404
    r = client.post(f"/api/v1/alerts/{aid}/decision", json={"action": "buy"}, headers=h)
    assert r.status_code == 404
    assert client.get("/api/v1/alerts", headers=h).json() == {"alerts": [], "total": 0}
    assert client.get(f"/api/v1/alerts/{aid}", headers=user.headers).json().get("decision") is None


def test_expiry_after_24_hours(
    db: str, settings: Settings, client: TestClient, user: ApiUser, exchange: PlantedExchange
) -> None:
    aid = _fire(client, user, exchange, db, settings)
    asyncio.run(tick(db, settings, datetime.now(UTC) + timedelta(hours=23)))
    assert (
        client.get(f"/api/v1/alerts/{aid}", headers=user.headers).json()["alert"]["status"]
        == "briefed"
    )
    run = asyncio.run(tick(db, settings, datetime.now(UTC) + timedelta(hours=24, minutes=1)))
    assert run.expired == 1
    assert (
        client.get(f"/api/v1/alerts/{aid}", headers=user.headers).json()["alert"]["status"]
        == "expired"
    )


def test_briefing_seam_stores_briefings_and_failures(
    db: str, settings: Settings, client: TestClient, user: ApiUser, exchange: PlantedExchange
) -> None:
    calls: list[str] = []

    async def briefer(
        conn: AsyncConnection, s: Settings, alert: store.AlertRow
    ) -> flows.BriefingResult:
        calls.append(alert.symbol)
        return flows.BriefingResult(
            [flows.Briefing("mock", "m-1", "prompt", "hold <b>steady</b>", 12)],
            error="other: timed out",
        )

    exchange.set_price("BTCUSDT", "71000")
    client.post(
        "/api/v1/alert-rules",
        json={
            "name": "70k",
            "symbol": "BTCUSDT",
            "rule_type": "price_level",
            "config": {"price": "70000", "direction": "gte"},
        },
        headers=user.headers,
    )
    run_ticks(db, settings, workers=2, briefer=briefer)
    assert calls == ["BTCUSDT"]  # briefed once across both workers
    aid = client.get("/api/v1/alerts", headers=user.headers).json()["alerts"][0]["id"]
    detail = client.get(f"/api/v1/alerts/{aid}", headers=user.headers).json()
    assert detail["alert"]["status"] == "briefed"
    assert [(b["provider"], b["response"], b["tokens_used"]) for b in detail["briefings"]] == [
        ("mock", "hold <b>steady</b>", 12)
    ]
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT brief_error FROM alerts").fetchone() == ("other: timed out",)


def test_a_briefer_that_raises_still_briefs(
    db: str, settings: Settings, client: TestClient, user: ApiUser, exchange: PlantedExchange
) -> None:
    async def broken(conn: AsyncConnection, s: Settings, alert: store.AlertRow) -> Any:
        raise RuntimeError("provider exploded")

    exchange.set_price("BTCUSDT", "71000")
    client.post(
        "/api/v1/alert-rules",
        json={
            "name": "70k",
            "symbol": "BTCUSDT",
            "rule_type": "price_level",
            "config": {"price": "70000", "direction": "gte"},
        },
        headers=user.headers,
    )
    run_ticks(db, settings, briefer=broken)
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT status, brief_error FROM alerts").fetchone() == (
            "briefed",
            "briefing failed: RuntimeError",
        )


async def _outcomes(db: str, settings: Settings, workers: int) -> list[Any]:
    async def one() -> Any:
        async with (
            http_client() as http,
            await psycopg.AsyncConnection.connect(db, autocommit=True) as conn,
        ):
            return await compute_due_outcomes(
                conn, MarketData(MarketUrls.from_settings(settings), http)
            )

    return list(await asyncio.gather(*(one() for _ in range(workers))))


def test_outcomes_once_each(
    db: str, settings: Settings, client: TestClient, user: ApiUser, exchange: PlantedExchange
) -> None:
    aid = _fire(client, user, exchange, db, settings)
    client.post(f"/api/v1/alerts/{aid}/decision", json={"action": "hold"}, headers=user.headers)
    decided = (datetime.now(UTC) - timedelta(days=2)).replace(second=20, microsecond=0)
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE alert_decisions SET created_at = %s", (decided,))
    exchange.set_past("BTCUSDT", "75000")

    runs = asyncio.run(_outcomes(db, settings, workers=2))
    assert sum(r.computed for r in runs) == 3
    again = asyncio.run(_outcomes(db, settings, workers=1))
    assert again[0].claimed == 0

    out = client.get(f"/api/v1/alerts/{aid}/outcome", headers=user.headers).json()["outcomes"]
    assert [o["period"] for o in out] == ["1h", "4h", "1d"]
    for o in out:
        assert o["reference_price"] == "71000" and o["outcome_price"] == "75000"
        assert Decimal(o["pnl_percent"]) == money.pnl_percent(Decimal(71000), Decimal(75000))
    detail = client.get(f"/api/v1/alerts/{aid}", headers=user.headers).json()
    assert len(detail["outcomes"]) == 3


def test_outcomes_wait_until_due(
    db: str, settings: Settings, client: TestClient, user: ApiUser, exchange: PlantedExchange
) -> None:
    aid = _fire(client, user, exchange, db, settings)
    client.post(f"/api/v1/alerts/{aid}/decision", json={"action": "hold"}, headers=user.headers)
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE alert_decisions SET created_at = NOW() - interval '2 hours'")
    runs = asyncio.run(_outcomes(db, settings, workers=1))
    assert runs[0].computed == 1
    out = client.get(f"/api/v1/alerts/{aid}/outcome", headers=user.headers).json()["outcomes"]
    assert [o["period"] for o in out] == ["1h"]


def test_decision_with_the_clients_empty_fields(
    db: str, settings: Settings, client: TestClient, user: ApiUser, exchange: PlantedExchange
) -> None:
    aid = _fire(client, user, exchange, db, settings)
    r = client.post(
        f"/api/v1/alerts/{aid}/decision",
        json={"action": "ignore", "memo": "", "confidence": ""},
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    assert "confidence" not in r.json()
