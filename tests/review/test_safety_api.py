"""The daily safety quick-check: the day's fills in the user's zone, each once, split fills
grouped within 90 s, reviews upserted (owner only, one per target, note trimmed and capped)."""

from __future__ import annotations

import uuid

from tests.review.conftest import fills_csv

API = "/api/v1"

DAY = [  # 2026-03-10 in Seoul
    ("2026-03-10T01:00:00Z", "BTC/USDT", "buy", "1", "100", "0"),
    ("2026-03-10T01:00:40Z", "BTC/USDT", "buy", "3", "104", "0"),
    ("2026-03-10T01:01:50Z", "BTC/USDT", "buy", "1", "101", "0"),  # 70 s after the latest
    ("2026-03-10T01:04:00Z", "BTC/USDT", "buy", "1", "99", "0"),  # 130 s: another order
    ("2026-03-10T01:00:10Z", "ETH/USDT", "sell", "2", "10", "0"),
    ("2026-03-09T14:59:59Z", "ETH/USDT", "buy", "2", "9", "0"),  # the 9th in Seoul
]


def check(client, user, query: str = "") -> dict:
    r = client.get(
        f"{API}/safety/today?date=2026-03-10&timezone=Asia/Seoul{query}", headers=user.headers
    )
    assert r.status_code == 200, r.text
    return r.json()


def post(client, user, **body):
    return client.post(f"{API}/safety/reviews", headers=user.headers, json=body)


def test_grouped_reviewed_and_counted(client, user, upload) -> None:
    upload(fills_csv(DAY), venue="binance_futures")
    body = check(client, user)
    assert (body["date"], body["timezone"]) == ("2026-03-10", "Asia/Seoul")
    items = body["items"]
    shape = [(i["symbol"], i["side"], i["group_size"], i["executed_at"]) for i in items]
    assert shape == [
        ("BTC/USDT", "BUY", 1, "2026-03-10T01:04:00Z"),
        ("BTC/USDT", "BUY", 3, "2026-03-10T01:01:50Z"),
        ("ETH/USDT", "SELL", 1, "2026-03-10T01:00:10Z"),
    ]
    assert (body["total"], body["reviewed"], body["pending"]) == (3, 0, 3)
    g = items[1]
    assert (g["qty"], g["price"]) == ("5", "102.6")  # Σ qty, quantity-weighted price
    assert g["venue"] == "binance_futures" and g["venue_name"] and g["source"] == "csv"
    assert g["asset_class"] == "crypto"
    members = g["member_targets"]
    assert len(members) == 3 and all(m["target_type"] == "trade_event" for m in members)
    assert g["target_id"] == members[0]["target_id"]
    # every fill once: an event and its trades row are one target
    assert sum(i["group_size"] for i in items) == 5

    # review two members: the group stays pending
    for m in members[:2]:
        r = post(
            client,
            user,
            target_type="trade_event",
            target_id=m["target_id"],
            verdict="intended",
            note="  planned entry  ",
        )
        assert r.status_code == 200, r.text
        assert r.json()["note"] == "planned entry" and r.json()["verdict"] == "intended"
    g = check(client, user)["items"][1]
    assert (g["reviewed"], g.get("verdict")) == (False, None)
    assert [m["reviewed"] for m in g["member_targets"]] == [True, True, False]
    # the third with another verdict: reviewed, no common verdict
    third = members[2]["target_id"]
    post(client, user, target_type="trade_event", target_id=third, verdict="mistake")
    g = check(client, user)["items"][1]
    assert (g["reviewed"], g.get("verdict")) == (True, None)
    assert g["reviewed_at"] is not None
    # re-posting updates the one review of that target
    r = post(
        client, user, target_type="trade_event", target_id=third, verdict="intended", note="x" * 400
    )
    assert r.status_code == 200 and r.json()["note"] == "x" * 300
    g = check(client, user)["items"][1]
    assert (g["reviewed"], g["verdict"]) == (True, "intended")
    body = check(client, user)
    assert (body["total"], body["reviewed"], body["pending"]) == (3, 1, 2)
    # only pending, filters and limit
    pending = check(client, user, "&only_pending=yes")
    assert [i["group_size"] for i in pending["items"]] == [1, 1]
    assert check(client, user, "&venue=BINANCE_FUTURES")["total"] == 3
    assert check(client, user, "&venue=Binance%20Futures")["total"] == 3
    assert check(client, user, "&venue=upbit")["items"] == []
    assert check(client, user, "&asset_class=stock")["items"] == []
    assert check(client, user, "&limit=1")["items"][0]["executed_at"] == "2026-03-10T01:04:00Z"
    # the 9th in Seoul holds the other ETH fill
    r = client.get(f"{API}/safety/today?date=2026-03-09&timezone=Asia/Seoul", headers=user.headers)
    assert [i["side"] for i in r.json()["items"]] == ["BUY"]


