"""What the KIFU web client reads on the Alerts, Alert rules, Alert detail and Settings
(Telegram) screens (kifu-client-contract.md), driven the way the client calls them."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient

from kifu.config import Settings
from tests.alerts.planted_market import PlantedExchange
from tests.alerts.ticks import run_ticks
from tests.fixtures.contract_checks import BOOL, DEC, INT, LIST, OBJ, STR, TEXT, TIME, conforms, opt
from tests.helpers import ApiUser

API = "/api/v1"

ALERT = {
    "id": STR,
    "symbol": STR,
    "trigger_price": DEC,
    "trigger_reason": STR,
    "severity": STR,
    "status": STR,
    "created_at": TIME,
}
RULE = {
    "id": STR,
    "name": STR,
    "symbol": STR,
    "rule_type": STR,
    "config": OBJ,
    "cooldown_minutes": INT,
    "enabled": BOOL,
    "last_triggered_at": opt(TIME),
}


def test_alert_screens(
    db: str, settings: Settings, client: TestClient, user: ApiUser, exchange: PlantedExchange
) -> None:
    h = user.headers
    assert client.get(f"{API}/alert-rules", headers=h).json() == {"rules": []}
    assert client.get(f"{API}/alerts?limit=20&offset=0", headers=h).json() == {
        "alerts": [],
        "total": 0,
    }
    assert client.get(f"{API}/notifications/channels", headers=h).json() == {"channels": []}

    exchange.set_price("BTCUSDT", "71000.5")
    body = {
        "name": "BTC 70k",
        "symbol": "BTCUSDT",
        "rule_type": "price_level",
        "config": {"price": "70000", "direction": "gte"},
        "cooldown_minutes": 60,
    }
    created = client.post(f"{API}/alert-rules", json=body, headers=h)
    assert created.status_code == 201
    conforms(created.json(), RULE, "POST alert-rules")
    (rule,) = client.get(f"{API}/alert-rules", headers=h).json()["rules"]
    conforms(rule, RULE, "alert-rules[]")
    toggled = client.patch(f"{API}/alert-rules/{rule['id']}/toggle", headers=h).json()
    conforms(toggled, {"id": STR, "enabled": BOOL}, "toggle")
    client.patch(f"{API}/alert-rules/{rule['id']}/toggle", headers=h)

    run_ticks(db, settings)
    listed = client.get(f"{API}/alerts?limit=20&offset=0", headers=h).json()
    assert INT(listed["total"]) and LIST(listed["alerts"])
    conforms(listed["alerts"][0], ALERT, "alerts[]")
    aid = listed["alerts"][0]["id"]

    decided = client.post(
        f"{API}/alerts/{aid}/decision",
        json={"action": "hold", "memo": "wait", "confidence": "medium"},
        headers=h,
    )
    assert decided.status_code == 201
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE alert_decisions SET created_at = NOW() - interval '2 hours'")
        conn.execute(
            "INSERT INTO alert_outcomes (alert_id, decision_id, period, reference_price,"
            " outcome_price, pnl_percent) SELECT alert_id, id, '1h', 71000.5, 72000, 1.5"
            " FROM alert_decisions"
        )
    detail = client.get(f"{API}/alerts/{aid}", headers=h).json()
    conforms(detail["alert"], ALERT, "alert")
    assert LIST(detail["briefings"]) and LIST(detail["outcomes"]) and OBJ(detail["decision"])
    conforms(
        detail["outcomes"][0],
        {
            "id": STR,
            "period": STR,
            "reference_price": DEC,
            "outcome_price": DEC,
            "pnl_percent": DEC,
        },
        "outcomes[]",
    )
    assert client.patch(f"{API}/alerts/{aid}/dismiss", headers=h).status_code == 200

    link = client.post(f"{API}/notifications/telegram/connect", headers=h).json()
    conforms(
        link, {"code": STR, "expires_in": INT, "message": STR, "bot_url": opt(TEXT)}, "connect"
    )
    assert client.delete(f"{API}/notifications/telegram", headers=h).status_code == 200
