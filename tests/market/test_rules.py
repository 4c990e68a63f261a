"""Pure market rules: which venue prices a symbol, and Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

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
    resolve,
    retry_after_seconds,
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