def test_every_source_once_and_trade_targets(client, user, sql) -> None:
    # the legacy importer writes a trades row and its event for each fill
    legacy = (
        "exchange,symbol,side,quantity,price,trade_time,realized_pnl,timeframe,tags\n"
        "binance_futures,BTCUSDT,BUY,1,100,2026-03-10T01:00:00Z,,1h,\n"
        "binance_futures,BTCUSDT,SELL,1,110,2026-03-10T05:00:00Z,10,1h,\n"
    )
    r = client.post(
        f"{API}/trades/import",
        headers=user.headers,
        files={"file": ("t.csv", legacy.encode(), "text/csv")},
    )
    assert r.status_code == 200, r.text
    items = check(client, user)["items"]
    assert [(i["side"], i["group_size"], i["target_type"]) for i in items] == [
        ("SELL", 1, "trade_event"),
        ("BUY", 1, "trade_event"),
    ]
    # a review posted on the trades row counts for its event
    trade_id = sql("SELECT id FROM trades WHERE user_id = %s AND side = 'SELL'", user.id)[0][0]
    r = post(client, user, target_type="trade", target_id=str(trade_id), verdict="unsure")
    assert r.status_code == 200 and r.json()["target_type"] == "trade"
    items = check(client, user)["items"]
    assert (items[0]["reviewed"], items[0]["verdict"]) == (True, "unsure")
    # a legacy row no event projects is listed as a trade
    sql(
        "INSERT INTO trades (user_id, binance_trade_id, exchange, symbol, side, quantity, price,"
        " trade_time) VALUES (%s, 42, 'binance_futures', 'ETHUSDT', 'buy', 2, 10,"
        " '2026-03-10T03:00:00Z')",
        user.id,
    )
    items = check(client, user)["items"]
    assert [(i["symbol"], i["target_type"], i["venue"]) for i in items][1] == (
        "ETHUSDT",
        "trade",
        "binance_futures",
    )


def test_bad_input_and_other_users(client, user, make_user, upload) -> None:
    upload(fills_csv(DAY), venue="binance_futures")
    target = check(client, user)["items"][0]["target_id"]
    other = make_user()
    r = post(client, other, target_type="trade_event", target_id=target, verdict="intended")
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"
    r = post(client, user, target_type="trade", target_id=target, verdict="intended")
    assert r.status_code == 404  # an event id is not a trades row
    r = post(
        client, user, target_type="trade_event", target_id=str(uuid.uuid4()), verdict="intended"
    )
    assert r.status_code == 404
    cases = [
        ({"target_type": "trade_event", "target_id": target, "verdict": "oops"}, "INVALID_VERDICT"),
        (
            {"target_type": "fill", "target_id": target, "verdict": "intended"},
            "INVALID_TARGET_TYPE",
        ),
        (
            {"target_type": "trade_event", "target_id": "nope", "verdict": "intended"},
            "INVALID_REQUEST",
        ),
        ({"target_type": "trade_event", "verdict": "intended"}, "INVALID_REQUEST"),
        (
            {
                "target_type": "trade_event",
                "target_id": target,
                "verdict": "intended",
                "note": "a\x00",
            },
            "INVALID_REQUEST",
        ),
    ]
    for body, want in cases:
        r = post(client, user, **body)
        assert r.status_code == 400 and r.json()["code"] == want, r.text
    for query, want in (
        ("timezone=Atlantis/Capital", "INVALID_TIMEZONE"),
        ("date=2026-03-32", "INVALID_DATE"),
        ("asset_class=forex", "INVALID_ASSET_CLASS"),
        ("limit=0", "INVALID_REQUEST"),
        ("limit=ten", "INVALID_REQUEST"),
        ("venue=a%00", "INVALID_REQUEST"),
        ("date=0001-01-01", "INVALID_DATE"),
    ):
        r = client.get(f"{API}/safety/today?{query}", headers=user.headers)
        assert r.status_code == 400 and r.json()["code"] == want, r.text
    # nothing of the owner's shows for another user
    r = client.get(f"{API}/safety/today?date=2026-03-10&timezone=Asia/Seoul", headers=other.headers)
    assert r.json()["items"] == [] and r.json()["total"] == 0
