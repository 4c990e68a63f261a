"""Contract tests drive the real app, with the client's origin allowed and a local stand-in
for the candle source."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kifu.config import Settings
from tests.helpers import serving, settings_with_exchange
from tests.market.fake_exchange import FakeExchange, serve

CLIENT_ORIGIN = "http://127.0.0.1:3000"


@pytest.fixture
def candles() -> Iterator[FakeExchange]:
    fake = FakeExchange()
    with serving(serve(fake)[0]):
        yield fake


@pytest.fixture
def settings(db: str, candles: FakeExchange) -> Settings:
    return settings_with_exchange(
        db, candles.url, cors_allowed_origins=f"http://localhost:5173,{CLIENT_ORIGIN}"
    )
