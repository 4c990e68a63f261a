"""The journal's read API for other capabilities (bubbles and their outcomes, read-only)."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import AsyncConnection

from kifu.journal import store


async def bubble_of(
    conn: AsyncConnection, user_id: uuid.UUID, bubble_id: uuid.UUID
) -> dict[str, Any] | None:
    """The user's bubble (id, symbol, timeframe, candle_time, price, memo, tags, labels), or None
    when it does not exist or belongs to someone else."""
    return await store.get_bubble(conn, user_id, bubble_id)


async def outcomes_of(conn: AsyncConnection, bubble_id: uuid.UUID) -> dict[str, dict[str, Any]]:
    """The bubble's outcomes by period (``1h``/``4h``/``1d``) that have been computed."""
    return await store.outcomes_of(conn, bubble_id)
