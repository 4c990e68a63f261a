"""A schema fuzzer over the app's own OpenAPI document: every operation, with plausible values
and with hostile ones (NUL, 10k characters, a trailing newline, exponent numbers, thousands of
digits, 2^63, the wrong type) in every path id, query parameter and top-level JSON field. Never
a 5xx; every 4xx is the ``{code, message}`` envelope. Bounded: one pass, a fixed set of values,
so the whole sweep is a few seconds per operation at most."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kifu.app import create_app
from kifu.config import Settings
from tests.contract import sweeps
from tests.contract.seed import seed
from tests.helpers import TEST_ENC_KEY, TEST_JWT_SECRET, ApiUser

# Every outside service points at a closed port: the fuzzer must not reach the Internet.
CLOSED = "http://127.0.0.1:9"
BUDGET_SECONDS = 240


@pytest.fixture
def settings(db: str) -> Settings:
    return Settings(
        database_url=db,
        jwt_secret=TEST_JWT_SECRET,
        enc_key=TEST_ENC_KEY,
        binance_spot_url=CLOSED,
        binance_futures_url=CLOSED,
        upbit_url=CLOSED,
        openai_url=CLOSED,
        anthropic_url=CLOSED,
        gemini_url=CLOSED,
        telegram_api_url=CLOSED,
        ntfy_url=CLOSED,
        exchange_timeout_seconds=1,
        exchange_max_wait_seconds=1,
        ai_timeout_seconds=1,
        notify_timeout_seconds=1,
        login_max_per_address=100_000,
        login_max_per_email=100_000,
    )


@pytest.fixture
def fuzz_client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


# Every outside service is unreachable here, so a route that calls one may honestly answer that
# it could not (502/503 with the envelope); any other 5xx is a failure.
UPSTREAM = (502, 503)


def _check(r: Any, what: str, failures: list[str]) -> None:
    if r.status_code in UPSTREAM and isinstance(r.json(), dict) and "code" in r.json():
        return
    if r.status_code >= 500:
        failures.append(f"{what} -> {r.status_code} {r.text[:200]}")
        return
    if r.status_code >= 400:
        try:
            body = r.json()
        except ValueError:
            body = None
        if not (isinstance(body, dict) and {"code", "message"} <= body.keys()):
            failures.append(f"{what} -> {r.status_code} without the envelope: {r.text[:200]}")


def _doc() -> dict[str, Any]:
    settings = Settings(database_url="postgresql://unused", jwt_secret=TEST_JWT_SECRET)
    app = create_app(settings, "host=127.0.0.1 port=1 dbname=unused")
    return TestClient(app).get("/openapi.json").json()


def test_no_operation_answers_5xx_to_plausible_or_hostile_input(
    fuzz_client: TestClient, user: ApiUser
) -> None:
    client = fuzz_client
    doc = _doc()
    ids = seed(client, user.headers)
    failures: list[str] = []
    started = time.monotonic()
    ops = list(sweeps.operations(doc))
    assert len(ops) > 50
    for op in ops:
        assert time.monotonic() - started < BUDGET_SECONDS, f"sweep over budget at {op.label}"

        def call(
            path: str,
            query: dict[str, Any],
            body: Any,
            what: str,
            op: sweeps.Operation = op,
        ) -> None:
            kwargs: dict[str, Any] = {"params": query, "headers": user.headers}
            if op.body_schema is not None:
                kwargs["json"] = body
            r = client.request(op.method.upper(), path, **kwargs)
            _check(r, f"{op.label} {what}", failures)

        query = {
            p["name"]: sweeps.sample(doc, p.get("schema", {}))
            for p in op.query
            if p.get("required")
        }
        body = sweeps.sample(doc, op.body_schema) if op.body_schema is not None else None
        path = sweeps.url(op, ids)
        call(path, query, body, "plausible")
        for name in op.path_params:
            for bad in ("a\x00b", "x" * 1000, "1e1000000000", "../../etc"):
                call(sweeps.url(op, ids | {name: bad}), query, body, f"path {name}={bad[:20]!r}")
        for p in op.query:
            for bad in sweeps.HOSTILE_QUERY:
                call(path, query | {p["name"]: bad}, body, f"query {p['name']}={bad[:20]!r}")
        if isinstance(body, dict):
            for name in sweeps.body_fields(doc, op):
                for bad in sweeps.HOSTILE:
                    call(path, query, body | {name: bad}, f"body {name}={str(bad)[:20]!r}")
    assert not failures, "\n".join(failures)
