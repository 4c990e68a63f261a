"""The price-outcome engine: what the price did at a target minute after something happened.

Bubble outcomes (``kifu.journal.outcomes``) and alert outcomes (``kifu.alerts.outcomes``) are the
same job over different tables: claim due work, look up each target's 1-minute close, store
``pnl_percent`` (``kifu.kit.money.pnl_percent``) or retry later. The capability keeps its SQL
(claims, outcomes table) behind ``OutcomeTable``; this module is the loop both run:

* work is grouped by symbol, one candle lookup per symbol and round;
* a reference price that is not positive, or a symbol with no price source, is skipped once;
* a venue's rate limit defers that symbol's work until the cooldown ends; other failures retry
  with a doubling delay (at most ``MAX_BACKOFF``);
* a target whose candle is not there yet is retried right after it closes, or with the backoff
  when it is old (a halted market).

Claims are leases kept by the capability's table (``LEASE``): on several workers each outcome is
computed once, and a crashed worker's claims free up.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from psycopg import AsyncConnection

from kifu.kit import money
from kifu.kit.timeutil import utc_now
from kifu.market.client import MarketData, RateLimited, SymbolUnsupported, UpstreamFailed
from kifu.market.rules import Unsupported

log = logging.getLogger("kifu.market.outcomes")

LEASE = timedelta(minutes=10)
MAX_BACKOFF = timedelta(hours=1)
NOT_CLOSED_DELAY = timedelta(minutes=1)


class Work(Protocol):
    """One claimed outcome: its symbol, reference price, target minute and tries so far."""

    symbol: str
    price: Decimal | None
    target: datetime
    attempts: int


class OutcomeTable(Protocol):
    """A capability's claims and outcomes (its own SQL)."""

    bad_price: str  # why work whose reference price is not positive is skipped

    async def claim(self, conn: AsyncConnection, now: datetime, batch: int) -> list[Any]:
        """Up to ``batch`` due outcomes, each leased until ``now + LEASE``."""
        ...

    async def defer(
        self, conn: AsyncConnection, items: Sequence[tuple[Any, datetime]], error: str
    ) -> None:
        """Release the claims, to be tried again at each item's time."""
        ...

    async def skip(self, conn: AsyncConnection, items: Sequence[Any], reason: str) -> None:
        """Never try these again."""
        ...

    async def store(
        self, conn: AsyncConnection, done: Sequence[tuple[Any, Decimal, Decimal]]
    ) -> None:
        """Keep (work, outcome price, pnl_percent) once each and drop their claims."""
        ...


@dataclass
class OutcomeRun:
    claimed: int = 0
    computed: int = 0
    skipped: int = 0
    deferred: int = 0


def backoff(w: Work, now: datetime) -> datetime:
    """When a failed try is tried again: 1, 2, 4 … minutes after ``now``, at most an hour."""
    return now + min(timedelta(minutes=2 ** min(w.attempts - 1, 10)), MAX_BACKOFF)


async def _defer(
    table: OutcomeTable,
    conn: AsyncConnection,
    items: list[Any],
    until: datetime | None,
    now: datetime,
    error: str,
) -> None:
    await table.defer(conn, [(w, until or backoff(w, now)) for w in items], error[:500])


async def _process(
    table: OutcomeTable,
    conn: AsyncConnection,
    market: MarketData,
    work: list[Any],
    now: datetime,
    run: OutcomeRun,
) -> None:
    by_symbol: dict[str, list[Any]] = defaultdict(list)
    for w in work:
        by_symbol[w.symbol].append(w)
    for symbol, items in sorted(by_symbol.items()):
        bad = [w for w in items if w.price is None or w.price <= 0]
        if bad:
            await table.skip(conn, bad, table.bad_price)
            run.skipped += len(bad)
            items = [w for w in items if w not in bad]
        if not items:
            continue
        try:
            market.source_of(symbol)
        except Unsupported as exc:
            await table.skip(conn, items, f"no price source: {exc}")
            run.skipped += len(items)
            continue
        try:
            closes = await market.minute_closes(conn, symbol, [w.target for w in items])
        except SymbolUnsupported as exc:
            await table.skip(conn, items, exc.message)
            run.skipped += len(items)
            continue
        except RateLimited as exc:
            await _defer(table, conn, items, exc.until, now, exc.message)
            run.deferred += len(items)
            continue
        except UpstreamFailed as exc:
            log.warning("outcomes for %s: %s", symbol, exc.message)
            await _defer(table, conn, items, None, now, exc.message)
            run.deferred += len(items)
            continue
        done, fresh, stale = [], [], []
        for w in items:
            close = closes.get(w.target)
            if close is not None:
                done.append((w, close, money.pnl_percent(w.price, close)))
            elif w.target + NOT_CLOSED_DELAY >= now:
                fresh.append(w)
            else:
                stale.append(w)
        if done:
            await table.store(conn, done)
            run.computed += len(done)
        if fresh:
            await _defer(table, conn, fresh, now + NOT_CLOSED_DELAY, now, "candle not closed yet")
        if stale:
            await _defer(table, conn, stale, None, now, "no candle within 5 minutes of the target")
        run.deferred += len(fresh) + len(stale)


async def compute_due(
    table: OutcomeTable,
    conn: AsyncConnection,
    market: MarketData,
    now: datetime | None = None,
    *,
    batch: int,
    max_rounds: int,
) -> OutcomeRun:
    """Compute every outcome of ``table`` due at ``now`` (up to ``batch × max_rounds`` per call),
    oldest first. ``conn`` must be in autocommit mode. Returns counts for logs and benchmarks."""
    now = now or utc_now()
    run = OutcomeRun()
    for _ in range(max_rounds):
        work = await table.claim(conn, now, batch)
        if not work:
            break
        run.claimed += len(work)
        await _process(table, conn, market, work, now, run)
    return run
