"""Small builders for the AI tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psycopg
from fastapi.testclient import TestClient

from kifu.ai.scoring import score_opinions
from kifu.app import create_app
from tests.ai.conftest import ai_settings
from tests.ai.fake_providers import FakeProviders
from tests.helpers import ApiUser
from tests.market.fake_exchange import FakeExchange

NOW = datetime.now(UTC).replace(second=0, microsecond=0)


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


def plant_bubble(
    db: str,
    user: ApiUser,
    when: datetime,
    outcomes: dict[str, str],
    symbol: str = "BTCUSDT",
    asset_class: str | None = "crypto",
) -> uuid.UUID:
    with psycopg.connect(db) as conn:
        (bid,) = conn.execute(
            "INSERT INTO bubbles (user_id, symbol, timeframe, candle_time, price, bubble_type,"
            " asset_class, venue_name) VALUES (%s, %s, '1h', %s, 100, 'manual', %s, 'binance')"
            " RETURNING id",
            (user.id, symbol, when, asset_class),
        ).fetchone()
        for period, pnl in outcomes.items():
            conn.execute(
                "INSERT INTO outcomes (bubble_id, period, reference_price, outcome_price,"
                " pnl_percent) VALUES (%s, %s, 100, 100 + %s::numeric, %s)",
                (bid, period, pnl, pnl),
            )
    return bid


def plant_opinion(
    db: str,
    bubble_id: uuid.UUID,
    provider: str,
    text: str,
    created: datetime,
    verdict: tuple[str, str] | None = None,
    momentum: str | None = None,
    model: str = "m-1",
) -> uuid.UUID:
    with psycopg.connect(db) as conn:
        (oid,) = conn.execute(
            "INSERT INTO ai_opinions (bubble_id, provider, model, prompt_template, response,"
            " created_at, verdict_direction, verdict_probability, momentum_direction)"
            " VALUES (%s, %s, %s, 'p', %s, %s, %s, %s, %s) RETURNING id",
            (
                bubble_id,
                provider,
                model,
                text,
                created,
                verdict[0] if verdict else None,
                verdict[1] if verdict else None,
                momentum,
            ),
        ).fetchone()
    return oid


async def score(db: str, batch: int = 500) -> int:
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        return (await score_opinions(conn, batch=batch)).written
