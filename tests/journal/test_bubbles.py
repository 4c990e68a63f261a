"""Bubbles CRUD, validation, search/similar, outcomes view and ownership."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import psycopg
from fastapi.testclient import TestClient

from tests.helpers import ApiUser

B = "/api/v1/bubbles"


def _bubble(client: TestClient, user: ApiUser, **kw: object) -> dict:
    body = {
        "symbol": "btcusdt",
        "timeframe": "1h",
        "candle_time": "2026-01-02T03:00:00+09:00",
        "price": "42000.5",
        "memo": "breakout",
        "tags": [" Breakout ", "fomo", "breakout"],
        "asset_class": "  Crypto ",
        "venue_name": "Binance Futures",
    } | kw
    r = client.post(B, json=body, headers=user.headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_create_normalises_and_reads_back(client: TestClient, user: ApiUser) -> None:
    b = _bubble(client, user)
    assert b["symbol"] == "BTCUSDT" and b["bubble_type"] == "manual"
    assert b["candle_time"] == "2026-01-01T18:00:00Z" and b["price"] == "42000.5"
    assert b["tags"] == ["breakout", "fomo"]
    assert b["asset_class"] == "crypto" and b["venue_name"] == "binance futures"
    got = client.get(f"{B}/{b['id']}", headers=user.headers).json()
    assert got == b


def test_bad_input_names_the_field_and_writes_nothing(
    client: TestClient, user: ApiUser, db: str
) -> None:
    cases = [
        ({"symbol": "BTC-USDT"}, "INVALID_SYMBOL", "symbol"),
        ({"timeframe": "2h"}, "INVALID_TIMEFRAME", "timeframe"),
        ({"candle_time": "2026-01-02T03:00:00"}, "INVALID_REQUEST", "candle_time"),
        ({"price": "abc"}, "INVALID_REQUEST", "price"),
        ({"price": 1.5}, "INVALID_REQUEST", "price"),
        ({"price": ""}, "INVALID_REQUEST", "price"),
        ({"tags": ["a", "b", "c", "d", "e", "f"]}, "INVALID_TAGS", "tags"),
        ({"tags": ["x" * 21]}, "INVALID_TAGS", "tags"),
        ({"tags": ["no spaces"]}, "INVALID_TAGS", "tags"),
        ({"colour": "red"}, "INVALID_REQUEST", "colour"),
    ]
    base = {"symbol": "BTCUSDT", "timeframe": "1h", "candle_time": "2026-01-02T03:00:00Z"}
    for change, code, field in cases:
        r = client.post(B, json=base | {"price": "1"} | change, headers=user.headers)
        assert r.status_code == 400, change
        assert r.json()["code"] == code and field in r.json()["message"], r.json()
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM bubbles").fetchone() == (0,)


def test_list_filters_sort_and_pages(client: TestClient, user: ApiUser) -> None:
    for day in range(1, 6):
        _bubble(client, user, candle_time=f"2026-01-0{day}T00:00:00Z", tags=[f"d{day}"])
    _bubble(client, user, symbol="ETHUSDT", candle_time="2026-01-09T00:00:00Z", tags=["eth"])
    r = client.get(B, params={"limit": 2, "page": 2}, headers=user.headers).json()
    assert (r["page"], r["limit"], r["total"]) == (2, 2, 6)
    assert [i["candle_time"][:10] for i in r["items"]] == ["2026-01-04", "2026-01-03"]
    r = client.get(B, params={"symbol": "ethusdt"}, headers=user.headers).json()
    assert r["total"] == 1
    r = client.get(B, params={"tags": "d1,D2", "sort": "asc"}, headers=user.headers).json()
    assert [i["tags"] for i in r["items"]] == [["d1"], ["d2"]]
    r = client.get(
        B,
        params={"from": "2026-01-02T00:00:00Z", "to": "2026-01-03T00:00:00Z"},
        headers=user.headers,
    ).json()
    assert r["total"] == 2
    for params, field in (
        ({"limit": "0"}, "limit"),
        ({"page": "x"}, "page"),
        ({"from": "2026-01-02"}, "from"),
        ({"sort": "up"}, "sort"),
        ({"symbol": "B"}, "symbol"),
    ):
        bad = client.get(B, params=params, headers=user.headers)
        assert bad.status_code == 400 and field in bad.json()["message"], params
    assert client.get(B, params={"limit": "500"}, headers=user.headers).json()["limit"] == 200


def test_update_and_delete(client: TestClient, user: ApiUser) -> None:
    b = _bubble(client, user)
    r = client.put(f"{B}/{b['id']}", json={"memo": "changed"}, headers=user.headers)
    assert r.json() == {"updated": True}
    got = client.get(f"{B}/{b['id']}", headers=user.headers).json()
    assert got["memo"] == "changed" and got["tags"] == b["tags"] and got["price"] == b["price"]
    r = client.put(f"{B}/{b['id']}", json={"price": "1"}, headers=user.headers)
    assert r.status_code == 400
    assert client.delete(f"{B}/{b['id']}", headers=user.headers).json() == {"deleted": True}
    assert client.get(f"{B}/{b['id']}", headers=user.headers).status_code == 404


def test_search_is_reachable_and_similar_summarises(
    client: TestClient, user: ApiUser, db: str
) -> None:
    a = _bubble(client, user, tags=["breakout"], candle_time="2026-01-01T00:00:00Z")
    b = _bubble(client, user, tags=["breakout", "fomo"], candle_time="2026-01-02T00:00:00Z")
    c = _bubble(client, user, tags=["fomo"], candle_time="2026-01-03T00:00:00Z")
    _bubble(client, user, tags=["breakout"], symbol="ETHUSDT")
    with psycopg.connect(db) as conn:
        for bid, pnl in ((b["id"], "2.5"), (c["id"], "-1")):
            conn.execute(
                "INSERT INTO outcomes (bubble_id, period, reference_price, outcome_price,"
                " pnl_percent) VALUES (%s, '1h', 1, 1, %s)",
                (bid, pnl),
            )
    r = client.get(f"{B}/search", params={"tags": "fomo"}, headers=user.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 2 and [i["id"] for i in body["items"]] == [c["id"], b["id"]]
    assert body["items"][0]["outcome"] == {"period": "1h", "pnl_percent": "-1"}
    r = client.get(f"{B}/search", params={"symbol": "BTCUSDT"}, headers=user.headers).json()
    assert r == {"page": 1, "limit": 50, "total": 0, "items": [], "summary": r["summary"]}
    sim = client.get(f"{B}/{a['id']}/similar", headers=user.headers).json()
    assert sim["similar_count"] == 1 and sim["bubbles"][0]["id"] == b["id"]
    assert sim["summary"] == {"period": "1h", "wins": 1, "losses": 0, "avg_pnl": "2.5"}
    sim = client.get(f"{B}/{b['id']}/similar", headers=user.headers).json()
    assert sim["similar_count"] == 2
    assert sim["summary"] == {"period": "1h", "wins": 0, "losses": 1, "avg_pnl": "-1"}
    bad = client.get(f"{B}/{a['id']}/similar", params={"period": "2h"}, headers=user.headers)
    assert bad.status_code == 400 and "period" in bad.json()["message"]
    out = client.get(f"{B}/{b['id']}/outcomes", headers=user.headers).json()
    assert out == {
        "outcomes": [
            {"period": "1h", "reference_price": "1", "outcome_price": "1", "pnl_percent": "2.5"},
            {
                "period": "4h",
                "reference_price": "42000.5",
                "outcome_price": None,
                "pnl_percent": None,
            },
            {
                "period": "1d",
                "reference_price": "42000.5",
                "outcome_price": None,
                "pnl_percent": None,
            },
        ]
    }


def test_other_users_ids_are_404_everywhere(
    client: TestClient, make_user: Callable[..., ApiUser], db: str
) -> None:
    owner, other = make_user(), make_user()
    b = _bubble(client, owner)
    with psycopg.connect(db) as conn:
        trade = conn.execute(
            "INSERT INTO trades (user_id, binance_trade_id, symbol, side, quantity, price,"
            " trade_time) VALUES (%s, 1, 'BTCUSDT', 'BUY', 1, 100, now()) RETURNING id",
            (owner.id,),
        ).fetchone()[0]  # type: ignore[index]
        note = conn.execute(
            "INSERT INTO review_notes (user_id, bubble_id, title, content) VALUES (%s, %s, 't',"
            " 'c') RETURNING id",
            (owner.id, b["id"]),
        ).fetchone()[0]  # type: ignore[index]
        pos = conn.execute(
            "INSERT INTO manual_positions (user_id, symbol, asset_class, position_side)"
            " VALUES (%s, 'BTCUSDT', 'crypto', 'long') RETURNING id",
            (owner.id,),
        ).fetchone()[0]  # type: ignore[index]
    h = other.headers
    bid = b["id"]
    calls = [
        ("GET", f"{B}/{bid}", None),
        ("PUT", f"{B}/{bid}", {"memo": "x"}),
        ("DELETE", f"{B}/{bid}", None),
        ("GET", f"{B}/{bid}/outcomes", None),
        ("GET", f"{B}/{bid}/similar", None),
        ("GET", f"{B}/{bid}/trades", None),
        ("GET", f"{B}/{bid}/notes", None),
        ("POST", "/api/v1/trades/link", {"trade_id": str(trade), "bubble_id": bid}),
        ("POST", "/api/v1/trades/unlink", {"trade_id": str(trade)}),
        ("GET", f"/api/v1/notes/{note}", None),
        ("PUT", f"/api/v1/notes/{note}", {"title": "t", "content": "c"}),
        ("DELETE", f"/api/v1/notes/{note}", None),
        ("POST", "/api/v1/notes", {"title": "t", "content": "c", "bubble_id": bid}),
        ("PUT", f"/api/v1/manual-positions/{pos}", {"memo": "x"}),
        ("DELETE", f"/api/v1/manual-positions/{pos}", None),
    ]
    for method, path, body in calls:
        r = client.request(method, path, json=body, headers=h)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert set(r.json()) == {"code", "message"}
    # The owner's data is untouched.
    assert client.get(f"{B}/{bid}", headers=owner.headers).json()["memo"] == "breakout"
    for path in (f"{B}/not-a-uuid", "/api/v1/notes/123", f"{B}/{uuid.uuid4()}x/outcomes"):
        r = client.get(path, headers=owner.headers)
        assert r.status_code == 400, path
        assert r.json() == {"code": "INVALID_REQUEST", "message": "id: not a valid id"}
    assert client.get(f"{B}/{uuid.uuid4()}", headers=owner.headers).status_code == 404
