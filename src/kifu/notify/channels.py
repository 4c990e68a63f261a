"""Senders, one per channel type: the Telegram Bot API, a signed webhook, an ntfy server.

``send`` delivers one message or raises ``DeliveryFailed`` (with the server's Retry-After when
it gave one, and ``permanent`` when trying again cannot help). Error texts never carry the bot
token (it is part of the Bot API URL).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from kifu.config import Settings
from kifu.notify import rules
from kifu.notify.rules import Message


class DeliveryFailed(Exception):
    def __init__(
        self, message: str, *, retry_after: float | None = None, permanent: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.permanent = permanent


@dataclass(frozen=True)
class Delivery:
    """One outbox row as a sender sees it."""

    id: str
    created_at: str
    channel_type: str
    target: dict[str, Any]
    message: Message
    secret: str | None = None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None


async def _post(
    http: httpx.AsyncClient, url: str, timeout: float, what: str, **kwargs: Any
) -> httpx.Response:
    try:
        return await http.post(url, timeout=timeout, follow_redirects=False, **kwargs)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{what}: request failed ({exc.__class__.__name__})") from None


async def send_telegram(http: httpx.AsyncClient, settings: Settings, d: Delivery) -> None:
    token = settings.telegram_bot_token
    if not token:
        raise DeliveryFailed("telegram: TELEGRAM_BOT_TOKEN is not set")
    chat_id = d.target.get("chat_id")
    if not isinstance(chat_id, int) or chat_id == 0:
        raise DeliveryFailed("telegram: no chat id", permanent=True)
    url = f"{settings.telegram_api_url.rstrip('/')}/bot{token}/sendMessage"
    body = {
        "chat_id": chat_id,
        "text": rules.telegram_html(d.message),
        "parse_mode": "HTML",
        "disable_web_page_preview": True,
    }
    response = await _post(http, url, settings.notify_timeout_seconds, "telegram", json=body)
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.status_code == 200 and isinstance(answer, dict) and answer.get("ok") is True:
        return
    description = str(answer.get("description", "")) if isinstance(answer, dict) else ""
    text = f"telegram answered HTTP {response.status_code}: {description[:200]}"
    if response.status_code == 429:
        params = answer.get("parameters") if isinstance(answer, dict) else None
        wait = params.get("retry_after") if isinstance(params, dict) else None
        raise DeliveryFailed(
            text, retry_after=float(wait) if isinstance(wait, int | float) else None
        )
    # 400 (chat not found), 403 (the user blocked the bot): trying again cannot help.
    raise DeliveryFailed(text, permanent=response.status_code in (400, 403))


async def send_webhook(http: httpx.AsyncClient, settings: Settings, d: Delivery) -> None:
    if not d.secret:
        raise DeliveryFailed("webhook: the channel's secret is gone", permanent=True)
    body = rules.webhook_body(d.message, d.id, d.created_at)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "kifu-notify",
        rules.SIGNATURE_HEADER: rules.sign(d.secret, body),
        "X-Kifu-Event": d.message.event,
        "X-Kifu-Delivery": d.id,
    }
    response = await _post(
        http,
        d.target["url"],
        settings.notify_timeout_seconds,
        "webhook",
        content=body,
        headers=headers,
    )
    if 200 <= response.status_code < 300:
        return
    raise DeliveryFailed(
        f"webhook answered HTTP {response.status_code}",
        retry_after=_retry_after(response),
        permanent=response.status_code == 410,
    )


async def send_ntfy(http: httpx.AsyncClient, settings: Settings, d: Delivery) -> None:
    payload = rules.ntfy_json(d.message, d.target["topic"])
    response = await _post(
        http,
        d.target["server"].rstrip("/") + "/",
        settings.notify_timeout_seconds,
        "ntfy",
        content=json.dumps(payload, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "kifu-notify"},
    )
    if 200 <= response.status_code < 300:
        return
    raise DeliveryFailed(
        f"ntfy answered HTTP {response.status_code}: {response.text[:200]}",
        retry_after=_retry_after(response),
    )


SENDERS = {"telegram": send_telegram, "webhook": send_webhook, "ntfy": send_ntfy}


async def send(http: httpx.AsyncClient, settings: Settings, d: Delivery) -> None:
    sender = SENDERS.get(d.channel_type)
    if sender is None:
        raise DeliveryFailed(f"unknown channel type {d.channel_type}", permanent=True)
    await sender(http, settings, d)
