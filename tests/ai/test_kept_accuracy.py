"""The kept answer of ``/review/accuracy`` (``kit.answers``, migration 133): served again while
the user's AI and journal stamps hold, never past a new or changed opinion or score or a change
to the bubbles it is scoped by, nor past the moment its earliest bubble leaves the period."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from kifu.ai import accuracy
from kifu.ai import routes as ai_routes
from kifu.kit import timeutil
from tests.ai.helpers import NOW, plant_bubble, plant_opinion, score
from tests.helpers import count_calls

ACCURACY = "/api/v1/review/accuracy?period=7d&outcome_period=1h"
NO_CACHE = {"Cache-Control": "no-cache"}


def get(client, user, path: str = ACCURACY, headers: dict | None = None) -> dict:
    r = client.get(path, headers={**user.headers, **(headers or {})})
    assert r.status_code == 200, r.text
    return r.json()


def test_kept_until_opinions_scores_or_bubbles_change(client, db, user, sql, monkeypatch):
    computed = count_calls(monkeypatch, accuracy, "_report")
    t = NOW - timedelta(days=2)
    bid = plant_bubble(db, user, t, {"1h": "1.2"})
    plant_opinion(db, bid, "openai", "bullish, buy", t + timedelta(minutes=5))
    first = get(client, user)
    assert (first["total_opinions"], first["evaluated_opinions"]) == (1, 0)
    assert get(client, user) == first
    assert len(computed) == 1
    asyncio.run(score(db))  # the scores are written by the job, not the API
    scored = get(client, user)
    assert scored["evaluated_opinions"] == 1 and scored["ranking"][0]["accuracy"] == 100
    sql("UPDATE ai_opinion_accuracies SET is_correct = false")
    assert get(client, user)["ranking"][0]["accuracy"] == 0
    plant_opinion(db, bid, "claude", "bearish, sell", t + timedelta(minutes=6))
    assert get(client, user)["total_opinions"] == 2
    sql("UPDATE bubbles SET asset_class = 'stock' WHERE id = %s", bid)
    assert get(client, user, ACCURACY + "&asset_class=crypto")["total_opinions"] == 0
    assert len(computed) == 5
    unfiltered = get(client, user)  # computed: the bubble changed since the last one
    assert get(client, user) == unfiltered == get(client, user, headers=NO_CACHE)
    assert len(computed) == 7


def test_the_earliest_bubble_leaving_the_period_expires_it(client, db, user, monkeypatch):
    at = NOW - timedelta(days=7) + timedelta(minutes=30)
    for when in (at, NOW - timedelta(days=1)):
        plant_opinion(db, plant_bubble(db, user, when, {}), "openai", "hold", when)
    assert get(client, user)["total_opinions"] == 2

    def set_clock(t):
        monkeypatch.setattr(ai_routes, "utc_now", lambda: t)
        monkeypatch.setattr(timeutil, "utc_now", lambda: t)

    set_clock(NOW + timedelta(minutes=29))
    assert get(client, user)["total_opinions"] == 2
    set_clock(NOW + timedelta(minutes=31))
    assert get(client, user)["total_opinions"] == 1


def test_each_user_gets_their_own_and_ai_stamps_follow_bubbles(client, db, user, make_user, sql):
    other = make_user()
    plant_opinion(db, plant_bubble(db, user, NOW, {}), "openai", "hold", NOW)
    assert get(client, user)["total_opinions"] == 1
    assert get(client, other)["total_opinions"] == 0

    def stamp(u) -> int | None:
        rows = sql("SELECT stamp FROM ai_change_stamps WHERE user_id = %s", u.id)
        return rows[0][0] if rows else None

    before = stamp(user)
    assert before is not None and stamp(other) is None
    sql("UPDATE ai_opinions SET model = 'm-2'")
    assert stamp(user) > before and stamp(other) is None
    sql("DELETE FROM bubbles WHERE user_id = %s", user.id)
    assert get(client, user)["total_opinions"] == 0
