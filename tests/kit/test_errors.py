"""Domain errors reach HTTP through one mapping: code → status (``STATUS_BY_CODE``), else 400;
HTTP errors keep their class's status. ``kit`` helpers raise domain errors, never HTTP ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kifu.ingest.venues.base import AuthRejected, Banned, RateLimited, VenueUnavailable
from kifu.kit import money, pagination, timeutil
from kifu.kit.errors import (
    STATUS_BY_CODE,
    DomainError,
    InvalidInput,
    KifuError,
    NotFound,
    install_error_handlers,
)
from kifu.market import RateLimited as MarketRateLimited
from kifu.market import SymbolUnsupported, UpstreamFailed


def _answer(exc: Exception):
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/raise")
    async def _raise() -> None:
        raise exc

    with TestClient(app, raise_server_exceptions=False) as c:
        return c.get("/raise")


def test_a_listed_code_gets_its_status_and_the_body_names_field_and_extra() -> None:
    r = _answer(DomainError("no such thing", code="EXCHANGE_SYNC_FAILED", extra={"run_id": "r"}))
    assert r.status_code == 502 == STATUS_BY_CODE["EXCHANGE_SYNC_FAILED"]
    assert r.json() == {"code": "EXCHANGE_SYNC_FAILED", "message": "no such thing", "run_id": "r"}
    assert "retry-after" not in r.headers

    r = _answer(DomainError("must be finite", field="qty"))
    assert r.status_code == 400
    assert r.json() == {"code": "INVALID_REQUEST", "message": "qty: must be finite"}


def test_an_unlisted_code_is_a_400() -> None:
    assert "SOMETHING_ODD" not in STATUS_BY_CODE
    r = _answer(DomainError("odd", code="SOMETHING_ODD"))
    assert (r.status_code, r.json()) == (400, {"code": "SOMETHING_ODD", "message": "odd"})


def test_http_errors_keep_their_status_and_headers() -> None:
    r = _answer(NotFound("BUBBLE_NOT_FOUND", "gone", headers={"X-Why": "test"}))
    assert (r.status_code, r.json()) == (404, {"code": "BUBBLE_NOT_FOUND", "message": "gone"})
    assert r.headers["x-why"] == "test"
    # A KifuError's status is its class's even when its code is in the table.
    r = _answer(KifuError("RATE_LIMITED", "not really"))
    assert r.status_code == 400


@pytest.mark.parametrize(
    ("exc", "status", "code", "retry_after"),
    [
        (AuthRejected("Binance rejected the API key"), 400, "EXCHANGE_PERMISSION_DENIED", None),
        (RateLimited("Upbit rate limit", retry_after=7.9), 429, "RATE_LIMITED", "7"),
        (RateLimited("Upbit rate limit"), 429, "RATE_LIMITED", "1"),
        (Banned("banned for 600 s", retry_after=600.0), 429, "RATE_LIMITED", "600"),
        (VenueUnavailable("Binance did not answer"), 502, "EXCHANGE_REQUEST_FAILED", None),
        (UpstreamFailed("binance_spot answered HTTP 500"), 502, "EXCHANGE_REQUEST_FAILED", None),
    ],
)
def test_exchange_and_market_errors(exc, status, code, retry_after) -> None:
    r = _answer(exc)
    assert (r.status_code, r.json()) == (status, {"code": code, "message": exc.message})
    assert r.headers.get("retry-after") == retry_after


def test_market_errors_name_the_symbol_and_the_cooldown() -> None:
    r = _answer(SymbolUnsupported("no price source for AAPL"))
    assert r.status_code == 400
    assert r.json() == {"code": "INVALID_SYMBOL", "message": "symbol: no price source for AAPL"}

    until = datetime.now(UTC) + timedelta(seconds=90)
    r = _answer(MarketRateLimited("upbit", until))
    assert r.status_code == 502 and r.json()["code"] == "EXCHANGE_REQUEST_FAILED"
    assert 85 <= int(r.headers["retry-after"]) <= 90
    past = MarketRateLimited("upbit", datetime.now(UTC) - timedelta(seconds=5))
    assert past.retry_after == 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: pagination.parse_positive_int("0", "page", 1), "page: must be a positive whole"),
        (lambda: pagination.decode_cursor("!!", 2), "cursor: not a valid cursor"),
        (lambda: timeutil.parse_instant("2026-01-01T00:00:00", "at"), "has no time zone"),
        (lambda: money.parse_decimal(1.5, "qty"), "qty: send numbers as decimal strings"),
        (lambda: money.parse_decimal("NaN", "qty"), "qty: must be finite"),
    ],
)
def test_kit_helpers_raise_plain_domain_errors(call, message) -> None:
    with pytest.raises(InvalidInput) as info:
        call()
    assert not isinstance(info.value, KifuError)
    assert info.value.code == "INVALID_REQUEST" and message in info.value.detail
    r = _answer(info.value)
    assert r.status_code == 400 and r.json()["message"] == info.value.detail
