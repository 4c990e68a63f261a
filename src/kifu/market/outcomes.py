"""The price-outcome engine: what the price did at a target minute after something happened.

Bubble outcomes (``kifu.journal.outcomes``) and alert outcomes (``kifu.alerts.outcomes``) are the
same job over different tables: claim due work, look up each target's 1-minute close, store
``pnl_percent`` (``kifu.kit.money.pnl_percent``) or retry later. The capability keeps its SQL
(claims, outcomes table) behind ``OutcomeTable``; this module is the loop both run:

* work is grouped by symbol, one candle lookup per symbol and round, the symbols looked up at
  once; the outcomes found in a round are stored in one statement;
* a reference price that is not positive, or a symbol with no price source, is skipped once;
* a venue's rate limit defers that symbol's work until the cooldown ends; other failures retry
  with a doubling delay (at most ``MAX_BACKOFF``);
* a target whose candle is not there yet is retried right after it closes, or with the backoff
  when it is old (a halted market).

Claims are leases kept by the capability's table (``LEASE``): on several workers each outcome is
computed once, and a crashed worker's claims free up. Each statement of the table and of the
candle cache stands alone (no transaction spans two), so the work of a run overlaps:

* a round is claimed while the one before it is priced, and its outcomes are stored while the
  next one is priced (one store at a time, in order);
* the symbols of a round are priced at once, on connections of their own when the caller gives
  ``connect`` (``_Pricing``): the candle cache's statements of several symbols then run in
  several backends rather than one after the other on the job's connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from psycopg import AsyncConnection, sql

from kifu.kit import money
from kifu.kit.timeutil import utc_now
from kifu.market.client import (
    MarketData,
    MarketError,
    RateLimited,
    SymbolUnsupported,
    UpstreamFailed,
)
from kifu.market.rules import Unsupported

log = logging.getLogger("kifu.market.outcomes")

LEASE = timedelta(minutes=10)
MAX_BACKOFF = timedelta(hours=1)
NOT_CLOSED_DELAY = timedelta(minutes=1)

# At most this many connections of its own price a run's symbols (``_Pricing``). On the job's
# one connection the candle cache's statements of every symbol queued behind each other and
# behind the claims: it was busy 93% of ``bench/outcomes.py``'s first run, while the job's Python
# and the candle server were each busy for less than half of it.
PRICING_CONNECTIONS = 3

Connect = Callable[[], Awaitable[AsyncConnection]]


class Work(Protocol):
    """One claimed outcome: its claim's key and period, its symbol, reference price, target minute
    and tries so far."""

    @property
    def key(self) -> Any: ...

    period: str
    symbol: str
    price: Decimal | None
    target: datetime
    attempts: int


class OutcomeTable(Protocol):
    """A capability's claims and outcomes (its own SQL; releasing claims is ``attempts``')."""

    bad_price: str  # why work whose reference price is not positive is skipped
    attempts: Attempts

    async def claim(self, conn: AsyncConnection, now: datetime, batch: int) -> list[Any]:
        """Up to ``batch`` due outcomes, each leased until ``now + LEASE``."""
        ...

    async def store(
        self, conn: AsyncConnection, done: Sequence[tuple[Any, Decimal, Decimal]]
    ) -> None:
        """Keep (work, outcome price, pnl_percent) once each and drop their claims."""
        ...


@dataclass(frozen=True)
class Attempts:
    """A capability's claims table, keyed by (``key``, ``period``) with the columns every outcome
    job's claims have (``status``, ``next_attempt_at``, ``last_error``, ``updated_at``): the two
    statements that release claims, written once. The capability keeps its claim and outcome SQL.
    """

    table: str
    key: str

    def _sql(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(t=sql.Identifier(self.table), k=sql.Identifier(self.key))

    async def retry(
        self, conn: AsyncConnection, items: Sequence[Work], at: Sequence[datetime], error: str
    ) -> None:
        """Release these claims, each to be tried again at its time."""
        await conn.execute(
            self._sql(
                "UPDATE {t} a SET status = 'retry', next_attempt_at = d.at, last_error = %s,"
                " updated_at = NOW()"
                " FROM unnest(%s::uuid[], %s::text[], %s::timestamptz[]) AS d(k, period, at)"
                " WHERE a.{k} = d.k AND a.period = d.period"
            ),
            (error[:500], [w.key for w in items], [w.period for w in items], list(at)),
        )

    async def skip(self, conn: AsyncConnection, items: Sequence[Work], reason: str) -> None:
        """Never try these again."""
        await conn.execute(
            self._sql(
                "UPDATE {t} a SET status = 'skipped', last_error = %s, updated_at = NOW()"
                " FROM unnest(%s::uuid[], %s::text[]) AS d(k, period)"
                " WHERE a.{k} = d.k AND a.period = d.period"
            ),
            (reason[:500], [w.key for w in items], [w.period for w in items]),
        )


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
    await table.attempts.retry(conn, items, [until or backoff(w, now) for w in items], error)


async def _closes(
    conn: AsyncConnection, market: MarketData, symbol: str, items: list[Any]
) -> dict[datetime, Decimal | None] | MarketError:
    try:
        return await market.minute_closes(conn, symbol, [w.target for w in items])
    except (SymbolUnsupported, RateLimited, UpstreamFailed) as exc:
        return exc


class _Pricing:
    """The connections a run prices its symbols on. Without ``connect`` every symbol uses the
    job's own (``conn``), their statements interleaved. With it, a symbol is priced on a
    connection of its own: one left free by a symbol done before, else one opened with
    ``connect`` (``PRICING_CONNECTIONS`` at most; more symbols wait for one). They are kept for
    the run and closed by ``close``."""

    def __init__(self, conn: AsyncConnection, connect: Connect | None) -> None:
        self._conn = conn
        self._connect = connect
        self._opened: list[AsyncConnection] = []
        self._opening = 0  # counted before the connect is awaited: symbols start together
        self._free: asyncio.Queue[AsyncConnection] = asyncio.Queue()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        if self._connect is None:
            yield self._conn
            return
        if self._free.empty() and self._opening < PRICING_CONNECTIONS:
            self._opening += 1
            self._opened.append(await self._connect())
            self._free.put_nowait(self._opened[-1])
        conn = await self._free.get()
        try:
            yield conn
        finally:
            self._free.put_nowait(conn)

    async def close(self) -> None:
        for conn in self._opened:
            await conn.close()
        self._opened.clear()


async def _priced_on(
    pricing: _Pricing, market: MarketData, symbol: str, items: list[Any]
) -> dict[datetime, Decimal | None] | MarketError:
    async with pricing.connection() as conn:
        return await _closes(conn, market, symbol, items)


async def _all_closes(
    pricing: _Pricing, market: MarketData, priced: dict[str, list[Any]]
) -> dict[str, dict[datetime, Decimal | None] | MarketError]:
    """Each symbol's closes (or why there are none), the symbols asked at once: the client keeps
    each venue's limits, and its statements each stand alone."""
    tasks = {
        s: asyncio.ensure_future(_priced_on(pricing, market, s, items))
        for s, items in priced.items()
    }
    try:
        await asyncio.gather(*tasks.values())
    finally:  # an unexpected error: stop the other symbols before it propagates
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    return {s: task.result() for s, task in tasks.items()}


