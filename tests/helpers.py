"""Constants and small helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from socketserver import BaseServer

from kifu.config import Settings

TEST_JWT_SECRET = "test-jwt-secret-not-for-production-0123456789"
TEST_ENC_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # base64 of 32 bytes


@dataclass
class ApiUser:
    """A user made by the ``make_user`` fixture, with a valid access token."""

    id: uuid.UUID
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def settings_with_exchange(db: str, exchange_url: str, **extra: object) -> Settings:
    """Settings of the test database with every exchange base URL pointed at a local stand-in."""
    return Settings(
        database_url=db,
        jwt_secret=TEST_JWT_SECRET,
        enc_key=TEST_ENC_KEY,
        binance_spot_url=exchange_url,
        binance_futures_url=exchange_url,
        upbit_url=exchange_url,
        **extra,
    )


@contextmanager
def serving(server: BaseServer) -> Iterator[None]:
    """Keep a stand-in HTTP server (already serving in a thread) up for the block."""
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def count_calls(monkeypatch, module: object, name: str) -> list[int]:
    """A list that grows by one at each call of the coroutine function ``module.name``."""
    calls: list[int] = []
    original = getattr(module, name)

    async def counted(*args, **kwargs):
        calls.append(1)
        return await original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls
