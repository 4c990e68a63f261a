"""The guided daily review: built from the day's fills in the user's zone, answered, completed,
late trades supplemented and rolled over; streaks; one review under concurrent requests."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import psycopg

from kifu.review import service
from tests.review.conftest import fills_csv

API = "/api/v1"
SEOUL = "timezone=Asia/Seoul"


def today(client, user, day: str, tz: str = SEOUL) -> dict:
    r = client.get(f"{API}/guided-reviews/today?date={day}&{tz}", headers=user.headers)
    assert r.status_code == 200, r.text
    return r.json()


def answer(client, user, item_id: str, **body) -> dict:
    return client.post(
        f"{API}/guided-reviews/items/{item_id}/submit", headers=user.headers, json=body
    )


def by_key(items: list[dict]) -> dict[str, dict]:
    return {i["bundle_key"]: i for i in items}


def test_built_answered_completed_supplemented_and_rolled_over(client, user, upload, sql) -> None:
    # 2026-03-10 in Seoul is [2026-03-09T15:00Z, 2026-03-10T15:00Z)
    upload(
        fills_csv(
            [
                ("2026-03-09T14:59:00Z", "XRP/USDT", "buy", "1", "1", "0"),  # Seoul: the 9th
                ("2026-03-09T15:10:00Z", "BTC/USDT", "buy", "1", "100", "0"),  # 00:10 KST
                ("2026-03-09T15:10:30Z", "BTC/USDT", "buy", "1", "101", "0"),  # same decision
                ("2026-03-10T01:00:00Z", "BTC/USDT", "sell", "2", "111", "0"),  # +21
                ("2026-03-10T02:00:00Z", "ETH/USDT", "buy", "1", "10", "0"),
            ]
        ),
        venue="binance_futures",
    )
    body = today(client, user, "2026-03-10")
    review = body["review"]
    assert (review["review_date"], review["status"], review.get("completed_at")) == (
        "2026-03-10",
        "pending",
        None,
    )
    items = body["items"]
    assert [(i["symbol"], i["trade_count"], i["side"], i["pnl"]) for i in items] == [
        ("BTCUSDT", 2, "SELL", 21.0),  # a buy decision and a sell decision
        ("ETHUSDT", 1, "BUY", 0.0),
    ]
    assert [i["bundle_key"] for i in items] == ["BTCUSDT:2026-03-10", "ETHUSDT:2026-03-10"]
    assert [i["order_index"] for i in items] == [0, 1]
    assert all(i["emotions"] == [] and "intent" not in i for i in items)
    # the same request again returns the same review and items
    again = today(client, user, "2026-03-10")
    assert again["review"]["id"] == review["id"]
    assert [i["id"] for i in again["items"]] == [i["id"] for i in items]

    # answers in the vocabulary; bad values are 400 naming them, and change nothing
    btc, eth = items
    bad = answer(client, user, btc["id"], intent="no_trade_risk_off")
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_INTENT"
    assert "no_trade_risk_off" in bad.json()["message"]
    bad = answer(client, user, btc["id"], intent="other", emotions=["calm", "sleepy"])
    assert bad.status_code == 400 and "sleepy" in bad.json()["message"]
    assert today(client, user, "2026-03-10")["review"]["status"] == "pending"
    ok = answer(
        client,
        user,
        btc["id"],
        intent="technical_signal",
        emotions=["calm", "as_planned"],
        pattern_match="same_decision",
        memo="breakout",
    )
    assert ok.status_code == 200 and ok.json() == {"ok": True}
    body = today(client, user, "2026-03-10")
    assert body["review"]["status"] == "in_progress"
    b = by_key(body["items"])["BTCUSDT:2026-03-10"]
    assert (b["intent"], b["emotions"], b["pattern_match"], b["memo"]) == (
        "technical_signal",
        ["calm", "as_planned"],
        "same_decision",
        "breakout",
    )
    # empty strings and an empty list clear the optional answers
    answer(client, user, eth["id"], intent="other", emotions=[], pattern_match="", memo="")
    e = by_key(today(client, user, "2026-03-10")["items"])["ETHUSDT:2026-03-10"]
    assert (e["intent"], e["emotions"]) == ("other", [])
    assert "pattern_match" not in e and "memo" not in e  # cleared: left out, as the reference did

    done = client.post(f"{API}/guided-reviews/{review['id']}/complete", headers=user.headers)
    assert done.status_code == 200, done.text
    assert done.json()["ok"] is True
    assert done.json()["streak"]["current_streak"] == 1
    assert done.json()["streak"]["last_review_date"] == "2026-03-10"
    # as if completed at 12:00 KST that day; then trades come in later that day
    sql(
        "UPDATE guided_reviews SET completed_at = '2026-03-10T03:00:00Z' WHERE id = %s",
        review["id"],
    )
    upload(
        fills_csv([("2026-03-10T04:00:00Z", "SOL/USDT", "buy", "1", "20", "0")]),
        venue="binance_futures",
    )
    body = today(client, user, "2026-03-10")
    assert body["review"]["status"] == "completed"
    sup = [i for i in body["items"] if i["bundle_key"].startswith("SUPPLEMENT:2026-03-10:SOLUSDT:")]
    assert len(sup) == 1 and sup[0]["trade_count"] == 1 and sup[0]["order_index"] == 1000
    # answering a completed review keeps it completed
    assert answer(client, user, sup[0]["id"], intent="emotional").status_code == 200
    assert today(client, user, "2026-03-10")["review"]["status"] == "completed"
    # a second late SOL trade: the answered supplement stays, the new trade gets its own item
    upload(
        fills_csv([("2026-03-10T11:00:00Z", "SOL/USDT", "sell", "1", "25", "0")]),
        venue="binance_futures",
    )
    items = today(client, user, "2026-03-10")["items"]
    sol = [i for i in items if i["symbol"] == "SOLUSDT"]
    assert [(i.get("intent"), i["trade_count"]) for i in sol] == [("emotional", 1), (None, 1)]
    assert sol[1]["pnl"] == 5.0 and sol[1]["order_index"] == 1001
    # completing again keeps the first completion time
    client.post(f"{API}/guided-reviews/{review['id']}/complete", headers=user.headers)
    assert today(client, user, "2026-03-10")["review"]["completed_at"] == "2026-03-10T03:00:00Z"

    # a late trade nobody saw on the 10th rolls over to the 11th (supplemented ones do not)
    upload(
        fills_csv([("2026-03-10T13:00:00Z", "ADA/USDT", "buy", "5", "1", "0")]),
        venue="binance_futures",
    )
    nxt = today(client, user, "2026-03-11")
    keys = by_key(nxt["items"])
    assert set(keys) == {"NO_TRADE:2026-03-11", "ROLLOVER:2026-03-10:ADAUSDT"}
    assert keys["NO_TRADE:2026-03-11"]["symbol"] == "__NO_TRADE__"
    assert keys["NO_TRADE:2026-03-11"]["trade_count"] == 0
    roll = keys["ROLLOVER:2026-03-10:ADAUSDT"]
    assert (roll["trade_count"], roll["order_index"]) == (1, 2000)
    # asked again: still one rollover item
    assert len(today(client, user, "2026-03-11")["items"]) == 2
    # the no-trade item takes the no-trade vocabulary
    nt = keys["NO_TRADE:2026-03-11"]["id"]
    r = answer(client, user, nt, intent="technical_signal")
    assert r.status_code == 400 and r.json()["code"] == "INVALID_INTENT"
    r = answer(client, user, nt, intent="no_trade_wait_setup", pattern_match="wait_confirmation")
    assert r.status_code == 200


def test_days_follow_the_zone(client, user, make_user, upload) -> None:
    other = make_user()
    for who in (user, other):
        upload(
            fills_csv([("2026-03-09T15:30:00Z", "BTC/USDT", "buy", "1", "100", "0")]),
            who=who,
            venue="binance_futures",
        )
    # 00:30 on the 10th in Seoul, still the 9th in UTC
    assert [i["symbol"] for i in today(client, user, "2026-03-10")["items"]] == ["BTCUSDT"]
    utc = today(client, other, "2026-03-10", "timezone=UTC")["items"]
    assert [i["symbol"] for i in utc] == ["__NO_TRADE__"]
    assert utc[0]["bundle_key"] == "NO_TRADE:2026-03-10"


def complete_day(client, user, day: str) -> dict:
    rid = today(client, user, day, "timezone=UTC")["review"]["id"]
    r = client.post(f"{API}/guided-reviews/{rid}/complete", headers=user.headers)
    assert r.status_code == 200, r.text
    return r.json()["streak"]


def test_streak_over_consecutive_and_broken_days(client, user) -> None:
    s = client.get(f"{API}/guided-reviews/streak", headers=user.headers).json()
    assert (s["current_streak"], s["longest_streak"], s.get("last_review_date")) == (0, 0, None)
    assert [complete_day(client, user, f"2026-04-0{d}")["current_streak"] for d in (1, 2, 3)] == [
        1,
        2,
        3,
    ]
    assert complete_day(client, user, "2026-04-03")["current_streak"] == 3  # same day again
    s = complete_day(client, user, "2026-04-05")  # the 4th was missed
    assert (s["current_streak"], s["longest_streak"], s.get("last_review_date")) == (
        1,
        3,
        "2026-04-05",
    )
    s = complete_day(client, user, "2026-04-02")  # an older day: nothing moves back
    assert (s["current_streak"], s["longest_streak"], s.get("last_review_date")) == (
        1,
        3,
        "2026-04-05",
    )
    s = complete_day(client, user, "2026-04-06")
    assert (s["current_streak"], s["longest_streak"]) == (2, 3)
    got = client.get(f"{API}/guided-reviews/streak", headers=user.headers).json()
    assert isinstance(got["current_streak"], int) and got["current_streak"] == 2
    assert got["longest_streak"] == 3 and got["user_id"] == str(user.id)


def test_other_users_ids_and_bad_ids_are_404(client, user, make_user) -> None:
    mine = today(client, user, "2026-03-10")
    other = make_user()
    item = mine["items"][0]["id"]
    r = answer(client, other, item, intent="no_trade_other")
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"
    r = client.post(f"{API}/guided-reviews/{mine['review']['id']}/complete", headers=other.headers)
    assert r.status_code == 404
    assert answer(client, user, "not-a-uuid", intent="other").status_code == 404
    r = client.post(f"{API}/guided-reviews/nope/complete", headers=user.headers)
    assert r.status_code == 404
    r = client.get(f"{API}/guided-reviews/today?timezone=Moon/Base", headers=user.headers)
    assert r.status_code == 400 and r.json()["code"] == "INVALID_TIMEZONE"
    r = client.get(f"{API}/guided-reviews/today?date=2026-02-31", headers=user.headers)
    assert r.status_code == 400 and r.json()["code"] == "INVALID_DATE"
    r = client.get(f"{API}/guided-reviews/today?date=9999-12-31", headers=user.headers)
    assert r.status_code == 400 and r.json()["code"] == "INVALID_DATE"
    r = answer(client, user, item, intent="no_trade_other", memo="a\x00b")
    assert r.status_code == 400 and "memo" in r.json()["message"]
    r = answer(client, user, item, intent="no_trade_other", extra="x")
    assert r.status_code == 400
    r = answer(client, user, item, pattern_match="stay_no_trade")
    assert r.status_code == 400 and "intent" in r.json()["message"]


def test_two_requests_at_once_create_one_review(db: str, user) -> None:
    async def run() -> None:
        conns = [await psycopg.AsyncConnection.connect(db, autocommit=True) for _ in range(4)]
        try:
            now = datetime(2026, 5, 1, 12, tzinfo=UTC)
            results = await asyncio.gather(
                *(
                    service.guided_today(
                        c, user.id, timezone="UTC", day=None, default_tz="UTC", now=now
                    )
                    for c in conns
                )
            )
        finally:
            for c in conns:
                await c.close()
        assert len({r["review"]["id"] for r in results}) == 1
        assert len({tuple(i["id"] for i in r["items"]) for r in results}) == 1

    asyncio.run(run())
    with psycopg.connect(db) as conn:
        reviews = conn.execute(
            "SELECT count(*) FROM guided_reviews WHERE user_id = %s", (user.id,)
        ).fetchone()
        items = conn.execute(
            "SELECT count(*) FROM guided_review_items i JOIN guided_reviews r"
            " ON r.id = i.review_id WHERE r.user_id = %s",
            (user.id,),
        ).fetchone()
    assert reviews == (1,) and items == (1,)


def test_open_review_takes_trades_that_arrive_later(client, user, upload) -> None:
    first = today(client, user, "2026-03-20", "timezone=UTC")
    assert [i["symbol"] for i in first["items"]] == ["__NO_TRADE__"]
    upload(
        fills_csv([("2026-03-20T08:00:00Z", "BTC/USDT", "buy", "1", "100", "0")]),
        venue="binance_futures",
    )
    items = today(client, user, "2026-03-20", "timezone=UTC")["items"]
    assert [(i["bundle_key"], i["trade_count"]) for i in items] == [("BTCUSDT:2026-03-20", 1)]
    answer(client, user, items[0]["id"], intent="planned_regular")
    upload(
        fills_csv(
            [
                ("2026-03-20T09:00:00Z", "BTC/USDT", "sell", "1", "90", "0"),
                ("2026-03-20T10:00:00Z", "ETH/USDT", "buy", "1", "10", "0"),
            ]
        ),
        venue="binance_futures",
    )
    items = today(client, user, "2026-03-20", "timezone=UTC")["items"]
    # the answered item keeps what was answered; the new symbol joins
    assert [(i["symbol"], i["trade_count"], i.get("intent")) for i in items] == [
        ("BTCUSDT", 1, "planned_regular"),
        ("ETHUSDT", 1, None),
    ]


def test_trades_imported_after_completion_are_supplemented(client, user, upload) -> None:
    upload(
        fills_csv([("2026-03-21T08:00:00Z", "BTC/USDT", "buy", "1", "100", "0")]),
        venue="binance_futures",
    )
    review = today(client, user, "2026-03-21", "timezone=UTC")["review"]
    client.post(f"{API}/guided-reviews/{review['id']}/complete", headers=user.headers)
    # an export brought in after completion, timed earlier that day
    upload(
        fills_csv(
            [
                ("2026-03-21T06:00:00Z", "ETH/USDT", "buy", "1", "10", "0"),
                ("2026-03-21T08:00:30Z", "BTC/USDT", "buy", "1", "100", "0"),  # same decision
            ]
        ),
        venue="binance_futures",
    )
    items = today(client, user, "2026-03-21", "timezone=UTC")["items"]
    keys = [
        i["bundle_key"].rsplit(":", 1)[0] if i["bundle_key"].startswith("SUP") else i["bundle_key"]
        for i in items
    ]
    assert keys == ["BTCUSDT:2026-03-21", "SUPPLEMENT:2026-03-21:ETHUSDT"]
