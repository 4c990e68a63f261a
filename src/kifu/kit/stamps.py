"""Reading a user's change stamps (migrations 130-134), the probe of a kept answer
(``kit.answers``).

A stamp is a number per user and owner that the owner's triggers move in every transaction that
changes what its kept answers are computed from. Each capability writes the probe of its
answers in its own store, as SQL naming the stamps it reads (so the table owners' contract sees
them), and runs it here: one row of scalar subqueries, ``%(u)s`` the user; a stamp is None
before the user's first change."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import AsyncConnection


async def read(conn: AsyncConnection, sql: str, user_id: uuid.UUID) -> Any:
    """The stamp ``sql`` selects for ``user_id``, or the tuple of them when it selects
    several: one round trip."""
    cur = await conn.execute(sql, {"u": user_id})
    row = await cur.fetchone()
    assert row is not None, "a probe selects one row of scalar subqueries"
    return row[0] if len(row) == 1 else tuple(row)
