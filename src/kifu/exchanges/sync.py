"""The sync engine: one credential, one run, batches written as they arrive.

``sync_credential`` takes a session advisory lock for the credential (so an HTTP sync and the
poller, on any number of processes, never sync it twice at once), records an ``exchange_sync``
run, asks the venue for batches and writes each with its cursors in one transaction
(``flows.write_batch``). A failure keeps every finished batch, marks the run ``failed`` with the
error and the counts so far, and leaves the cursors where the last finished batch put them, so
the next sync continues there: no gap (cursors never pass unwritten fills) and no duplicate
(the ledger's keys and the trades unique index). Positions and realized PnL catch up once, at
the end, with every book the writes changed (the ledger's change tracker queued them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from psycopg import AsyncConnection

from kifu import runs
from kifu.accounts import service as accounts
from kifu.config import Settings
from kifu.exchanges import flows, store
from kifu.exchanges.rules import next_attempt
from kifu.ingest.venues import open_venue
from kifu.ingest.venues.base import (
    AuthRejected,
    Banned,
    Batch,
    Credentials,
    Cursor,
    PermissionMissing,
    RateLimited,
    SyncPlan,
    VenueError,
    VenueUrls,
)
from kifu.kit import crypto, locks
from kifu.kit.errors import BadGateway, BadRequest, Conflict, KifuError, TooManyRequests
from kifu.kit.timeutil import rfc3339, utc_now
from kifu.ledger import queries as ledger
from kifu.ledger import statistics, tracker

log = logging.getLogger("kifu.exchanges.sync")
T = TypeVar("T")

RUN_TYPE = "exchange_sync"
SYNC_LOCK = "kifu.exsync"  # per credential, held for a whole sync
WRITE_ROWS = 20000  # fills and income rows per write (one transaction)
FIRST_WRITE_ROWS = 5000  # the first write; each next one twice the last, up to WRITE_ROWS
# Venue pages fetched ahead of the writes: one write's worth of full Binance pages (1,000 rows),
# so the next write's pages are fetched while the one before is written.
PREFETCH_PAGES = WRITE_ROWS // 1000 + 1
STAGE_SLICE = 100  # fills staged between two turns of the event loop


def venue_urls(settings: Settings) -> VenueUrls:
    return VenueUrls(
        binance_spot=settings.binance_spot_url,
        binance_futures=settings.binance_futures_url,
        upbit=settings.upbit_url,
        retry_base=settings.exchange_retry_base_seconds,
        max_wait=settings.exchange_max_wait_seconds,
        timeout=settings.exchange_timeout_seconds,
    )


def decrypt_credentials(settings: Settings, cred: store.CredentialRow) -> Credentials:
    key = crypto.load_key(settings.enc_key)
    return Credentials(
        crypto.decrypt(key, cred.api_key_enc), crypto.decrypt(key, cred.api_secret_enc)
    )


@dataclass
class Counts:
    fills_fetched: int = 0
    income_fetched: int = 0
    events_inserted: int = 0
    fee_events_inserted: int = 0
    trades_inserted: int = 0
    batches: int = 0


def _notes(plan: SyncPlan) -> dict[str, Any]:
    return {k: rfc3339(v) if isinstance(v, datetime) else v for k, v in plan.notes.items()}


def _http_error(exc: VenueError, run_id: uuid.UUID) -> KifuError:
    extra = {"run_id": str(run_id)}
    if isinstance(exc, AuthRejected | PermissionMissing):
        return BadRequest("EXCHANGE_PERMISSION_DENIED", exc.message, extra=extra)
    if isinstance(exc, RateLimited | Banned):
        wait = int(exc.retry_after or 1)
        return TooManyRequests(
            "RATE_LIMITED",
            exc.message,
            headers={"Retry-After": str(max(1, wait))},
            extra={**extra, "retry_after": wait},
        )
    return BadGateway("EXCHANGE_SYNC_FAILED", exc.message, extra=extra)


async def sync_credential(
    conn: AsyncConnection,
    settings: Settings,
    cred: store.CredentialRow,
    *,
    full_backfill: bool = False,
    history_days: int | None = None,
    trigger: str = "api",
) -> dict[str, Any]:
    """Sync one credential; the response body of ``POST /exchanges/:id/sync``."""
    if not cred.is_valid:
        raise BadRequest(
            "INVALID_EXCHANGE",
            "this connection was marked invalid after the exchange rejected its key; register"
            " the key again (POST /exchanges)",
        )
    if not await locks.try_lock(conn, SYNC_LOCK, cred.id):
        raise Conflict("SYNC_IN_PROGRESS", "a sync of this connection is already running")
    try:
        return await _sync_locked(conn, settings, cred, full_backfill, history_days, trigger)
    finally:
        await locks.unlock(conn, SYNC_LOCK, cred.id)


async def sync_if_due(
    conn: AsyncConnection, settings: Settings, cred: store.CredentialRow, interval: timedelta
) -> dict[str, Any] | None:
    """The poller's sync: like ``sync_credential`` (``SYNC_IN_PROGRESS`` while another runs),
    but ``None`` without syncing when the credential is no longer due once its lock is held.

    A job is queued because the credential was due at the tick; by the time it runs, another
    job queued by an earlier tick (before the first one had marked its attempt), an HTTP "sync
    now" or a backoff may have made that stale. Checking under the lock, where every sync marks
    its attempt, keeps it to one sync per credential per interval whatever the job timing.
    """
    if not await locks.try_lock(conn, SYNC_LOCK, cred.id):
        raise Conflict("SYNC_IN_PROGRESS", "a sync of this connection is already running")
    try:
        if not await store.is_due(conn, cred.id, interval):
            return None
        return await _sync_locked(conn, settings, cred, False, None, "poller")
    finally:
        await locks.unlock(conn, SYNC_LOCK, cred.id)


async def _sync_locked(
    conn: AsyncConnection,
    settings: Settings,
    cred: store.CredentialRow,
    full_backfill: bool,
    history_days: int | None,
    trigger: str,
) -> dict[str, Any]:
    user, exchange = cred.user_id, cred.exchange
    before = await ledger.exchange_trade_count(conn, user, exchange)
    run_id = await runs.start(
        conn,
        user,
        RUN_TYPE,
        {
            "exchange": exchange,
            "started_by": str(cred.id),
            "trigger": trigger,
            "before_count": before,
            "full_backfill_requested": full_backfill,
            "history_days_requested": history_days,
        },
    )
    await store.mark_attempt(conn, cred, run_id)
    counts = Counts()
    db = asyncio.Lock()  # the connection: the writes, and the venue's reads between them
    tfs = await accounts.symbol_timeframes(conn, user)  # the watch-list, and its timeframes
    plan = SyncPlan(
        now=utc_now(),
        cursors=await store.cursors(conn, user, exchange),
        known_symbols=await ledger.traded_symbols(conn, user, exchange) | set(tfs),
        full_backfill=full_backfill,
        history_days=history_days,
        known_orders=lambda since: _locked(
            db, lambda: ledger.stored_orders(conn, user, exchange, since)
        ),
    )
    server_seconds = 0.0
    stats = await statistics.Freshness.of(conn)
    pending = _Page()

    async def write_pending() -> None:
        # Venue pages are merged into writes of up to WRITE_ROWS rows: each write is one
        # transaction with a fixed cost (the ledger's statements and triggers), so fewer, larger
        # writes make a long sync cost about what importing the same fills costs. The first
        # writes are smaller (FIRST_WRITE_ROWS, then doubling), so the database starts early
        # while the next pages are fetched.
        nonlocal pending
        if not (pending.fills or pending.incomes or pending.cursors):
            return
        batch, pending = pending, _Page()
        async with db:
            r = await flows.write_batch(
                conn, user, exchange, batch.fills, batch.incomes, batch.cursors, tfs
            )
            await stats.wrote(conn, r.events_inserted)
        counts.batches += 1
        counts.fills_fetched += r.fills
        counts.income_fetched += r.incomes
        counts.events_inserted += r.events_inserted
        counts.fee_events_inserted += r.fee_events_inserted
        counts.trades_inserted += r.trades_inserted

    try:
        creds = decrypt_credentials(settings, cred)
        async with open_venue(exchange, creds, venue_urls(settings)) as venue:
            # The venue is paged by a task of its own while the pages before are written, so
            # the sync waits for the exchange (and parses its pages) only where a write does
            # not; the queue holds about one write's pages (``PREFETCH_PAGES``).
            pages: asyncio.Queue[_Page | Exception | None] = asyncio.Queue(PREFETCH_PAGES)
            fetcher = asyncio.create_task(_fetch(venue.sync(plan), pages))
            try:
                while (page := await pages.get()) is not None:
                    if isinstance(page, Exception):
                        await write_pending()  # keep every page fetched before the failure
                        raise page
                    pending.fills += page.fills
                    pending.incomes += page.incomes
                    pending.cursors.update(page.cursors)
                    limit = min(WRITE_ROWS, FIRST_WRITE_ROWS << counts.batches)
                    if len(pending.fills) + len(pending.incomes) >= limit:
                        await write_pending()
                await write_pending()
            finally:
                if not fetcher.done():
                    fetcher.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await fetcher
                server_seconds = venue.server_seconds
    except Exception as exc:
        await _failed(conn, settings, cred, run_id, before, counts, plan, exc)
        if isinstance(exc, VenueError):
            raise _http_error(exc, run_id) from exc
        if isinstance(exc, crypto.CryptoError):
            raise BadGateway(
                "EXCHANGE_SYNC_FAILED",
                "the stored key cannot be decrypted with the configured KIFU_ENC_KEY",
                extra={"run_id": str(run_id)},
            ) from exc
        raise
    refreshed = await _refresh_positions(conn, user, counts)
    after = await ledger.exchange_trade_count(conn, user, exchange)
    notes = _notes(plan)
    result = {
        "before_count": before,
        "after_count": after,
        "inserted_count": max(0, after - before),
        **asdict(counts),
        "positions_refreshed": refreshed,
        "server_seconds": round(server_seconds, 6),
        **notes,
    }
    await runs.complete(conn, run_id, {"exchange": exchange, **result, "http_status": 200})
    await store.mark_success(conn, cred.id, plan.notes.get("income_history_from"))
    return {
        "success": True,
        "message": "sync completed",
        "exchange": exchange,
        "run_id": str(run_id),
        **result,
    }


@dataclass
class _Page:
    """Venue pages as the ledger's writer takes them (``flows.Entry``), with their cursors."""

    fills: list[flows.Entry] = field(default_factory=list)
    incomes: list[flows.Entry] = field(default_factory=list)
    cursors: dict[str, Cursor] = field(default_factory=dict)


