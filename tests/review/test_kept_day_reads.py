"""Kept answers of the day's guided review, its streak and the safety check (``kit.answers``,
migration 133): served again while the user's ledger and review stamps hold, never past a
change to their fills, reviews, items, streak or labels, whoever made it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kifu.review import service
from tests.helpers import count_calls
from tests.review.conftest import fills_csv, iso

API = "/api/v1"
DAY = datetime(2026, 5, 1, 9, tzinfo=UTC)
GUIDED = f"{API}/guided-reviews/today?timezone=UTC&date=2026-05-01"
SAFETY = f"{API}/safety/today?timezone=UTC&date=2026-05-01"
STREAK = f"{API}/guided-reviews/streak"
NO_CACHE = {"Cache-Control": "no-cache"}


def get(client, user, path: str, headers: dict | None = None) -> dict:
    r = client.get(path, headers={**user.headers, **(headers or {})})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def day(upload) -> None:
    """A round trip of BTC on the day, and a lone ETH buy."""
    upload(
        fills_csv(
            [
                (iso(DAY), "BTC/USDT", "buy", "1", "100", "0.1"),
                (iso(DAY + timedelta(hours=1)), "BTC/USDT", "sell", "1", "110", "0.1"),
                (iso(DAY + timedelta(hours=2)), "ETH/USDT", "buy", "2", "50", "0"),
            ]
        ),
        venue="binance_futures",
    )


def late_fill(upload, symbol: str = "SOL/USDT") -> None:
    at = DAY + timedelta(hours=5)
    upload(fills_csv([(iso(at), symbol, "buy", "3", "10", "0")]), venue="binance_futures")


def test_the_guided_review_is_kept_once_its_own_writes_are_in(client, user, day, monkeypatch):
    computed = count_calls(monkeypatch, service, "_guided_day")
    first = get(client, user, GUIDED)
    assert sorted(i["symbol"] for i in first["items"]) == ["BTCUSDT", "ETHUSDT"]
    # the first computation created the review: its writes moved the stamp it was kept under
    assert get(client, user, GUIDED) == first
    assert len(computed) == 2
    assert get(client, user, GUIDED) == first
    assert len(computed) == 2
    assert get(client, user, GUIDED, NO_CACHE) == first
    assert len(computed) == 3


def test_the_guided_review_follows_fills_answers_and_hand_edits(client, user, day, upload, sql):
    get(client, user, GUIDED)
    get(client, user, GUIDED)
    late_fill(upload)
    items = get(client, user, GUIDED)["items"]
    assert sorted(i["symbol"] for i in items) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    btc = next(i for i in items if i["symbol"] == "BTCUSDT")
    r = client.post(
        f"{API}/guided-reviews/items/{btc['id']}/submit",
        headers=user.headers,
        json={"intent": "technical_signal", "emotions": ["calm"]},
    )
    assert r.status_code == 200, r.text
    got = get(client, user, GUIDED)
    assert next(i for i in got["items"] if i["id"] == btc["id"])["intent"] == "technical_signal"
    sql("UPDATE guided_review_items SET memo = 'by hand' WHERE id = %s", btc["id"])
    got = get(client, user, GUIDED)
    assert next(i for i in got["items"] if i["id"] == btc["id"])["memo"] == "by hand"
    sql("UPDATE guided_reviews SET status = 'completed' WHERE user_id = %s", user.id)
    assert get(client, user, GUIDED)["review"]["status"] == "completed"
    assert get(client, user, GUIDED) == get(client, user, GUIDED, NO_CACHE)


def test_each_day_and_user_gets_their_own(client, user, make_user, day):
    mine = get(client, user, GUIDED)
    other = make_user()
    assert get(client, other, GUIDED)["items"] != mine["items"]
    next_day = get(client, user, GUIDED.replace("2026-05-01", "2026-05-02"))
    assert next_day["review"]["id"] != mine["review"]["id"]
    assert get(client, user, GUIDED)["review"]["id"] == mine["review"]["id"]


def test_the_streak_is_kept_from_the_first_completed_review(client, user, day, sql, monkeypatch):
    computed = count_calls(monkeypatch, service.store, "streak_of")
    empty = get(client, user, STREAK)
    assert (empty["current_streak"], empty["longest_streak"]) == (0, 0)
    get(client, user, STREAK)
    assert len(computed) == 2  # no row: updated_at is now, never kept
    review = get(client, user, GUIDED)["review"]
    r = client.post(f"{API}/guided-reviews/{review['id']}/complete", headers=user.headers)
    assert r.status_code == 200, r.text
    first = get(client, user, STREAK)
    assert (first["current_streak"], first["last_review_date"]) == (1, "2026-05-01")
    assert get(client, user, STREAK) == first
    assert len(computed) == 4  # complete() read it once, then one computation, one kept answer
    sql("UPDATE user_streaks SET longest_streak = 9 WHERE user_id = %s", user.id)
    assert get(client, user, STREAK)["longest_streak"] == 9


def test_the_safety_check_follows_labels_fills_and_hand_edits(
    client, user, day, upload, sql, monkeypatch
):
    computed = count_calls(monkeypatch, service, "safety_today")
    first = get(client, user, SAFETY)
    assert (first["total"], first["reviewed"]) == (3, 0)
    assert get(client, user, SAFETY) == first
    assert len(computed) == 1
    item = first["items"][0]
    r = client.post(
        f"{API}/safety/reviews",
        headers=user.headers,
        json={
            "target_type": item["target_type"],
            "target_id": item["target_id"],
            "verdict": "mistake",
        },
    )
    assert r.status_code == 200, r.text
    labelled = get(client, user, SAFETY)
    assert (labelled["reviewed"], labelled["items"][0]["verdict"]) == (1, "mistake")
    sql("UPDATE trade_safety_reviews SET verdict = 'unsure' WHERE user_id = %s", user.id)
    assert get(client, user, SAFETY)["items"][0]["verdict"] == "unsure"
    late_fill(upload)
    assert get(client, user, SAFETY)["total"] == 4
    pending = get(client, user, SAFETY + "&only_pending=true")
    assert pending["total"] == 3
    assert len(computed) == 5
    sql("DELETE FROM trade_events WHERE user_id = %s AND executed_at > %s", user.id, DAY)
    assert get(client, user, SAFETY)["total"] == 1
    assert get(client, user, SAFETY) == get(client, user, SAFETY, NO_CACHE)


def test_review_stamps_follow_statements_and_users(client, user, make_user, day, sql):
    """One bump per statement and user, also through the parent review of an item; a truncate
    bumps everyone's; a deleted user's stamp goes with them."""
    other = make_user()
    get(client, user, GUIDED)

    def stamp(u) -> int | None:
        rows = sql("SELECT stamp FROM review_change_stamps WHERE user_id = %s", u.id)
        return rows[0][0] if rows else None

    before, theirs = stamp(user), stamp(other)
    assert before is not None and theirs is None
    sql("UPDATE guided_review_items SET memo = 'x'")
    after = stamp(user)
    assert after > before and stamp(other) is None
    sql("TRUNCATE trade_safety_reviews")
    assert stamp(user) > after and stamp(other) is not None
    sql("DELETE FROM users WHERE id = %s", user.id)
    assert sql("SELECT count(*) FROM review_change_stamps WHERE user_id = %s", user.id) == [(0,)]
