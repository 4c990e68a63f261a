"""The service shell: health, OpenAPI, CORS and one error envelope for every failure."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict

from kifu.app import create_app
from kifu.config import Settings
from tests.helpers import TEST_JWT_SECRET, ApiUser


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    size: int


probe = APIRouter()


@probe.post("/api/v1/_probe")
async def echo(body: Body) -> dict[str, object]:
    return {"name": body.name, "size": body.size}


@probe.get("/api/v1/_boom")
async def boom() -> None:
    raise RuntimeError("kaboom")


def _settings(**kw: object) -> Settings:
    return Settings(database_url="postgresql://unused", jwt_secret=TEST_JWT_SECRET, **kw)


@pytest.fixture
def client(db: str, user: ApiUser) -> Iterator[TestClient]:
    """A client that sends ``user``'s token on every request."""
    app = create_app(_settings(max_body_bytes=1024), db)
    app.include_router(probe)
    with TestClient(app, raise_server_exceptions=False, headers=user.headers) as c:
        yield c


def test_health(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "healthy"}
    assert r.headers["x-request-id"]


def test_health_reports_unreachable_database() -> None:
    app = create_app(_settings(), "host=127.0.0.1 port=1 dbname=x user=x connect_timeout=1")
    with TestClient(app) as c:
        r = c.get("/health")
    assert r.status_code == 503
    assert r.json()["status"] == "unhealthy"
    assert r.json()["code"] == "DATABASE_UNAVAILABLE"


def test_openapi_docs(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "kifu"


def test_unknown_route_is_json_404(client: TestClient) -> None:
    r = client.get("/api/v1/nope")
    assert r.status_code == 404
    assert r.json() == {"code": "NOT_FOUND", "message": "no route for GET /api/v1/nope"}


def test_wrong_method_is_json_405(client: TestClient) -> None:
    r = client.delete("/health")
    assert r.status_code == 405
    assert r.json()["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "malformed JSON"),
        (b'{"name": "a"}', "size: field required"),
        (b'{"name": "a", "size": "big"}', "size:"),
        (b'{"name": "a", "size": 1, "extra": 1}', "extra: unknown field"),
    ],
)
def test_bad_json_names_the_problem(client: TestClient, body: bytes, needle: str) -> None:
    r = client.post("/api/v1/_probe", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["code"] == "INVALID_REQUEST"
    assert needle in r.json()["message"]


def test_oversized_body_is_413(client: TestClient) -> None:
    r = client.post(
        "/api/v1/_probe",
        content=b'{"name": "' + b"a" * 2000 + b'", "size": 1}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["code"] == "PAYLOAD_TOO_LARGE"


def test_unexpected_exception_is_500_envelope_and_process_lives(client: TestClient) -> None:
    r = client.get("/api/v1/_boom", headers={"X-Request-ID": "req-123"})
    assert r.status_code == 500
    assert r.json() == {
        "code": "INTERNAL_ERROR",
        "message": "an internal error occurred (request id req-123)",
    }
    assert "kaboom" not in r.text
    assert client.get("/health").status_code == 200


def test_cors_preflight_allows_configured_origin(client: TestClient) -> None:
    r = client.options(
        "/api/v1/_probe",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type,Authorization",
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "http://localhost:5173"
    other = client.options(
        "/api/v1/_probe",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer not-a-jwt"},
    ],
)
def test_api_needs_a_bearer_token(db: str, headers: dict[str, str]) -> None:
    with TestClient(create_app(_settings(), db)) as c:
        r = c.get("/api/v1/anything", headers=headers)
    assert r.status_code == 401
    assert r.json()["code"] == "UNAUTHORIZED"
    assert r.json()["message"]


def test_expired_and_foreign_tokens_are_refused(db: str, user: ApiUser) -> None:
    from datetime import UTC, datetime, timedelta

    from kifu.kit.auth import issue_access_token

    old = issue_access_token(user.id, TEST_JWT_SECRET, now=datetime.now(UTC) - timedelta(hours=1))
    forged = issue_access_token(user.id, "another-secret-of-sufficient-length-0123456789")
    with TestClient(create_app(_settings(), db)) as c:
        for token, message in [(old, "expired"), (forged, "invalid")]:
            r = c.get("/api/v1/x", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401
            assert message in r.json()["message"]


def test_public_paths_pass_the_gate(db: str) -> None:
    with TestClient(create_app(_settings(), db)) as c:
        assert c.get("/health").status_code == 200
        # Public paths reach routing without a token: an unknown auth path is the router's 404,
        # klines without a symbol is the route's own 400 (never the gate's 401).
        assert c.post("/api/v1/auth/nothing-here").json()["code"] == "NOT_FOUND"
        assert c.get("/api/v1/market/klines").json()["code"] == "INVALID_SYMBOL"
