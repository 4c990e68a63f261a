"""`kifu user …` against a real database."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from typer.testing import CliRunner

from kifu.cli import app
from kifu.config import get_settings
from tests.helpers import TEST_ENC_KEY, TEST_JWT_SECRET


@pytest.fixture
def kifu(db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    monkeypatch.setenv("DATABASE_URL", db)
    monkeypatch.setenv("JWT_SECRET", TEST_JWT_SECRET)
    monkeypatch.setenv("KIFU_ENC_KEY", TEST_ENC_KEY)
    monkeypatch.setenv("COLUMNS", "250")
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None):
        return runner.invoke(app, ["user", *args], input=stdin)

    yield run
    get_settings.cache_clear()


def _row(db: str, query: str) -> tuple:
    with psycopg.connect(db) as conn:
        return conn.execute(query).fetchone()


def test_user_commands(kifu, db: str, client) -> None:
    r = kifu(
        "create",
        "Ops@Example.com",
        "--name",
        "Ops",
        "--password-stdin",
        "--tier",
        "gold",
        stdin="long-password\n",
    )
    assert r.exit_code == 0, r.output
    assert _row(
        db,
        "SELECT u.email, s.tier, s.ai_quota_limit FROM users u JOIN subscriptions s"
        " ON s.user_id = u.id",
    ) == ("ops@example.com", "gold", 1000)
    login = client.post(
        "/api/v1/auth/login", json={"email": "ops@example.com", "password": "long-password"}
    )
    assert login.status_code == 200

    r = kifu(
        "create", "ops@example.com", "--name", "Again", "--password-stdin", stdin="long-password\n"
    )
    assert r.exit_code == 1 and "already exists" in r.output

    r = kifu("list")
    assert r.exit_code == 0 and "ops@example.com" in r.output and "1000/1000" in r.output

    assert kifu("allowlist", "OPS@example.com").exit_code == 0
    assert _row(db, "SELECT ai_allowlisted FROM users") == (True,)
    assert kifu("allowlist", "ops@example.com", "--off").exit_code == 0
    assert _row(db, "SELECT ai_allowlisted FROM users") == (False,)

    r = kifu("tier", "ops@example.com", "vip", "--expires", "2031-01-01T00:00:00Z")
    assert r.exit_code == 0, r.output
    assert _row(db, "SELECT tier, ai_quota_limit, expires_at IS NOT NULL FROM subscriptions") == (
        "vip",
        5000,
        True,
    )
    assert kifu("tier", "ops@example.com", "platinum").exit_code == 1
    assert kifu("tier", "nobody@example.com", "gold").exit_code == 1

    r = kifu("revoke-sessions", "ops@example.com")
    assert r.exit_code == 0 and "1 session(s) revoked" in r.output
    refresh = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": login.json()["refresh_token"]}
    )
    assert refresh.status_code == 401


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("create", "not-an-email", "--name", "X", "--password-stdin"), "long-password\n", "email"),
        (("create", "a@example.com", "--name", " ", "--password-stdin"), "long-password\n", "name"),
        (("create", "a@example.com", "--name", "X", "--password-stdin"), "short\n", "password"),
    ],
)
def test_create_rejects_bad_input(kifu, db: str, args, stdin, message) -> None:
    r = kifu(*args, stdin=stdin)
    assert r.exit_code == 1
    assert message in r.output
    assert _row(db, "SELECT count(*) FROM users") == (0,)


def test_user_admin_grants_and_revokes(kifu, db: str, user) -> None:
    assert _row(db, "SELECT is_admin FROM users") == (False,)
    r = kifu("admin", user.email.upper())
    assert r.exit_code == 0 and "granted" in r.output, r.output
    assert _row(db, "SELECT is_admin FROM users") == (True,)
    r = kifu("admin", str(user.id), "--off")
    assert r.exit_code == 0 and "revoked" in r.output, r.output
    assert _row(db, "SELECT is_admin FROM users") == (False,)
    r = kifu("admin", "nobody@example.com")
    assert r.exit_code == 1 and "no user" in r.output
