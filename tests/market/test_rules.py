"""Pure market rules: which venue prices a symbol, and Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kifu.kit.timeutil import candle_open
from kifu.market.rules import (
    BINANCE_FUTURES,
    BINANCE_SPOT,
    UPBIT,
    Source,
    Unsupported,
    missing_spans,
    plan_requests,
    resolve,
    retry_after_seconds,
    uncached_parts,
)


@pytest.mark.parametrize(
    ("symbol", "source"),
    [
        ("BTCUSDT", Source(BINANCE_FUTURES, "BTCUSDT", spot_fallback=True)),
        ("ethbtc", Source(BINANCE_SPOT, "ETHBTC")),
        ("BTCFDUSD", Source(BINANCE_SPOT, "BTCFDUSD")),
        ("ADAKRW", Source(UPBIT, "KRW-ADA")),
        ("KRW-ADA", Source(UPBIT, "KRW-ADA")),
        ("ADA/KRW", Source(UPBIT, "KRW-ADA")),
    ],
)
def test_resolve(symbol: str, source: Source) -> None:
    assert resolve(symbol) == source


@pytest.mark.parametrize("symbol", ["ADA", "005930", "AAPL", "BTC-USD-X", "USDT", "BTC/USDT"])
def test_unsupported(symbol: str) -> None:
    with pytest.raises(Unsupported):
        resolve(symbol)


@given(st.from_regex(r"[0-9]{6}", fullmatch=True))
def test_stock_codes_never_become_crypto(code: str) -> None:
    with pytest.raises(Unsupported):
        resolve(code)


@given(st.from_regex(r"[A-Z0-9]{2,10}", fullmatch=True))
def test_resolved_venue_symbol_keeps_the_base(base: str) -> None:
    for quote in ("USDT", "KRW"):
        source = resolve(base + quote)
        assert base in source.symbol


def test_retry_after() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("120", now) == 120
    assert retry_after_seconds("", now) == 60
    assert retry_after_seconds("garbage", now) == 60
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90


def test_candle_open() -> None:
    at = datetime(2026, 1, 1, 7, 59, 59, tzinfo=UTC)
    assert candle_open(at, 14400) == datetime(2026, 1, 1, 4, tzinfo=UTC)
    assert candle_open(at, 86400) == datetime(2026, 1, 1, tzinfo=UTC)


# -- which candles to fetch, in which requests -------------------------------------------------

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MIN = timedelta(minutes=1)


def _minutes(spans: list[tuple[datetime, datetime]]) -> set[datetime]:
    out: set[datetime] = set()
    for a, b in spans:
        out.update(a + MIN * i for i in range((b - a) // MIN + 1))
    return out


def test_missing_spans_examples() -> None:
    def m(a: int, b: int) -> tuple[datetime, datetime]:
        return T0 + MIN * a, T0 + MIN * b

    # Needed spans overlap; a window covers the middle; touching windows count as one.
    assert missing_spans([m(0, 5), m(3, 9), m(20, 25)], [m(4, 6), m(7, 8)], MIN) == [
        m(0, 3),
        m(9, 9),
        m(20, 25),
    ]
    assert missing_spans([m(0, 5)], [m(0, 5)], MIN) == []
    assert missing_spans([m(0, 5)], [], MIN) == [m(0, 5)]
    assert missing_spans([], [m(0, 5)], MIN) == []


spans = st.lists(
    st.tuples(st.integers(0, 600), st.integers(0, 40)).map(
        lambda t: (T0 + MIN * t[0], T0 + MIN * (t[0] + t[1]))
    ),
    max_size=25,
)


@given(spans, spans, st.integers(1, 120))
def test_requests_fetch_exactly_what_is_missing(needed, covered, most) -> None:
    gaps = missing_spans(needed, covered, MIN)
    want = _minutes(needed) - _minutes(covered)
    assert _minutes(gaps) == want
    assert all(a <= b for a, b in gaps) and gaps == sorted(gaps)
    assert all(g[1] + MIN < h[0] for g, h in pairwise(gaps))  # disjoint
    requests = plan_requests(gaps, MIN, most)
    assert _minutes(requests) >= want
    for a, b in requests:
        assert (b - a) // MIN + 1 <= most  # never more than the venue answers
        assert a in want and b in want  # no cached candle fetched at either end
    # As few as can be: a request only starts where the one before could not reach.
    assert all(r[0] > q[0] + MIN * (most - 1) for q, r in pairwise(requests))
    # Each request's uncached parts: inside it, sorted, and exactly what is not covered.
    parts = uncached_parts(requests, covered, MIN)
    assert len(parts) == len(requests)
    for (a, b), mine in zip(requests, parts, strict=True):
        assert all(a <= x <= y <= b for x, y in mine) and mine == sorted(mine)
        assert _minutes(mine) == _minutes([(a, b)]) - _minutes(covered)
