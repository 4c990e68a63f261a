"""The market stand-in (``tests/market/fake_exchange.py``) with planted price paths.

A test sets, per venue symbol (``BTCUSDT``, ``KRW-BTC``), the price (and high-low spread) of
candles that opened in the current UTC hour ("now") and of older ones ("past"), then runs monitor
ticks: every kline the real client fetches (Binance futures/spot, Upbit) is answered from the
plant.
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
    now: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)  # (price, spread)
    past: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    custom: dict[str, CandleFn] = field(default_factory=dict)
    binance_ticker: bool = True  # False: the Binance ticker paths are 404 (not served)

    def set_price(self, symbol: str, price: str | int, spread: str | int = 0) -> None:
        self.now[symbol] = (Decimal(price), Decimal(spread))

    def set_past(self, symbol: str, price: str | int, spread: str | int = 0) -> None:
        self.past[symbol] = (Decimal(price), Decimal(spread))

    def candle(self, symbol: str, open_ts: int) -> tuple[Decimal, ...]:
        if symbol in self.custom:
            return self.custom[symbol](open_ts)
        if symbol in self.now:
            now = int(time.time())
            if open_ts < now - now % 3600 and symbol in self.past:
                return flat(*self.past[symbol])
            return flat(*self.now[symbol])
        return super().candle(symbol, open_ts)

    def price_of(self, symbol: str) -> Decimal:
        now = int(time.time())
        return self.candle(symbol, now - now % 60)[3]

    def answer(self, path: str, q: dict[str, str]) -> tuple[int, object, dict[str, str]]:
        """Adds the tickers: Binance ``ticker/price`` (futures and spot), Upbit ``/v1/ticker``."""
        if path in ("/fapi/v1/ticker/price", "/api/v3/ticker/price"):
            if not self.binance_ticker:
                return 404, {"msg": "no such path"}, {}
            if self.binance_status:
                busy = {"code": -1003, "msg": "busy"}
                return self.binance_status, busy, {"Retry-After": self.retry_after}
            listed = self.futures if path.startswith("/fapi") else self.spot
            symbol = q.get("symbol", "")
            if symbol not in listed:
                return 400, {"code": -1121, "msg": "Invalid symbol."}, {}
            answer = {"symbol": symbol, "price": str(self.price_of(symbol))}
            return 200, {**answer, "time": int(time.time() * 1000)}, {}
        if path == "/v1/ticker":
            if self.upbit_status:
                return (
                    self.upbit_status,
                    {"error": {"name": "busy"}},
                    {"Retry-After": self.retry_after},
                )
            market = q.get("markets", "")
            if market not in self.upbit:
                return 404, {"error": {"name": "404", "message": "Code not found"}}, {}
            price = float(self.price_of(market))
            return 200, [{"market": market, "trade_price": price, "timestamp": 0}], {}
        return super().answer(path, q)

    def ticker_requests(self, symbol: str) -> int:
        return sum(
            1
            for p, q in self.requests
            if "ticker" in p and symbol in (q.get("symbol"), q.get("markets"))
        )

    def kline_requests(self, symbol: str) -> int:
        return sum(
            1 for _, q in self.requests if q.get("symbol") == symbol or q.get("market") == symbol
        )
