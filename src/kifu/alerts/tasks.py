"""Alert jobs on the shared queue: the monitor (every 30 s) and the outcome job (every minute).

Both are safe on any number of workers: the monitor decides each rule under its row lock
(``monitor.py``) and leases pending alerts before briefing them (``flows.py``); the outcome job
claims its work in ``alert_outcome_attempts``. The queueing locks keep at most one copy of each
waiting in the queue.
"""

from __future__ import annotations

import logging

import httpx
from procrastinate import JobContext

from kifu.alerts import briefing, flows
from kifu.alerts.outcomes import compute_due_outcomes
from kifu.config import get_settings
from kifu.market import MemoryCache, open_market
from kifu.notify.delivery import deliver_due
from kifu.runtime import with_secrets
from kifu.worker.queue import job_connection, queue

log = logging.getLogger("kifu.alerts.tasks")

MONITOR = "alerts.monitor"
OUTCOMES = "alerts.compute_outcomes"

# The briefing step of the monitor (see flows.py): the AI providers of ``kifu.ai``.
BRIEFER: flows.Briefer = briefing.brief

# Kept across ticks in this worker only as a cache: which USDT pairs futures does not list (so a
# spot-only pair costs one ticker request per tick, not two). Candle answers live 5 s, less than
# a tick, so every tick sees fresh forming candles.
_MEMORY = MemoryCache(max_entries=4096, ttl=5.0)


@queue.periodic(cron="* * * * * */30", periodic_id="every_30_seconds")
@queue.task(name=MONITOR, pass_context=True, queueing_lock=MONITOR)
async def monitor(context: JobContext, timestamp: int) -> None:
    """Evaluate the enabled alert rules; brief and notify what fired; expire old alerts."""
    settings = with_secrets(get_settings())
    async with await job_connection(context) as conn, open_market(settings, _MEMORY) as market:
        run = await flows.monitor_tick(conn, market, settings, briefer=BRIEFER)
        if run.queued:  # send what fired now rather than at the delivery job's next tick
            async with httpx.AsyncClient() as http:
                await deliver_due(conn, http, settings, ids=run.queued)
    if run.rules:
        log.info(
            "alert monitor (tick %s): %d rules, %d symbols (%d skipped), %d fired, %d expired",
            timestamp,
            run.rules,
            run.symbols,
            run.skipped_symbols,
            len(run.triggered),
            run.expired,
        )


@queue.periodic(cron="* * * * *", periodic_id="every_minute")
@queue.task(name=OUTCOMES, pass_context=True, queueing_lock=OUTCOMES)
async def compute_outcomes(context: JobContext, timestamp: int) -> None:
    """Compute the 1h/4h/1d outcomes of decided alerts that have come due."""
    async with await job_connection(context) as conn, open_market(get_settings()) as market:
        run = await compute_due_outcomes(conn, market, connect=lambda: job_connection(context))
    if run.claimed:
        log.info(
            "alert outcomes (tick %s): %d claimed, %d computed, %d skipped, %d deferred",
            timestamp,
            run.claimed,
            run.computed,
            run.skipped,
            run.deferred,
        )
