"""Runs: one row per import or sync, ``running`` → ``completed`` | ``failed``, and liveness.

The ``running`` row is written (autocommit) before the work starts so it is visible while the
import runs; completion is written in the import's own transaction (rows and run commit
together); failure is written after the rollback. ``finished_at`` is always set at the end.

A run whose process dies (killed, machine lost) cannot write its own failure. So the connection
that starts a run holds a session advisory lock on the run id until the run ends, and PostgreSQL
releases it when that connection goes away: a ``running`` row whose lock can be taken has no
owner any more, and ``fail_orphans`` marks it ``failed`` (code ``INTERRUPTED``). No clock or
timeout is involved, so a slow import is never mistaken for a dead one.

PostgreSQL drops a session whose client is gone only when it notices, which by default is when it
next talks to the client: a process killed while the server runs one of its statements (a long
insert, a wait for the user's ledger lock) would keep its run ``running`` until that statement
ended. So the owning connection asks the server to check its client every second while a
statement runs (``client_connection_check_interval``) and to probe a silent peer with TCP
keepalives (``store.watch_client``): a killed importer's run is closed within seconds.
"""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import AsyncConnection

from kifu.kit import locks
from kifu.kit.timeutil import rfc3339
from kifu.runs import store

RUN_LOCK = "kifu.run"
INTERRUPTED = {
    "error": "interrupted: the process running it stopped before it finished; nothing it was "
    "writing in its open transaction was kept",
    "code": "INTERRUPTED",
}


async def start(conn: AsyncConnection, user_id: uuid.UUID, run_type: str, meta: dict) -> uuid.UUID:
    """Record a ``running`` run owned by this connection (see the module docstring); runs of the
    user left ``running`` by a process that died are closed first."""
    await fail_orphans(conn, user_id)
    # The lock must not outlive the process: a server still running one of its statements
    # would keep it (and the run ``running``) until that statement ends.
    await store.watch_client(conn)
    run_id = uuid.uuid4()
    # Locked before the row exists, so no sweeper can ever see this run without its owner.
    await locks.lock(conn, RUN_LOCK, run_id)
    try:
        await store.insert_running(conn, run_id, user_id, run_type, meta)
    except BaseException:
        await locks.unlock(conn, RUN_LOCK, run_id)
        raise
    return run_id


async def _finish(conn: AsyncConnection, run_id: uuid.UUID, status: str, meta: dict) -> None:
    await store.finish(conn, run_id, status, meta)
    # Released even inside the import's transaction: a sweeper that takes the lock before that
    # transaction commits waits on the row and then sees its final status.
    await locks.unlock(conn, RUN_LOCK, run_id)


async def complete(conn: AsyncConnection, run_id: uuid.UUID, meta: dict) -> None:
    await _finish(conn, run_id, "completed", meta)


async def fail(conn: AsyncConnection, run_id: uuid.UUID, meta: dict) -> None:
    await _finish(conn, run_id, "failed", meta)


async def fail_orphans(conn: AsyncConnection, user_id: uuid.UUID) -> int:
    """Mark the user's ``running`` runs whose owning connection is gone as ``failed``
    (``INTERRUPTED``, ``finished_at`` set); returns how many. Safe on any number of workers: the
    try-lock is held only by this statement's transaction."""
    return await store.fail_unlocked(conn, user_id, RUN_LOCK, INTERRUPTED)


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
    """The user's runs newest first (index ``idx_runs_user_started_at``); runs left ``running``
    by a process that died are closed first, so none stays ``running`` forever."""
    await fail_orphans(conn, user_id)
    rows, total = await store.page(conn, user_id, run_type=run_type, limit=limit, offset=offset)
    return [_item(r) for r in rows], total
