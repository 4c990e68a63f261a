"""The one market-data client: Binance futures/spot klines and Upbit candles, behind a cache.

Every price kifu needs goes through ``MarketData``. Closed candles are kept in PostgreSQL
(``market_candles``) together with the windows fetched in full (``market_candle_windows``), so a
closed candle is fetched from an exchange once, whichever process asks. A small bounded in-process
cache (30 s) absorbs chart refreshes. Rate limits (HTTP 429/418) put the venue in a cooldown stored
in PostgreSQL (``market_cooldowns``) that every process honours; other venues are unaffected.
Requests to one venue go one at a time until it has answered once without a rate limit, then
at most ``IN_FLIGHT`` at a time; none after it answered 429/418.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
import psycopg
from psycopg import AsyncConnection

from kifu.config import Settings
from kifu.kit import venues
from kifu.kit.errors import DomainError
from kifu.kit.timeutil import candle_open, utc_now
from kifu.market import store
from kifu.market.rules import (
    BINANCE_FUTURES,
    BINANCE_SPOT,
    INTERVALS,
    LONGEST_WINDOW,
    MAX_BATCH,
    UPBIT,
    Candle,
    Source,
    Span,
    Unsupported,
    last_closed_open_time,
    missing_spans,
    plan_requests,
    resolve,
    retry_after_seconds,
    uncached_parts,
)

HTTP_TIMEOUT = httpx.Timeout(12.0, connect=5.0)
MEMORY_TTL = 30.0
_MINUTE = timedelta(minutes=1)
LOOKBACK = timedelta(minutes=5)  # an outcome uses the newest 1m close at most 5 minutes old
# Requests one ``MarketData`` has open to a venue at once: a backfill of many windows overlaps
# their round trips without bursting at the venue (a 429/418 still stops the venue at once).
IN_FLIGHT = 4
UPBIT_INTERVAL_PATHS = {
    "1m": "minutes/1",
    "15m": "minutes/15",
    "1h": "minutes/60",
    "4h": "minutes/240",
    "1d": "days",
}


class MarketError(DomainError):
    """Prices could not be had; ``message`` is safe to show."""

    code = "EXCHANGE_REQUEST_FAILED"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class SymbolUnsupported(MarketError):
    """No venue prices this symbol (a stock, an unknown pair, a delisted market)."""

    code = "INVALID_SYMBOL"
    field = "symbol"


class RateLimited(MarketError):
    """The venue is in a rate-limit cooldown until ``until`` (stored; every process waits)."""

    def __init__(self, venue: str, until: datetime) -> None:
        super().__init__(f"{venue} rate limit: retry after {until.isoformat()}")
        self.venue = venue
        self.until = until

    @property
    def retry_after(self) -> float:  # type: ignore[override]
        """Whole seconds (at least 1) from now until the cooldown ends."""
        return max(int((self.until - datetime.now(UTC)).total_seconds()), 1)


class UpstreamFailed(MarketError):
    """The exchange failed or answered something that is not candles."""


class _NotListed(Exception):
    pass


@dataclass(frozen=True)
class MarketUrls:
    binance_spot: str = "https://api.binance.com"
    binance_futures: str = "https://fapi.binance.com"
    upbit: str = "https://api.upbit.com"

    @classmethod
    def from_settings(cls, settings: Settings) -> MarketUrls:
        """Each source's base URL from the setting the venue registry names for it."""
        return cls(
            **{
                v.code: str(getattr(settings, str(v.base_url_setting))).rstrip("/")
                for v in venues.MARKET_SOURCES
            }
        )


class MemoryCache:
    """A bounded LRU of recent kline answers with a TTL (a cache only: losing it costs a query)."""

    def __init__(self, max_entries: int = 256, ttl: float = MEMORY_TTL) -> None:
        self.max_entries = max_entries
        self.ttl = ttl
        self._items: OrderedDict[tuple[Any, ...], tuple[float, list[Candle]]] = OrderedDict()
        self.not_on_futures: OrderedDict[str, None] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> list[Candle] | None:
        hit = self._items.get(key)
        if hit is None or hit[0] < time.monotonic():
            self._items.pop(key, None)
            return None
        self._items.move_to_end(key)
        return hit[1]

    def put(self, key: tuple[Any, ...], candles: list[Candle]) -> None:
        self._items[key] = (time.monotonic() + self.ttl, candles)
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def mark_spot_only(self, symbol: str) -> None:
        self.not_on_futures[symbol] = None
        while len(self.not_on_futures) > self.max_entries:
            self.not_on_futures.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _dec(value: Any) -> Decimal:
    kind = type(value)  # exact types only: a float (or bool) is not an exact number
    if kind is str or kind is int:
        d = Decimal(value)
    elif kind is Decimal:  # a JSON number read with parse_float=Decimal
        d = value
    else:
        raise ValueError(f"not an exact number: {value!r}")
    if not d.is_finite():
        raise ValueError(f"not finite: {value!r}")
    return d