async def _fetch(
    batches: AsyncIterator[Batch], pages: asyncio.Queue[_Page | Exception | None]
) -> None:
    """Put the venue's batches on ``pages``, staged for the ledger (rows numbered in the order
    fetched), then ``None``, or the venue's error."""
    row = 1
    try:
        async for b in batches:
            page = _Page(cursors=b.cursors)
            # in slices, handing the loop back between them: a write waiting for its
            # statement's answer resumes within a slice, not after a whole page
            for i in range(0, len(b.fills), STAGE_SLICE):
                page.fills += flows.fill_entries(b.fills[i : i + STAGE_SLICE], row)
                row += len(b.fills[i : i + STAGE_SLICE])
                await asyncio.sleep(0)
            page.incomes = flows.income_entries(b.incomes, row)
            row += len(b.incomes)
            await pages.put(page)
    except Exception as exc:
        await pages.put(exc)
    else:
        await pages.put(None)


async def _locked(lock: asyncio.Lock, read: Callable[[], Awaitable[T]]) -> T:
    async with lock:
        return await read()


async def _refresh_positions(conn: AsyncConnection, user: uuid.UUID, counts: Counts) -> bool:
    """Catch positions and realized PnL up with every book the sync's writes changed (the
    ledger's change tracker queued them); whether any fill changed a position."""
    await tracker.catch_up_now(conn, user)
    return counts.events_inserted - counts.fee_events_inserted > 0


