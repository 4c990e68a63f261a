"""``MarketData.minute_closes`` (the outcome jobs' candles) against the local stand-in: which
windows it asks for, how it stores them, and how it stops at a rate limit."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from kifu.config import Settings
from kifu.market import MarketData, MarketUrls, RateLimited, UpstreamFailed, http_client
from kifu.market.client import IN_FLIGHT
from tests.market.fake_exchange import FakeExchange

START = (datetime.now(UTC) - timedelta(days=3)).replace(second=0, microsecond=0)
MIN = timedelta(minutes=1)


class CountingConnection(psycopg.AsyncConnection):
    """Records the text of every statement run through ``execute``."""

    statements: list[str]

    async def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        self.statements.append(str(query))
        return await super().execute(query, params, **kwargs)


def _run(
    db: str, settings: Settings, job: Callable[[MarketData, CountingConnection], Coroutine]
) -> Any:
    async def go() -> Any:
        async with (
            http_client() as http,
            await CountingConnection.connect(db, autocommit=True) as conn,
        ):
            conn.statements = []
            return await job(MarketData(MarketUrls.from_settings(settings), http), conn)

    return asyncio.run(go())


def _closes(db: str, settings: Settings, symbol: str, targets: list[datetime]) -> dict:
    return _run(db, settings, lambda m, c: m.minute_closes(c, symbol, targets))


def _count(db: str, sql: str) -> int:
    with psycopg.connect(db) as conn:
        return conn.execute(sql).fetchone()[0]  # type: ignore[index]


def test_targets_over_one_window_make_one_request_and_store_each_candle_once(
    db: str, settings: Settings, exchange: FakeExchange
) -> None:
    targets = [START + MIN * i for i in range(0, 50, 3)]
    closes = _closes(db, settings, "BTCUSDT", targets)
    assert closes == {t: FakeExchange.close("BTCUSDT", t) for t in targets}
    assert len(exchange.requests) == 1
    # The window runs from five minutes before the first target (the lookback) to the last.
    assert _count(db, "SELECT count(*) FROM market_candles") == 48 + 6
    assert _count(db, "SELECT count(DISTINCT open_time) FROM market_candles") == 54
    assert _count(db, "SELECT count(*) FROM market_candle_windows") == 1
    # Again, and any minute between the targets: from PostgreSQL, no request.
    between = [START + MIN * i for i in range(1, 48, 3)]
    assert _closes(db, settings, "BTCUSDT", targets + between) == {
        t: FakeExchange.close("BTCUSDT", t) for t in targets + between
    }
    assert len(exchange.requests) == 1


def test_a_window_is_stored_whole_and_found_by_any_of_its_minutes(
    db: str, settings: Settings, exchange: FakeExchange
) -> None:
    """Two sparse targets are fetched in one request; every candle of that window is kept, so
    a later target between them (never asked for before) needs no request."""
    _closes(db, settings, "KRW-BTC", [START, START + MIN * 150])
    assert len(exchange.requests) == 1
    middle = START + MIN * 77
    assert _closes(db, settings, "KRW-BTC", [middle]) == {
        middle: FakeExchange.close("KRW-BTC", middle)
    }
    assert len(exchange.requests) == 1


@pytest.mark.parametrize(
    ("symbol", "path", "most"),
    [
        ("BTCUSDT", "/fapi/v1/klines", 1500),
        ("ETHBTC", "/api/v3/klines", 1000),
        ("KRW-BTC", "/v1/candles/minutes/1", 200),
    ],
)
def test_requests_never_ask_more_than_the_venue_answers(
    db: str, settings: Settings, exchange: FakeExchange, symbol: str, path: str, most: int
) -> None:
    targets = [START + MIN * i for i in range(0, 3000, 7)]
    closes = _closes(db, settings, symbol, targets)
    assert all(closes[t] == FakeExchange.close(symbol, t) for t in targets)
    asked = exchange.paths(path)
    sizes = [int(q.get("limit") or q["count"]) for _, q in asked]
    assert max(sizes) <= most
    # As few as the venue's batch allows: the 2574 minutes needed (each target and the five
    # before it) lie within 3002.
    assert (targets[-1] - targets[0]) // MIN + 6 == 3002 and len(targets) * 6 == 2574
    assert math.ceil(2574 / most) <= len(asked) <= math.ceil(3002 / most)


def test_a_candle_write_of_many_rows_is_one_statement(
    db: str, settings: Settings, exchange: FakeExchange
) -> None:
    targets = [START + MIN * i for i in range(5, 1500)]

    async def job(market: MarketData, conn: CountingConnection) -> list[str]:
        await market.minute_closes(conn, "BTCUSDT", targets)
        return conn.statements

    statements = _run(db, settings, job)
    assert len(exchange.requests) == 1
    assert _count(db, "SELECT count(*) FROM market_candles") == 1500
    assert sum("INSERT INTO market_candles" in s for s in statements) == 1
    assert len(statements) <= 4  # cooldown, windows, the write, closes


def _statements(db: str, settings: Settings, symbol: str, targets: list[datetime]) -> list[str]:
    async def job(market: MarketData, conn: CountingConnection) -> list[str]:
        await market.minute_closes(conn, symbol, targets)
        return conn.statements

    return _run(db, settings, job)


def test_cached_candles_a_request_spans_are_not_stored_again(
    db: str, settings: Settings, exchange: FakeExchange
) -> None:
    """A request over two gaps fetches the cached window between them again (a window no
    target needs); only the gaps' candles are inserted, without ON CONFLICT (none of them can
    be stored yet)."""
    middle = START + MIN * 60
    _closes(db, settings, "BTCUSDT", [middle])  # the window [middle - 5, middle]
    targets = [START + MIN * 10, START + MIN * 120]
    statements = _statements(db, settings, "BTCUSDT", targets)  # the middle not among them
    assert len(exchange.requests) == 2  # one for the middle, one over both new targets
    # One write, plain: a cached candle in it would have failed it and been written again.
    writes = [s for s in statements if "INSERT INTO market_candles" in s]
    assert len(writes) == 1 and "ON CONFLICT (source" not in writes[0]
    assert _count(db, "SELECT count(*) FROM market_candles") == 120 - 5 + 1  # the whole window
    assert _closes(db, settings, "BTCUSDT", [*targets, middle]) == {
        t: FakeExchange.close("BTCUSDT", t) for t in [*targets, middle]
    }
    assert len(exchange.requests) == 2


def test_candles_another_worker_stored_meanwhile_are_skipped(
    db: str, settings: Settings, exchange: FakeExchange
) -> None:
    """A candle of a gap stored by someone else after the request was planned (no window of it
    yet): the plain insert meets it, and the write is made again skipping it."""
    target = START + MIN * 30
    raced = target - MIN * 2
    with psycopg.connect(db) as conn:
        price = FakeExchange.close("BTCUSDT", raced)
        conn.execute(
            "INSERT INTO market_candles VALUES ('binance_futures', 'BTCUSDT', '1m', %s,"
            " %s, %s, %s, %s, 1)",
            (raced, price, price, price, price),
        )
    statements = _statements(db, settings, "BTCUSDT", [target])
    writes = [s for s in statements if "INSERT INTO market_candles" in s]
    assert len(writes) == 2 and "ON CONFLICT (source" in writes[1]
    assert _count(db, "SELECT count(*) FROM market_candles") == 6
    assert _count(db, "SELECT count(*) FROM market_candle_windows") == 1
    assert _closes(db, settings, "BTCUSDT", [target]) == {
        target: FakeExchange.close("BTCUSDT", target)
    }
    assert len(exchange.requests) == 1


def test_a_rate_limit_stops_the_venue_with_windows_in_flight(
    db: str, settings: Settings, exchange: FakeExchange
) -> None:
    """Upbit answers 200 candles a request: 20 windows. Its 429 after the third answer stops
    every later request (those already sent may still be answered)."""
    exchange.upbit_limit_after = 3
    targets = [START + MIN * i for i in range(0, 4000, 200)]
    with pytest.raises(RateLimited):
        _closes(db, settings, "KRW-BTC", targets)
    assert 4 <= len(exchange.requests) <= 3 + IN_FLIGHT
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT venue FROM market_cooldowns").fetchall() == [("upbit",)]
    # The answers taken before the 429 are kept, each window whole.
    assert 1 <= _count(db, "SELECT count(*) FROM market_candle_windows") <= 3
    assert _count(db, "SELECT count(*) FROM market_candles") == _count(
        db,
        "SELECT sum(extract(epoch FROM end_at - start_at) / 60 + 1)::int"
        " FROM market_candle_windows",
    )
    asked = len(exchange.requests)
    with pytest.raises(RateLimited):  # still cooling down: not asked
        _closes(db, settings, "KRW-BTC", targets)
    assert len(exchange.requests) == asked


def test_a_limited_venue_is_asked_once(db: str, settings: Settings, exchange: FakeExchange) -> None:
    """The first request to a venue goes alone: when it is already limiting, one 429 is all."""
    exchange.upbit_status = 429
    with pytest.raises(RateLimited):
        _closes(db, settings, "KRW-BTC", [START + MIN * i for i in range(0, 4000, 200)])
    assert len(exchange.requests) == 1


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "1,2", "1e999999", "12 5", '"}', "1.2.3"])
@pytest.mark.parametrize("symbol", ["BTCUSDT", "KRW-BTC"])
def test_an_answer_that_is_not_plain_numbers_is_refused_whole(
    db: str, settings: Settings, exchange: FakeExchange, symbol: str, bad: str
) -> None:
    exchange.bad_close = bad
    with pytest.raises(UpstreamFailed, match="unexpected candle data"):
        _closes(db, settings, symbol, [START + MIN * i for i in range(0, 30, 5)])
    assert _count(db, "SELECT count(*) FROM market_candles") == 0
    assert _count(db, "SELECT count(*) FROM market_candle_windows") == 0
