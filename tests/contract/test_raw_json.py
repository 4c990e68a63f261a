"""Endpoints that answer JSON written by PostgreSQL (``kifu.kit.jsonsql``) bypass FastAPI's
response validation, so here every such answer is checked against the ``response_model`` its
route declares (exactly: no field more or less, in the model's order, every value of the
declared type, the ``omit_when_null`` fields left out when null), and its values against what
the Python rules print (``rfc3339``, ``rfc3339_seconds``, ``dec_str``, ``round_places``, the row
helpers) for awkward data: microseconds, trailing zeros, tiny and huge numbers, ties, NULLs,
empty and unicode text, a session in another time zone."""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

from kifu.alerts import routes as alert_routes
from kifu.alerts import store as alert_store
from kifu.app import _routers
from kifu.journal import notes as journal_notes
from kifu.journal import service as journal_service
from kifu.journal.schemas import Bubble, Note
from kifu.journal.store import BUBBLE_COLUMNS
from kifu.kit import jsonsql
from kifu.kit.money import dec_str, round_places
from kifu.kit.timeutil import rfc3339, rfc3339_seconds
from kifu.ledger import queries as ledger_queries
from kifu.ledger.money import MoneyByCcy
from kifu.ledger.queries import AVG_PLACES, TradeFilter
from kifu.ledger.schemas import TradeSummary
from kifu.review import rules as review_rules
from kifu.review import service as review_service
from kifu.review.schemas import CalendarResponse
from tests.helpers import ApiUser

API = "/api/v1"

