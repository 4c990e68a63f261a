"""The market stand-in (``tests/market/fake_exchange.py``) with planted price paths.

A test sets, per venue symbol (``BTCUSDT``, ``KRW-BTC``), the current price and optionally the
price of older candles, then runs monitor ticks: every kline the real client fetches (Binance
futures/spot, Upbit) is answered from the plant.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from tests.market.fake_exchange import FakeExchange

# (open time in epoch seconds) -> (open, high, low, close, volume)
CandleFn = Callable[[int], tuple[Decimal, ...]]


def flat(price: Decimal | str | int, spread: Decimal | str | int = 0) -> tuple[Decimal, ...]:
    p, s = Decimal(price), Decimal(spread)
    return (p, p + s, p - s, p, Decimal("10"))


@dataclass
class PlantedExchange(FakeExchange):
    now_price: dict[str, Decimal] = field(default_factory=dict)
    # Candles that opened before ``since`` seconds ago get the ``past`` price.
    past_price: dict[str, Decimal] = field(default_factory=dict)
    recent_seconds: int = 120
    custom: dict[str, CandleFn] = field(default_factory=dict)

    def set_price(self, symbol: str, price: str | int, past: str | int | None = None) -> None:
        self.now_price[symbol] = Decimal(price)
        if past is not None:
            self.past_price[symbol] = Decimal(past)

    def candle(self, symbol: str, open_ts: int) -> tuple[Decimal, ...]:
        if symbol in self.custom:
            return self.custom[symbol](open_ts)
        if symbol in self.now_price:
            old = open_ts < time.time() - self.recent_seconds
            if old and symbol in self.past_price:
                return flat(self.past_price[symbol])
            return flat(self.now_price[symbol])
        return super().candle(symbol, open_ts)

    def kline_requests(self, symbol: str) -> int:
        return sum(
            1 for _, q in self.requests if q.get("symbol") == symbol or q.get("market") == symbol
        )
