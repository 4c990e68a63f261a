"""The AI gate: allowlist and monthly quota, as one reusable guard for the AI features.

``spend_ai_credit`` checks the allowlist (when ``KIFU_AI_ALLOWLIST_REQUIRED`` is on) and then
takes one credit with a single conditional ``UPDATE``, so concurrent requests can never drive the
count below zero. Call it after the request is validated and before the provider is asked;
``refund_ai_credit`` gives the credit back when the provider call fails. ``AiCredit`` is the same
guard as a FastAPI dependency for routes that spend exactly one credit per request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from psycopg import AsyncConnection

from kifu.accounts import store
from kifu.kit.auth import CurrentUser
from kifu.kit.db import Conn
from kifu.kit.errors import Forbidden, NotFound, TooManyRequests, Unauthorized


@dataclass(frozen=True)
class Credit:
    user_id: uuid.UUID
    remaining: int


async def check_ai_allowed(
    conn: AsyncConnection, user_id: uuid.UUID, *, allowlist_required: bool
) -> None:
    """401 for a user that no longer exists; 403 ``ALLOWLIST_REQUIRED`` when the allowlist is
    on and the user is not on it."""
    cur = await conn.execute("SELECT ai_allowlisted FROM users WHERE id = %s", (user_id,))
    row = await cur.fetchone()
    if row is None:
        raise Unauthorized(message="user not found")
    if allowlist_required and not row[0]:
        raise Forbidden(
            "ALLOWLIST_REQUIRED", "AI features are limited to allowlisted users on this server"
        )


async def spend_ai_credit(
    conn: AsyncConnection, user_id: uuid.UUID, *, allowlist_required: bool
) -> Credit:
    """Allowlist, then one credit: 403 ``ALLOWLIST_REQUIRED``, 404 ``SUBSCRIPTION_NOT_FOUND`` or
    429 ``QUOTA_EXCEEDED``; otherwise the credits left."""
    await check_ai_allowed(conn, user_id, allowlist_required=allowlist_required)
    remaining = await store.spend_credit(conn, user_id)
    if remaining is not None:
        return Credit(user_id, remaining)
    sub = await store.subscription_of(conn, user_id)
    if sub is None:
        raise NotFound("SUBSCRIPTION_NOT_FOUND", "no subscription for this user")
    raise TooManyRequests(
        "QUOTA_EXCEEDED",
        f"monthly AI quota of {sub.ai_quota_limit} is used up; it resets on the 1st (UTC)",
    )


async def refund_ai_credit(conn: AsyncConnection, user_id: uuid.UUID) -> int | None:
    """Give one credit back (never above the limit); the credits left, None without a
    subscription."""
    return await store.refund_credit(conn, user_id)


async def ai_credit(request: Request, conn: Conn, user_id: CurrentUser) -> Credit:
    settings = request.app.state.settings
    return await spend_ai_credit(conn, user_id, allowlist_required=settings.ai_allowlist_required)


AiCredit = Annotated[Credit, Depends(ai_credit)]
