"""Accounts' background jobs: the monthly AI quota reset and the login counter purge.

Both are periodic (hourly) and idempotent: the SQL itself decides what still needs doing, so a
second run, or a run on two workers at once, changes nothing more. Hourly rather than the
reference's daily 00:05 so that a month boundary is picked up within the hour even after an
outage; a worker start also runs the reset once (``run_at_start``).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from procrastinate import JobContext, RetryStrategy

from kifu.accounts import ratelimit, service
from kifu.config import get_settings
from kifu.kit.timeutil import utc_now
from kifu.worker.queue import job_connection, queue, run_at_start

log = logging.getLogger("kifu.accounts.tasks")

RESET_QUOTAS = "accounts.reset_ai_quotas"
PURGE_LOGIN_ATTEMPTS = "accounts.purge_login_attempts"


@run_at_start
@queue.periodic(cron="5 * * * *", periodic_id="hourly")
@queue.task(
    name=RESET_QUOTAS,
    pass_context=True,
    queueing_lock=RESET_QUOTAS,
    retry=RetryStrategy(max_attempts=5, wait=60),
)
async def reset_ai_quotas(context: JobContext, timestamp: int) -> None:
    """Downgrade expired subscriptions to free; reset quotas whose UTC month has passed."""
    async with await job_connection(context) as conn:
        result = await service.reset_quotas(conn)
    log.info(
        "quota reset (tick %s): %d downgraded, %d reset",
        timestamp,
        result.downgraded,
        result.reset,
    )


@queue.periodic(cron="17 * * * *", periodic_id="hourly")
@queue.task(name=PURGE_LOGIN_ATTEMPTS, pass_context=True, queueing_lock=PURGE_LOGIN_ATTEMPTS)
async def purge_login_attempts(context: JobContext, timestamp: int) -> None:
    """Delete login rate-limit counters of windows that have ended."""
    window = timedelta(seconds=get_settings().login_window_seconds)
    async with await job_connection(context) as conn:
        purged = await ratelimit.purge_expired(conn, window, utc_now())
    log.info("login counters purged (tick %s): %d rows", timestamp, purged)
