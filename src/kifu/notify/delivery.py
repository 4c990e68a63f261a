"""The outbox delivery job: every message leaves exactly once, or stays as failed with why.

A run claims due messages with ``FOR UPDATE SKIP LOCKED`` and marks them ``sending`` under a
lease (``LEASE``), so two workers never hold the same message; each is sent, then marked ``sent``
(fenced on its attempt number, so a worker whose lease ran out cannot overwrite a newer try).
A failure puts it back to ``pending`` with a doubling delay (or the server's Retry-After) until
its last try, after which it is ``failed`` with the reason. A message whose worker died while
sending is taken up again when its lease ends.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from psycopg import AsyncConnection

from kifu.config import Settings
from kifu.kit import crypto
from kifu.kit.timeutil import rfc3339, utc_now
from kifu.notify import channels, rules, store

log = logging.getLogger("kifu.notify.delivery")

LEASE = timedelta(minutes=5)


@dataclass
class DeliveryRun:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def _secret(settings: Settings, item: store.OutboxItem) -> str | None:
    if item.channel_type != "webhook" or not item.secret_enc:
        return None
    try:
        return crypto.decrypt(crypto.load_key(settings.enc_key), item.secret_enc)
    except crypto.CryptoError:
        return None


async def _deliver_one(
    conn: AsyncConnection,
    http: httpx.AsyncClient,
    settings: Settings,
    item: store.OutboxItem,
    run: DeliveryRun,
    now: datetime,
) -> None:
    delivery = channels.Delivery(
        id=str(item.id),
        created_at=rfc3339(item.created_at) or "",
        channel_type=item.channel_type,
        target=item.target,
        message=rules.Message.from_json(item.payload),
        secret=_secret(settings, item),
    )
    try:
        await channels.send(http, settings, delivery)
    except channels.DeliveryFailed as exc:
        last = exc.permanent or item.attempts >= item.max_attempts
        retry_at = (
            None
            if last
            else rules.next_try(
                now, item.attempts, settings.notify_retry_base_seconds, exc.retry_after
            )
        )
        await store.mark_failed(conn, item, exc.message, retry_at)
        if last:
            run.failed += 1
            log.warning("message %s failed for good: %s", item.id, exc.message)
        else:
            run.retrying += 1
        return
    await store.mark_sent(conn, item, max(now, utc_now()))
    run.sent += 1


async def deliver_due(
    conn: AsyncConnection,
    http: httpx.AsyncClient,
    settings: Settings,
    now: datetime | None = None,
    *,
    batch: int = 100,
    max_rounds: int = 20,
    ids: list[uuid.UUID] | None = None,
) -> DeliveryRun:
    """Send every message due at ``now`` (only those of ``ids`` when given; ``conn`` in
    autocommit mode)."""
    run = DeliveryRun()
    for _ in range(max_rounds):
        at = now or utc_now()
        items = await store.claim(conn, at, at + LEASE, batch, ids)
        if not items:
            break
        run.claimed += len(items)
        for item in items:
            await _deliver_one(conn, http, settings, item, run, at)
        if len(items) < batch:
            break
    return run


async def deliver_now(pool: Any, settings: Settings, ids: list[uuid.UUID]) -> None:
    """Try ``ids`` at once (after a request that queued them); whatever fails is left to the
    delivery job's retries. Never raises."""
    if not ids or not settings.notify_deliver_inline:
        return
    try:
        async with pool.connection() as conn, httpx.AsyncClient() as http:
            await deliver_due(conn, http, settings, ids=ids, max_rounds=1)
    except Exception:  # the job will deliver it; a request must not fail for this
        log.exception("inline delivery of %s failed", ids)