# What a column of plain numbers may hold (NaN, Infinity, quotes, braces, spaces may not).
_NOT_PLAIN = re.compile(r"[^0-9eE.+\-,]")
_UPBIT_FIELDS = (
    "opening_price",
    "high_price",
    "low_price",
    "trade_price",
    "candle_acc_trade_volume",
)


def _columns(source: Source, answer: str) -> store.Columns:
    """A klines answer as PostgreSQL array literals, the numbers kept as the venue wrote them
    (``UpstreamFailed`` for anything but candles of plain numbers)."""
    try:
        rows = json.loads(answer, parse_float=str, parse_int=str)
        if source.venue == UPBIT:
            ms = [
                str(_ms(datetime.fromisoformat(r["candle_date_time_utc"]).replace(tzinfo=UTC)))
                for r in rows
            ]
            values = [[r[f] for r in rows] for f in _UPBIT_FIELDS]
        else:
            ms = [r[0] for r in rows]
            values = [[r[i] for r in rows] for i in range(1, 6)]
        texts = [",".join(column) for column in (ms, *values)]  # TypeError unless all text
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise UpstreamFailed(f"{source.venue}: unexpected candle data ({exc})") from exc
    for column, text in zip((ms, *values), texts, strict=True):
        # One element a candle, each a plain number: no empty one, no comma or other sign in one.
        if "" in column or _NOT_PLAIN.search(text) or text.count(",") != max(len(column) - 1, 0):
            raise UpstreamFailed(f"{source.venue}: unexpected candle data (not plain numbers)")
    return store.Columns(*("{" + text + "}" for text in texts))


