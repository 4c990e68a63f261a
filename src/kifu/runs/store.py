"""SQL of the ``runs`` table (the one writer of it)."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from kifu.kit import locks

# How often PostgreSQL looks, while a statement of a run's connection executes, whether the
# client is still there (``client_connection_check_interval``, PostgreSQL 14+), and the TCP
# keepalives that find a client whose machine vanished without closing the socket.
CLIENT_CHECK_MS = 1000
KEEPALIVE = {"tcp_keepalives_idle": 15, "tcp_keepalives_interval": 5, "tcp_keepalives_count": 3}


async def watch_client(conn: AsyncConnection) -> None:
    """Make the server end this connection's session soon after its client dies, even while a
    statement runs (by default PostgreSQL notices only when it next writes to the client, after
    the statement, which can take minutes or, waiting on a lock, forever); the session's locks,
    the run's among them, go with it. Session settings: they stay on a pooled connection, where
    stopping the statements of a vanished client is as right. On PostgreSQL 13 only the
    keepalives apply."""
    settings = dict(KEEPALIVE)
    if conn.info.server_version >= 140000:
        settings["client_connection_check_interval"] = CLIENT_CHECK_MS
    calls = ", ".join("set_config(%s, %s, false)" for _ in settings)
    params: list[str] = [v for name, value in settings.items() for v in (name, str(value))]
    await conn.execute(f"SELECT {calls}", params)


async def insert_running(
    conn: AsyncConnection, run_id: uuid.UUID, user_id: uuid.UUID, run_type: str, meta: dict
) -> None:
    await conn.execute(
        "INSERT INTO runs (run_id, user_id, run_type, status, meta)"
        " VALUES (%s, %s, %s, 'running', %s)",
        (run_id, user_id, run_type, Jsonb({"run_type": run_type, **meta})),
    )


async def finish(conn: AsyncConnection, run_id: uuid.UUID, status: str, meta: dict) -> None:
    await conn.execute(
        "UPDATE runs SET status = %s, finished_at = now(),"
        " meta = coalesce(meta, '{}'::jsonb) || %s WHERE run_id = %s",
        (status, Jsonb({"run_id": str(run_id), **meta}), run_id),
    )


async def fail_unlocked(
    conn: AsyncConnection, user_id: uuid.UUID, lock_namespace: str, meta: dict
) -> int:
    """Mark the user's ``running`` runs whose lock (``lock_namespace``:run id) nobody holds as
    ``failed``; the try-lock lasts only as long as this statement's transaction."""
    cur = await conn.execute(
        "UPDATE runs SET status = 'failed', finished_at = now(),"
        " meta = coalesce(meta, '{}'::jsonb) || %s"
        " WHERE user_id = %s AND status = 'running'"
        f" AND pg_try_advisory_xact_lock({locks.key_sql(lock_namespace, 'run_id::text')})",
        (Jsonb(meta), user_id),
    )
    return cur.rowcount


async def page(
    conn: AsyncConnection, user_id: uuid.UUID, *, run_type: str | None, limit: int, offset: int
) -> tuple[list[tuple[Any, ...]], int]:
    """The user's runs newest first (index ``idx_runs_user_started_at``) and their count."""
    where = "user_id = %(user)s" + (" AND run_type = %(type)s" if run_type else "")
    params = {"user": user_id, "type": run_type, "limit": limit, "offset": offset}
    cur = await conn.execute(
        f"SELECT run_id, run_type, status, started_at, finished_at, meta FROM runs WHERE {where}"
        " ORDER BY started_at DESC, run_id DESC LIMIT %(limit)s OFFSET %(offset)s",
        params,
    )
    rows = await cur.fetchall()
    cur = await conn.execute(f"SELECT count(*) FROM runs WHERE {where}", params)
    total = (await cur.fetchone())[0]  # type: ignore[index]
    return rows, total
