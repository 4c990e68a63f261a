"""Endpoints that answer JSON written by PostgreSQL (``kifu.kit.jsonsql``) bypass FastAPI's
response validation, so here every such answer is checked against the ``response_model`` its
route declares (exactly: no field more or less, every value of the declared type), and its
values against what the Python rules print (``rfc3339``, ``dec_str``, the row helpers) for
awkward data: microseconds, trailing zeros, tiny and huge numbers, NULLs, empty and unicode
text, a session in another time zone."""

from __future__ import annotations

import inspect
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

from kifu.app import _routers
from kifu.journal import notes as journal_notes
from kifu.journal import service as journal_service
from kifu.journal.store import BUBBLE_COLUMNS
from kifu.kit import jsonsql
from kifu.kit.money import dec_str
from kifu.kit.timeutil import rfc3339
from tests.helpers import ApiUser

API = "/api/v1"

# Every route that answers ``jsonsql.RawJSON``: (path as routed, a query string to call it with).
FAST = {
    "/api/v1/bubbles": "page=1&limit=200&sort=desc",
    "/api/v1/notes": "page=1&limit=100",
}

TIMES = [
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, 123000, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, 12, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(99, 1, 2, 3, 4, 5, tzinfo=UTC),
]
NUMBERS = [
    Decimal("0"),
    Decimal("0.0000000000"),
    Decimal("1.2300"),
    Decimal("-0.0000000001"),
    Decimal("12300.0"),
    Decimal("100"),
    Decimal("12345678901234567890.0123456789"),
    Decimal("-42000.5"),
]
TEXTS = ["", "plain", 'quote " backslash \\ tab \t new\nline', "한글 メモ ✓ \u0001", "é" * 99]


def _routes() -> list[APIRoute]:
    return [r for router in _routers() for r in router.routes if isinstance(r, APIRoute)]


def declared_model(path: str) -> Any:
    for route in _routes():
        if route.path == path and "GET" in route.methods:
            return route.response_model
    raise AssertionError(f"no GET route {path}")


def exactly_declared(path: str, body: bytes) -> Any:
    """The parsed answer, after checking it is exactly an instance of the declared model."""
    model = declared_model(path)
    parsed = json.loads(body)
    assert parsed == model.model_validate_json(body).model_dump(mode="json")
    return parsed


def test_every_raw_json_route_is_listed() -> None:
    """A route that answers RawJSON must be in FAST, so its answer is checked below."""
    raw = {
        r.path
        for r in _routes()
        if inspect.signature(r.endpoint, eval_str=True).return_annotation is jsonsql.RawJSON
    }
    assert raw == set(FAST)


@pytest.mark.parametrize("zone", ["UTC", "Asia/Seoul", "America/St_Johns"])
def test_expressions_print_as_python(db: str, zone: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(f"SET TIME ZONE '{zone}'")
        for t in TIMES:
            got = conn.execute(
                f"SELECT {jsonsql.rfc3339('x.t')} FROM (SELECT %s::timestamptz AS t) x", (t,)
            ).fetchone()
            assert got == (rfc3339(t),)
        for n in NUMBERS:
            got = conn.execute(
                f"SELECT {jsonsql.dec('x.d')}, {jsonsql.plain('x.d')}"
                " FROM (SELECT %s::numeric AS d) x",
                (n,),
            ).fetchone()
            assert got == (dec_str(n), format(n, "f"))
        assert conn.execute(
            f"SELECT {jsonsql.rfc3339('NULL::timestamptz')}, {jsonsql.dec('NULL::numeric')}"
        ).fetchone() == (None, None)


def _awkward_journal(db: str, user: ApiUser) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        for i in range(30):
            t = TIMES[i % len(TIMES)] + timedelta(days=i % 3)
            bubble = conn.execute(
                "INSERT INTO bubbles (user_id, symbol, timeframe, candle_time, price, bubble_type,"
                " asset_class, venue_name, memo, tags, created_at, updated_at)"
                " VALUES (%s, 'BTCUSDT', '1h', %s, %s, 'manual', %s, %s, %s, %s, %s, %s)"
                " RETURNING id",
                (
                    user.id,
                    t,
                    abs(NUMBERS[i % len(NUMBERS)]),
                    None if i % 2 else "crypto",
                    None if i % 3 else "Binance",
                    None if i % 4 == 0 else TEXTS[i % len(TEXTS)],
                    None if i % 5 == 0 else [] if i % 5 == 1 else ["a", TEXTS[i % len(TEXTS)]],
                    t,  # equal times: the id breaks the tie
                    t + timedelta(microseconds=i),
                ),
            ).fetchone()[0]  # type: ignore[index]
            conn.execute(
                "INSERT INTO review_notes (user_id, bubble_id, title, content, tags,"
                " lesson_learned, emotion, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    user.id,
                    None if i % 2 else bubble,
                    TEXTS[i % len(TEXTS)] or "t",
                    TEXTS[(i + 1) % len(TEXTS)],
                    None if i % 3 == 0 else ["x", TEXTS[i % len(TEXTS)]],
                    None if i % 2 else TEXTS[i % len(TEXTS)],
                    None if i % 3 else "calm",
                    t,
                    t + timedelta(microseconds=i * 1000),
                ),
            )