class MarketData:
    """Candles and prices for one unit of work; ``http`` is owned by the caller."""

    def __init__(
        self,
        urls: MarketUrls,
        http: httpx.AsyncClient,
        memory: MemoryCache | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.urls = urls
        self.http = http
        self.memory = memory if memory is not None else MemoryCache()
        self.clock = clock
        self.requests = 0  # upstream HTTP requests made (benchmarks and tests read it)
        self.request_seconds = 0.0
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._answered: set[str] = set()  # venues that answered this run without a rate limit
        self._limited: dict[str, _RateLimitHit] = {}  # venues that answered 429/418 in this run

    # -- public ------------------------------------------------------------------------------

    async def klines(
        self,
        conn: AsyncConnection,
        symbol: str,
        interval: str,
        limit: int,
        end_time: datetime | None = None,
        exchange: str | None = None,
    ) -> list[Candle]:
        """Up to ``limit`` candles of ``interval`` ending with the one containing ``end_time``
        (default: now), oldest first."""
        try:
            source = resolve(symbol, exchange)
        except Unsupported as exc:
            raise SymbolUnsupported(str(exc)) from exc
        return await self._guarded(
            conn, source, lambda src: self._klines_from(conn, src, interval, limit, end_time)
        )

    async def minute_closes(
        self, conn: AsyncConnection, symbol: str, targets: Sequence[datetime]
    ) -> dict[datetime, Decimal | None]:
        """For each minute in ``targets``: the close of its 1m candle (or of the newest candle in
        the 5 minutes before, when that minute had no trades); None when not available (yet)."""
        try:
            source = resolve(symbol)
        except Unsupported as exc:
            raise SymbolUnsupported(str(exc)) from exc
        return await self._guarded(
            conn, source, lambda src: self._minute_closes_from(conn, src, targets)
        )

    async def last_price(self, conn: AsyncConnection, symbol: str) -> Decimal:
        """The latest traded price: one ticker request (Binance ``ticker/price``, Upbit
        ``/v1/ticker``), never cached; the alert monitor asks it once per symbol per tick."""
        try:
            source = resolve(symbol)
        except Unsupported as exc:
            raise SymbolUnsupported(str(exc)) from exc
        return await self._guarded(conn, source, lambda src: self._ticker_from(conn, src))

    def source_of(self, symbol: str) -> Source:
        """The venue that prices ``symbol`` (``Unsupported`` when none does)."""
        return resolve(symbol)

    async def cooldown(self, conn: AsyncConnection, venue: str) -> datetime | None:
        return await store.cooldown_until(conn, venue, self.clock())

    # -- internals ---------------------------------------------------------------------------

    async def _guarded(
        self, conn: AsyncConnection, source: Source, run: Callable[[Source], Any]
    ) -> Any:
        try:
            return await self._with_fallback(source, run)
        except _RateLimitHit as exc:
            # Stored in PostgreSQL so every process and worker skips this venue until then.
            await store.set_cooldown(conn, exc.venue, exc.until, exc.text)
            raise RateLimited(exc.venue, exc.until) from None

    async def _with_fallback(self, source: Source, run: Callable[[Source], Any]) -> Any:
        if source.spot_fallback and source.symbol in self.memory.not_on_futures:
            source = Source(BINANCE_SPOT, source.symbol)
        try:
            return await run(source)
        except _NotListed:
            if not source.spot_fallback:
                raise SymbolUnsupported(
                    f"{source.symbol} is not listed on {source.venue}"
                ) from None
        self.memory.mark_spot_only(source.symbol)
        try:
            return await run(Source(BINANCE_SPOT, source.symbol))
        except _NotListed:
            raise SymbolUnsupported(f"{source.symbol} is not listed on Binance") from None

    async def _klines_from(
        self,
        conn: AsyncConnection,
        source: Source,
        interval: str,
        limit: int,
        end_time: datetime | None,
    ) -> list[Candle]:
        seconds = INTERVALS[interval]
        step = timedelta(seconds=seconds)
        now = self.clock()
        limit = max(1, min(limit, MAX_BATCH[source.venue]))
        current = candle_open(now, seconds)
        anchor = min(candle_open(end_time, seconds), current) if end_time else current
        start = anchor - step * (limit - 1)
        key = (source.venue, source.symbol, interval, limit, anchor)
        cached = self.memory.get(key)
        if cached is not None:
            return cached
        await self._check_cooldown(conn, source.venue, now)

        closed_end = min(anchor, last_closed_open_time(now, seconds))
        has_closed = closed_end >= start
        if not has_closed or not await self._missing(conn, source, interval, [(start, closed_end)]):
            candles = (
                await store.load(conn, source.venue, source.symbol, interval, start, closed_end)
                if has_closed
                else []
            )
            if anchor > closed_end:  # the open candle is never stored: ask for it alone
                candles += await self._fetch(source, interval, anchor, anchor, 1, now)
        else:
            candles = await self._fetch(source, interval, start, anchor, limit, now)
            await store.save_window(
                conn,
                source.venue,
                source.symbol,
                interval,
                start,
                closed_end,
                store.columns_of([c for c in candles if c.open_time <= closed_end]),
            )
        candles = [c for c in candles if start <= c.open_time <= anchor]
        self.memory.put(key, candles)
        return candles

    async def _minute_closes_from(
        self, conn: AsyncConnection, source: Source, targets: Sequence[datetime]
    ) -> dict[datetime, Decimal | None]:
        now = self.clock()
        last_closed = last_closed_open_time(now, 60)
        wanted = sorted({t for t in targets if t <= last_closed})
        if wanted:
            await self._check_cooldown(conn, source.venue, now)
            needed = [(m - LOOKBACK, m) for m in (candle_open(t, 60) for t in wanted)]
            # Every window in their hull, not only those that share a candle with them: a
            # request spans the cached candles between two gaps, which are not stored again.
            covered = await self._covered(conn, source, "1m", [(needed[0][0], needed[-1][1])])
            gaps = missing_spans(needed, covered, _MINUTE)
            await self._fetch_missing(conn, source, "1m", gaps, covered, now)
        found = await store.closes_at(conn, source.venue, source.symbol, wanted, LOOKBACK)
        return {t: found.get(t) for t in targets}

    async def _missing(
        self, conn: AsyncConnection, source: Source, interval: str, needed: list[Span]
    ) -> list[Span]:
        """The parts of ``needed`` (closed candles) that no fetched window holds."""
        step = timedelta(seconds=INTERVALS[interval])
        return missing_spans(needed, await self._covered(conn, source, interval, needed), step)

    async def _covered(
        self, conn: AsyncConnection, source: Source, interval: str, needed: list[Span]
    ) -> list[Span]:
        """The fetched windows that share a candle with ``needed``."""
        step = timedelta(seconds=INTERVALS[interval])
        return await store.windows_over(
            conn, source.venue, source.symbol, interval, needed, step * LONGEST_WINDOW
        )

    async def _fetch_missing(
        self,
        conn: AsyncConnection,
        source: Source,
        interval: str,
        gaps: list[Span],
        covered: list[Span],
        now: datetime,
    ) -> None:
        """Fetch the missing closed candles ``gaps`` (sorted, disjoint) in as few requests as the
        venue's batch allows, ``IN_FLIGHT`` at a time, and store each answer as it arrives: every
        candle of the window it asked for (a window is stored whole) that no window of ``covered``
        (the fetched windows around ``gaps``) holds already, and the window. The answer's
        numbers go to PostgreSQL as the venue wrote them (``_columns``: no candle becomes a Python
        object); an answer that is not candles of plain numbers is refused whole. On the first
        failure the rest are dropped and it is raised. The fetching tasks never touch ``conn``."""
        step = timedelta(seconds=INTERVALS[interval])
        pending: dict[asyncio.Future[str], tuple[Span, list[Span]]] = {}
        requests = plan_requests(gaps, step, MAX_BATCH[source.venue])
        for (a, b), new in zip(requests, uncached_parts(requests, covered, step), strict=True):
            count = (b - a) // step + 1
            task = asyncio.ensure_future(self._answer(source, interval, a, b, count, now))
            pending[task] = ((a, b), new)
        try:
            while pending:
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                failed = [task for task in done if task.exception() is not None]
                for task in done:
                    (a, b), new = pending.pop(task)
                    if task not in failed:
                        await self._save_answer(conn, source, interval, a, b, new, task.result())
                if failed:
                    failed[0].result()  # raises its exception
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _answer(
        self,
        source: Source,
        interval: str,
        start: datetime,
        end: datetime,
        count: int,
        now: datetime,
    ) -> str:
        response = await self._ask(source, interval, start, end, count, now)
        if response.status_code != 200:
            self._raise_for(source, response)
        return response.text

    async def _save_answer(
        self,
        conn: AsyncConnection,
        source: Source,
        interval: str,
        start: datetime,
        end: datetime,
        new: list[Span],
        answer: str,
    ) -> None:
        try:
            await store.save_window(
                conn,
                source.venue,
                source.symbol,
                interval,
                start,
                end,
                _columns(source, answer),
                new,
            )
        except psycopg.DataError as exc:  # an element PostgreSQL does not take as a number
            raise UpstreamFailed(
                f"{source.venue}: unexpected candle data ({exc.diag.message_primary})"
            ) from exc

    async def _check_cooldown(self, conn: AsyncConnection, venue: str, now: datetime) -> None:
        until = await store.cooldown_until(conn, venue, now)
        if until is not None:
            raise RateLimited(venue, until)

    async def _fetch(
        self,
        source: Source,
        interval: str,
        start: datetime,
        end: datetime,
        count: int,
        now: datetime,
    ) -> list[Candle]:
        """Candles with open time in [start, end] (``count`` of them at most), oldest first."""
        return self._parse(source, await self._ask(source, interval, start, end, count, now))

    async def _ask(
        self,
        source: Source,
        interval: str,
        start: datetime,
        end: datetime,
        count: int,
        now: datetime,
    ) -> httpx.Response:
        """The venue's answer for the candles with open time in [start, end] (at most ``count``)."""
        seconds = INTERVALS[interval]
        if source.venue == UPBIT:
            url = f"{self.urls.upbit}/v1/candles/{UPBIT_INTERVAL_PATHS[interval]}"
            params: dict[str, Any] = {"market": source.symbol, "count": min(count, 200)}
            to = end + timedelta(seconds=seconds)
            if to <= now:  # Upbit's `to` is exclusive; omit it to get the newest candles
                params["to"] = to.strftime("%Y-%m-%dT%H:%M:%SZ")
        else:
            base = (
                self.urls.binance_futures
                if source.venue == BINANCE_FUTURES
                else self.urls.binance_spot
            )
            path = "/fapi/v1/klines" if source.venue == BINANCE_FUTURES else "/api/v3/klines"
            url = base + path
            params = {
                "symbol": source.symbol,
                "interval": interval,
                "startTime": _ms(start),
                "endTime": _ms(end) + seconds * 1000 - 1,
                "limit": count,
            }
        return await self._get(source.venue, url, params, now)

    async def _get(
        self, venue: str, url: str, params: dict[str, Any], now: datetime
    ) -> httpx.Response:
        """One request to ``venue``: alone until the venue has answered once, then with at most
        ``IN_FLIGHT`` open; a 429/418 raises ``_RateLimitHit`` and stops every later request to
        the venue in this run (so an already limited venue is asked once)."""
        slot = self._slots.setdefault(venue, asyncio.Semaphore(1))
        async with slot:
            hit = self._limited.get(venue)
            if hit is not None and hit.until > now:
                raise hit
            started = time.perf_counter()
            self.requests += 1
            try:
                response = await self.http.get(url, params=params, timeout=HTTP_TIMEOUT)
            except httpx.HTTPError as exc:
                raise UpstreamFailed(f"{venue}: request failed ({exc.__class__.__name__})") from exc
            finally:
                self.request_seconds += time.perf_counter() - started
            if response.status_code in (418, 429):
                wait = retry_after_seconds(response.headers.get("Retry-After"), now)
                hit = _RateLimitHit(venue, now + timedelta(seconds=wait), response.text[:200])
                self._limited[venue] = hit
                raise hit
            if venue not in self._answered:
                self._answered.add(venue)
                for _ in range(IN_FLIGHT - 1):
                    slot.release()
            return response

    async def _ticker_from(self, conn: AsyncConnection, source: Source) -> Decimal:
        now = self.clock()
        await self._check_cooldown(conn, source.venue, now)
        if source.venue == UPBIT:
            url, params = f"{self.urls.upbit}/v1/ticker", {"markets": source.symbol}
        elif source.venue == BINANCE_FUTURES:
            url, params = (
                f"{self.urls.binance_futures}/fapi/v1/ticker/price",
                {"symbol": source.symbol},
            )
        else:
            url, params = f"{self.urls.binance_spot}/api/v3/ticker/price", {"symbol": source.symbol}
        response = await self._get(source.venue, url, params, now)
        if response.status_code == 404 and source.venue != UPBIT:
            # A Binance-compatible server without the ticker (Binance itself answers 400 for an
            # unknown symbol): the close of the forming 1-minute candle is the latest price.
            minute = candle_open(now, 60)
            candles = await self._fetch(source, "1m", minute, minute, 1, now)
            if not candles:
                raise UpstreamFailed(f"{source.venue}: no ticker and no current candle")
            return candles[-1].close
        if response.status_code != 200:
            self._raise_for(source, response)
        try:
            payload = json.loads(response.text, parse_float=Decimal)
            row = payload[0] if source.venue == UPBIT else payload
            price = _dec(row["trade_price"] if source.venue == UPBIT else row["price"])
        except (ValueError, TypeError, KeyError, IndexError, InvalidOperation) as exc:
            raise UpstreamFailed(f"{source.venue}: unexpected ticker data ({exc})") from exc
        if price <= 0:
            raise UpstreamFailed(f"{source.venue}: ticker price {price} is not positive")
        return price

    def _parse(self, source: Source, response: httpx.Response) -> list[Candle]:
        if response.status_code != 200:
            self._raise_for(source, response)
        try:
            payload = json.loads(response.text, parse_float=Decimal)
            if source.venue == UPBIT:
                candles = [
                    Candle(
                        datetime.fromisoformat(row["candle_date_time_utc"]).replace(tzinfo=UTC),
                        _dec(row["opening_price"]),
                        _dec(row["high_price"]),
                        _dec(row["low_price"]),
                        _dec(row["trade_price"]),
                        _dec(row["candle_acc_trade_volume"]),
                    )
                    for row in payload
                ]
                candles.reverse()
            else:
                candles = [
                    Candle(
                        datetime.fromtimestamp(int(row[0]) / 1000, UTC),
                        _dec(row[1]),
                        _dec(row[2]),
                        _dec(row[3]),
                        _dec(row[4]),
                        _dec(row[5]),
                    )
                    for row in payload
                ]
        except (ValueError, TypeError, KeyError, IndexError, InvalidOperation) as exc:
            raise UpstreamFailed(f"{source.venue}: unexpected candle data ({exc})") from exc
        candles.sort(key=lambda c: c.open_time)
        return candles

    @staticmethod
    def _raise_for(source: Source, response: httpx.Response) -> None:
        text = response.text[:300]
        if source.venue == UPBIT and response.status_code == 404:
            raise _NotListed
        if source.venue != UPBIT and response.status_code == 400:
            try:
                code = json.loads(text).get("code")
            except (ValueError, AttributeError):
                code = None
            if code == -1121:  # "Invalid symbol."
                raise _NotListed
        raise UpstreamFailed(f"{source.venue} answered HTTP {response.status_code}: {text}")


class _RateLimitHit(RateLimited):
    """Raised inside a fetch; callers see ``RateLimited`` once the cooldown is stored."""

    def __init__(self, venue: str, until: datetime, text: str) -> None:
        super().__init__(venue, until)
        self.text = text
