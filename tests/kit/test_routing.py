"""kifu.kit.routing: a router's guard skips requests outside its paths and changes no answer."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Match

import kifu.app
from kifu.config import Settings
from kifu.kit import routing
from tests.helpers import TEST_JWT_SECRET


class _NoPath(BaseRoute):
    def matches(self, scope: dict[str, Any]) -> tuple[Match, dict[str, Any]]:
        return Match.NONE, {}


def _scope(path: str, kind: str = "http", root_path: str = "") -> dict[str, Any]:
    return {
        "type": kind,
        "method": "GET",
        "path": path,
        "root_path": root_path,
        "headers": [],
        "query_string": b"",
    }


def test_literal_prefixes_keep_the_shortest() -> None:
    router = APIRouter()
    for path in ("/a/things", "/a/things/{id}", "/a/things/{id}/parts", "/b", "/a/thin"):
        router.add_api_route(path, lambda: None)
    assert routing.prefixes_of(router) == ("/a/thin", "/b")
    router.routes.append(_NoPath())  # a route without a plain path: no guard can be made
    assert routing.prefixes_of(router) is None


def test_guard_answers_none_without_trying_the_routes() -> None:
    calls: list[str] = []

    def inner(scope: dict[str, Any]) -> tuple[Match, dict[str, Any]]:
        calls.append(scope["path"])
        return Match.FULL, {"seen": True}

    matches = routing.guarded(inner, ("/api/v1/alerts", "/api/v1/alert-rules"))
    assert matches(_scope("/api/v1/trades")) == (Match.NONE, {})
    assert matches(_scope("/api/v1/alert")) == (Match.NONE, {})
    assert calls == []
    assert matches(_scope("/api/v1/alerts/x/decision")) == (Match.FULL, {"seen": True})
    assert matches(_scope("/api/v1/alert-rules")) == (Match.FULL, {"seen": True})
    # Not judged by the guard: other scopes, and paths under a root path.
    assert matches(_scope("/elsewhere", kind="websocket"))[0] == Match.FULL
    assert matches(_scope("/prefix/api/v1/trades", root_path="/prefix"))[0] == Match.FULL
    assert calls == [
        "/api/v1/alerts/x/decision",
        "/api/v1/alert-rules",
        "/elsewhere",
        "/prefix/api/v1/trades",
    ]


def _small_app(guard: bool) -> FastAPI:
    things, others = APIRouter(), APIRouter()

    @things.get("/things")
    def list_things() -> dict[str, str]:
        return {"from": "things"}

    @things.get("/things/{thing_id}")
    def one_thing(thing_id: int) -> dict[str, Any]:
        return {"from": "thing", "id": thing_id}

    @others.post("/things/{thing_id}/others")
    def add_other(thing_id: str) -> dict[str, str]:
        return {"from": "others", "id": thing_id}

    @others.get("/others")
    def list_others() -> dict[str, str]:
        return {"from": "others"}

    app = FastAPI()
    for router in (things, others):
        if guard:
            routing.include_guarded(app, router)
        else:
            app.include_router(router)
    return app


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/things"),
        ("GET", "/things/7"),
        ("GET", "/things/x"),  # 422 from the int parameter
        ("POST", "/things/7/others"),
        ("GET", "/things/7/others"),  # 405: the path is the others' route, the method is not
        ("GET", "/others"),
        ("POST", "/others"),
        ("GET", "/nowhere"),
        ("GET", "/things/"),  # redirect to /things
    ],
)
def test_guarded_app_answers_as_the_plain_one(method: str, path: str) -> None:
    plain = TestClient(_small_app(guard=False)).request(method, path, follow_redirects=False)
    guarded = TestClient(_small_app(guard=True)).request(method, path, follow_redirects=False)
    assert (guarded.status_code, guarded.content) == (plain.status_code, plain.content)
    assert guarded.headers.get("location") == plain.headers.get("location")


def _sample(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000001", path)


def _resolve(app: FastAPI, method: str, path: str) -> tuple[str, object]:
    """What the app's router does with ``method path``: the endpoint of the first full match,
    else the first partial one (a 405), else nothing."""
    scope = {**_scope(path), "method": method}
    partial = None
    for route in app.router.routes:
        match, child = route.matches(scope)
        if match == Match.FULL:
            return "full", child.get("endpoint")
        if match == Match.PARTIAL and partial is None:
            partial = child.get("endpoint")
    return ("partial", partial) if partial is not None else ("none", None)


def test_every_kifu_route_resolves_as_without_the_guards(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(database_url="postgresql://unused", jwt_secret=TEST_JWT_SECRET)
    conninfo = "host=127.0.0.1 port=1 dbname=unused"
    guarded = kifu.app.create_app(settings, conninfo)
    monkeypatch.setattr(kifu.app, "include_guarded", lambda app, router: app.include_router(router))
    plain = kifu.app.create_app(settings, conninfo)
    routes = [r for router in kifu.app._routers() for r in router.routes]
    assert len(routes) > 90
    probes = {(m, _sample(r.path)) for r in routes for m in getattr(r, "methods", ())}
    probes |= {("GET", "/api/v1/nowhere"), ("DELETE", "/api/v1/trades"), ("GET", "/health")}
    for method, path in sorted(probes):
        assert _resolve(guarded, method, path) == _resolve(plain, method, path), (method, path)
    full = [p for p in probes if _resolve(guarded, *p)[0] == "full"]
    assert len(full) >= len(routes) - 5  # nearly every route's sample reaches its endpoint