async def _process(
    table: OutcomeTable,
    conn: AsyncConnection,
    pricing: _Pricing,
    market: MarketData,
    work: list[Any],
    now: datetime,
    run: OutcomeRun,
) -> list[tuple[Any, Decimal, Decimal]]:
    """Price a round: the outcomes found (to store), the rest skipped or deferred here."""
    by_symbol: dict[str, list[Any]] = defaultdict(list)
    for w in work:
        by_symbol[w.symbol].append(w)
    priced: dict[str, list[Any]] = {}
    for symbol, items in sorted(by_symbol.items()):
        bad = [w for w in items if w.price is None or w.price <= 0]
        if bad:
            await table.attempts.skip(conn, bad, table.bad_price)
            run.skipped += len(bad)
            items = [w for w in items if w not in bad]
        if not items:
            continue
        try:
            market.source_of(symbol)
        except Unsupported as exc:
            await table.attempts.skip(conn, items, f"no price source: {exc}")
            run.skipped += len(items)
            continue
        priced[symbol] = items
    done: list[tuple[Any, Decimal, Decimal]] = []
    for symbol, answer in (await _all_closes(pricing, market, priced)).items():
        items = priced[symbol]
        if isinstance(answer, SymbolUnsupported):
            await table.attempts.skip(conn, items, answer.message)
            run.skipped += len(items)
            continue
        if isinstance(answer, RateLimited):
            await _defer(table, conn, items, answer.until, now, answer.message)
            run.deferred += len(items)
            continue
        if isinstance(answer, MarketError):
            log.warning("outcomes for %s: %s", symbol, answer.message)
            await _defer(table, conn, items, None, now, answer.message)
            run.deferred += len(items)
            continue
        fresh, stale = [], []
        for w in items:
            close = answer.get(w.target)
            if close is not None:
                done.append((w, close, money.pnl_percent(w.price, close)))
            elif w.target + NOT_CLOSED_DELAY >= now:
                fresh.append(w)
            else:
                stale.append(w)
        if fresh:
            await _defer(table, conn, fresh, now + NOT_CLOSED_DELAY, now, "candle not closed yet")
        if stale:
            await _defer(table, conn, stale, None, now, "no candle within 5 minutes of the target")
        run.deferred += len(fresh) + len(stale)
    return done


async def compute_due(
    table: OutcomeTable,
    conn: AsyncConnection,
    market: MarketData,
    now: datetime | None = None,
    *,
    batch: int,
    max_rounds: int,
    connect: Connect | None = None,
) -> OutcomeRun:
    """Compute every outcome of ``table`` due at ``now`` (up to ``batch × max_rounds`` per call),
    oldest first. ``conn`` must be in autocommit mode; ``connect``, if given, opens another
    autocommit connection to the same database (symbols are priced on those, ``_Pricing``).
    Returns counts for logs and benchmarks."""
    now = now or utc_now()
    run = OutcomeRun()
    pricing = _Pricing(conn, connect)
    upcoming: asyncio.Future[list[Any]] | None = None
    storing: asyncio.Future[None] | None = None
    try:
        work = await table.claim(conn, now, batch) if max_rounds > 0 else []
        for round_ in range(1, max_rounds + 1):
            if not work:
                break
            run.claimed += len(work)
            # The next round is claimed while this one is priced (this one's work is leased, so
            # it is not claimed twice): the database claims while the exchanges answer.
            if round_ < max_rounds:
                upcoming = asyncio.ensure_future(table.claim(conn, now, batch))
            done = await _process(table, conn, pricing, market, work, now, run)
            if storing is not None:
                await storing
                storing = None
            if done:  # stored while the next round is priced
                storing = asyncio.ensure_future(table.store(conn, done))
                run.computed += len(done)
            work, upcoming = (await upcoming if upcoming is not None else []), None
        if storing is not None:
            await storing
            storing = None
    finally:
        # An error: what is left undone is dropped (claims made lapse with their lease).
        left = [f for f in (upcoming, storing) if f is not None]
        for future in left:
            future.cancel()
        await asyncio.gather(*left, return_exceptions=True)
        await pricing.close()
    return run
