"""Notify jobs: the outbox delivery, every 30 seconds on the shared queue.

The work is ``delivery.deliver_due``: rows are claimed with SKIP LOCKED under a lease, so any
number of workers (and a run overlapping the next tick) send each message once.
"""

from __future__ import annotations

import logging

import httpx
from procrastinate import JobContext

from kifu.config import get_settings
from kifu.notify.delivery import deliver_due
from kifu.runtime import with_secrets
from kifu.worker.queue import job_connection, queue

log = logging.getLogger("kifu.notify.tasks")

DELIVER = "notify.deliver_outbox"


@queue.periodic(cron="* * * * * */30", periodic_id="every_30_seconds")
@queue.task(name=DELIVER, pass_context=True, queueing_lock=DELIVER)
async def deliver_outbox(context: JobContext, timestamp: int) -> None:
    """Send the outbox messages that are due."""
    settings = with_secrets(get_settings())
    async with await job_connection(context) as conn, httpx.AsyncClient() as http:
        run = await deliver_due(conn, http, settings)
    if run.claimed:
        log.info(
            "outbox (tick %s): %d claimed, %d sent, %d to retry, %d failed",
            timestamp,
            run.claimed,
            run.sent,
            run.retrying,
            run.failed,
        )
