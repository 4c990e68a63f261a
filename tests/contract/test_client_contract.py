"""What the KIFU web client reads, endpoint group by endpoint group, against the real app.

Each test drives the endpoints the way the client does (same paths, query strings, bodies, no
body where the client sends none) and checks every field the client reads: present, with the
JSON type the client expects (decimal strings for money/prices/quantities, numbers for counts
and rates, RFC 3339 UTC times, arrays never null) and the status codes it branches on.
Source of truth: reference/kifu-client-contract.md and kifu-behaviour.md §2.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from kifu.kit.auth import issue_access_token
from tests.contract.conftest import CLIENT_ORIGIN
from tests.fixtures.contract_checks import (
    BOOL,
    DEC,
    INT,
    LIST,
    NUM,
    OBJ,
    STR,
    STR_LIST,
    TEXT,
    TIME,
    conforms,
    error_envelope,
    opt,
)
from tests.helpers import TEST_JWT_SECRET, ApiUser

API = "/api/v1"


def ago(**kw: float) -> str:
    return (datetime.now(UTC) - timedelta(**kw)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# -- data put in through the real endpoints ----------------------------------------------------


def legacy_import(client: TestClient, user: ApiUser) -> None:
    """Trades (with auto bubbles) the way the Trades and Chart screens see them."""
    csv = (
        "exchange,symbol,side,quantity,price,trade_time,realized_pnl\n"
        f"binance_futures,BTCUSDT,BUY,0.5,42000.10,{ago(days=3)},\n"
        f"binance_futures,BTCUSDT,SELL,0.5,43000.5,{ago(days=2)},500.2\n"
        f"binance_futures,ETHUSDT,SELL,2,2500,{ago(days=2)},-12.5\n"
        f"upbit,KRW-BTC,bid,0.01,90000000,{ago(days=1)},\n"
    )
    r = client.post(
        f"{API}/trades/import",
        headers=user.headers,
        files={"file": ("trades.csv", csv.encode(), "text/csv")},
    )
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 4


def unified_import(client: TestClient, user: ApiUser) -> dict[str, Any]:
    """The Settings screen's CSV upload (form fields exactly as the client sends them)."""
    csv = (
        "executed_at,symbol,side,qty,price,fee,fee_asset\n"
        f"{ago(days=4)},BTCUSDT,buy,0.2,40000,0.8,USDT\n"
        f"{ago(days=3)},BTCUSDT,sell,0.1,41000.5,0.41,USDT\n"
        f"{ago(days=2)},ETHUSDT,buy,1.5,2400.25,0.36,USDT\n"
    )
    r = client.post(
        f"{API}/imports/trades",
        headers=user.headers,
        files={"file": ("binance.csv", csv.encode(), "text/csv")},
        data={"venue": "binance", "asset_class": "crypto", "venue_type": "cex", "source": "csv"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    conforms(
        body,
        {"imported": INT, "skipped": INT, "duplicates": INT, "issue_count": INT, "run_id": STR},
        "imports/trades",
    )
    assert body["imported"] == 3
    return body


# -- CORS and tokens ---------------------------------------------------------------------------


def test_cors_preflight_for_the_client_origin(client: TestClient, user: ApiUser) -> None:
    # JSON POST (login) preflight.
    r = client.options(
        f"{API}/auth/login",
        headers={
            "Origin": CLIENT_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert 200 <= r.status_code < 300, r.text
    assert r.headers["access-control-allow-origin"] == CLIENT_ORIGIN
    methods = {m.strip() for m in r.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} <= methods
    allowed = r.headers["access-control-allow-headers"].lower()
    for header in ("content-type", "authorization", "accept", "origin"):
        assert header in allowed

    # Authorised GET preflight: OPTIONS carries no token and must not meet the auth gate.
    r = client.options(
        f"{API}/users/me",
        headers={
            "Origin": CLIENT_ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert 200 <= r.status_code < 300, r.text
    assert r.headers["access-control-allow-origin"] == CLIENT_ORIGIN

    # The real calls carry the header too, including a 401 (else the browser hides the status
    # and the client's refresh-on-401 never runs) and the export's Content-Disposition.
    ok = client.get(f"{API}/users/me", headers={**user.headers, "Origin": CLIENT_ORIGIN})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == CLIENT_ORIGIN
    denied = client.get(f"{API}/users/me", headers={"Origin": CLIENT_ORIGIN})
    error_envelope(denied, 401)
    assert denied.headers["access-control-allow-origin"] == CLIENT_ORIGIN
    export = client.get(f"{API}/export/bubbles", headers={**user.headers, "Origin": CLIENT_ORIGIN})
    assert "content-disposition" in export.headers["access-control-expose-headers"].lower()

    # Origins are configured, not "*".
    other = client.options(
        f"{API}/auth/login",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert other.headers.get("access-control-allow-origin") != "http://evil.example"


def test_register_login_and_refresh_on_401(client: TestClient) -> None:
    email = f"Trader.{uuid.uuid4().hex[:6]}@Example.com"
    creds = {"email": email, "password": "guest1234"}
    r = client.post(f"{API}/auth/register", json={"name": "Trader", **creds})
    assert 200 <= r.status_code < 300, r.text
    error_envelope(client.post(f"{API}/auth/register", json={"name": "T", **creds}), 409)

    # Login right after register, with the same credentials; email case does not matter.
    r = client.post(f"{API}/auth/login", json={**creds, "email": email.lower()})
    assert r.status_code == 200, r.text
    pair = r.json()
    conforms(pair, {"access_token": STR, "refresh_token": STR}, "login")
    error_envelope(client.post(f"{API}/auth/login", json={**creds, "password": "nope"}), 401)

    me = client.get(f"{API}/users/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200 and me.json()["email"] == email.lower()

    # An expired access token: 401 → POST /auth/refresh {refresh_token} → retry once.
    user_id = uuid.UUID(me.json()["id"])
    stale = issue_access_token(user_id, TEST_JWT_SECRET, now=datetime.now(UTC) - timedelta(hours=1))
    error_envelope(client.get(f"{API}/users/me", headers={"Authorization": f"Bearer {stale}"}), 401)
    r = client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert r.status_code == 200, r.text
    fresh = r.json()
    conforms(fresh, {"access_token": STR, "refresh_token": STR}, "refresh")
    assert fresh["refresh_token"] != pair["refresh_token"]
    retry = client.get(
        f"{API}/users/me", headers={"Authorization": f"Bearer {fresh['access_token']}"}
    )
    assert retry.status_code == 200 and retry.json()["email"] == email.lower()

    # A refresh that fails is 401 (the client then clears tokens and goes to /login).
    reused = client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    error_envelope(reused, 401)
    error_envelope(client.post(f"{API}/auth/refresh", json={"refresh_token": "junk"}), 401)


def test_users_me_subscription_and_symbols(client: TestClient, user: ApiUser) -> None:
    me = client.get(f"{API}/users/me", headers=user.headers)
    assert me.status_code == 200
    conforms(me.json(), {"id": STR, "email": STR, "name": STR, "created_at": TIME}, "users/me")
    assert me.json()["email"] == user.email

    sub = client.get(f"{API}/users/me/subscription", headers=user.headers)
    assert sub.status_code == 200
    conforms(sub.json(), {"tier": STR, "ai_quota_remaining": INT, "ai_quota_limit": INT}, "sub")

    symbols = client.get(f"{API}/users/me/symbols", headers=user.headers)
    assert symbols.status_code == 200
    items = symbols.json()["symbols"]
    assert LIST(items) and items, "the chart needs at least one symbol"
    for s in items:
        conforms(s, {"symbol": STR, "timeframe_default": STR}, "symbols[]")
    r = client.put(
        f"{API}/users/me/symbols",
        headers=user.headers,
        json={"symbols": [{"symbol": "ethusdt", "timeframe_default": "1d"}]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["symbols"] == [{"symbol": "ETHUSDT", "timeframe_default": "1d"}]


# -- Trades screen, Chart trades, Home/Review summaries ---------------------------------------

TRADE_ITEM = {
    "id": STR,
    "exchange": STR,
    "symbol": STR,
    "side": STR,
    "position_side": opt(STR),
    "open_close": opt(STR),
    "reduce_only": opt(BOOL),
    "quantity": DEC,
    "price": DEC,
    "realized_pnl": opt(DEC),
    "trade_time": TIME,
}
AGG = {"total_trades": NUM, "trade_count": NUM, "realized_pnl_total": DEC}


def test_trades_list_and_summary(client: TestClient, user: ApiUser) -> None:
    empty = client.get(f"{API}/trades?page=1&limit=25&sort=desc", headers=user.headers).json()
    assert empty["items"] == [] and empty["total"] == 0
    summary = client.get(f"{API}/trades/summary", headers=user.headers).json()
    assert summary["by_exchange"] == [] and summary["by_side"] == []
    assert summary["by_symbol"] == [] and summary["totals"]["total_trades"] == 0

    legacy_import(client, user)
    for query in (
        "page=1&limit=25&sort=desc",
        "page=1&limit=500&sort=desc",  # Portfolio fallback list
        "page=1&limit=2000&sort=desc&symbol=BTCUSDT",  # Chart: over the max is clamped, not 400
        "page=1&limit=25&sort=desc&exchange=binance_futures&side=BUY",
        "page=1&limit=5&sort=desc",  # /alert page
    ):
        r = client.get(f"{API}/trades?{query}", headers=user.headers)
        assert r.status_code == 200, (query, r.text)
        body = r.json()
        conforms(body, {"page": INT, "limit": INT, "total": INT, "items": LIST}, query)
        assert body["items"], query
        for item in body["items"]:
            conforms(item, TRADE_ITEM, f"trades[] ({query})")
    filtered = client.get(
        f"{API}/trades?page=1&limit=25&sort=desc&exchange=binance_futures&side=BUY",
        headers=user.headers,
    ).json()
    assert filtered["total"] == 1 and filtered["items"][0]["side"] == "BUY"
    times = [
        i["trade_time"] for i in client.get(f"{API}/trades", headers=user.headers).json()["items"]
    ]
    assert times == sorted(times, reverse=True)

    for query in ("", f"?from={ago(days=30)}", "?exchange=binance_futures", "?side=SELL"):
        r = client.get(f"{API}/trades/summary{query}", headers=user.headers)
        assert r.status_code == 200, (query, r.text)
        s = r.json()
        conforms(s["totals"], {**AGG, "wins": NUM, "losses": NUM}, f"summary.totals ({query})")
        for name, key in (
            ("by_exchange", "exchange"),
            ("by_side", "side"),
            ("by_symbol", "symbol"),
        ):
            assert LIST(s[name]) and s[name], (query, name)
            for row in s[name]:
                conforms(row, {key: STR, **AGG}, f"summary.{name}[] ({query})")
    s = client.get(f"{API}/trades/summary", headers=user.headers).json()
    assert s["totals"]["total_trades"] == 4
    assert s["totals"]["realized_pnl_total"] == "487.7"
    assert {r["exchange"] for r in s["by_exchange"]} == {"binance_futures", "upbit"}

    error_envelope(client.get(f"{API}/trades?exchange=kraken", headers=user.headers), 400)


# -- Portfolio screen --------------------------------------------------------------------------


def test_portfolio_positions_timeline_and_backfill(client: TestClient, user: ApiUser) -> None:
    r = client.get(f"{API}/portfolio/positions?limit=50", headers=user.headers)
    assert r.status_code == 200 and r.json() == {"positions": [], "count": 0}
    r = client.get(f"{API}/portfolio/timeline?limit=50", headers=user.headers)
    assert r.status_code == 200 and r.json() == {"items": [], "next_cursor": None}

    unified_import(client, user)
    for query in (
        "limit=50",
        "limit=50&status=open&asset_class=crypto&venue=binance_spot&source=csv",
    ):
        r = client.get(f"{API}/portfolio/positions?{query}", headers=user.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert INT(body["count"]) and body["count"] == len(body["positions"]) > 0
        for p in body["positions"]:
            conforms(
                p,
                {
                    "key": STR,
                    "instrument": STR,
                    "venue": STR,
                    "venue_name": STR,
                    "asset_class": STR,
                    "venue_type": STR,
                    "status": STR,
                    "net_qty": DEC,
                    "avg_entry": DEC,
                    "buy_qty": DEC,
                    "sell_qty": DEC,
                    "last_executed_at": TIME,
                },
                f"positions[] ({query})",
            )
    keys = [p["key"] for p in body["positions"]]
    assert len(keys) == len(set(keys)), "the client keys rows by `key`"

    event = {
        "id": STR,
        "executed_at": TIME,
        "asset_class": STR,
        "venue_type": STR,
        "venue": STR,
        "venue_name": STR,
        "instrument": STR,
        "event_type": STR,
        "side": opt(STR),
        "qty": opt(DEC),
        "price": opt(DEC),
    }
    full = client.get(f"{API}/portfolio/timeline?limit=50", headers=user.headers).json()
    assert len(full["items"]) == 3 and full["next_cursor"] is None
    for item in full["items"]:
        conforms(item, event, "timeline.items[]")
    first = client.get(f"{API}/portfolio/timeline?limit=2", headers=user.headers).json()
    assert STR(first["next_cursor"])
    rest = client.get(
        f"{API}/portfolio/timeline?limit=2&cursor={first['next_cursor']}", headers=user.headers
    ).json()
    assert [i["id"] for i in first["items"] + rest["items"]] == [i["id"] for i in full["items"]]

    # Action buttons: POST with no body.
    r = client.post(f"{API}/portfolio/backfill-events", headers=user.headers)
    assert r.status_code == 200, r.text
    conforms(r.json(), {"processed": INT, "created": INT, "skipped": INT}, "backfill-events")


# -- Chart / Bubbles / Home bubbles ------------------------------------------------------------

BUBBLE = {
    "id": STR,
    "symbol": STR,
    "timeframe": STR,
    "candle_time": TIME,
    "price": DEC,
    "bubble_type": STR,
    "memo": opt(STR),
    "tags": STR_LIST,
    "asset_class": opt(STR),
    "venue_name": opt(STR),
    "created_at": TIME,
    "updated_at": TIME,
}


def test_bubbles_create_list_update(client: TestClient, user: ApiUser) -> None:
    empty = client.get(f"{API}/bubbles?page=1&limit=200&sort=desc", headers=user.headers)
    assert empty.status_code == 200
    assert empty.json() == {"page": 1, "limit": 200, "total": 0, "items": []}

    payload = {  # BubbleCreateModal / createBubbleFromTrade
        "symbol": "BTCUSDT",
        "timeframe": "1h",
        "candle_time": "2026-01-02T03:00:00.000Z",
        "price": "42000.5",
        "memo": "Trade sync: BTCUSDT BUY @ 42000.5",
        "tags": ["buy"],
        "asset_class": "crypto",
        "venue_name": "binance_futures",
    }
    r = client.post(f"{API}/bubbles", headers=user.headers, json=payload)
    assert 200 <= r.status_code < 300, r.text
    created = r.json()
    conforms(created, BUBBLE, "POST bubbles")
    assert created["price"] == "42000.5" and created["bubble_type"] == "manual"
    assert created["candle_time"].startswith("2026-01-02T03:00:00")
    bare = client.post(
        f"{API}/bubbles",
        headers=user.headers,
        json={k: payload[k] for k in ("symbol", "timeframe", "candle_time", "price")},
    ).json()
    assert bare["tags"] == []

    for query in ("page=1&limit=200&sort=desc", "page=1&limit=5&sort=desc"):
        body = client.get(f"{API}/bubbles?{query}", headers=user.headers).json()
        conforms(body, {"page": INT, "limit": INT, "total": INT, "items": LIST}, query)
        assert body["total"] == 2
        for item in body["items"]:
            conforms(item, BUBBLE, f"bubbles.items[] ({query})")
    page2 = client.get(f"{API}/bubbles?page=2&limit=1&sort=desc", headers=user.headers).json()
    assert page2["page"] == 2 and len(page2["items"]) == 1 and page2["total"] == 2

    r = client.put(
        f"{API}/bubbles/{created['id']}",
        headers=user.headers,
        json={"memo": "edited", "tags": ["buy", "breakout"]},
    )
    assert r.status_code == 200, r.text
    got = client.get(f"{API}/bubbles/{created['id']}", headers=user.headers).json()
    assert got["memo"] == "edited" and got["tags"] == ["buy", "breakout"]

    bad = error_envelope(
        client.post(f"{API}/bubbles", headers=user.headers, json={**payload, "symbol": "??"}), 400
    )
    assert bad["code"] == "INVALID_SYMBOL"
    error_envelope(client.get(f"{API}/bubbles/{uuid.uuid4()}", headers=user.headers), 404)

    outcomes = client.get(f"{API}/bubbles/{created['id']}/outcomes", headers=user.headers).json()
    assert [o["period"] for o in outcomes["outcomes"]] == ["1h", "4h", "1d"]
    similar = client.get(f"{API}/bubbles/{created['id']}/similar", headers=user.headers).json()
    assert LIST(similar["bubbles"]) and INT(similar["similar_count"])

    # Chart action "backfill bubbles" is a POST with no body.
    r = client.post(f"{API}/trades/backfill-bubbles", headers=user.headers)
    assert r.status_code == 200 and INT(r.json()["updated"])


# -- Review notes ------------------------------------------------------------------------------

NOTE = {
    "id": STR,
    "bubble_id": opt(STR),
    "title": STR,
    "content": STR,
    "tags": STR_LIST,
    "lesson_learned": opt(TEXT),
    "emotion": opt(TEXT),
    "created_at": TIME,
    "updated_at": TIME,
}


def test_notes(client: TestClient, user: ApiUser) -> None:
    empty = client.get(f"{API}/notes?page=1&limit=80", headers=user.headers)
    assert empty.status_code == 200
    conforms(
        empty.json(),
        {"notes": LIST, "total": INT, "page": INT, "limit": INT, "total_pages": INT},
        "notes (empty)",
    )
    assert empty.json()["notes"] == []

    bubble = client.post(
        f"{API}/bubbles",
        headers=user.headers,
        json={"symbol": "BTCUSDT", "timeframe": "1h", "candle_time": ago(hours=2), "price": "1"},
    ).json()
    assert client.get(f"{API}/bubbles/{bubble['id']}/notes", headers=user.headers).json() == {
        "notes": []
    }
    body = {  # the one-shot AI answer auto-saved by the chart
        "bubble_id": bubble["id"],
        "title": "AI 복기 요약",
        "content": "Wait for the retest.",
        "tags": ["ai", "one-shot", "brief", "BTCUSDT"],
        "lesson_learned": "",
        "emotion": "uncertain",
    }
    r = client.post(f"{API}/notes", headers=user.headers, json=body)
    assert r.status_code == 201, r.text
    note = r.json()
    conforms(note, NOTE, "POST notes")
    assert note["bubble_id"] == bubble["id"] and "ai" in note["tags"]

    for limit in (80, 100):
        listing = client.get(f"{API}/notes?page=1&limit={limit}", headers=user.headers).json()
        assert listing["total"] == 1 and listing["total_pages"] == 1
        for n in listing["notes"]:
            conforms(n, NOTE, "notes[]")
    of_bubble = client.get(f"{API}/bubbles/{bubble['id']}/notes", headers=user.headers).json()
    assert [n["id"] for n in of_bubble["notes"]] == [note["id"]]

    r = client.put(
        f"{API}/notes/{note['id']}",
        headers=user.headers,
        json={"title": "t2", "content": "c2", "tags": ["x"], "emotion": "calm"},
    )
    assert r.status_code == 200, r.text
    conforms(r.json(), NOTE, "PUT notes")
    assert client.delete(f"{API}/notes/{note['id']}", headers=user.headers).status_code == 204
    error_envelope(client.get(f"{API}/notes/{note['id']}", headers=user.headers), 404)
    error_envelope(client.post(f"{API}/notes", headers=user.headers, json={"title": "x"}), 400)


# -- Manual positions (Home, Chart) ------------------------------------------------------------

MANUAL_POSITION = {
    "id": STR,
    "symbol": STR,
    "asset_class": STR,
    "venue": opt(STR),
    "position_side": STR,
    "size": opt(DEC),
    "entry_price": opt(DEC),
    "stop_loss": opt(DEC),
    "take_profit": opt(DEC),
    "leverage": opt(DEC),
    "strategy": opt(STR),
    "memo": opt(STR),
    "status": STR,
    "opened_at": opt(TIME),
}


def test_manual_positions(client: TestClient, user: ApiUser) -> None:
    empty = client.get(f"{API}/manual-positions?status=open", headers=user.headers)
    assert empty.status_code == 200 and empty.json() == {"positions": []}

    payload = {  # PositionManager.handleSave (undefined fields are dropped by JSON)
        "symbol": "BTCUSDT",
        "asset_class": "crypto",
        "position_side": "long",
        "status": "open",
        "venue": "binance",
        "size": "0.5",
        "entry_price": "78000",
        "stop_loss": "75000",
        "take_profit": "85000",
        "leverage": "3",
        "strategy": "breakout",
        "memo": "first entry",
        "opened_at": ago(hours=5),
    }
    r = client.post(f"{API}/manual-positions", headers=user.headers, json=payload)
    assert r.status_code == 201, r.text
    conforms(r.json(), MANUAL_POSITION, "POST manual-positions")
    minimal = client.post(
        f"{API}/manual-positions",
        headers=user.headers,
        json={
            "symbol": "ETHUSDT",
            "asset_class": "crypto",
            "position_side": "short",
            "status": "open",
        },
    )
    assert minimal.status_code == 201, minimal.text

    listing = client.get(f"{API}/manual-positions?status=open", headers=user.headers).json()
    assert len(listing["positions"]) == 2
    for p in listing["positions"]:
        conforms(p, MANUAL_POSITION, "manual-positions[]")
    pid = r.json()["id"]
    closed = client.put(
        f"{API}/manual-positions/{pid}", headers=user.headers, json={"status": "closed"}
    )
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert (
        len(
            client.get(f"{API}/manual-positions?status=open", headers=user.headers).json()[
                "positions"
            ]
        )
        == 1
    )
    assert client.delete(f"{API}/manual-positions/{pid}", headers=user.headers).status_code == 200
    error_envelope(
        client.put(f"{API}/manual-positions/{pid}", headers=user.headers, json={"memo": "x"}), 404
    )


# -- Chart candles -----------------------------------------------------------------------------


def test_klines_public_top_level_array(client: TestClient) -> None:
    end_ms = int((datetime.now(UTC) - timedelta(days=10)).timestamp() * 1000)
    for query in (
        "symbol=BTCUSDT&interval=1d&limit=500&exchange=binance",
        f"symbol=BTCUSDT&interval=1h&limit=100&exchange=binance&endTime={end_ms}",
        "symbol=KRW-BTC&interval=1h&limit=50&exchange=upbit",
        "symbol=BTCKRW&interval=1d&limit=20&exchange=upbit",
    ):
        # No Authorization: the client also calls it without tokens.
        r = client.get(f"{API}/market/klines?{query}", headers={"Origin": CLIENT_ORIGIN})
        assert r.status_code == 200, (query, r.text)
        candles = r.json()
        assert LIST(candles) and candles, query
        for c in candles:
            conforms(
                c,
                {"time": INT, "open": DEC, "high": DEC, "low": DEC, "close": DEC, "volume": DEC},
                f"klines[] ({query})",
            )
        times = [c["time"] for c in candles]
        assert times == sorted(times) and times[-1] < 10**11, "epoch seconds, ascending"
        if "endTime" in query:
            assert times[-1] * 1000 <= end_ms
    bad = error_envelope(client.get(f"{API}/market/klines?symbol=BTCUSDT&interval=7m"), 400)
    assert bad["code"] == "INVALID_TIMEFRAME"


# -- Review export -----------------------------------------------------------------------------


def test_exports_are_csv_attachments(client: TestClient, user: ApiUser) -> None:
    client.post(
        f"{API}/bubbles",
        headers=user.headers,
        json={
            "symbol": "BTCUSDT",
            "timeframe": "1h",
            "candle_time": ago(hours=3),
            "price": "1",
            "tags": ["a"],
        },
    )
    for path, prefix in (("stats?period=30d", "kifu_stats_"), ("bubbles", "kifu_bubbles_")):
        r = client.get(f"{API}/export/{path}", headers=user.headers)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/csv")
        name = re.fullmatch(
            rf"attachment; filename=({prefix}\d{{4}}-\d\d-\d\d\.csv); filename\*=UTF-8''(\S+)",
            r.headers["content-disposition"],
        )
        assert name and name[1] == name[2], r.headers["content-disposition"]
        assert len(r.text.splitlines()) >= 2


# -- Settings: summary pack --------------------------------------------------------------------


def test_summary_pack_generate_latest_then_get(client: TestClient, user: ApiUser) -> None:
    none = client.post(f"{API}/packs/generate-latest", headers=user.headers, json={"range": "30d"})
    assert error_envelope(none, 404)["code"] == "NO_COMPLETED_RUN"

    imported = unified_import(client, user)
    r = client.post(f"{API}/packs/generate-latest", headers=user.headers, json={"range": "30d"})
    assert r.status_code == 200, r.text
    latest = r.json()
    conforms(
        latest,
        {"pack_id": STR, "anchor_ts": TIME, "reconciliation_status": STR, "source_run_id": STR},
        "generate-latest",
    )
    assert latest["source_run_id"] == imported["run_id"]

    pack = client.get(f"{API}/packs/{latest['pack_id']}", headers=user.headers)
    assert pack.status_code == 200, pack.text
    p = pack.json()
    conforms(
        p,
        {
            "pack_id": STR,
            "reconciliation_status": STR,  # .toUpperCase() is called on it
            "missing_suspects_count": INT,
            "duplicate_suspects_count": INT,
            "payload": OBJ,
        },
        "packs/{id}",
    )
    assert p["pack_id"] == latest["pack_id"]
    assert OBJ(p["payload"]["pnl_summary"])
    assert INT(p["payload"]["activity_summary"]["trade_count"])
    assert p["payload"]["activity_summary"]["trade_count"] == 3
    error_envelope(client.get(f"{API}/packs/{uuid.uuid4()}", headers=user.headers), 404)


def test_summary_pack_pnl_totals_are_decimal_strings(client: TestClient, user: ApiUser) -> None:
    unified_import(client, user)
    pack_id = client.post(
        f"{API}/packs/generate-latest", headers=user.headers, json={"range": "30d"}
    ).json()["pack_id"]
    pnl = client.get(f"{API}/packs/{pack_id}", headers=user.headers).json()["payload"][
        "pnl_summary"
    ]
    for name in ("realized_pnl_total", "fees_total", "funding_total"):
        assert opt(DEC)(pnl.get(name)), f"pnl_summary.{name}={pnl.get(name)!r}"


# -- Settings: exchange connections ------------------------------------------------------------


def test_exchange_connections(settings: Any, db: str, make_user: Callable[..., ApiUser]) -> None:
    from kifu.app import create_app
    from tests.exchanges.conftest import BINANCE_KEY, BINANCE_SECRET
    from tests.exchanges.fake_venues import FakeVenues, Key, serve

    venues = FakeVenues()
    venues.keys[BINANCE_KEY] = Key(BINANCE_SECRET)
    venues.add_futures("BTCUSDT", 3, start=datetime.now(UTC) - timedelta(days=2))
    server, _ = serve(venues)
    try:
        app = create_app(
            settings.model_copy(
                update={
                    "binance_spot_url": venues.url,
                    "binance_futures_url": venues.url,
                    "upbit_url": venues.url,
                    "exchange_retry_base_seconds": 0.01,
                    "exchange_max_wait_seconds": 2.0,
                }
            ),
            db,
        )
        user = make_user()
        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.get(f"{API}/exchanges", headers=user.headers).json() == {"items": []}
            # The chart's watch-list (default BTCUSDT) tells the sync which markets to read.
            client.get(f"{API}/users/me/symbols", headers=user.headers)
            r = client.post(
                f"{API}/exchanges",
                headers=user.headers,
                json={
                    "exchange": "binance_futures",
                    "api_key": BINANCE_KEY,
                    "api_secret": BINANCE_SECRET,
                },
            )
            assert 200 <= r.status_code < 300, r.text
            bad = client.post(
                f"{API}/exchanges",
                headers=user.headers,
                json={"exchange": "kraken", "api_key": "k", "api_secret": "s"},
            )
            error_envelope(bad, 400)

            items = client.get(f"{API}/exchanges", headers=user.headers).json()["items"]
            assert len(items) == 1
            conforms(
                items[0],
                {
                    "id": STR,
                    "exchange": STR,
                    "api_key_masked": STR,
                    "is_valid": BOOL,
                    "created_at": TIME,
                },
                "exchanges.items[]",
            )
            cid = items[0]["id"]
            assert BINANCE_SECRET not in str(items) and BINANCE_KEY not in str(items)

            r = client.post(f"{API}/exchanges/{cid}/test", headers=user.headers)
            assert r.status_code == 200, r.text
            conforms(r.json(), {"message": STR, "expires_at": opt(TIME)}, "exchanges test")

            r = client.post(f"{API}/exchanges/{cid}/sync", headers=user.headers)
            assert r.status_code == 200, r.text
            conforms(
                r.json(),
                {
                    "message": STR,
                    "run_id": STR,
                    "before_count": INT,
                    "after_count": INT,
                    "inserted_count": INT,
                },
                "exchanges sync",
            )
            assert r.json()["inserted_count"] == 3
            # What the sync wrote shows on Trades (exchange filter) and Portfolio (source=api).
            trades = client.get(
                f"{API}/trades?page=1&limit=25&sort=desc&exchange=binance_futures",
                headers=user.headers,
            ).json()
            assert trades["total"] == 3
            for item in trades["items"]:
                conforms(item, TRADE_ITEM, "synced trades[]")
            events = client.get(
                f"{API}/portfolio/timeline?limit=50&source=api&venue=binance_futures",
                headers=user.headers,
            ).json()["items"]
            assert len(events) == 3

            assert client.delete(f"{API}/exchanges/{cid}", headers=user.headers).status_code == 200
            assert client.get(f"{API}/exchanges", headers=user.headers).json() == {"items": []}
    finally:
        server.shutdown()
        server.server_close()


# -- Shared error envelope ---------------------------------------------------------------------


def test_errors_are_code_and_message(client: TestClient, user: ApiUser) -> None:
    error_envelope(client.get(f"{API}/no-such-thing", headers=user.headers), 404)
    error_envelope(client.get(f"{API}/bubbles"), 401)
    error_envelope(
        client.post(
            f"{API}/bubbles",
            headers={**user.headers, "Content-Type": "application/json"},
            content=b"{not json",
        ),
        400,
    )
    body = error_envelope(client.post(f"{API}/auth/login", json={"email": "x"}), 400)
    assert "password" in body["message"]
