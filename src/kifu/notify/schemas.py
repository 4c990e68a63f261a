"""Request and response models of the notifications API (reference §2.11 field names)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kifu.kit.fields import Timestamp


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChannelOut(BaseModel):
    """A channel; ``type``, ``enabled`` and ``verified`` are what the KIFU client reads."""

    id: uuid.UUID
    type: str
    enabled: bool
    verified: bool
    url: str | None = Field(default=None, description="webhook URL")
    server: str | None = Field(default=None, description="ntfy server")
    topic: str | None = Field(default=None, description="ntfy topic")
    created_at: Timestamp


class ChannelsResponse(BaseModel):
    channels: list[ChannelOut]


class AddChannelRequest(Body):
    type: Literal["webhook", "ntfy"]
    url: str | None = Field(
        default=None,
        max_length=2000,
        description="webhook: the URL to POST to; ntfy: a topic URL (https://ntfy.sh/my-topic)",
    )
    topic: str | None = Field(
        default=None, max_length=64, description="ntfy: a topic on the configured ntfy server"
    )


class NewChannelResponse(ChannelOut):
    secret: str | None = Field(
        default=None,
        description="webhook only, shown once: deliveries carry X-Kifu-Signature: "
        "sha256=<hex HMAC-SHA256 of the raw body under this secret>",
    )


class DeletedResponse(BaseModel):
    deleted: bool


class TestQueuedResponse(BaseModel):
    queued: bool
    message_id: uuid.UUID


class TelegramConnectResponse(BaseModel):
    code: str
    expires_in: int
    message: str
    bot_url: str | None = None


class DisconnectedResponse(BaseModel):
    disconnected: bool


class WebhookAck(BaseModel):
    ok: bool


class OutboxMessageOut(BaseModel):
    id: uuid.UUID
    channel_id: uuid.UUID | None
    channel_type: str
    kind: str
    title: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: Timestamp | None
    sent_at: Timestamp | None
    created_at: Timestamp


class MessagesResponse(BaseModel):
    messages: list[OutboxMessageOut]
    total: int
