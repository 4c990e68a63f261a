"""Contract tests drive the real app, with the client's origin allowed and a local stand-in
for the candle source."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kifu.config import Settings
from tests.helpers import TEST_ENC_KEY, TEST_JWT_SECRET
from tests.market.fake_exchange import FakeExchange, serve

CLIENT_ORIGIN = "http://127.0.0.1:3000"


@pytest.fixture
def candles() -> Iterator[FakeExchange]:
    fake = FakeExchange()
    server, _ = serve(fake)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def settings(db: str, candles: FakeExchange) -> Settings:
    return Settings(
        database_url=db,
        jwt_secret=TEST_JWT_SECRET,
        enc_key=TEST_ENC_KEY,
        cors_allowed_origins=f"http://localhost:5173,{CLIENT_ORIGIN}",
        binance_spot_url=candles.url,
        binance_futures_url=candles.url,
        upbit_url=candles.url,
    )