async def _failed(
    conn: AsyncConnection,
    settings: Settings,
    cred: store.CredentialRow,
    run_id: uuid.UUID,
    before: int,
    counts: Counts,
    plan: SyncPlan,
    exc: BaseException,
) -> None:
    """Record the failure: run ``failed`` with what was kept, backoff state, positions."""
    if isinstance(exc, VenueError):
        message, code = exc.message, exc.code
        status = _http_error(exc, run_id).status_code
    elif isinstance(exc, crypto.CryptoError):
        message, code, status = "stored key cannot be decrypted", "EXCHANGE_SYNC_FAILED", 502
    else:
        message, code, status = f"internal error ({type(exc).__name__})", "INTERNAL_ERROR", 500
        log.error("sync of credential %s failed: %s", cred.id, type(exc).__name__)
    try:
        refreshed = await _refresh_positions(conn, cred.user_id, counts)
        after = await ledger.exchange_trade_count(conn, cred.user_id, cred.exchange)
        await runs.fail(
            conn,
            run_id,
            {
                "exchange": cred.exchange,
                "error": message,
                "code": code,
                "http_status": status,
                "before_count": before,
                "after_count": after,
                "inserted_count": max(0, after - before),
                **asdict(counts),
                "positions_refreshed": refreshed,
                "kept": "every batch written before the failure; the next sync resumes there",
                **_notes(plan),
            },
        )
        n = await store.failures(conn, cred.id) + 1
        interval = timedelta(seconds=settings.sync_interval_seconds)
        retry_after = exc.retry_after if isinstance(exc, VenueError) else None
        await store.mark_failure(
            conn,
            cred.id,
            failures=n,
            next_attempt_at=next_attempt(utc_now(), n, interval, retry_after),
            error=message,
            code=code,
        )
        if isinstance(exc, AuthRejected):
            await store.set_valid(conn, cred.id, False)
    except Exception:  # the connection may be gone; the original error is what matters
        log.exception("could not record the failed sync run %s", run_id)
