"""HTTP for notifications: ``/api/v1/notifications/*`` and the Telegram bot webhook."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Header, Query, Request

from kifu.config import Settings
from kifu.kit import answers
from kifu.kit.answers import Computed
from kifu.kit.auth import CurrentUser
from kifu.kit.db import Conn
from kifu.kit.jsonsql import RawJSON
from kifu.kit.pagination import parse_offset, parse_positive_int
from kifu.kit.timeutil import rfc3339, utc_now
from kifu.notify import service, store
from kifu.notify.delivery import deliver_now
from kifu.notify.schemas import (
    AddChannelRequest,
    ChannelOut,
    ChannelsResponse,
    DeletedResponse,
    DisconnectedResponse,
    MessagesResponse,
    NewChannelResponse,
    OutboxMessageOut,
    TelegramConnectResponse,
    TestQueuedResponse,
    WebhookAck,
)

router = APIRouter(prefix="/api/v1", tags=["notifications"])

MAX_UPDATE_BYTES = 1 << 20


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _channel_out(c: store.ChannelRow) -> dict[str, object]:
    return {
        "id": c.id,
        "type": c.channel_type,
        "enabled": c.enabled,
        "verified": c.verified,
        "url": c.config.get("url") if c.channel_type == "webhook" else None,
        "server": c.config.get("server") if c.channel_type == "ntfy" else None,
        "topic": c.config.get("topic") if c.channel_type == "ntfy" else None,
        "created_at": rfc3339(c.created_at) or "",
    }


@router.get("/notifications/channels", response_model=ChannelsResponse)
async def list_channels(request: Request, conn: Conn, user_id: CurrentUser) -> RawJSON:
    """The user's channels (Telegram, webhooks, ntfy topics); always an array. Kept and served
    again until a channel changes."""

    async def compute() -> Computed:
        rows = await service.list_channels(conn, user_id)
        listed = ChannelsResponse(channels=[ChannelOut(**_channel_out(c)) for c in rows])  # type: ignore[arg-type]
        return listed.model_dump_json().encode(), None

    kept = answers.asked(request)
    return RawJSON(
        await kept.serve(conn, user_id, ("channels",), store.change_stamp, utc_now(), compute)
    )


@router.post("/notifications/channels", response_model=NewChannelResponse, status_code=201)
async def add_channel(
    body: AddChannelRequest, request: Request, conn: Conn, user_id: CurrentUser
) -> NewChannelResponse:
    """Add a webhook (``{type: "webhook", url}``; the answer's ``secret`` signs every delivery
    and is shown only now) or an ntfy topic (``{type: "ntfy", url}`` or ``{type: "ntfy",
    topic}``)."""
    new = await service.add_channel(
        conn, _settings(request), user_id, body.type, body.url, body.topic
    )
    return NewChannelResponse(**_channel_out(new.channel), secret=new.secret)  # type: ignore[arg-type]


@router.delete("/notifications/channels/{channel_id}", response_model=DeletedResponse)
async def remove_channel(
    channel_id: uuid.UUID, conn: Conn, user_id: CurrentUser
) -> DeletedResponse:
    """Remove a channel (and its undelivered messages)."""
    await service.remove_channel(conn, user_id, channel_id)
    return DeletedResponse(deleted=True)


def _deliver_soon(background: BackgroundTasks, request: Request, ids: list[uuid.UUID]) -> None:
    background.add_task(deliver_now, request.app.state.pool, _settings(request), ids)


@router.post("/notifications/channels/{channel_id}/test", response_model=TestQueuedResponse)
async def test_channel(
    channel_id: uuid.UUID,
    request: Request,
    background: BackgroundTasks,
    conn: Conn,
    user_id: CurrentUser,
) -> TestQueuedResponse:
    """Queue a test message to the channel (tried right away, then by the delivery job); follow
    it in ``GET /notifications/messages``."""
    oid = await service.test_channel(conn, _settings(request), user_id, channel_id)
    _deliver_soon(background, request, [oid])
    return TestQueuedResponse(queued=True, message_id=oid)


@router.get("/notifications/messages", response_model=MessagesResponse)
async def list_messages(
    conn: Conn,
    user_id: CurrentUser,
    status: Annotated[str | None, Query(description="pending, sending, sent or failed")] = None,
    limit: Annotated[str | None, Query(description="default 20, at most 200")] = None,
    offset: Annotated[str | None, Query(description="default 0")] = None,
) -> MessagesResponse:
    """The user's outgoing messages, newest first, with their delivery state and last error."""
    lim = min(parse_positive_int(limit, "limit", 20), 200)
    off = parse_offset(offset)
    rows, total = await service.list_messages(conn, user_id, status, lim, off)
    return MessagesResponse(
        messages=[
            OutboxMessageOut(
                id=m.id,
                channel_id=m.channel_id,
                channel_type=m.channel_type,
                kind=m.kind,
                title=str(m.payload.get("title", "")),
                status=m.status,
                attempts=m.attempts,
                last_error=m.last_error,
                next_attempt_at=rfc3339(m.next_attempt_at) if m.status == "pending" else None,
                sent_at=rfc3339(m.sent_at),
                created_at=rfc3339(m.created_at) or "",
            )
            for m in rows
        ],
        total=total,
    )


@router.post("/notifications/telegram/connect", response_model=TelegramConnectResponse)
async def connect_telegram(
    request: Request, conn: Conn, user_id: CurrentUser
) -> TelegramConnectResponse:
    """A 6-digit code valid for 5 minutes: send ``/start <code>`` to the bot to link this
    account to the chat."""
    link = await service.connect_telegram(conn, _settings(request), user_id)
    return TelegramConnectResponse(
        code=link.code, expires_in=link.expires_in, message=link.message, bot_url=link.bot_url
    )


@router.delete("/notifications/telegram", response_model=DisconnectedResponse)
async def disconnect_telegram(conn: Conn, user_id: CurrentUser) -> DisconnectedResponse:
    await service.disconnect_telegram(conn, user_id)
    return DisconnectedResponse(disconnected=True)


@router.post("/webhook/telegram", response_model=WebhookAck, tags=["webhooks"])
async def telegram_webhook(
    request: Request,
    background: BackgroundTasks,
    conn: Conn,
    secret: Annotated[str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token")] = None,
) -> WebhookAck:
    """The bot's webhook (Telegram calls it; no bearer token). Refused with 401 unless the
    ``X-Telegram-Bot-Api-Secret-Token`` header equals ``TELEGRAM_WEBHOOK_SECRET`` (set it as
    ``secret_token`` in ``setWebhook``)."""
    settings = _settings(request)
    raw = await request.body()
    update: object = None
    if len(raw) <= MAX_UPDATE_BYTES:
        try:
            update = json.loads(raw) if raw else None
        except ValueError:
            update = None
    replies = await service.telegram_update(conn, settings, secret, update)
    _deliver_soon(background, request, replies)
    return WebhookAck(ok=True)
