"""The outbox: webhook and ntfy channels, delivery once with retries, failures kept with the
reason, racing workers, and alerts that notify."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from kifu.config import Settings
from kifu.notify.delivery import deliver_due
from tests.alerts.planted_market import PlantedExchange
from tests.alerts.ticks import run_ticks
from tests.helpers import ApiUser
from tests.notify.fake_services import FakeServices


async def _deliver_once(db: str, settings: Settings) -> Any:
    async with (
        httpx.AsyncClient() as http,
        await psycopg.AsyncConnection.connect(db, autocommit=True) as conn,
    ):
        return await deliver_due(conn, http, settings)


def deliver(db: str, settings: Settings, workers: int = 1) -> list[Any]:
    async def race() -> list[Any]:
        return list(await asyncio.gather(*(_deliver_once(db, settings) for _ in range(workers))))

    return asyncio.run(race())


def _webhook(client: TestClient, user: ApiUser, services: FakeServices, name: str = "a") -> Any:
    r = client.post(
        "/api/v1/notifications/channels",
        json={"type": "webhook", "url": f"{services.url}/hook/{name}"},
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()


def _messages(client: TestClient, user: ApiUser) -> list[dict[str, Any]]:
    return client.get("/api/v1/notifications/messages", headers=user.headers).json()["messages"]


def test_webhook_delivery_is_signed(
    db: str, settings: Settings, client: TestClient, user: ApiUser, services: FakeServices
) -> None:
    channel = _webhook(client, user, services)
    assert channel["secret"].startswith("whsec_") and channel["verified"] is True
    listed = client.get("/api/v1/notifications/channels", headers=user.headers).json()
    assert [(c["type"], c["url"]) for c in listed["channels"]] == [
        ("webhook", f"{services.url}/hook/a")
    ]
    assert "secret" not in listed["channels"][0]

    queued = client.post(
        f"/api/v1/notifications/channels/{channel['id']}/test", headers=user.headers
    )
    assert queued.status_code == 200 and queued.json()["queued"] is True
    (run,) = deliver(db, settings)
    assert run.sent == 1
    (req,) = services.got("/hook/a")
    expected = hmac.new(channel["secret"].encode(), req.body, hashlib.sha256).hexdigest()
    assert req.headers["x-kifu-signature"] == f"sha256={expected}"
    assert req.headers["x-kifu-delivery"] == queued.json()["message_id"]
    body = json.loads(req.body)
    assert body["event"] == "test" and body["id"] == queued.json()["message_id"]
    assert _messages(client, user)[0]["status"] == "sent"


def test_a_delivery_that_fails_twice_then_succeeds_arrives_once(
    db: str, settings: Settings, client: TestClient, user: ApiUser, services: FakeServices
) -> None:
    channel = _webhook(client, user, services)
    services.fail("/hook/a", 500, 503)
    client.post(f"/api/v1/notifications/channels/{channel['id']}/test", headers=user.headers)
    runs = [deliver(db, settings)[0] for _ in range(4)]
    assert [(r.sent, r.retrying) for r in runs] == [(0, 1), (0, 1), (1, 0), (0, 0)]
    assert len(services.got("/hook/a")) == 1
    (m,) = _messages(client, user)
    assert (m["status"], m["attempts"], m["last_error"]) == ("sent", 3, None)


def test_after_the_last_try_the_message_is_failed_with_the_reason(
    db: str, settings: Settings, client: TestClient, user: ApiUser, services: FakeServices
) -> None:
    channel = _webhook(client, user, services)
    services.fail("/hook/a", 500, 500, 500, 500)
    client.post(f"/api/v1/notifications/channels/{channel['id']}/test", headers=user.headers)
    for _ in range(4):
        deliver(db, settings)
    (m,) = _messages(client, user)
    assert m["status"] == "failed" and m["attempts"] == 3
    assert "HTTP 500" in m["last_error"]
    assert services.got("/hook/a") == []
    failed = client.get("/api/v1/notifications/messages?status=failed", headers=user.headers)
    assert failed.json()["total"] == 1


def test_racing_workers_send_each_message_once(
    db: str, settings: Settings, client: TestClient, user: ApiUser, services: FakeServices
) -> None:
    channel = _webhook(client, user, services)
    for _ in range(12):
        client.post(f"/api/v1/notifications/channels/{channel['id']}/test", headers=user.headers)
    runs = deliver(db, settings, workers=3)
    assert sum(r.sent for r in runs) == 12
    ids = [r.headers["x-kifu-delivery"] for r in services.got("/hook/a")]
    assert len(ids) == 12 and len(set(ids)) == 12


def test_ntfy_channel(
    db: str, settings: Settings, client: TestClient, user: ApiUser, services: FakeServices
) -> None:
    by_url = client.post(
        "/api/v1/notifications/channels",
        json={"type": "ntfy", "url": f"{services.url}/my-topic"},
        headers=user.headers,
    ).json()
    assert (by_url["server"], by_url["topic"], by_url["secret"]) == (services.url, "my-topic", None)
    by_topic = client.post(
        "/api/v1/notifications/channels",
        json={"type": "ntfy", "topic": "other_topic"},
        headers=user.headers,
    ).json()
    assert by_topic["server"] == services.url
    client.post(f"/api/v1/notifications/channels/{by_url['id']}/test", headers=user.headers)
    deliver(db, settings)
    (req,) = services.got("/")
    sent = req.json()
    assert sent["topic"] == "my-topic" and sent["title"] == "kifu test notification"


@pytest.mark.parametrize(
    "body",
    [
        {"type": "webhook", "url": "ftp://example.com/x"},
        {"type": "webhook", "url": "javascript:alert(1)"},
        {"type": "webhook", "url": "http://"},
        {"type": "webhook"},
        {"type": "ntfy", "topic": "bad topic!"},
        {"type": "ntfy", "url": "file:///etc/passwd"},
        {"type": "telegram"},
        {"type": "email", "url": "http://example.com"},
    ],
)
def test_bad_channels_are_refused(client: TestClient, user: ApiUser, body: Any) -> None:
    r = client.post("/api/v1/notifications/channels", json=body, headers=user.headers)
    assert r.status_code == 400, r.text
    assert client.get("/api/v1/notifications/channels", headers=user.headers).json() == {
        "channels": []
    }


def test_other_users_channels_are_404(
    client: TestClient, user: ApiUser, make_user: Callable[..., ApiUser], services: FakeServices
) -> None:
    channel = _webhook(client, user, services)
    other = make_user()
    base = f"/api/v1/notifications/channels/{channel['id']}"
    assert client.post(base + "/test", headers=other.headers).status_code == 404
    assert client.delete(base, headers=other.headers).status_code == 404
    assert client.get("/api/v1/notifications/messages", headers=other.headers).json() == {
        "messages": [],
        "total": 0,
    }
    assert client.delete(base, headers=user.headers).json() == {"deleted": True}
    assert client.get("/api/v1/notifications/channels", headers=user.headers).json() == {
        "channels": []
    }


def test_an_alert_is_notified_once_on_every_channel(
    db: str,
    settings: Settings,
    client: TestClient,
    user: ApiUser,
    services: FakeServices,
    exchange: PlantedExchange,
) -> None:
    _webhook(client, user, services, "a")
    _webhook(client, user, services, "b")
    exchange.set_price("BTCUSDT", "71000")
    client.post(
        "/api/v1/alert-rules",
        json={
            "name": "70k <b>",
            "symbol": "BTCUSDT",
            "rule_type": "price_level",
            "config": {"price": "70000", "direction": "gte"},
        },
        headers=user.headers,
    )
    runs = run_ticks(db, settings, workers=2)
    assert sum(len(r.queued) for r in runs) == 2 and sum(r.briefed for r in runs) == 1
    deliver(db, settings, workers=2)
    got = services.got("/hook/")
    assert sorted(r.path for r in got) == ["/hook/a", "/hook/b"]
    body = got[0].json()
    assert (
        body["event"] == "alert" and body["title"] == "BTCUSDT $70000.00 이상 도달 (현재 $71000.00)"
    )
    assert body["data"]["trigger_price"] == "71000"
    alert = client.get("/api/v1/alerts", headers=user.headers).json()["alerts"][0]
    assert alert["notified_at"] is not None
    assert body["link"].endswith(f"/alerts/{alert['id']}")


def test_a_message_whose_sender_died_is_sent_after_its_lease(
    db: str, settings: Settings, client: TestClient, user: ApiUser, services: FakeServices
) -> None:
    channel = _webhook(client, user, services)
    client.post(f"/api/v1/notifications/channels/{channel['id']}/test", headers=user.headers)
    with psycopg.connect(db) as conn:  # a worker claimed it and died
        conn.execute(
            "UPDATE notification_outbox SET status = 'sending', attempts = 1,"
            " lease_until = NOW() + interval '1 minute'"
        )
    assert deliver(db, settings)[0].claimed == 0  # leased: nobody else touches it
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE notification_outbox SET lease_until = NOW() - interval '1 second'")
    assert deliver(db, settings)[0].sent == 1
    (m,) = _messages(client, user)
    assert (m["status"], m["attempts"]) == ("sent", 2)
    assert len(services.got("/hook/a")) == 1


def test_a_blocked_bot_fails_at_once(
    db: str, settings: Settings, client: TestClient, user: ApiUser, services: FakeServices
) -> None:
    with psycopg.connect(db) as conn:
        conn.execute(
            "INSERT INTO notification_channels (user_id, channel_type, config, verified)"
            " VALUES (%s, 'telegram', '{\"chat_id\": 42}', true)",
            (user.id,),
        )
    (channel,) = client.get("/api/v1/notifications/channels", headers=user.headers).json()[
        "channels"
    ]
    services.fail("/bot", 403)
    client.post(f"/api/v1/notifications/channels/{channel['id']}/test", headers=user.headers)
    assert deliver(db, settings)[0].failed == 1
    (m,) = _messages(client, user)
    assert m["status"] == "failed" and m["attempts"] == 1 and "403" in m["last_error"]
    assert settings.telegram_bot_token not in m["last_error"]


def test_the_channel_list_is_kept_until_a_channel_changes(
    db: str, client: TestClient, user: ApiUser, services: FakeServices
) -> None:
    """Kept under the notify stamp (migration 134): a channel added, changed by hand or deleted
    is seen at once."""

    def listed() -> list[dict[str, Any]]:
        r = client.get("/api/v1/notifications/channels", headers=user.headers)
        assert r.status_code == 200, r.text
        return r.json()["channels"]

    assert listed() == listed() == []
    channel = _webhook(client, user, services)
    assert [c["id"] for c in listed()] == [channel["id"]] and listed()[0]["enabled"] is True
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE notification_channels SET enabled = false")
    assert listed()[0]["enabled"] is False
    r = client.delete(f"/api/v1/notifications/channels/{channel['id']}", headers=user.headers)
    assert r.status_code == 200
    assert listed() == []
