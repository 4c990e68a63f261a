"""The exchange poller on the shared queue.

Every minute ``exchanges.schedule_syncs`` reads the credentials that are due from PostgreSQL
(valid, not tried within ``KIFU_SYNC_INTERVAL_SECONDS``, not in a backoff or ban), so credentials
added or deleted while workers run are picked up on the next tick, and defers one
``exchanges.sync_credential`` job per credential with a queueing lock per credential (at most
one waiting). The job takes the credential's advisory lock (``sync.sync_if_due``), so an
HTTP "sync now" and any number of workers never sync one credential twice at once, and checks
under that lock that the credential is still due: the queueing lock only covers a *waiting* job,
so a tick that ran after a job started but before it marked its attempt queues a second job,
which must not sync the credential again within the interval. Failures are
recorded in ``exchange_sync_status`` with an exponential backoff; the job itself does not retry.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import psycopg
from procrastinate import JobContext
from procrastinate.exceptions import AlreadyEnqueued

from kifu.config import get_settings
from kifu.exchanges import store
from kifu.exchanges.sync import sync_if_due
from kifu.kit.errors import DomainError
from kifu.runtime import with_secrets
from kifu.worker.queue import job_connection, queue

log = logging.getLogger("kifu.exchanges.tasks")

SCHEDULE = "exchanges.schedule_syncs"
SYNC = "exchanges.sync_credential"
MAX_PER_TICK = 500


@queue.task(name=SYNC, pass_context=True)
async def sync_credential_job(context: JobContext, credential_id: str) -> None:
    """Sync one credential if it still exists, is valid and is still due (checked under the
    credential's lock: a job queued by a tick that raced an attempt does not sync it again)."""
    settings = with_secrets(get_settings())
    interval = timedelta(seconds=settings.sync_interval_seconds)
    async with await job_connection(context) as conn:
        cred = await store.get_credential(conn, uuid.UUID(credential_id))
        if cred is None or not cred.is_valid:
            return
        try:
            result = await sync_if_due(conn, settings, cred, interval)
        except DomainError as exc:  # recorded in the run and the sync status already
            log.info("poller sync of %s: %s", credential_id, exc.code)
            return
    if result is None:
        log.info("poller sync of %s: skipped, synced since it was queued", credential_id)
        return
    log.info(
        "poller sync of %s: %d fills, %d new events",
        credential_id,
        result["fills_fetched"],
        result["events_inserted"],
    )


async def schedule_due(conn: psycopg.AsyncConnection, interval_seconds: int) -> list[uuid.UUID]:
    """Defer a sync job for each due credential; the ids deferred."""
    if interval_seconds <= 0:
        return []
    due = await store.due_credentials(conn, timedelta(seconds=interval_seconds), MAX_PER_TICK)
    deferred = []
    for cid in due:
        try:
            await sync_credential_job.configure(queueing_lock=f"exsync:{cid}").defer_async(
                credential_id=str(cid)
            )
        except AlreadyEnqueued:
            continue
        deferred.append(cid)
    return deferred


@queue.periodic(cron="* * * * *", periodic_id="every_minute")
@queue.task(name=SCHEDULE, pass_context=True, queueing_lock=SCHEDULE)
async def schedule_syncs(context: JobContext, timestamp: int) -> None:
    async with await job_connection(context) as conn:
        deferred = await schedule_due(conn, get_settings().sync_interval_seconds)
    if deferred:
        log.info("exchange poller (tick %s): %d sync(s) deferred", timestamp, len(deferred))
