"""AI jobs: the accuracy scorer, every minute on the shared queue.

The work is ``scoring.score_opinions`` (one row per (opinion, outcome) by a unique key), so two
workers or an overlapping run never score a pair twice; the queueing lock keeps at most one copy
waiting in the queue. A worker start (also ``kifu worker --burst``) runs it once.
"""

from __future__ import annotations

import logging

from procrastinate import JobContext

from kifu.ai.scoring import score_opinions
from kifu.worker.queue import job_connection, queue, run_at_start

log = logging.getLogger("kifu.ai.tasks")

SCORE_OPINIONS = "ai.score_opinions"


@run_at_start
@queue.periodic(cron="* * * * *", periodic_id="every_minute")
@queue.task(name=SCORE_OPINIONS, pass_context=True, queueing_lock=SCORE_OPINIONS)
async def score_ai_opinions(context: JobContext, timestamp: int) -> None:
    """Score AI opinions against the outcomes that have come in."""
    async with await job_connection(context) as conn:
        run = await score_opinions(conn)
    log.info(
        "ai accuracy (tick %s): %d pairs examined, %d scored, %d cache rows purged",
        timestamp,
        run.examined,
        run.written,
        run.purged,
    )
