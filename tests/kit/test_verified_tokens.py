"""kifu.kit.auth.VerifiedTokens: a token is verified once, then only its expiry is checked."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kifu.app import create_app
from kifu.config import Settings
from kifu.kit import auth, jws
from kifu.kit.auth import ACCESS_TOKEN_TTL, VerifiedTokens, issue_access_token
from kifu.kit.errors import Unauthorized
from tests.helpers import TEST_JWT_SECRET, ApiUser

NOW = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)


@pytest.fixture
def verifies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens ``jws.verify`` was asked about, in order."""
    asked: list[str] = []
    real = jws.verify

    def counting(token: str, *args: Any, **kw: Any) -> dict[str, Any]:
        asked.append(token)
        return real(token, *args, **kw)

    monkeypatch.setattr(jws, "verify", counting)
    return asked


def _at(monkeypatch: pytest.MonkeyPatch, when: datetime) -> None:
    """``time.time()`` is ``when`` (the gate's clock and ``jws.verify``'s are the one module's)."""
    assert auth.time is jws.time
    monkeypatch.setattr(auth.time, "time", lambda: when.timestamp())


def test_a_token_is_verified_once(monkeypatch: pytest.MonkeyPatch, verifies: list[str]) -> None:
    _at(monkeypatch, NOW)
    user = uuid.uuid4()
    token = issue_access_token(user, TEST_JWT_SECRET, now=NOW)
    tokens = VerifiedTokens(TEST_JWT_SECRET)
    assert [tokens.user_of(token) for _ in range(3)] == [user] * 3
    assert verifies == [token]


def test_a_remembered_token_still_expires(
    monkeypatch: pytest.MonkeyPatch, verifies: list[str]
) -> None:
    token = issue_access_token(uuid.uuid4(), TEST_JWT_SECRET, now=NOW)
    tokens = VerifiedTokens(TEST_JWT_SECRET)
    _at(monkeypatch, NOW + ACCESS_TOKEN_TTL - timedelta(seconds=1))
    tokens.user_of(token)
    _at(monkeypatch, NOW + ACCESS_TOKEN_TTL)  # exp is the first instant it no longer holds
    for _ in range(2):
        with pytest.raises(Unauthorized, match="expired"):
            tokens.user_of(token)
    assert verifies == [token] * 3


def test_refused_tokens_are_never_remembered(
    monkeypatch: pytest.MonkeyPatch, verifies: list[str]
) -> None:
    _at(monkeypatch, NOW)
    forged = issue_access_token(uuid.uuid4(), "another-secret-of-sufficient-length-0123", now=NOW)
    refresh = jws.sign(
        {"sub": str(uuid.uuid4()), "typ": "refresh", "exp": NOW.timestamp() + 60},
        TEST_JWT_SECRET,
        "HS256",
    )
    tokens = VerifiedTokens(TEST_JWT_SECRET)
    for token, message in ((forged, "invalid"), (refresh, "not an access token")):
        for _ in range(2):
            with pytest.raises(Unauthorized, match=message):
                tokens.user_of(token)
    assert verifies == [forged, forged, refresh, refresh]


def test_a_token_valid_later_is_checked_each_time(
    monkeypatch: pytest.MonkeyPatch, verifies: list[str]
) -> None:
    user = uuid.uuid4()
    claims = {"sub": str(user), "exp": NOW.timestamp() + 600, "nbf": NOW.timestamp() + 60}
    token = jws.sign(claims, TEST_JWT_SECRET, "HS256")
    tokens = VerifiedTokens(TEST_JWT_SECRET)
    _at(monkeypatch, NOW)
    with pytest.raises(Unauthorized):
        tokens.user_of(token)
    _at(monkeypatch, NOW + timedelta(seconds=61))
    assert tokens.user_of(token) == user
    assert tokens.user_of(token) == user
    assert len(verifies) == 3


def test_the_oldest_is_forgotten_beyond_the_size(
    monkeypatch: pytest.MonkeyPatch, verifies: list[str]
) -> None:
    _at(monkeypatch, NOW)
    a, b, c = (issue_access_token(uuid.uuid4(), TEST_JWT_SECRET, now=NOW) for _ in range(3))
    tokens = VerifiedTokens(TEST_JWT_SECRET, size=2)
    for token in (a, b, c, b, c, a):
        tokens.user_of(token)
    assert verifies == [a, b, c, a]


def test_the_gate_refuses_a_token_it_remembered_once_it_expires(
    monkeypatch: pytest.MonkeyPatch, db: str, user: ApiUser
) -> None:
    settings = Settings(database_url=db, jwt_secret=TEST_JWT_SECRET, floor_route=True)
    token = issue_access_token(user.id, TEST_JWT_SECRET, now=NOW)
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(settings, db)) as c:
        _at(monkeypatch, NOW)
        assert c.get("/api/v1/_floor", headers=headers).status_code == 200
        _at(monkeypatch, NOW + ACCESS_TOKEN_TTL)
        r = c.get("/api/v1/_floor", headers=headers)
    assert r.status_code == 401
    assert "expired" in r.json()["message"]
