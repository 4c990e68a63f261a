"""Runs: one row per import or sync, ``running`` → ``completed`` | ``failed``.

The ``running`` row is written (autocommit) before the work starts so it is visible while the
import runs; completion is written in the import's own transaction (rows and run commit
together); failure is written after the rollback. ``finished_at`` is always set at the end.
"""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from kifu.kit.timeutil import rfc3339


async def start(conn: AsyncConnection, user_id: uuid.UUID, run_type: str, meta: dict) -> uuid.UUID:
    cur = await conn.execute(
        "INSERT INTO runs (user_id, run_type, status, meta) VALUES (%s, %s, 'running', %s)"
        " RETURNING run_id",
        (user_id, run_type, Jsonb({"run_type": run_type, **meta})),
    )
    row = await cur.fetchone()
    assert row is not None
    return row[0]


async def complete(conn: AsyncConnection, run_id: uuid.UUID, meta: dict) -> None:
    await conn.execute(
        "UPDATE runs SET status = 'completed', finished_at = now(),"
        " meta = coalesce(meta, '{}'::jsonb) || %s WHERE run_id = %s",
        (Jsonb({"run_id": str(run_id), **meta}), run_id),
    )


async def fail(conn: AsyncConnection, run_id: uuid.UUID, meta: dict) -> None:
    await conn.execute(
        "UPDATE runs SET status = 'failed', finished_at = now(),"
        " meta = coalesce(meta, '{}'::jsonb) || %s WHERE run_id = %s",
        (Jsonb({"run_id": str(run_id), **meta}), run_id),
    )


def _item(row: tuple[Any, ...]) -> dict[str, Any]:
    run_id, run_type, status, started_at, finished_at, meta = row
    return {
        "run_id": str(run_id),
        "run_type": run_type,
        "status": status,
        "started_at": rfc3339(started_at),
        "finished_at": rfc3339(finished_at),
        "meta": meta or {},
    }


async def list_runs(
    conn: AsyncConnection, user_id: uuid.UUID, *, run_type: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """The user's runs newest first (index ``idx_runs_user_started_at``)."""
    where = "user_id = %(user)s" + (" AND run_type = %(type)s" if run_type else "")
    params = {"user": user_id, "type": run_type, "limit": limit, "offset": offset}
    cur = await conn.execute(
        f"SELECT run_id, run_type, status, started_at, finished_at, meta FROM runs WHERE {where}"
        " ORDER BY started_at DESC, run_id DESC LIMIT %(limit)s OFFSET %(offset)s",
        params,
    )
    items = [_item(r) for r in await cur.fetchall()]
    cur = await conn.execute(f"SELECT count(*) FROM runs WHERE {where}", params)
    total = (await cur.fetchone())[0]  # type: ignore[index]
    return items, total
