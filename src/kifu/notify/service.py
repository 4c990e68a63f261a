"""Notify use cases: channels (Telegram link, webhook, ntfy), the bot webhook, and ``notify_user``,
the one way other capabilities send a message (it writes outbox rows in the caller's
transaction; the delivery job sends them).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from kifu.config import Settings
from kifu.kit import crypto
from kifu.kit.errors import BadRequest, NotFound, ServiceUnavailable, Unauthorized
from kifu.kit.timeutil import utc_now
from kifu.notify import rules, store
from kifu.notify.rules import Message

log = logging.getLogger("kifu.notify")

MAX_CODE_TRIES = 20


# -- sending ------------------------------------------------------------------------------------


def _target(channel: store.ChannelRow) -> dict[str, Any]:
    if channel.channel_type == "telegram":
        return {"chat_id": channel.config.get("chat_id")}
    if channel.channel_type == "webhook":
        return {"url": channel.config["url"]}
    return {"server": channel.config["server"], "topic": channel.config["topic"]}


async def notify_user(
    conn: AsyncConnection,
    settings: Settings,
    user_id: uuid.UUID,
    message: Message,
    dedupe_key: str | None,
) -> list[uuid.UUID]:
    """Queue ``message`` for each of the user's enabled, verified channels; the outbox ids
    queued. With a ``dedupe_key`` a repeat call queues nothing new (one message per key and
    channel). Run it inside the transaction that decides to notify."""
    queued = []
    for channel in await store.deliverable_channels(conn, user_id):
        if channel.channel_type == "telegram" and not channel.config.get("chat_id"):
            continue
        oid = await store.enqueue(
            conn,
            user_id=user_id,
            channel_id=channel.id,
            channel_type=channel.channel_type,
            target=_target(channel),
            kind=message.event,
            payload=message.to_json(),
            dedupe_key=f"{dedupe_key}:{channel.id}" if dedupe_key else None,
            max_attempts=settings.notify_max_attempts,
        )
        if oid is not None:
            queued.append(oid)
    return queued


# -- channels -----------------------------------------------------------------------------------


async def list_channels(conn: AsyncConnection, user_id: uuid.UUID) -> list[store.ChannelRow]:
    return await store.list_channels(conn, user_id)


@dataclass(frozen=True)
class NewChannel:
    channel: store.ChannelRow
    secret: str | None


async def add_channel(
    conn: AsyncConnection,
    settings: Settings,
    user_id: uuid.UUID,
    channel_type: str,
    url: str | None,
    topic: str | None,
) -> NewChannel:
    try:
        if channel_type == "webhook":
            config: dict[str, Any] = {"url": rules.check_http_url(url, "url")}
        elif channel_type == "ntfy":
            server, name = rules.ntfy_target(url, topic, settings.ntfy_url)
            config = {"server": server, "topic": name}
        else:
            raise rules.ChannelError("type", f"must be one of {', '.join(rules.ADDABLE_TYPES)}")
    except rules.ChannelError as exc:
        raise BadRequest("INVALID_REQUEST", exc.message) from exc
    secret = secret_enc = None
    if channel_type == "webhook":
        try:
            key = crypto.load_key(settings.enc_key)
        except crypto.CryptoError as exc:
            raise ServiceUnavailable("ENCRYPTION_UNAVAILABLE", str(exc)) from exc
        secret = rules.new_webhook_secret()
        secret_enc = crypto.encrypt(key, secret)
    row = await store.insert_channel(conn, user_id, channel_type, config, secret_enc)
    return NewChannel(row, secret)


async def remove_channel(conn: AsyncConnection, user_id: uuid.UUID, channel_id: uuid.UUID) -> None:
    if not await store.delete_channel(conn, user_id, channel_id, None):
        raise NotFound("CHANNEL_NOT_FOUND", "channel not found")


async def test_channel(
    conn: AsyncConnection, settings: Settings, user_id: uuid.UUID, channel_id: uuid.UUID
) -> uuid.UUID:
    """Queue a test message to one channel; the outbox id."""
    channel = await store.get_channel(conn, user_id, channel_id)
    if channel is None:
        raise NotFound("CHANNEL_NOT_FOUND", "channel not found")
    message = Message(
        title="kifu test notification",
        body="This channel receives kifu alerts.",
        event="test",
    )
    oid = await store.enqueue(
        conn,
        user_id=user_id,
        channel_id=channel.id,
        channel_type=channel.channel_type,
        target=_target(channel),
        kind="test",
        payload=message.to_json(),
        dedupe_key=None,
        max_attempts=settings.notify_max_attempts,
    )
    assert oid is not None
    return oid


# -- Telegram ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TelegramLink:
    code: str
    expires_in: int
    message: str
    bot_url: str | None


async def connect_telegram(
    conn: AsyncConnection, settings: Settings, user_id: uuid.UUID
) -> TelegramLink:
    """A fresh 6-digit code, valid 5 minutes, to send to the bot as ``/start <code>``; the
    user's earlier open codes stop working."""
    now = utc_now()
    for _ in range(MAX_CODE_TRIES):
        code = rules.new_code()
        if await store.replace_code(conn, user_id, code, now + rules.CODE_TTL, now):
            break
    else:  # pragma: no cover - a million codes, all open at once
        raise ServiceUnavailable("CODE_UNAVAILABLE", "no free link code, try again")
    bot_url = None
    if settings.telegram_bot_username:
        bot_url = f"https://t.me/{settings.telegram_bot_username}?start={code}"
    return TelegramLink(
        code=code,
        expires_in=int(rules.CODE_TTL.total_seconds()),
        message=f"텔레그램 봇에게 /start {code} 를 보내주세요 (5분 내)",
        bot_url=bot_url,
    )


