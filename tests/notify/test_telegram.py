"""Telegram: link codes, the bot webhook behind its secret token, replies and alerts through the
outbox, escaping."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg
from fastapi.testclient import TestClient

from kifu.config import Settings
from kifu.notify import rules
from kifu.notify.delivery import deliver_due
from kifu.notify.rules import Message
from tests.alerts.planted_market import PlantedExchange
from tests.alerts.ticks import run_ticks
from tests.helpers import ApiUser
from tests.notify.conftest import WEBHOOK_SECRET
from tests.notify.fake_services import FakeServices

HOOK = "/api/v1/webhook/telegram"
CHAT = 987654321


def _deliver(db: str, settings: Settings) -> Any:
    async def go() -> Any:
        async with (
            httpx.AsyncClient() as http,
            await psycopg.AsyncConnection.connect(db, autocommit=True) as conn,
        ):
            return await deliver_due(conn, http, settings)

    return asyncio.run(go())


def _update(text: str, update_id: int = 1, chat: int = CHAT) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {"message_id": 5, "chat": {"id": chat, "type": "private"}, "text": text},
    }


def _hook(client: TestClient, update: Any, secret: str | None = WEBHOOK_SECRET) -> Any:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return client.post(HOOK, json=update, headers=headers)


def _channels(client: TestClient, user: ApiUser) -> list[dict[str, Any]]:
    return client.get("/api/v1/notifications/channels", headers=user.headers).json()["channels"]


def _state(db: str) -> tuple[Any, ...]:
    with psycopg.connect(db) as conn:
        return (
            conn.execute("SELECT count(*) FROM notification_channels").fetchone(),
            conn.execute("SELECT count(*) FROM telegram_verify_codes WHERE used").fetchone(),
            conn.execute("SELECT count(*) FROM notification_outbox").fetchone(),
        )


def test_connect_then_start_links_the_chat(
    db: str, settings: Settings, client: TestClient, user: ApiUser, services: FakeServices
) -> None:
    r = client.post("/api/v1/notifications/telegram/connect", headers=user.headers)
    assert r.status_code == 200
    link = r.json()
    code = link["code"]
    assert len(code) == 6 and code.isdigit() and link["expires_in"] == 300
    assert link["bot_url"] == f"https://t.me/kifu_test_bot?start={code}"
    assert code in link["message"]

    assert _hook(client, _update(f"/start {code}")).json() == {"ok": True}
    (channel,) = _channels(client, user)
    assert (channel["type"], channel["enabled"], channel["verified"]) == ("telegram", True, True)

    # The bot's reply goes out through the outbox, once.
    assert _deliver(db, settings).sent == 1
    (reply,) = services.got("/bot")
    assert reply.json()["chat_id"] == CHAT and "연결" in reply.json()["text"]

    # Single use: the same code again links nothing and gets the error reply.
    other_chat = 111
    _hook(client, _update(f"/start {code}", update_id=2, chat=other_chat))
    _deliver(db, settings)
    assert services.got("/bot")[-1].json()["chat_id"] == other_chat
    with psycopg.connect(db) as conn:
        (config,) = conn.execute("SELECT config FROM notification_channels").fetchone()  # type: ignore[misc]
    assert config == {"chat_id": CHAT}

    assert client.delete("/api/v1/notifications/telegram", headers=user.headers).json() == {
        "disconnected": True
    }
    assert _channels(client, user) == []


def test_a_forged_webhook_changes_nothing(
    db: str, settings: Settings, client: TestClient, user: ApiUser
) -> None:
    code = client.post("/api/v1/notifications/telegram/connect", headers=user.headers).json()[
        "code"
    ]
    before = _state(db)
    for secret in (None, "", "wrong-secret", WEBHOOK_SECRET + "x"):
        r = _hook(client, _update(f"/start {code}"), secret=secret)
        assert r.status_code == 401 and r.json()["code"] == "UNAUTHORIZED"
    assert _state(db) == before
    assert _channels(client, user) == []
    # The real one still works afterwards.
    assert _hook(client, _update(f"/start {code}")).status_code == 200
    assert len(_channels(client, user)) == 1


def test_webhook_without_a_configured_secret_refuses_everyone(
    db: str, settings: Settings, client: TestClient, user: ApiUser
) -> None:
    client.app.state.settings = settings.model_copy(update={"telegram_webhook_secret": None})  # type: ignore[attr-defined]
    r = _hook(client, _update("/start 123456"), secret="anything")
    assert r.status_code == 401


def test_expired_or_unknown_codes_link_nothing(
    db: str, settings: Settings, client: TestClient, user: ApiUser, services: FakeServices
) -> None:
    code = client.post("/api/v1/notifications/telegram/connect", headers=user.headers).json()[
        "code"
    ]
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE telegram_verify_codes SET expires_at = NOW() - interval '1 second'")
    _hook(client, _update(f"/start {code}"))
    _hook(client, _update("/start 000000" if code != "000000" else "/start 000001", update_id=2))
    _hook(client, _update("hello", update_id=3))
    assert _channels(client, user) == []
    assert _deliver(db, settings).sent == 3
    texts = [r.json()["text"] for r in services.got("/bot")]
    assert texts[2].startswith("kifu 알림을 연결하려면")
    # A new code retires the old one.
    first = client.post("/api/v1/notifications/telegram/connect", headers=user.headers).json()
    second = client.post("/api/v1/notifications/telegram/connect", headers=user.headers).json()
    _hook(client, _update(f"/start {first['code']}", update_id=4))
    if first["code"] != second["code"]:
        assert _channels(client, user) == []
    _hook(client, _update(f"/start {second['code']}", update_id=5))
    assert len(_channels(client, user)) == 1


def test_a_retried_update_is_answered_once(
    db: str, settings: Settings, client: TestClient, services: FakeServices
) -> None:
    _hook(client, _update("hi", update_id=77))
    _hook(client, _update("hi", update_id=77))
    assert _deliver(db, settings).sent == 1


def test_alert_reaches_telegram_escaped_and_retried_on_429(
    db: str,
    settings: Settings,
    client: TestClient,
    user: ApiUser,
    services: FakeServices,
    exchange: PlantedExchange,
) -> None:
    code = client.post("/api/v1/notifications/telegram/connect", headers=user.headers).json()[
        "code"
    ]
    _hook(client, _update(f"/start {code}"))
    _deliver(db, settings)
    services.received.clear()
    exchange.set_price("BTCUSDT", "71000")
    client.post(
        "/api/v1/alert-rules",
        json={
            "name": "n",
            "symbol": "BTCUSDT",
            "rule_type": "price_change",
            "config": {
                "direction": "both",
                "threshold_type": "absolute",
                "threshold_value": "1",
                "reference": "1h",
            },
        },
        headers=user.headers,
    )
    exchange.set_past("BTCUSDT", "60000")
    run_ticks(db, settings, workers=2)
    services.fail("/bot", 429)
    first = _deliver(db, settings)
    assert (first.sent, first.retrying) == (0, 1)
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE notification_outbox SET next_attempt_at = NOW()")
    assert _deliver(db, settings).sent == 1
    (msg,) = services.got("/bot")
    sent = msg.json()
    assert sent["parse_mode"] == "HTML" and sent["chat_id"] == CHAT
    assert sent["text"].startswith("🔴 <b>[긴급]</b> <b>BTCUSDT 상승 $11000.00")
    assert "/alerts/" in sent["text"]


def test_telegram_text_escapes_user_and_ai_text() -> None:
    text = rules.telegram_html(
        Message(
            title="<script>alert(1)</script> & co",
            body="AI says: buy <b>now</b> & hold",
            severity="normal",
            link='https://app.example/alerts/1?a="x"',
        )
    )
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "buy &lt;b&gt;now&lt;/b&gt; &amp; hold" in text
    assert text.startswith("🔔 <b>&lt;script&gt;")
    assert 'href="https://app.example/alerts/1?a=&quot;x&quot;"' in text
    long = rules.telegram_html(Message(title="t", body="&" * 5000))
    assert len(long) <= rules.TELEGRAM_TEXT_LIMIT and not long.endswith("&…")


def test_start_code_parsing() -> None:
    assert rules.start_code("/start 123456") == "123456"
    assert rules.start_code("/start@kifu_bot 123456") == "123456"
    for bad in ("/start", "/start 12345", "/start 1234567", "/start abcdef", "start 123456", None):
        assert rules.start_code(bad) is None
    assert not rules.secret_matches(None, "x") and not rules.secret_matches("x", None)
    assert rules.secret_matches("s3cret", "s3cret")


def test_replies_and_tests_are_tried_at_once_when_inline(
    db: str, settings: Settings, client: TestClient, user: ApiUser, services: FakeServices
) -> None:
    client.app.state.settings = settings.model_copy(update={"notify_deliver_inline": True})  # type: ignore[attr-defined]
    code = client.post("/api/v1/notifications/telegram/connect", headers=user.headers).json()[
        "code"
    ]
    _hook(client, _update(f"/start {code}"))
    (reply,) = services.got("/bot")  # sent while answering, not at the job's next tick
    assert reply.json()["chat_id"] == CHAT
    (channel,) = _channels(client, user)
    client.post(f"/api/v1/notifications/channels/{channel['id']}/test", headers=user.headers)
    assert len(services.got("/bot")) == 2
    assert _deliver(db, settings).claimed == 0  # nothing left for the job
