"""The AI gate (allowlist + quota) and the monthly reset, driven directly on a real database."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kifu.accounts import quota, service
from kifu.accounts.quota import AiCredit
from kifu.config import Settings
from kifu.kit.errors import KifuError
from tests.helpers import ApiUser


def _sql(db: str, query: str, *params: object) -> list[tuple]:
    with psycopg.connect(db) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


async def _spend(db: str, user_id: uuid.UUID, *, allowlist_required: bool = False) -> int:
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        credit = await quota.spend_ai_credit(conn, user_id, allowlist_required=allowlist_required)
        return credit.remaining


def _error(db: str, user_id: uuid.UUID, **kw: bool) -> KifuError:
    with pytest.raises(KifuError) as info:
        asyncio.run(_spend(db, user_id, **kw))
    return info.value


def test_spending_counts_down_and_stops_at_zero(db: str, user: ApiUser) -> None:
    _sql(db, "UPDATE subscriptions SET ai_quota_remaining = 2")
    assert asyncio.run(_spend(db, user.id)) == 1
    assert asyncio.run(_spend(db, user.id)) == 0
    exc = _error(db, user.id)
    assert (exc.status_code, exc.code) == (429, "QUOTA_EXCEEDED")
    assert _sql(db, "SELECT ai_quota_remaining FROM subscriptions") == [(0,)]


def test_allowlist_is_enforced_when_required(db: str, user: ApiUser) -> None:
    exc = _error(db, user.id, allowlist_required=True)
    assert (exc.status_code, exc.code) == (403, "ALLOWLIST_REQUIRED")
    assert _sql(db, "SELECT ai_quota_remaining FROM subscriptions") == [(20,)]
    _sql(db, "UPDATE users SET ai_allowlisted = true")
    assert asyncio.run(_spend(db, user.id, allowlist_required=True)) == 19


def test_no_subscription_is_404(db: str, user: ApiUser) -> None:
    _sql(db, "DELETE FROM subscriptions")
    exc = _error(db, user.id)
    assert (exc.status_code, exc.code) == (404, "SUBSCRIPTION_NOT_FOUND")


def test_concurrent_spending_never_goes_below_zero(db: str, user: ApiUser) -> None:
    _sql(db, "UPDATE subscriptions SET ai_quota_remaining = 7")

    async def attempt() -> bool:
        try:
            await _spend(db, user.id)
        except KifuError as exc:
            assert exc.code == "QUOTA_EXCEEDED"
            return False
        return True

    async def storm() -> list[bool]:
        return await asyncio.gather(*(attempt() for _ in range(25)))

    results = asyncio.run(storm())
    assert sum(results) == 7
    assert _sql(db, "SELECT ai_quota_remaining FROM subscriptions") == [(0,)]


def test_refund_never_exceeds_the_limit(db: str, user: ApiUser) -> None:
    async def go() -> list[int | None]:
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
            await quota.spend_ai_credit(conn, user.id, allowlist_required=False)
            return [await quota.refund_ai_credit(conn, user.id) for _ in range(2)]

    assert asyncio.run(go()) == [20, 20]


def test_the_dependency_guards_a_route(settings: Settings, db: str, user: ApiUser) -> None:
    from kifu.app import create_app

    app: FastAPI = create_app(settings, db)

    @app.post("/api/v1/test-ai")
    async def ai_route(credit: AiCredit) -> dict:
        return {"remaining": credit.remaining}

    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.post("/api/v1/test-ai").status_code == 401
        r = c.post("/api/v1/test-ai", headers=user.headers)
        assert (r.status_code, r.json()["code"]) == (403, "ALLOWLIST_REQUIRED")
        _sql(db, "UPDATE users SET ai_allowlisted = true")
        assert c.post("/api/v1/test-ai", headers=user.headers).json() == {"remaining": 19}


# -- the monthly reset -------------------------------------------------------------------------


def _reset(db: str, now: datetime) -> service.ResetResult:
    async def go() -> service.ResetResult:
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
            return await service.reset_quotas(conn, now)

    return asyncio.run(go())


def _sub(db: str, user_id: uuid.UUID) -> tuple:
    return _sql(
        db,
        "SELECT tier, ai_quota_remaining, ai_quota_limit, last_reset_at, expires_at"
        " FROM subscriptions WHERE user_id = %s",
        user_id,
    )[0]


def test_reset_across_a_month_boundary_happens_once(db: str, make_user) -> None:
    free, gold, fresh = make_user(), make_user(), make_user()
    _sql(
        db,
        "UPDATE subscriptions SET ai_quota_remaining = 3, ai_quota_limit = 200,"
        " last_reset_at = '2026-01-31T23:59:59Z'",
    )
    _sql(
        db,
        "UPDATE subscriptions SET tier = 'gold', ai_quota_remaining = 5,"
        " expires_at = '2027-01-01T00:00:00Z' WHERE user_id = %s",
        gold.id,
    )
    _sql(
        db,
        "UPDATE subscriptions SET last_reset_at = '2026-02-01T00:00:00Z', ai_quota_remaining = 4"
        " WHERE user_id = %s",
        fresh.id,
    )

    # Still January in UTC (but February in Tokyo): nothing to do.
    assert _reset(db, datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=UTC)) == service.ResetResult(
        0, 0
    )

    feb = datetime(2026, 2, 1, 0, 0, 1, tzinfo=UTC)
    assert _reset(db, feb) == service.ResetResult(0, 2)
    assert _sub(db, free.id) == ("free", 20, 20, feb, None)
    assert _sub(db, gold.id)[:4] == ("gold", 1000, 1000, feb)
    assert _sub(db, fresh.id)[1] == 4  # reset in February already

    # Spend a credit, run again (same month, twice): nothing is reset again.
    _sql(db, "UPDATE subscriptions SET ai_quota_remaining = 19 WHERE user_id = %s", free.id)
    later = datetime(2026, 2, 20, tzinfo=UTC)
    assert _reset(db, later) == service.ResetResult(0, 0)
    assert _reset(db, later) == service.ResetResult(0, 0)
    assert _sub(db, free.id)[1] == 19


def test_expired_subscriptions_are_downgraded_to_free(db: str, user: ApiUser) -> None:
    _sql(
        db,
        "UPDATE subscriptions SET tier = 'vip', ai_quota_limit = 5000, ai_quota_remaining = 10,"
        " expires_at = '2026-03-10T00:00:00Z', last_reset_at = '2026-03-01T00:00:00Z'",
    )
    assert _reset(db, datetime(2026, 3, 9, tzinfo=UTC)) == service.ResetResult(0, 0)
    now = datetime(2026, 3, 10, 0, 0, 1, tzinfo=UTC)
    assert _reset(db, now) == service.ResetResult(1, 0)
    assert _sub(db, user.id) == ("free", 20, 20, now, None)
    assert _reset(db, now) == service.ResetResult(0, 0)


def test_two_concurrent_resets_reset_each_subscription_once(db: str, make_user) -> None:
    users = [make_user() for _ in range(30)]
    _sql(
        db,
        "UPDATE subscriptions SET ai_quota_remaining = 1, last_reset_at = '2026-04-15T00:00:00Z'",
    )
    now = datetime(2026, 5, 1, 0, 5, tzinfo=UTC)

    async def one() -> int:
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
            return (await service.reset_quotas(conn, now)).reset

    async def both() -> list[int]:
        return await asyncio.gather(one(), one(), one())

    counts = asyncio.run(both())
    assert sum(counts) == len(users)
    assert _sql(db, "SELECT DISTINCT ai_quota_remaining, last_reset_at FROM subscriptions") == [
        (20, now)
    ]


def test_tier_change_keeps_used_credits(db: str, user: ApiUser) -> None:
    _sql(db, "UPDATE subscriptions SET ai_quota_remaining = 15")  # 5 of 20 used

    async def go(tier: str, expires: datetime | None = None):
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
            return await service.change_tier(conn, user.id, tier, expires_at=expires)

    sub = asyncio.run(go("silver", datetime(2027, 1, 1, tzinfo=UTC)))
    assert (sub.tier, sub.ai_quota_remaining, sub.ai_quota_limit) == ("silver", 195, 200)
    assert sub.expires_at == datetime(2027, 1, 1, tzinfo=UTC)
    sub = asyncio.run(go("free", datetime(2027, 1, 1, tzinfo=UTC)))
    assert (sub.tier, sub.ai_quota_remaining, sub.ai_quota_limit, sub.expires_at) == (
        "free",
        15,
        20,
        None,
    )
