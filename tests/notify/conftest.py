"""Notify tests: the app and the delivery job pointed at local Telegram / webhook / ntfy
stand-ins (and the planted market stand-in, for alerts that notify)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kifu.config import Settings
from tests.alerts.planted_market import PlantedExchange
from tests.helpers import serving, settings_with_exchange
from tests.market.fake_exchange import serve as serve_market
from tests.notify.fake_services import FakeServices, serve

WEBHOOK_SECRET = "telegram-webhook-secret-for-tests"


@pytest.fixture
def services() -> Iterator[FakeServices]:
    fake = FakeServices()
    with serving(serve(fake)):
        yield fake


@pytest.fixture
def exchange() -> Iterator[PlantedExchange]:
    fake = PlantedExchange()
    with serving(serve_market(fake)[0]):
        yield fake


@pytest.fixture
def settings(db: str, services: FakeServices, exchange: PlantedExchange) -> Settings:
    return settings_with_exchange(
        db,
        exchange.url,
        telegram_api_url=services.url,
        telegram_bot_token=services.bot_token,
        telegram_bot_username="kifu_test_bot",
        telegram_webhook_secret=WEBHOOK_SECRET,
        ntfy_url=services.url,
        notify_retry_base_seconds=0,
        notify_max_attempts=3,
        notify_deliver_inline=False,  # tests run the delivery job themselves, step by step
    )
