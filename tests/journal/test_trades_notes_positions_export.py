"""Trade links, convert/backfill, notes, manual positions and CSV exports."""

from __future__ import annotations

import csv
import io
import re
import uuid

import psycopg
from fastapi.testclient import TestClient

from tests.helpers import ApiUser


def _trade(db: str, user: ApiUser, n: int, symbol: str = "BTCUSDT", side: str = "BUY") -> str:
    with psycopg.connect(db) as conn:
        row = conn.execute(
            "INSERT INTO trades (user_id, binance_trade_id, symbol, side, quantity, price,"
            " trade_time, exchange) VALUES (%s, %s, %s, %s, 1, '100.5',"
            " '2026-01-05T13:47:00Z'::timestamptz + %s * interval '1 minute', 'binance_futures')"
            " RETURNING id",
            (user.id, n, symbol, side, n),
        ).fetchone()
    return str(row[0])  # type: ignore[index]


def test_link_unlink_and_bubble_trades(client: TestClient, user: ApiUser, db: str) -> None:
    t = _trade(db, user, 1)
    b = client.post(
        "/api/v1/bubbles",
        json={
            "symbol": "BTCUSDT",
            "timeframe": "1h",
            "candle_time": "2026-01-05T13:00:00Z",
            "price": "100",
        },
        headers=user.headers,
    ).json()
    r = client.post(
        "/api/v1/trades/link", json={"trade_id": t, "bubble_id": b["id"]}, headers=user.headers
    )
    assert r.json() == {"success": True, "trade_id": t, "bubble_id": b["id"]}
    trades = client.get(f"/api/v1/bubbles/{b['id']}/trades", headers=user.headers).json()
    assert [x["id"] for x in trades["trades"]] == [t]
    assert trades["trades"][0]["price"] == "100.5"
    r = client.post("/api/v1/trades/unlink", json={"trade_id": t}, headers=user.headers)
    assert r.json() == {"success": True, "trade_id": t}
    assert client.get(f"/api/v1/bubbles/{b['id']}/trades", headers=user.headers).json() == {
        "trades": []
    }
    unknown = str(uuid.uuid4())
    for body in (
        {"trade_id": unknown, "bubble_id": b["id"]},
        {"trade_id": t, "bubble_id": unknown},
    ):
        r = client.post("/api/v1/trades/link", json=body, headers=user.headers)
        assert r.status_code == 404
    r = client.post(
        "/api/v1/trades/link", json={"trade_id": "x", "bubble_id": "y"}, headers=user.headers
    )
    assert r.status_code == 400 and "trade_id" in r.json()["message"]


def test_convert_and_backfill_bubbles(client: TestClient, user: ApiUser, db: str) -> None:
    for n in range(7):
        _trade(db, user, n, side="SELL" if n % 2 else "BUY")
    with psycopg.connect(db) as conn:
        conn.execute(
            "INSERT INTO user_symbols (user_id, symbol, timeframe_default) VALUES (%s,"
            " 'BTCUSDT', '4h')",
            (user.id,),
        )
        # A trade that cannot get a bubble must not make the loop run forever.
        conn.execute(
            "INSERT INTO trades (user_id, binance_trade_id, symbol, side, quantity, price,"
            " trade_time) VALUES (%s, 99, 'ETHUSDT', 'BUY', 1, 0, now())",
            (user.id,),
        )
    r = client.post("/api/v1/trades/convert-bubbles", params={"limit": "3"}, headers=user.headers)
    assert r.status_code == 200 and r.json() == {"created": 7, "skipped": 1}
    items = client.get("/api/v1/bubbles", params={"sort": "asc"}, headers=user.headers).json()
    assert items["total"] == 7
    first = next(i for i in items["items"] if i["tags"] == ["buy"])  # same candle: any order
    assert first["timeframe"] == "4h" and first["candle_time"] == "2026-01-05T12:00:00Z"
    assert first["memo"] == "Trade sync: BTCUSDT BUY @ 100.5" and first["tags"] == ["buy"]
    assert first["bubble_type"] == "auto" and first["venue_name"] == "binance_futures"
    again = client.post("/api/v1/trades/convert-bubbles", headers=user.headers).json()
    assert again == {"created": 0, "skipped": 1}
    bad = client.post(
        "/api/v1/trades/convert-bubbles", params={"default_timeframe": "2h"}, headers=user.headers
    )
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_TIMEFRAME"
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE bubbles SET memo = NULL, tags = NULL, asset_class = NULL")
    r = client.post("/api/v1/trades/backfill-bubbles", headers=user.headers)
    assert r.json() == {"updated": 7}
    first = client.get(f"/api/v1/bubbles/{first['id']}", headers=user.headers).json()
    assert first["memo"] == "Trade sync: BTCUSDT BUY @ 100.5" and first["asset_class"] == "crypto"


