"""Exchange tests run kifu's real clients against local Binance/Upbit stand-ins."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from kifu.config import Settings
from tests.exchanges.fake_venues import FakeVenues, Key, serve
from tests.helpers import TEST_ENC_KEY, TEST_JWT_SECRET

BINANCE_KEY = "bnKEY0123456789abcdefREADONLY"
BINANCE_SECRET = "bnSECRET-s3cr3t-value-never-logged-0001"
UPBIT_KEY = "upKEY0123456789abcdefREADONLY"
UPBIT_SECRET = "upSECRET-s3cr3t-value-never-logged-0002"


@pytest.fixture
def now() -> datetime:
    """The test's own start (whole second). Not a module constant: one computed at collection
    is minutes old by the time a test runs in a full suite, and syncs read "now" afresh."""
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def venues() -> Iterator[FakeVenues]:
    fake = FakeVenues()
    fake.keys[BINANCE_KEY] = Key(BINANCE_SECRET)
    fake.keys[UPBIT_KEY] = Key(UPBIT_SECRET)
    server, _ = serve(fake)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def settings(db: str, venues: FakeVenues) -> Settings:
    return Settings(
        database_url=db,
        jwt_secret=TEST_JWT_SECRET,
        enc_key=TEST_ENC_KEY,
        binance_spot_url=venues.url,
        binance_futures_url=venues.url,
        upbit_url=venues.url,
        exchange_retry_base_seconds=0.01,
        exchange_max_wait_seconds=2.0,
        exchange_timeout_seconds=60.0,  # no test waits for it: room for a loaded machine
    )
