"""Journal jobs: the outcome calculator, every minute on the shared queue.

The work itself is ``outcomes.compute_due_outcomes`` (claims in PostgreSQL, ON CONFLICT inserts),
so two workers, or a run that overlaps the next tick, never compute an outcome twice; the
queueing lock keeps at most one copy waiting in the queue.
"""

from __future__ import annotations

import logging

from procrastinate import JobContext

from kifu.config import get_settings
from kifu.journal.outcomes import compute_due_outcomes
from kifu.market import open_market
from kifu.worker.queue import job_connection, queue

log = logging.getLogger("kifu.journal.tasks")

COMPUTE_OUTCOMES = "journal.compute_outcomes"


@queue.periodic(cron="* * * * *", periodic_id="every_minute")
@queue.task(name=COMPUTE_OUTCOMES, pass_context=True, queueing_lock=COMPUTE_OUTCOMES)
async def compute_outcomes(context: JobContext, timestamp: int) -> None:
    """Compute the 1h/4h/1d outcomes that have come due."""
    async with (
        await job_connection(context) as conn,
        open_market(get_settings()) as market,
    ):
        run = await compute_due_outcomes(conn, market, connect=lambda: job_connection(context))
    log.info(
        "outcomes (tick %s): %d claimed, %d computed, %d skipped, %d deferred, %d requests",
        timestamp,
        run.claimed,
        run.computed,
        run.skipped,
        run.deferred,
        market.requests,
    )