def test_notes(client: TestClient, user: ApiUser) -> None:
    N = "/api/v1/notes"
    r = client.post(
        N,
        json={"title": "t", "content": "c", "tags": ["ai", "BTCUSDT"], "emotion": "Calm"},
        headers=user.headers,
    )
    assert r.status_code == 201
    note = r.json()
    # whole seconds, as the reference's NoteResponse printed them
    for field in ("created_at", "updated_at"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", note[field]), note[field]
    assert (
        note["emotion"] == "calm"
        and "bubble_id" not in note  # left out when null, as the reference did
        and note["tags"] == ["ai", "BTCUSDT"]
    )
    for i in range(4):
        client.post(N, json={"title": f"n{i}", "content": "c"}, headers=user.headers)
    page = client.get(N, params={"limit": "2", "page": "2"}, headers=user.headers).json()
    assert (page["total"], page["total_pages"], page["limit"], len(page["notes"])) == (5, 3, 2, 2)
    r = client.put(f"{N}/{note['id']}", json={"title": "t2", "content": "c2"}, headers=user.headers)
    assert r.json()["title"] == "t2" and r.json()["tags"] == [] and "emotion" not in r.json()
    for body, field in (
        ({"content": "c"}, "title"),
        ({"title": "t"}, "content"),
        ({"title": "t", "content": "c", "bubble_id": "zz"}, "bubble_id"),
    ):
        bad = client.post(N, json=body, headers=user.headers)
        assert bad.status_code == 400 and field in bad.json()["message"]
        assert set(bad.json()) == {"code", "message"}
    assert client.get(N, params={"limit": "0"}, headers=user.headers).status_code == 400
    assert client.delete(f"{N}/{note['id']}", headers=user.headers).status_code == 204
    assert client.get(f"{N}/{note['id']}", headers=user.headers).status_code == 404


def test_manual_positions(client: TestClient, user: ApiUser) -> None:
    P = "/api/v1/manual-positions"
    r = client.post(
        P,
        json={
            "symbol": "btcusdt",
            "asset_class": "Crypto",
            "position_side": "LONG",
            "size": "0.5",
            "entry_price": "42000.12",
            "leverage": "10",
            "venue": " binance ",
        },
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    pos = r.json()
    assert (pos["symbol"], pos["asset_class"], pos["position_side"], pos["status"]) == (
        "BTCUSDT",
        "crypto",
        "long",
        "open",
    )
    assert pos["size"] == "0.5000000000" or pos["size"].rstrip("0") == "0.5"
    for change, field in (
        ({"size": "lots"}, "size"),
        ({"leverage": "1.234"}, "leverage"),
        ({"asset_class": "bond"}, "asset_class"),
        ({"opened_at": "2026-01-01T00:00:00"}, "opened_at"),
    ):
        body = {"symbol": "X", "asset_class": "crypto", "position_side": "long"} | change
        bad = client.post(P, json=body, headers=user.headers)
        assert bad.status_code == 400 and field in bad.json()["message"], change
    r = client.put(
        f"{P}/{pos['id']}", json={"status": "closed", "memo": "done"}, headers=user.headers
    )
    assert r.status_code == 200 and r.json()["closed_at"] and r.json()["memo"] == "done"
    assert r.json()["entry_price"].startswith("42000.12")
    assert client.get(P, params={"status": "open"}, headers=user.headers).json() == {
        "positions": []
    }
    assert len(client.get(P, headers=user.headers).json()["positions"]) == 1
    assert client.get(P, params={"status": "x"}, headers=user.headers).status_code == 400
    assert client.delete(f"{P}/{pos['id']}", headers=user.headers).json() == {"deleted": True}


def test_exports(client: TestClient, user: ApiUser, db: str) -> None:
    with psycopg.connect(db) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO bubbles (user_id, symbol, timeframe, candle_time, price, bubble_type,"
            " tags, memo) SELECT %s, 'BTCUSDT', '1h', now() - (i %% 500) * interval '1 hour',"
            " 100 + i, 'manual', ARRAY['t' || (i %% 3)], 'memo, \"quoted\"'"
            " FROM generate_series(1, 2500) i",
            (user.id,),
        )
        cur.execute(
            "INSERT INTO outcomes (bubble_id, period, reference_price, outcome_price,"
            " pnl_percent) SELECT id, '1h', price, price, CASE WHEN price::int % 2 = 0"
            " THEN 1.5 ELSE -0.5 END FROM bubbles"
        )
    r = client.get("/api/v1/export/bubbles", headers=user.headers)
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == [
        "ID",
        "Symbol",
        "Timeframe",
        "Candle Time",
        "Price",
        "Type",
        "Asset Class",
        "Venue",
        "Memo",
        "Tags",
        "Created At",
    ]
    assert len(rows) == 2501 and len({row[0] for row in rows[1:]}) == 2500
    assert rows[1][8] == 'memo, "quoted"'
    keys = [(row[3], row[0]) for row in rows[1:]]
    assert keys == sorted(keys, reverse=True)
    assert client.get("/api/v1/export/bubbles", headers=user.headers).text == r.text
    s = client.get("/api/v1/export/stats", params={"period": "all"}, headers=user.headers)
    stats = list(csv.reader(io.StringIO(s.text)))
    assert stats[0] == ["Category", "Metric", "Value"]
    assert ["Overall", "Total Bubbles", "2500"] in stats
    assert ["Overall", "Win Rate", "50.00%"] in stats
    assert ["Overall", "Average PnL", "0.5000"] in stats
    assert ["Period 1h", "Count", "2500"] in stats
    assert ["Tag: t0", "Count", "833"] in stats
    assert (
        client.get("/api/v1/export/stats", params={"period": "x"}, headers=user.headers).status_code
        == 400
    )


def test_manual_positions_are_kept_until_one_changes(
    client: TestClient, user: ApiUser, db: str
) -> None:
    """The list is kept under the journal stamp: a position created, updated or deleted through
    the API, or changed by hand, is seen at once."""
    P = "/api/v1/manual-positions?status=open"
    answers = client.app.state.answers

    def open_symbols() -> list[str]:
        r = client.get(P, headers=user.headers)
        assert r.status_code == 200, r.text
        return [p["symbol"] for p in r.json()["positions"]]

    assert open_symbols() == open_symbols() == []
    body = {"symbol": "ETHUSDT", "asset_class": "crypto", "position_side": "long"}
    made = client.post("/api/v1/manual-positions", json=body, headers=user.headers).json()
    assert open_symbols() == ["ETHUSDT"]
    served = answers.served_early
    assert open_symbols() == ["ETHUSDT"] and answers.served_early == served + 1
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE manual_positions SET symbol = 'SOLUSDT' WHERE id = %s", (made["id"],))
    assert open_symbols() == ["SOLUSDT"]
    closed = {"status": "closed"}
    put = client.put(f"/api/v1/manual-positions/{made['id']}", json=closed, headers=user.headers)
    assert put.status_code == 200
    assert open_symbols() == []
