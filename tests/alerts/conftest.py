"""Alert tests run the real market client against a planted Binance/Upbit stand-in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kifu.config import Settings
from tests.alerts.planted_market import PlantedExchange
from tests.helpers import serving, settings_with_exchange
from tests.market.fake_exchange import serve


@pytest.fixture
def exchange() -> Iterator[PlantedExchange]:
    fake = PlantedExchange()
    with serving(serve(fake)[0]):
        yield fake


@pytest.fixture
def settings(db: str, exchange: PlantedExchange) -> Settings:
    return settings_with_exchange(db, exchange.url)