def _rows(db: str, sql: str, *args: object) -> list[dict[str, Any]]:
    with psycopg.connect(db) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def test_bubbles_and_notes_answer_as_python_did(client: TestClient, db: str, user: ApiUser) -> None:
    _awkward_journal(db, user)
    for sort, direction in (("desc", "DESC"), ("asc", "ASC")):
        for page, limit in ((1, 200), (2, 7), (9, 7)):
            r = client.get(
                f"{API}/bubbles?page={page}&limit={limit}&sort={sort}", headers=user.headers
            )
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == "application/json"
            got = exactly_declared(f"{API}/bubbles", r.content)
            rows = _rows(
                db,
                f"SELECT {BUBBLE_COLUMNS} FROM bubbles WHERE user_id = %s"
                f" ORDER BY candle_time {direction}, id {direction} LIMIT %s OFFSET %s",
                user.id,
                limit,
                (page - 1) * limit,
            )
            want = [journal_service.bubble_json(row) for row in rows]
            assert got == {"page": page, "limit": limit, "total": 30, "items": want}
    filtered = client.get(f"{API}/bubbles?tags=a&limit=5", headers=user.headers).json()
    assert filtered["total"] == 18 and len(filtered["items"]) == 5
    for page, limit in ((1, 100), (2, 8), (5, 8)):
        r = client.get(f"{API}/notes?page={page}&limit={limit}", headers=user.headers)
        assert r.status_code == 200, r.text
        got = exactly_declared(f"{API}/notes", r.content)
        rows = _rows(
            db,
            f"SELECT {journal_notes.COLUMNS} FROM review_notes WHERE user_id = %s"
            " ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s",
            user.id,
            limit,
            (page - 1) * limit,
        )
        assert got == {
            "notes": [journal_notes.note_json(row) for row in rows],
            "total": 30,
            "page": page,
            "limit": limit,
            "total_pages": -(-30 // limit),
        }


def test_empty_pages_are_empty_arrays(client: TestClient, user: ApiUser) -> None:
    for path, query in FAST.items():
        r = client.get(f"{path}?{query}", headers=user.headers)
        assert r.status_code == 200, r.text
        exactly_declared(path, r.content)
    assert client.get(f"{API}/bubbles", headers=user.headers).json()["items"] == []
    assert client.get(f"{API}/notes", headers=user.headers).json()["notes"] == []


def test_unknown_user_token_sees_nothing(client: TestClient) -> None:
    from kifu.kit.auth import issue_access_token
    from tests.helpers import TEST_JWT_SECRET

    headers = {"Authorization": f"Bearer {issue_access_token(uuid.uuid4(), TEST_JWT_SECRET)}"}
    for path, query in FAST.items():
        r = client.get(f"{path}?{query}", headers=headers)
        assert r.status_code == 200, r.text
        exactly_declared(path, r.content)
