"""The one change tracker: positions and realized PnL catch up from the queue of changed books.

The ``trade_events`` triggers queue in ``ledger_pnl_dirty`` every book (account, venue,
instrument) whose fills were inserted, deleted or changed, from the earliest execution time that
moved, with ``replay`` false when only what positions read moved (a fee) and FIFO did not. Every
writer and every statement run by hand feeds the same queue, so ``catch_up`` is the only place
that decides what to recompute:

* the position of each queued (account, instrument) is recomputed from its fills
  (``kifu.ledger.positions_sql.refresh_positions``), or dropped when it has none left;
* each queued book whose FIFO moved is replayed from its last flat point
  (``kifu.ledger.pnl.replay``).

The writer calls it at the end of every write; readers of positions and packs call it before they
read, so a hand edit shows up there too. It runs under the user's ledger lock, which serialises it
with every writer and with another process doing the same; draining is a ``DELETE … RETURNING``,
so a book is caught up once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from psycopg import AsyncConnection

from kifu.kit import locks
from kifu.ledger import books as positions_sql
from kifu.ledger import pnl, store

_DRAIN_SQL = """
WITH d AS (
    DELETE FROM ledger_pnl_dirty WHERE user_id = %s
    RETURNING account_id, venue_id, instrument_id, since, replay
)
SELECT account_id, venue_id, instrument_id, min(since), bool_or(replay) FROM d GROUP BY 1, 2, 3
"""


@dataclass(frozen=True, slots=True)
class CaughtUp:
    positions: int  # positions written
    replayed: int  # books whose realized PnL was replayed


async def catch_up(conn: AsyncConnection, user_id: uuid.UUID) -> CaughtUp:
    """Bring the user's positions and realized PnL up to date with every queued change; inside a
    transaction holding the ledger lock. Costs one indexed DELETE when nothing changed."""
    cur = await conn.execute(_DRAIN_SQL, (user_id,))
    books = await cur.fetchall()
    if not books:
        return CaughtUp(0, 0)
    positions = await positions_sql.refresh_positions(
        conn, user_id, sorted({(b[0], b[2]) for b in books if b[0] is not None})
    )
    moved = [(b[0], b[1], b[2], b[3]) for b in books if b[4]]
    await pnl.replay(conn, user_id, moved)
    return CaughtUp(positions, len(moved))


async def hold(conn: AsyncConnection, user_id: uuid.UUID) -> CaughtUp:
    """For a reader that needs the user's ledger to stand still (a summary pack): inside the
    caller's transaction, take the ledger lock, so no kifu writer changes the ledger until the
    transaction ends, and catch up what SQL run by hand queued since the last write."""
    await store.lock_ledger(conn, user_id)
    return await catch_up(conn, user_id)


async def catch_up_now(conn: AsyncConnection, user_id: uuid.UUID) -> CaughtUp:
    """``catch_up`` in a transaction of its own, under the user's ledger lock."""
    async with conn.transaction():
        await store.lock_ledger(conn, user_id)
        return await catch_up(conn, user_id)


async def rebuild(conn: AsyncConnection, user_id: uuid.UUID) -> int:
    """Recompute every position of the user from its fills, in a transaction of its own (and
    catch up whatever else is queued). Returns positions written."""
    async with conn.transaction():
        await store.lock_ledger(conn, user_id)
        n = await positions_sql.refresh_positions(conn, user_id)
        await catch_up(conn, user_id)
        return n


async def fresh(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    """Before a read of positions: catch up changes made by hand since the last write (one
    indexed probe when there are none). A writer holding the ledger lock catches up itself when
    it ends, so the read does not wait for it."""
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM ledger_pnl_dirty WHERE user_id = %s)", (user_id,)
    )
    if not (await cur.fetchone())[0]:  # type: ignore[index]
        return
    async with conn.transaction():
        if await locks.try_xact_lock(conn, store.LEDGER_LOCK, user_id):
            await catch_up(conn, user_id)
