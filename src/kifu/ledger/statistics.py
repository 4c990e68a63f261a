"""trade_events' planner statistics, kept fresh by a long series of ledger writes.

Every write checks its batch against all the user's stored events (the dedupe probes). The
planner sizes that side from trade_events' statistics; while a first sync fills a young table
faster than autovacuum re-analyzes it, it believes the user has a few hundred events and hashes
every stored event of the user for every batch (batch 60 of the 100k-fill bench read 54,000
events twice for 999 staged fills): a quadratic sync. So a writer of many batches refreshes them
itself when it has written more events than the table held at its last analyze (at most about
log2(n) times in a big sync, never in an incremental one).
"""

from __future__ import annotations

from psycopg import AsyncConnection, errors

MIN_ROWS = 5_000


class Freshness:
    """Counts the events written since trade_events was last analyzed, and analyzes it again
    once they outnumber what it held then (and ``MIN_ROWS``)."""

    def __init__(self, rows_at_analyze: float) -> None:
        self.rows_at_analyze = rows_at_analyze
        self.unanalyzed = 0

    @classmethod
    async def of(cls, conn: AsyncConnection) -> Freshness:
        return cls(await reltuples(conn))

    async def wrote(self, conn: AsyncConnection, events: int) -> None:
        self.unanalyzed += events
        if self.unanalyzed >= max(MIN_ROWS, self.rows_at_analyze):
            self.rows_at_analyze, self.unanalyzed = await analyze(conn), 0


async def reltuples(conn: AsyncConnection) -> float:
    """trade_events' row count as its statistics estimate it."""
    cur = await conn.execute("SELECT reltuples FROM pg_class WHERE oid = 'trade_events'::regclass")
    return max(0.0, float((await cur.fetchone())[0]))  # type: ignore[index]


async def analyze(conn: AsyncConnection) -> float:
    """Refresh trade_events' statistics unless another ANALYZE (or a vacuum) holds the table;
    its estimated row count afterwards."""
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL lock_timeout = '200ms'")
            await conn.execute("ANALYZE trade_events")
    except errors.LockNotAvailable:
        pass
    return await reltuples(conn)
