"""Market tests run the real client against a local Binance/Upbit stand-in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kifu.config import Settings
from tests.helpers import TEST_ENC_KEY, TEST_JWT_SECRET
from tests.market.fake_exchange import FakeExchange, serve


@pytest.fixture
def exchange() -> Iterator[FakeExchange]:
    fake = FakeExchange()
    server, _ = serve(fake)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def settings(db: str, exchange: FakeExchange) -> Settings:
    return Settings(
        database_url=db,
        jwt_secret=TEST_JWT_SECRET,
        enc_key=TEST_ENC_KEY,
        binance_spot_url=exchange.url,
        binance_futures_url=exchange.url,
        upbit_url=exchange.url,
    )
