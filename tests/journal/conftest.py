"""Journal tests run the real client against the market tests' local Binance/Upbit stand-in."""

from tests.market.conftest import exchange, settings

__all__ = ["exchange", "settings"]
