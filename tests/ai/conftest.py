"""AI tests run the real provider clients against local stand-ins (``fake_providers``) and the
real market client against the market tests' Binance/Upbit stand-in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kifu.config import Settings
from tests.ai.fake_providers import FakeProviders, serve
from tests.helpers import serving, settings_with_exchange
from tests.market.conftest import exchange
from tests.market.fake_exchange import FakeExchange

__all__ = ["exchange"]


@pytest.fixture
def fake_ai() -> Iterator[FakeProviders]:
    fake = FakeProviders()
    with serving(serve(fake)):
        yield fake


def ai_settings(db: str, fake_ai: FakeProviders, exchange_url: str, **extra: object) -> Settings:
    values: dict[str, object] = {
        "openai_url": fake_ai.url,
        "anthropic_url": fake_ai.url + "/v1",
        "gemini_url": fake_ai.url + "/v1beta",
        "openai_api_key": "sk-service-openai",
        "anthropic_api_key": "sk-ant-service",
        "gemini_api_key": "gm-service",
        "ai_allowlist_required": False,
        "ai_rate_limit_rpm": 1000,
        "ai_rate_limit_burst": 1000,
        "ai_retry_delay_seconds": 0.01,
        "ai_timeout_seconds": 5,
    }
    values.update(extra)
    return settings_with_exchange(db, exchange_url, **values)


@pytest.fixture
def settings(db: str, fake_ai: FakeProviders, exchange: FakeExchange) -> Settings:
    return ai_settings(db, fake_ai, exchange.url)
