"""Small builders for the AI tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psycopg
from fastapi.testclient import TestClient

from kifu.app import create_app
from tests.ai.conftest import ai_settings
from tests.ai.fake_providers import FakeProviders
from tests.helpers import ApiUser
from tests.market.fake_exchange import FakeExchange


def hours_ago(n: int) -> datetime:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return now - timedelta(hours=n)


def make_bubble(
    client: TestClient,
    user: ApiUser,
    symbol: str = "BTCUSDT",
    when: datetime | None = None,
    memo: str | None = "breakout retest",
    timeframe: str = "1h",
    price: str = "50000",
) -> str:
    body = {
        "symbol": symbol,
        "timeframe": timeframe,
        "candle_time": (when or hours_ago(3)).isoformat(),
        "price": price,
    }
    if memo is not None:
        body["memo"] = memo
    r = client.post("/api/v1/bubbles", json=body, headers=user.headers)
    assert r.status_code == 200, r.text
    return r.json()["id"]


def quota_left(db: str, user: ApiUser) -> int:
    with psycopg.connect(db) as conn:
        row = conn.execute(
            "SELECT ai_quota_remaining FROM subscriptions WHERE user_id = %s", (user.id,)
        ).fetchone()
    assert row is not None
    return row[0]


def set_quota(db: str, user: ApiUser, remaining: int, limit: int = 20) -> None:
    with psycopg.connect(db) as conn:
        conn.execute(
            "UPDATE subscriptions SET ai_quota_remaining = %s, ai_quota_limit = %s"
            " WHERE user_id = %s",
            (remaining, limit, user.id),
        )


@contextmanager
def api(
    db: str, fake_ai: FakeProviders, exchange: FakeExchange, **extra: object
) -> Iterator[TestClient]:
    """A client of an app with AI settings changed by ``extra``."""
    app = create_app(ai_settings(db, fake_ai, exchange.url, **extra), db)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
