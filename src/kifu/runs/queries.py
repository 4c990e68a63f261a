"""The read API of runs for other capabilities (packs anchor a summary on a run)."""

from __future__ import annotations

import uuid

from psycopg import AsyncConnection
from psycopg.rows import dict_row

_COLUMNS = "run_id, user_id, run_type, status, started_at, finished_at, meta"


async def get_run(conn: AsyncConnection, user_id: uuid.UUID, run_id: uuid.UUID) -> dict | None:
    """One of the user's runs as a dict, or None (another user's run is as unknown as none)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {_COLUMNS} FROM runs WHERE run_id = %s AND user_id = %s", (run_id, user_id)
    )
    return await cur.fetchone()


async def latest_completed_run(
    conn: AsyncConnection, user_id: uuid.UUID, run_types: tuple[str, ...]
) -> dict | None:
    """The user's newest completed run of one of ``run_types``."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {_COLUMNS} FROM runs"
        " WHERE user_id = %s AND status = 'completed' AND run_type = ANY(%s)"
        " ORDER BY finished_at DESC NULLS LAST, started_at DESC, run_id DESC LIMIT 1",
        (user_id, list(run_types)),
    )
    return await cur.fetchone()
