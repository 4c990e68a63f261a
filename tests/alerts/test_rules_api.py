"""Alert rules over HTTP: the reference shapes, validation on save, ownership."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from kifu.alerts import rules, service
from kifu.config import Settings
from kifu.kit.errors import Conflict
from tests.alerts.planted_market import PlantedExchange
from tests.helpers import ApiUser

LEVEL = {
    "name": "BTC 70k",
    "symbol": "btcusdt",
    "rule_type": "price_level",
    "config": {"price": "70000", "direction": "above"},
}


def _create(client: TestClient, user: ApiUser, **over: Any) -> Any:
    return client.post("/api/v1/alert-rules", json={**LEVEL, **over}, headers=user.headers)


def test_create_list_get_update_toggle_delete(
    client: TestClient, user: ApiUser, exchange: PlantedExchange
) -> None:
    r = _create(client, user)
    assert r.status_code == 201, r.text
    rule = r.json()
    assert rule["symbol"] == "BTCUSDT" and rule["enabled"] is True
    assert rule["cooldown_minutes"] == 60 and rule["config"] == LEVEL["config"]
    assert "last_triggered_at" not in rule and "last_check_state" not in rule
    assert rule["user_id"] == str(user.id)
    second = _create(client, user, name="KRW", symbol="KRW-BTC", cooldown_minutes=5).json()

    listed = client.get("/api/v1/alert-rules", headers=user.headers).json()
    assert [x["id"] for x in listed["rules"]] == [second["id"], rule["id"]]  # newest first

    got = client.get(f"/api/v1/alert-rules/{rule['id']}", headers=user.headers).json()
    assert got == rule

    put = client.put(
        f"/api/v1/alert-rules/{rule['id']}",
        json={"config": {"price": "71000.5", "direction": "gte"}, "name": "renamed"},
        headers=user.headers,
    )
    assert put.status_code == 200, put.text
    assert put.json()["config"] == {"price": "71000.5", "direction": "gte"}
    assert put.json()["name"] == "renamed" and put.json()["symbol"] == "BTCUSDT"

    t = client.patch(f"/api/v1/alert-rules/{rule['id']}/toggle", headers=user.headers)
    assert t.json() == {"id": rule["id"], "enabled": False}

    d = client.delete(f"/api/v1/alert-rules/{rule['id']}", headers=user.headers)
    assert d.json() == {"deleted": True}
    assert client.get(f"/api/v1/alert-rules/{rule['id']}", headers=user.headers).status_code == 404


@pytest.mark.parametrize(
    ("over", "code", "words"),
    [
        ({"rule_type": "price_jump"}, "INVALID_REQUEST", "rule_type: must be one of"),
        ({"config": {"price": "-1", "direction": "above"}}, "INVALID_REQUEST", "config.price"),
        ({"config": {"price": "1", "direction": "up"}}, "INVALID_REQUEST", "above, below, gte"),
        ({"config": {"price": "1"}}, "INVALID_REQUEST", "config.direction"),
        ({"config": "x"}, "INVALID_REQUEST", "config"),
        ({"cooldown_minutes": 0}, "INVALID_REQUEST", "cooldown_minutes"),
        ({"name": ""}, "INVALID_REQUEST", "name"),
        ({"symbol": "005930"}, "INVALID_SYMBOL", "symbol"),
        ({"symbol": "NOPEUSDT"}, "INVALID_SYMBOL", "symbol"),  # the venue does not list it
        ({"symbol": "KRW-NOPE"}, "INVALID_SYMBOL", "symbol"),
    ],
)
def test_bad_rules_are_refused_and_nothing_is_stored(
    client: TestClient, user: ApiUser, exchange: PlantedExchange, over: Any, code: str, words: str
) -> None:
    r = _create(client, user, **over)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == code and words in r.json()["message"]
    assert client.get("/api/v1/alert-rules", headers=user.headers).json() == {"rules": []}


def test_put_validates_type_and_config_together(
    client: TestClient, user: ApiUser, exchange: PlantedExchange
) -> None:
    rule = _create(client, user).json()
    r = client.put(
        f"/api/v1/alert-rules/{rule['id']}", json={"rule_type": "ma_cross"}, headers=user.headers
    )
    assert r.status_code == 400 and "config." in r.json()["message"]
    assert client.get(f"/api/v1/alert-rules/{rule['id']}", headers=user.headers).json() == rule


def test_other_users_rules_are_404(
    client: TestClient,
    user: ApiUser,
    make_user: Callable[..., ApiUser],
    exchange: PlantedExchange,
) -> None:
    rule = _create(client, user).json()
    other = make_user()
    base = f"/api/v1/alert-rules/{rule['id']}"
    assert client.get(base, headers=other.headers).status_code == 404
    assert client.put(base, json={"name": "x"}, headers=other.headers).status_code == 404
    assert client.patch(base + "/toggle", headers=other.headers).status_code == 404
    assert client.delete(base, headers=other.headers).status_code == 404
    assert client.get("/api/v1/alert-rules", headers=other.headers).json() == {"rules": []}
    assert client.get(base, headers=user.headers).json()["enabled"] is True


def test_rules_need_a_token(client: TestClient) -> None:
    assert client.get("/api/v1/alert-rules").status_code == 401


def test_put_accepts_the_whole_rule_object_the_client_sends_back(
    client: TestClient, user: ApiUser, exchange: PlantedExchange
) -> None:
    rule = _create(client, user).json()
    sent = {**rule, "cooldown_minutes": 15, "enabled": False}
    r = client.put(f"/api/v1/alert-rules/{rule['id']}", json=sent, headers=user.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["cooldown_minutes"], r.json()["enabled"]) == (15, False)
    assert r.json()["id"] == rule["id"] and r.json()["user_id"] == str(user.id)


def test_a_user_keeps_a_bounded_number_of_rules(
    client: TestClient,
    user: ApiUser,
    make_user: Callable[..., ApiUser],
    exchange: PlantedExchange,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rules, "MAX_RULES_PER_USER", 3)
    made = [_create(client, user, name=f"r{i}").json()["id"] for i in range(3)]
    r = _create(client, user, name="one too many")
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "ALERT_RULE_LIMIT" and "at most 3" in r.json()["message"]
    listed = client.get("/api/v1/alert-rules", headers=user.headers).json()["rules"]
    assert sorted(x["id"] for x in listed) == sorted(made)  # nothing half-stored
    other = make_user()  # the bound is per user
    assert _create(client, other).status_code == 201
    client.delete(f"/api/v1/alert-rules/{made[0]}", headers=user.headers)
    assert _create(client, user, name="room again").status_code == 201


def test_concurrent_creates_never_pass_the_bound(
    db: str, user: ApiUser, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rules, "MAX_RULES_PER_USER", 1)

    async def create(conn: psycopg.AsyncConnection) -> str:
        try:
            await service.create_rule(
                conn,
                settings,
                None,
                user.id,
                name="race",
                symbol="BTCUSDT",
                rule_type=LEVEL["rule_type"],
                config=LEVEL["config"],
                cooldown_minutes=None,
                enabled=None,
                ask_market=False,
            )
        except Conflict as exc:
            return exc.code
        return "created"

    async def race() -> list[str]:
        async with (
            await psycopg.AsyncConnection.connect(db, autocommit=True) as a,
            await psycopg.AsyncConnection.connect(db, autocommit=True) as b,
        ):
            return sorted(await asyncio.gather(create(a), create(b)))

    assert asyncio.run(race()) == ["ALERT_RULE_LIMIT", "created"]
    with psycopg.connect(db) as conn:
        n = conn.execute("SELECT count(*) FROM alert_rules WHERE user_id = %s", (user.id,))
        assert n.fetchone() == (1,)
