"""/users/me, /users/me/subscription and /users/me/symbols against the real app."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.helpers import ApiUser

ME = "/api/v1/users/me"
SUB = "/api/v1/users/me/subscription"
SYMBOLS = "/api/v1/users/me/symbols"


def test_profile_shape(client: TestClient, user: ApiUser) -> None:
    r = client.get(ME, headers=user.headers)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"id", "email", "name", "ai_allowlisted", "created_at", "subscription"}
    assert body["id"] == str(user.id)
    assert body["created_at"].endswith("Z")
    sub = body["subscription"]
    assert set(sub) == {"tier", "ai_quota_remaining", "ai_quota_limit", "last_reset_at"}
    assert (sub["tier"], sub["ai_quota_remaining"], sub["ai_quota_limit"]) == ("free", 20, 20)


def test_rename_returns_the_full_profile_with_the_quota_limit(
    client: TestClient, user: ApiUser, db: str
) -> None:
    r = client.put(ME, json={"name": "  New Name  "}, headers=user.headers)
    assert r.status_code == 200
    assert r.json()["name"] == "New Name"
    assert r.json()["subscription"]["ai_quota_limit"] == 20  # the reference sent 0 here
    for bad in ({"name": ""}, {"name": "  "}, {}, {"name": 5}, {"name": "x", "email": "a@b.co"}):
        r = client.put(ME, json=bad, headers=user.headers)
        assert r.status_code == 400, bad
        assert r.json()["code"] == "INVALID_REQUEST"
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT name FROM users").fetchone()[0] == "New Name"


def test_subscription_with_expiry(client: TestClient, user: ApiUser, db: str) -> None:
    with psycopg.connect(db) as conn:
        conn.execute(
            "UPDATE subscriptions SET tier = 'gold', ai_quota_limit = 1000,"
            " ai_quota_remaining = 990, expires_at = '2031-01-01T00:00:00Z'"
        )
    r = client.get(SUB, headers=user.headers)
    assert r.status_code == 200
    assert r.json()["ai_quota_limit"] == 1000
    assert r.json()["ai_quota_remaining"] == 990
    assert r.json()["expires_at"] == "2031-01-01T00:00:00Z"


def test_missing_user_and_subscription_are_404(client: TestClient, user: ApiUser, db: str) -> None:
    with psycopg.connect(db) as conn:
        conn.execute("DELETE FROM subscriptions")
    assert client.get(SUB, headers=user.headers).json()["code"] == "SUBSCRIPTION_NOT_FOUND"
    assert "subscription" not in client.get(ME, headers=user.headers).json()
    with psycopg.connect(db) as conn:
        conn.execute("DELETE FROM users")
    r = client.get(ME, headers=user.headers)
    assert r.status_code == 404
    assert r.json()["code"] == "USER_NOT_FOUND"


def test_symbols_default_then_replace_in_order(client: TestClient, user: ApiUser) -> None:
    r = client.get(SYMBOLS, headers=user.headers)
    assert r.json() == {"symbols": [{"symbol": "BTCUSDT", "timeframe_default": "1h"}]}
    payload = {
        "symbols": [
            {"symbol": "ethusdt", "timeframe_default": "4H"},
            {"symbol": " krw-btc "},
            {"symbol": "005930", "timeframe_default": ""},
            {"symbol": "ADAUSDT", "timeframe_default": "1d"},
        ]
    }
    expected = [
        {"symbol": "ETHUSDT", "timeframe_default": "4h"},
        {"symbol": "KRW-BTC", "timeframe_default": "1h"},
        {"symbol": "005930", "timeframe_default": "1h"},
        {"symbol": "ADAUSDT", "timeframe_default": "1d"},
    ]
    r = client.put(SYMBOLS, json=payload, headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"symbols": expected}
    assert client.get(SYMBOLS, headers=user.headers).json() == {"symbols": expected}
    r = client.put(SYMBOLS, json={"symbols": []}, headers=user.headers)
    assert r.json() == {"symbols": [{"symbol": "BTCUSDT", "timeframe_default": "1h"}]}


@pytest.mark.parametrize(
    ("payload", "code", "named"),
    [
        ({"symbols": [{"symbol": "BTCUSDT"}, {"symbol": "btcusdt"}]}, "INVALID_SYMBOL", "BTCUSDT"),
        ({"symbols": [{"symbol": "BT"}]}, "INVALID_SYMBOL", "symbols[0].symbol"),
        ({"symbols": [{"symbol": "BTC/USDT"}]}, "INVALID_SYMBOL", "symbols[0].symbol"),
        (
            {"symbols": [{"symbol": "BTCUSDT", "timeframe_default": "2h"}]},
            "INVALID_TIMEFRAME",
            "symbols[0].timeframe_default",
        ),
        ({"symbols": [{"symbol": "BTCUSDT", "extra": 1}]}, "INVALID_REQUEST", "symbols.0.extra"),
        ({"symbols": "BTCUSDT"}, "INVALID_REQUEST", "symbols"),
        ({}, "INVALID_REQUEST", "symbols"),
        ({"symbols": [{"symbol": f"S{i:04d}"} for i in range(101)]}, "INVALID_REQUEST", "symbols"),
    ],
)
def test_bad_symbol_lists_are_400_and_change_nothing(
    client: TestClient, user: ApiUser, payload: dict, code: str, named: str
) -> None:
    client.put(SYMBOLS, json={"symbols": [{"symbol": "ETHUSDT"}]}, headers=user.headers)
    r = client.put(SYMBOLS, json=payload, headers=user.headers)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == code
    assert named in r.json()["message"]
    assert client.get(SYMBOLS, headers=user.headers).json()["symbols"] == [
        {"symbol": "ETHUSDT", "timeframe_default": "1h"}
    ]


def test_users_only_see_their_own_symbols(client: TestClient, make_user) -> None:
    a, b = make_user(), make_user()
    client.put(SYMBOLS, json={"symbols": [{"symbol": "ETHUSDT"}]}, headers=a.headers)
    assert client.get(SYMBOLS, headers=b.headers).json()["symbols"][0]["symbol"] == "BTCUSDT"


def test_profile_bytes_are_what_the_put_answers(client: TestClient, user: ApiUser, db: str) -> None:
    """GET serialises the profile itself (RawJSON); PUT lets FastAPI do it from the same model:
    the same bytes, a non-ASCII name unescaped, no subscription left out rather than null."""
    put = client.put(ME, json={"name": "김 트레이더 📈"}, headers=user.headers)
    got = client.get(ME, headers=user.headers)
    assert (got.status_code, got.headers["content-type"]) == (200, "application/json")
    assert got.content == put.content
    assert "김 트레이더 📈".encode() in got.content
    with psycopg.connect(db) as conn:
        conn.execute("DELETE FROM subscriptions WHERE user_id = %s", (user.id,))
    got = client.get(ME, headers=user.headers)
    assert b"subscription" not in got.content
    again = client.put(ME, json={"name": "김 트레이더 📈"}, headers=user.headers)
    assert got.content == again.content


def test_profile_is_kept_until_the_user_or_subscription_changes(
    client: TestClient, user: ApiUser, db: str
) -> None:
    """A kept answer (kit.answers, migration 132): served again, before routing, until any
    writer changes the user row or the subscription, SQL by hand included."""
    answers = client.app.state.answers

    def me() -> dict:
        r = client.get(ME, headers=user.headers)
        assert r.status_code == 200, r.text
        return r.json()

    first = me()
    assert me() == first and answers.served_early == 1

    def by_hand(sql: str) -> None:
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute(sql, (user.id,))

    assert client.put(ME, json={"name": "Renamed"}, headers=user.headers).status_code == 200
    assert me()["name"] == "Renamed"
    by_hand("UPDATE users SET ai_allowlisted = true WHERE id = %s")
    assert me()["ai_allowlisted"] is True
    by_hand("UPDATE subscriptions SET ai_quota_remaining = 5 WHERE user_id = %s")
    assert me()["subscription"]["ai_quota_remaining"] == 5
    by_hand("DELETE FROM subscriptions WHERE user_id = %s")
    assert "subscription" not in me()
    by_hand(
        "INSERT INTO subscriptions (user_id, tier, ai_quota_remaining, ai_quota_limit)"
        " VALUES (%s, 'gold', 7, 100)"
    )
    assert me()["subscription"]["tier"] == "gold"
    served = answers.served_early
    assert me()["subscription"]["tier"] == "gold" and answers.served_early == served + 1
    by_hand("DELETE FROM users WHERE id = %s")
    r = client.get(ME, headers=user.headers)
    assert (r.status_code, r.json()["code"]) == (404, "USER_NOT_FOUND")


def test_watch_list_is_kept_until_it_changes(client: TestClient, user: ApiUser, db: str) -> None:
    """Kept under the accounts stamp (the first GET writes the default, so the second computes
    once more): a PUT, a symbol added by sync (``watch_traded_symbols``) or by hand is seen."""
    answers = client.app.state.answers

    def symbols() -> list[str]:
        r = client.get(SYMBOLS, headers=user.headers)
        assert r.status_code == 200, r.text
        return [s["symbol"] for s in r.json()["symbols"]]

    assert symbols() == symbols() == ["BTCUSDT"]
    served = answers.served_early
    assert symbols() == ["BTCUSDT"] and answers.served_early == served + 1
    body = {"symbols": [{"symbol": "ETHUSDT", "timeframe_default": "4h"}]}
    assert client.put(SYMBOLS, json=body, headers=user.headers).status_code == 200
    assert symbols() == ["ETHUSDT"]
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO user_symbols (user_id, symbol, timeframe_default, created_at)"
            " VALUES (%s, 'SOLUSDT', '1h', now() + interval '1 hour')",
            (user.id,),
        )
    assert symbols() == ["ETHUSDT", "SOLUSDT"]
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("DELETE FROM users WHERE id = %s", (user.id,))
    r = client.get(SYMBOLS, headers=user.headers)
    assert (r.status_code, r.json()["code"]) == (404, "USER_NOT_FOUND")