# Every route that answers ``jsonsql.RawJSON``: (path as routed, a query string to call it with).
FAST = {
    "/api/v1/bubbles": "page=1&limit=200&sort=desc",
    "/api/v1/notes": "page=1&limit=100",
    "/api/v1/trades": "page=1&limit=50",
    "/api/v1/trades/summary": "",
    "/api/v1/portfolio/timeline": "limit=50",
    "/api/v1/portfolio/positions": "limit=50",
    "/api/v1/alerts": "limit=20&offset=0",
    "/api/v1/alert-rules": "",
    "/api/v1/review/calendar": "from=2026-01-01&to=2026-01-31",
    # kept answers (kit.answers), serialised by their response model once
    "/api/v1/review/stats": "period=all",
    "/api/v1/review/trend": "period=7d",
    "/api/v1/review/accuracy": "period=30d&outcome_period=1h",
    "/api/v1/guided-reviews/today": "timezone=UTC",
    "/api/v1/guided-reviews/streak": "",
    "/api/v1/safety/today": "timezone=UTC&limit=20",
    # the profile and the watch list, serialised by their response models once
    "/api/v1/users/me": "",
    "/api/v1/users/me/symbols": "",
    "/api/v1/manual-positions": "status=open",
    "/api/v1/exchanges": "",
    "/api/v1/notifications/channels": "",
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
# Ties and near-ties at the 10th decimal (positions' averages), both signs.
TIES = [
    Decimal("1.00000000005"),
    Decimal("-1.00000000005"),
    Decimal("0.000000000049999"),
    Decimal("-0.00000000004"),
    Decimal("0.6666666666666666666666"),
    Decimal("2.50000000000000"),
]
TEXTS = ["", "plain", 'quote " backslash \\ tab \t new\nline', "한글 メモ ✓ \u0001", "é" * 99]


def _routes() -> list[APIRoute]:
    return [r for router in _routers() for r in router.routes if isinstance(r, APIRoute)]


def _get_route(path: str) -> APIRoute:
    for route in _routes():
        if route.path == path and "GET" in route.methods:
            return route
    raise AssertionError(f"no GET route {path}")


def declared_model(path: str) -> Any:
    return _get_route(path).response_model


def _key_order(value: Any) -> Any:
    """The keys of every object in ``value``, in order, nested as ``value`` is."""
    if isinstance(value, dict):
        return [(k, _key_order(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_key_order(v) for v in value]
    return None


def exactly_declared(path: str, body: bytes) -> Any:
    """The parsed answer, after checking it is exactly an instance of the declared model, its
    keys in the model's order (its None fields left out where the route says so)."""
    route = _get_route(path)
    parsed = json.loads(body)
    dumped = route.response_model.model_validate_json(body).model_dump(
        mode="json", by_alias=True, exclude_none=route.response_model_exclude_none
    )
    assert parsed == dumped
    assert _key_order(parsed) == _key_order(dumped)
    return parsed


def _omit(item: dict[str, Any], *names: str) -> dict[str, Any]:
    """``item`` without those of ``names`` that are None (``kit.fields.OmitNull``)."""
    return {k: v for k, v in item.items() if not (k in names and v is None)}


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
                f"SELECT {jsonsql.rfc3339('x.t')}, {jsonsql.rfc3339_seconds('x.t')}"
                " FROM (SELECT %s::timestamptz AS t) x",
                (t,),
            ).fetchone()
            assert got == (rfc3339(t), rfc3339_seconds(t))
        for n in NUMBERS:
            got = conn.execute(
                f"SELECT {jsonsql.dec('x.d')}, {jsonsql.plain('x.d')}"
                " FROM (SELECT %s::numeric AS d) x",
                (n,),
            ).fetchone()
            assert got == (dec_str(n), format(n, "f"))
        for n in NUMBERS + TIES:
            # positions' averages: round(numeric, 10) is half away from zero, as round_places
            got = conn.execute(
                f"SELECT {jsonsql.dec(f'round(x.d, {AVG_PLACES})')}"
                " FROM (SELECT %s::numeric AS d) x",
                (n,),
            ).fetchone()
            assert got == (dec_str(round_places(n, AVG_PLACES)),), n
        assert conn.execute(
            f"SELECT {jsonsql.rfc3339('NULL::timestamptz')}, {jsonsql.dec('NULL::numeric')},"
            f" {jsonsql.rfc3339_seconds('NULL::timestamptz')}"
        ).fetchone() == (None, None, None)


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
            # what the route answered when Python built it: the row helper through the model
            want = [
                Bubble.model_validate(journal_service.bubble_json(row)).model_dump(mode="json")
                for row in rows
            ]
            assert got == {"page": page, "limit": limit, "total": 30, "items": want}
    filtered = client.get(f"{API}/bubbles?tags=a&limit=5", headers=user.headers).json()
    assert filtered["total"] == 18 and len(filtered["items"]) == 5
    # left out when null, as the reference did (kit.fields.OmitNull); lists stay arrays
    every = client.get(f"{API}/bubbles?limit=200", headers=user.headers).json()["items"]
    absent = [sum(k not in b for b in every) for k in ("asset_class", "venue_name", "memo", "tags")]
    assert absent == [15, 20, 8, 0]
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
            "notes": [
                Note.model_validate(journal_notes.note_json(row)).model_dump(mode="json")
                for row in rows
            ],
            "total": 30,
            "page": page,
            "limit": limit,
            "total_pages": -(-30 // limit),
        }
    every = client.get(f"{API}/notes?limit=100", headers=user.headers).json()["notes"]
    absent = [sum(k not in n for n in every) for k in ("bubble_id", "lesson_learned", "emotion")]
    assert absent == [15, 15, 20]
    # whole seconds, as the reference's NoteResponse printed them (the data has fractions)
    times = [n[k] for n in every for k in ("created_at", "updated_at")]
    assert all(re.fullmatch(r"-?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", t) for t in times), times


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
        # a profile is there or not; a day's review and a first watch list are made for it
        if path in (f"{API}/users/me", f"{API}/guided-reviews/today", f"{API}/users/me/symbols"):
            assert (r.status_code, r.json()["code"]) == (404, "USER_NOT_FOUND")
            continue
        assert r.status_code == 200, r.text
        exactly_declared(path, r.content)


# -- the ledger's lists: the Python the routes used before, as the reference ----------------------
# (as the models serialise them now: the reference's omitted nulls left out, averages rounded)


def _trade(r: dict[str, Any]) -> dict[str, Any]:
    item = {
        "id": str(r["id"]),
        "bubble_id": str(r["bubble_id"]) if r["bubble_id"] else None,
        "exchange": r["exchange"],
        "symbol": r["symbol"],
        "side": r["side"],
        "position_side": r["position_side"],
        "open_close": r["open_close"],
        "reduce_only": r["reduce_only"],
        "quantity": dec_str(r["quantity"]),
        "price": dec_str(r["price"]),
        "realized_pnl": dec_str(r["realized_pnl"]),
        "trade_time": rfc3339(r["trade_time"]),
        "binance_trade_id": r["binance_trade_id"],
    }
    return _omit(item, "bubble_id", "position_side", "open_close", "reduce_only", "realized_pnl")


def _event(r: dict[str, Any]) -> dict[str, Any]:
    item = {
        "id": str(r["id"]),
        "executed_at": rfc3339(r["executed_at"]),
        "asset_class": r["asset_class"],
        "venue_type": r["venue_type"],
        "venue": r["code"],
        "venue_name": r["display_name"] or r["code"],
        "account_label": r["label"],
        "instrument": r["symbol"],
        "event_type": r["event_type"],
        "side": r["side"],
        "qty": dec_str(r["qty"]),
        "price": dec_str(r["price"]),
        "fee": dec_str(r["fee"]),
        "fee_asset": r["fee_asset"],
        "source": r["source"],
        "external_id": r["external_id"],
        "metadata": r["metadata"],
    }
    optional = ("account_label", "side", "qty", "price", "fee", "fee_asset", "external_id")
    return _omit(item, *optional, "metadata")


def _position(r: dict[str, Any]) -> dict[str, Any]:
    def zero(name: str) -> str:
        return dec_str(r[name]) or "0"

    return {
        "key": f"{r['code']}|{r['symbol']}|{r['asset_class']}|{r['label']}",
        "instrument": r["symbol"],
        "venue": r["code"],
        "venue_name": r["display_name"] or r["code"],
        "account_label": r["label"],
        "asset_class": r["asset_class"],
        "venue_type": r["venue_type"],
        "status": r["status"],
        "net_qty": zero("size"),
        "avg_entry": dec_str(round_places(r["avg_entry"], 10)) or "0",
        "avg_exit": dec_str(round_places(r["avg_exit"], 10)),
        "buy_qty": zero("buy_qty"),
        "sell_qty": zero("sell_qty"),
        "buy_notional": zero("buy_notional"),
        "sell_notional": zero("sell_notional"),
        "last_executed_at": rfc3339(r["last_executed_at"]),
        "opened_at": rfc3339(r["opened_at"]),
        "closed_at": rfc3339(r["closed_at"]),
        "quote_asset": r["quote_asset"],
        "realized_pnl": zero("realized_pnl"),
        "fees": zero("fees"),
        "realized_pnl_usdt": zero("realized_pnl_usdt"),
        "realized_pnl_krw": zero("realized_pnl_krw"),
        "fees_usdt": zero("fees_usdt"),
        "fees_krw": zero("fees_krw"),
        "unconverted_fees": r["unconverted_fees"] or {},
        "event_count": r["event_count"],
    }


METADATA = '{"income": 1.50, "note": "é\\u0001", "n": [1, null, {"x": true}], "big": 1e30}'


def _awkward_ledger(client: TestClient, db: str, user: ApiUser) -> None:
    rows = ["exchange,symbol,side,quantity,price,trade_time,realized_pnl"]
    for i in range(24):
        exchange, symbol = [
            ("binance_futures", "BTCUSDT"),
            ("binance_spot", "ETHUSDT"),
            ("upbit", "KRW-BTC"),
        ][i % 3]
        t = TIMES[i % 4] + timedelta(hours=i // 2)  # pairs of equal times: the id breaks ties
        pnl = "" if i % 4 == 0 else str(NUMBERS[i % len(NUMBERS)])
        qty = str(abs(NUMBERS[(i + 2) % len(NUMBERS)]) or Decimal("0.5"))
        price = str(abs(NUMBERS[(i + 5) % len(NUMBERS)]) or Decimal("100.00"))
        side = ("BUY", "SELL")[i % 2] if exchange != "upbit" else ("bid", "ask")[i % 2]
        rows.append(f"{exchange},{symbol},{side},{qty},{price},{t.isoformat()},{pnl}")
    r = client.post(
        f"{API}/trades/import",
        headers=user.headers,
        files={"file": ("t.csv", ("\n".join(rows) + "\n").encode(), "text/csv")},
    )
    assert r.status_code == 200, r.text
    with psycopg.connect(db, autocommit=True) as conn:
        # Fields the importer never leaves so, as other writers (or older data) may.
        conn.execute(
            "UPDATE positions SET avg_exit = NULL, closed_at = NULL, last_executed_at = NULL,"
            ' unconverted_fees = \'{"BNB": "0.0100"}\', fees = 0.000, avg_entry = NULL'
            " WHERE id = (SELECT min(id::text)::uuid FROM positions WHERE user_id = %s)",
            (user.id,),
        )
        # averages with more than 10 decimals: served rounded, a tie away from zero
        conn.execute(
            "UPDATE positions SET avg_entry = 1.00000000005, avg_exit = -0.00000000004"
            " WHERE id = (SELECT max(id::text)::uuid FROM positions WHERE user_id = %s)",
            (user.id,),
        )
        conn.execute("UPDATE venues SET display_name = '' WHERE code = 'upbit'")
        conn.execute(
            "UPDATE trade_events SET metadata = %s::jsonb, fee = 0.00010, fee_asset = 'USDT'"
            " WHERE id IN (SELECT id FROM trade_events WHERE user_id = %s LIMIT 5)",
            (METADATA, user.id),
        )
        # a JSON null reads as None in Python: left out as SQL NULL is
        conn.execute(
            "UPDATE trade_events SET metadata = 'null'::jsonb, external_id = NULL"
            " WHERE id = (SELECT max(id::text)::uuid FROM trade_events WHERE user_id = %s)",
            (user.id,),
        )
        conn.execute("DELETE FROM ledger_pnl_dirty WHERE user_id = %s", (user.id,))


async def _python_summary(db: str, user_id: uuid.UUID, f: TradeFilter) -> dict[str, Any]:
    """``/trades/summary`` as Python builds it (``queries.trade_summary``), through the model."""
    async with await psycopg.AsyncConnection.connect(db) as conn:
        summary = await ledger_queries.trade_summary(conn, user_id, f)
    return TradeSummary.model_validate(summary).model_dump(mode="json")


def test_ledger_lists_answer_as_python_did(client: TestClient, db: str, user: ApiUser) -> None:
    _awkward_ledger(client, db, user)
    total = _rows(db, "SELECT count(*) AS n FROM trades WHERE user_id = %s", user.id)[0]["n"]
    assert total == 24
    for sort, direction in (("desc", "DESC"), ("asc", "ASC")):
        for query, limit, offset in (
            ("limit=50", 50, 0),
            ("page=2&limit=5", 5, 5),
            ("page=9&limit=5", 5, 40),
            ("limit=5&symbol=ETHUSDT", 5, 0),
        ):
            r = client.get(f"{API}/trades?{query}&sort={sort}", headers=user.headers)
            assert r.status_code == 200, r.text
            got = exactly_declared(f"{API}/trades", r.content)
            symbol = "AND symbol = 'ETHUSDT'" if "symbol" in query else ""
            rows = _rows(
                db,
                f"SELECT * FROM trades WHERE user_id = %s {symbol}"
                f" ORDER BY trade_time {direction}, id {direction} LIMIT %s OFFSET %s",
                user.id,
                limit,
                offset,
            )
            assert got["items"] == [_trade(row) for row in rows], query
            assert got["total"] == (8 if symbol else 24), query
            if query == "limit=50":  # left out when null (the CSV has no PnL on every 4th)
                assert sum("realized_pnl" not in t for t in got["items"]) == 6
                assert all({"quantity", "binance_trade_id"} <= t.keys() for t in got["items"])
    for query, f in (
        ("", TradeFilter()),
        ("exchange=upbit", TradeFilter(exchange="upbit")),
        ("symbol=ETHUSDT&side=SELL", TradeFilter(symbol="ETHUSDT", side="SELL")),
        ("from=2026-01-02T03:04:05.1Z", TradeFilter(start=TIMES[1] - timedelta(microseconds=23e3))),
    ):
        r = client.get(f"{API}/trades/summary?{query}", headers=user.headers)
        assert r.status_code == 200, r.text
        got = exactly_declared(f"{API}/trades/summary", r.content)
        assert got == asyncio.run(_python_summary(db, user.id, f)), query
    events = _rows(
        db,
        "SELECT e.*, v.code, v.display_name, a.label, i.symbol FROM trade_events e"
        " LEFT JOIN venues v ON v.id = e.venue_id LEFT JOIN accounts a ON a.id = e.account_id"
        " LEFT JOIN instruments i ON i.id = e.instrument_id WHERE e.user_id = %s"
        " ORDER BY e.executed_at DESC, e.id DESC",
        user.id,
    )
    seen: list[dict[str, Any]] = []
    cursor = ""
    while True:
        r = client.get(f"{API}/portfolio/timeline?limit=7{cursor}", headers=user.headers)
        assert r.status_code == 200, r.text
        page = exactly_declared(f"{API}/portfolio/timeline", r.content)
        seen += page["items"]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == [_event(row) for row in events]
    assert any("metadata" not in e for e in seen) and any("metadata" in e for e in seen)
    # the nulls the reference printed stay null (venue_name falls back to the code)
    assert all({"venue", "venue_name", "instrument"} <= e.keys() for e in seen)
    # a venue alias finds the venues it stands for (kit.venues.filter_codes: = ANY)
    r = client.get(f"{API}/portfolio/timeline?limit=200&venue=binance", headers=user.headers)
    aliased = exactly_declared(f"{API}/portfolio/timeline", r.content)["items"]
    assert aliased == [_event(row) for row in events if row["code"].startswith("binance_")]
    assert {e["venue"] for e in aliased} == {"binance_futures", "binance_spot"}
    positions = _rows(
        db,
        "SELECT p.*, v.code, v.display_name, v.venue_type, i.symbol, i.asset_class, a.label"
        " FROM positions p LEFT JOIN venues v ON v.id = p.venue_id"
        " LEFT JOIN instruments i ON i.id = p.instrument_id"
        " LEFT JOIN accounts a ON a.id = p.account_id WHERE p.user_id = %s"
        " ORDER BY p.last_executed_at DESC NULLS LAST, p.id",
        user.id,
    )
    r = client.get(f"{API}/portfolio/positions?limit=50", headers=user.headers)
    assert r.status_code == 200, r.text
    got = exactly_declared(f"{API}/portfolio/positions", r.content)
    assert got == {"positions": [_position(row) for row in positions], "count": len(positions)}
    assert any(p["avg_exit"] is None and p["last_executed_at"] is None for p in got["positions"])
    # to 10 decimals, half away from zero (kit.money.round_places, round() in SQL)
    assert any(p["avg_entry"] == "1.0000000001" and p["avg_exit"] == "0" for p in got["positions"])
    r = client.get(f"{API}/portfolio/positions?venue=binance", headers=user.headers)
    aliased = exactly_declared(f"{API}/portfolio/positions", r.content)["positions"]
    assert aliased == [_position(row) for row in positions if row["code"].startswith("binance_")]
    assert len(aliased) == 2


def _alert(r: dict[str, Any]) -> dict[str, Any]:
    item = {
        "id": str(r["id"]),
        "user_id": str(r["user_id"]),
        "rule_id": str(r["rule_id"]),
        "symbol": r["symbol"],
        "trigger_price": dec_str(r["trigger_price"]) or "0",
        "trigger_reason": r["trigger_reason"],
        "severity": r["severity"],
        "status": r["status"],
        "notified_at": rfc3339(r["notified_at"]),
        "created_at": rfc3339(r["created_at"]) or "",
    }
    return _omit(item, "notified_at")


async def _python_calendar(
    db: str, user_id: uuid.UUID, zone: str, first: date, last: date
) -> dict[str, Any]:
    """The calendar as Python built it: the same days, folded by ``ledger.money``."""
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        outcomes, money = await review_service._days(conn, user_id, ZoneInfo(zone), first, last)
    days = {
        d.isoformat(): {
            **review_rules.calendar_outcomes(outcomes.get(d)),
            **money.get(d, MoneyByCcy()).as_json(),
        }
        for d in sorted(set(outcomes) | set(money))
    }
    answer = {"from_": first.isoformat(), "to": last.isoformat(), "timezone": zone, "days": days}
    return CalendarResponse.model_validate(answer).model_dump(mode="json", by_alias=True)


def test_calendar_answers_as_python_did(client: TestClient, db: str, user: ApiUser) -> None:
    _awkward_journal(db, user)
    _awkward_ledger(client, db, user)
    for zone in ("UTC", "Asia/Seoul", "Asia/Kolkata"):
        query = f"from=2026-01-01&to=2026-01-05&timezone={zone}"
        r = client.get(f"{API}/review/calendar?{query}", headers=user.headers)
        assert r.status_code == 200, r.text
        got = exactly_declared(f"{API}/review/calendar", r.content)
        assert len(got["days"]) >= 2 and any(d["fills"] for d in got["days"].values()), zone
        want = asyncio.run(_python_calendar(db, user.id, zone, date(2026, 1, 1), date(2026, 1, 5)))
        assert got == want, zone
        assert list(got["days"]) == list(want["days"]), zone


def test_alerts_answer_as_python_did(client: TestClient, db: str, user: ApiUser) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        rule = conn.execute(
            "INSERT INTO alert_rules (user_id, name, symbol, rule_type, config)"
            " VALUES (%s, 'r', 'BTCUSDT', 'price_level', %s) RETURNING id",
            (user.id, '{"price": "50000", "direction": "above"}'),
        ).fetchone()[0]  # type: ignore[index]
        for i in range(13):
            conn.execute(
                "INSERT INTO alerts (user_id, rule_id, symbol, trigger_price, trigger_reason,"
                " status, notified_at, created_at) VALUES (%s, %s, 'BTCUSDT', %s, %s, %s, %s, %s)",
                (
                    user.id,
                    rule,
                    NUMBERS[i % len(NUMBERS)],
                    TEXTS[i % len(TEXTS)],
                    ("pending", "briefed", "decided")[i % 3],
                    None if i % 2 else TIMES[i % len(TIMES)],
                    TIMES[i % 4],  # equal times: the id breaks the tie
                ),
            )
    for status, query, limit, offset in (
        (None, "", 20, 0),
        (None, "limit=4&offset=4", 4, 4),
        (None, "limit=4&offset=40", 4, 40),
        ("briefed", "status=briefed&limit=3", 3, 0),
    ):
        r = client.get(f"{API}/alerts?{query}", headers=user.headers)
        assert r.status_code == 200, r.text
        got = exactly_declared(f"{API}/alerts", r.content)
        rows = _rows(
            db,
            "SELECT * FROM alerts WHERE user_id = %s AND (%s::text IS NULL OR status = %s)"
            " ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s",
            user.id,
            status,
            status,
            limit,
            offset,
        )
        assert got == {
            "alerts": [_alert(row) for row in rows],
            "total": 4 if status else 13,
        }, query
    bad = client.get(f"{API}/alerts?status=nope", headers=user.headers)
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_REQUEST"


def test_alert_rules_answer_as_python_did(client: TestClient, db: str, user: ApiUser) -> None:
    configs = [
        ("price_level", {"price": "50000", "direction": "above"}),
        ("price_level", {"direction": "lte", "price": "0.00001230"}),
        (
            "price_change",
            {
                "direction": "both",
                "threshold_type": "percent",
                "threshold_value": "2.5",
                "reference": "24h",
            },
        ),
        ("ma_cross", {"ma_period": 20, "ma_timeframe": "1h", "direction": "below"}),
        ("volatility_spike", {"timeframe": "15m", "multiplier": "3"}),
    ]
    states = [
        None,
        {},
        {"last_price": "42000.5"},
        {"was_above_level": True, "last_price": "1.0", "was_above_ma": False, "extra": 1},
    ]
    with psycopg.connect(db, autocommit=True) as conn:
        for i in range(12):
            rule_type, config = configs[i % len(configs)]
            conn.execute(
                "INSERT INTO alert_rules (user_id, name, symbol, rule_type, config,"
                " cooldown_minutes, enabled, last_triggered_at, last_check_state, created_at,"
                " updated_at) VALUES (%s, %s, 'BTCUSDT', %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    user.id,
                    TEXTS[i % len(TEXTS)] or "r",
                    rule_type,
                    json.dumps({**config, "ignored": "x"} if i == 7 else config),
                    i * 5,
                    i % 2 == 0,
                    None if i % 3 else TIMES[i % len(TIMES)],
                    None if states[i % 4] is None else json.dumps(states[i % 4]),
                    TIMES[i % 4],  # equal times: the id breaks the tie
                    TIMES[i % len(TIMES)],
                ),
            )
    r = client.get(f"{API}/alert-rules", headers=user.headers)
    assert r.status_code == 200, r.text
    got = exactly_declared(f"{API}/alert-rules", r.content)
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            f"SELECT {alert_store.RULE_COLUMNS} FROM alert_rules WHERE user_id = %s"
            " ORDER BY created_at DESC, id DESC",
            (user.id,),
        ).fetchall()
    assert len(rows) == 12
    expected = alert_routes.RulesResponse(
        rules=[alert_routes._rule_out(alert_store.RuleRow(*row)) for row in rows]
    )
    assert got == json.loads(expected.model_dump_json())


def test_positions_catch_up_a_fill_changed_by_hand(
    client: TestClient, db: str, user: ApiUser
) -> None:
    """The page's statement also asks the change queue; a queued book is caught up and the page
    read again, so the answer shows the change."""
    rows = ["exchange,symbol,side,quantity,price,trade_time,realized_pnl"]
    rows += [f"binance_futures,BTCUSDT,BUY,1,100,{TIMES[0] + timedelta(hours=h)}," for h in (1, 2)]
    r = client.post(
        f"{API}/trades/import",
        headers=user.headers,
        files={"file": ("t.csv", ("\n".join(rows) + "\n").encode(), "text/csv")},
    )
    assert r.status_code == 200, r.text
    before = client.get(f"{API}/portfolio/positions", headers=user.headers).json()
    assert [p["net_qty"] for p in before["positions"]] == ["2"]
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            "UPDATE trade_events SET qty = 3 WHERE id = (SELECT id FROM trade_events"
            " WHERE user_id = %s ORDER BY executed_at LIMIT 1)",
            (user.id,),
        )
        queued = conn.execute(
            "SELECT count(*) FROM ledger_pnl_dirty WHERE user_id = %s", (user.id,)
        ).fetchone()
    assert queued is not None and queued[0] > 0
    r = client.get(f"{API}/portfolio/positions", headers=user.headers)
    got = exactly_declared(f"{API}/portfolio/positions", r.content)
    assert [p["net_qty"] for p in got["positions"]] == ["4"]
    left = _rows(db, "SELECT count(*) AS n FROM ledger_pnl_dirty WHERE user_id = %s", user.id)
    assert left[0]["n"] == 0
