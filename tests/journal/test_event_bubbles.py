"""POST /portfolio/backfill-bubbles: chart bubbles for imported ledger fills."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.helpers import ApiUser

FUTURES_CSV = (
    "Date(UTC),Pair,Side,Price,Quantity,Amount,Fee,Realized Profit\n"
    "2026-01-05 10:15:00,BTCUSDT,BUY,42000.5,0.010,420.005 USDT,0.168 USDT,0 USDT\n"
    "2026-01-05 10:40:00,BTCUSDT,BUY,42000.5,0.020,840.01 USDT,0.336 USDT,0 USDT\n"
    "2026-01-05 12:00:00,BTCUSDT,SELL,43000,0.030,1290 USDT,0.516 USDT,29.985 USDT\n"
)


def _import(client: TestClient, user: ApiUser) -> None:
    r = client.post(
        "/api/v1/imports/trades",
        headers=user.headers,
        files={"file": ("futures.csv", FUTURES_CSV, "text/csv")},
    )
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 3


def test_backfill_bubbles_from_events_is_idempotent_and_per_user(
    client: TestClient, make_user: Callable[..., ApiUser]
) -> None:
    alice, bob = make_user(), make_user()
    _import(client, alice)
    _import(client, bob)

    r = client.post("/api/v1/portfolio/backfill-bubbles", headers=alice.headers)
    assert r.status_code == 200
    # Two buys at one price in the same hour share a candle: one bubble; the sell is another.
    assert r.json() == {"created": 2}
    assert client.post("/api/v1/portfolio/backfill-bubbles", headers=alice.headers).json() == {
        "created": 0
    }

    items = client.get("/api/v1/bubbles?sort=asc", headers=alice.headers).json()["items"]
    assert [(b["symbol"], b["price"], b["candle_time"], b["tags"]) for b in items] == [
        ("BTCUSDT", "42000.5", "2026-01-05T10:00:00Z", ["buy"]),
        ("BTCUSDT", "43000", "2026-01-05T12:00:00Z", ["sell"]),
    ]
    assert {b["bubble_type"] for b in items} == {"auto"}
    assert items[0]["memo"] == "Event sync: BTCUSDT BUY @ 42000.5"

    assert client.get("/api/v1/bubbles", headers=bob.headers).json()["total"] == 0
    assert client.post("/api/v1/portfolio/backfill-bubbles").status_code == 401
