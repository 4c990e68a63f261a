"""Market tests run the real client against a local Binance/Upbit stand-in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kifu.config import Settings
from tests.helpers import serving, settings_with_exchange
from tests.market.fake_exchange import FakeExchange, serve


@pytest.fixture
def exchange() -> Iterator[FakeExchange]:
    fake = FakeExchange()
    with serving(serve(fake)[0]):
        yield fake


@pytest.fixture
def settings(db: str, exchange: FakeExchange) -> Settings:
    return settings_with_exchange(db, exchange.url)