async def disconnect_telegram(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    await store.delete_telegram(conn, user_id)


USAGE = "kifu 알림을 연결하려면 /start <6자리 코드> 를 보내주세요."
LINKED = "kifu 알림이 연결되었습니다."
BAD_CODE = "코드가 올바르지 않거나 만료되었습니다. kifu 설정에서 새 코드를 받아주세요."


def _chat_and_text(update: Any) -> tuple[int | None, Any]:
    if not isinstance(update, dict):
        return None, None
    message = update.get("message")
    if not isinstance(message, dict):
        return None, None
    chat = message.get("chat")
    chat_id = chat.get("id") if isinstance(chat, dict) else None
    if isinstance(chat_id, bool) or not isinstance(chat_id, int) or chat_id == 0:
        return None, None
    return chat_id, message.get("text")


async def _reply(
    conn: AsyncConnection, settings: Settings, chat_id: int, text: str, update_id: Any
) -> uuid.UUID | None:
    dedupe = f"telegram_reply:{update_id}" if isinstance(update_id, int) else None
    return await store.enqueue(
        conn,
        user_id=None,
        channel_id=None,
        channel_type="telegram",
        target={"chat_id": chat_id},
        kind="telegram_reply",
        payload=Message(title="", body=text, event="telegram_reply").to_json(),
        dedupe_key=dedupe,
        max_attempts=settings.notify_max_attempts,
    )


async def telegram_update(
    conn: AsyncConnection, settings: Settings, secret_header: str | None, update: Any
) -> list[uuid.UUID]:
    """Handle one bot update; the outbox ids of the bot's replies. Refused (401, nothing
    changed) without Telegram's secret-token header equal to ``TELEGRAM_WEBHOOK_SECRET``.
    ``/start <code>`` with an open code links the code's user to this chat; the bot's reply goes
    through the outbox (once per update, however often Telegram retries it)."""
    if not rules.secret_matches(settings.telegram_webhook_secret, secret_header):
        raise Unauthorized("UNAUTHORIZED", "missing or wrong X-Telegram-Bot-Api-Secret-Token")
    chat_id, text = _chat_and_text(update)
    if chat_id is None:
        return []  # not a message (an edit, a callback): nothing to do
    update_id = update.get("update_id")
    code = rules.start_code(text)
    async with conn.transaction():
        if code is None:
            reply = USAGE
        else:
            user_id = await store.consume_code(conn, code, utc_now())
            if user_id is None:
                reply = BAD_CODE
            else:
                await store.upsert_telegram(conn, user_id, chat_id)
                reply = LINKED
        oid = await _reply(conn, settings, chat_id, reply, update_id)
    return [oid] if oid else []


async def list_messages(
    conn: AsyncConnection, user_id: uuid.UUID, status: str | None, limit: int, offset: int
) -> tuple[list[store.MessageRow], int]:
    if status is not None and status not in ("pending", "sending", "sent", "failed"):
        raise BadRequest("INVALID_REQUEST", "status: must be one of pending, sending, sent, failed")
    return await store.list_messages(conn, user_id, status, limit, offset)
