"""Kept answers of /review/stats, /calendar, /trend, /bubbles and /notes (``kit.answers``):
served again while the user's change stamps hold, and never past a change to their bubbles,
outcomes, notes or fills, whoever made it (the API, the importer, SQL run by hand), nor past the
moment time alone changes them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from kifu.journal import notes
from kifu.journal import service as journal_service
from kifu.kit import timeutil
from kifu.ledger import queries as ledger_queries
from kifu.review import routes, service
from tests.helpers import count_calls
from tests.review.conftest import fills_csv, iso

API = "/api/v1"
NOW = datetime.now(UTC).replace(microsecond=0)


def set_clock(monkeypatch, at: datetime) -> None:
    """The time of the review routes and of the kept answers served before routing."""
    monkeypatch.setattr(routes, "utc_now", lambda: at)
    monkeypatch.setattr(timeutil, "utc_now", lambda: at)


DAY = NOW.date()
READS = {
    "stats": f"{API}/review/stats?period=all",
    "calendar": f"{API}/review/calendar?from={DAY - timedelta(days=10)}&to={DAY}",
    "trend": f"{API}/review/trend?period=7d",
}
NO_CACHE = {"Cache-Control": "no-cache"}


class _Computed(dict):
    """How many times each review read was computed rather than served kept."""

    def __getitem__(self, read: str) -> int:
        return len(super().__getitem__(read))


@pytest.fixture
def computed(monkeypatch) -> _Computed:
    fns = {"stats": "_stats", "calendar": "_calendar", "trend": "_trend"}
    return _Computed({read: count_calls(monkeypatch, service, fn) for read, fn in fns.items()})


@pytest.fixture
def journal(client, user, bubble, upload):
    """Two bubbles with outcomes, one a day old, and two round trips of fills."""
    first = bubble("BTCUSDT", NOW - timedelta(days=1, hours=2), {"1h": "1.5", "4h": "-2"})
    bubble("ETHUSDT", NOW - timedelta(hours=5), {"1h": "-0.5"}, tags=["fomo"])
    t = NOW - timedelta(days=1)
    upload(
        fills_csv(
            [
                (iso(t), "BTC/USDT", "buy", "1", "100", "0.1"),
                (iso(t + timedelta(hours=1)), "BTC/USDT", "sell", "1", "110", "0.1"),
            ]
        ),
        venue="binance_futures",
    )
    return first


def get(client, user, path: str, headers: dict | None = None) -> dict:
    r = client.get(path, headers={**user.headers, **(headers or {})})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("read", READS)
def test_an_answer_is_served_again_until_asked_fresh(client, user, journal, computed, read):
    path = READS[read]
    first = get(client, user, path)
    assert computed[read] == 1
    assert get(client, user, path) == first
    assert computed[read] == 1
    assert get(client, user, path, NO_CACHE) == first
    assert computed[read] == 2


def _trade_event(user) -> str:
    return f"(SELECT id FROM trade_events WHERE user_id = '{user.id}' ORDER BY executed_at LIMIT 1)"


# Changes made behind the API's back, each to a table the reads fold.
CHANGES = {
    "bubble inserted": lambda u: (
        "INSERT INTO bubbles (user_id, symbol, timeframe, candle_time, price, bubble_type)"
        f" VALUES ('{u.id}', 'SOLUSDT', '1h', now() - interval '3 hours', 10, 'manual')"
    ),
    "bubble retagged": lambda u: (
        f"UPDATE bubbles SET tags = ARRAY['late'] WHERE user_id = '{u.id}' AND symbol = 'BTCUSDT'"
    ),
    "bubble deleted": lambda u: (
        f"DELETE FROM bubbles WHERE user_id = '{u.id}' AND symbol = 'ETHUSDT'"
    ),
    "outcome inserted": lambda u: (
        "INSERT INTO outcomes (bubble_id, period, reference_price, outcome_price, pnl_percent)"
        f" SELECT id, '1d', 100, 103, 3 FROM bubbles WHERE user_id = '{u.id}'"
        " AND symbol = 'BTCUSDT'"
    ),
    "outcome updated": lambda u: (
        "UPDATE outcomes SET pnl_percent = 9 WHERE period = '1h' AND bubble_id IN"
        f" (SELECT id FROM bubbles WHERE user_id = '{u.id}')"
    ),
    "outcome deleted": lambda u: (
        "DELETE FROM outcomes WHERE period = '1h' AND bubble_id IN"
        f" (SELECT id FROM bubbles WHERE user_id = '{u.id}' AND symbol = 'BTCUSDT')"
    ),
    "fill repriced": lambda u: f"UPDATE trade_events SET price = 90 WHERE id = {_trade_event(u)}",
    "fill deleted": lambda u: f"DELETE FROM trade_events WHERE id = {_trade_event(u)}",
}


@pytest.mark.parametrize("read", READS)
@pytest.mark.parametrize("change", CHANGES)
def test_a_change_by_hand_is_seen_at_once(client, user, journal, sql, computed, read, change):
    path = READS[read]
    before = get(client, user, path)
    sql(CHANGES[change](user))
    after = get(client, user, path)
    assert after == get(client, user, path, NO_CACHE)
    assert computed[read] == 3  # the kept answer was not served after the change
    if read == "stats":  # every change moves a figure of the statistics
        assert after != before


def test_changes_through_the_api_are_seen(client, user, journal, upload, bubble, computed):
    before = get(client, user, READS["stats"])
    bubble("XRPUSDT", NOW - timedelta(hours=1), {"1h": "4"})
    mid = get(client, user, READS["stats"])
    assert mid["total_bubbles"] == before["total_bubbles"] + 1
    t = NOW - timedelta(hours=3)
    upload(
        fills_csv(
            [
                (iso(t), "ETH/USDT", "buy", "2", "50", "0"),
                (iso(t + timedelta(minutes=5)), "ETH/USDT", "sell", "2", "60", "0"),
            ]
        ),
        venue="binance_futures",
    )
    after = get(client, user, READS["stats"])
    assert after["trading"]["fills"] == mid["trading"]["fills"] + 2
    assert computed["stats"] == 3


def test_a_bubble_leaving_the_window_expires_the_answer(client, user, bubble, monkeypatch):
    at = NOW - timedelta(days=7) + timedelta(minutes=30)
    bubble("BTCUSDT", at, {"1h": "2"})
    bubble("ETHUSDT", NOW - timedelta(days=1), {"1h": "1"})
    path = f"{API}/review/stats?period=7d"
    assert get(client, user, path)["total_bubbles"] == 2
    set_clock(monkeypatch, NOW + timedelta(minutes=29))
    assert get(client, user, path)["total_bubbles"] == 2
    set_clock(monkeypatch, NOW + timedelta(minutes=31))
    assert get(client, user, path)["total_bubbles"] == 1


def test_each_user_gets_their_own(client, user, make_user, journal, bubble):
    other = make_user()
    mine = get(client, user, READS["stats"])
    assert get(client, other, READS["stats"])["total_bubbles"] == 0
    bubble("BTCUSDT", NOW - timedelta(hours=1), {}, who=other)
    assert get(client, other, READS["stats"])["total_bubbles"] == 1
    assert get(client, user, READS["stats"]) == mine


def test_a_change_while_computing_is_not_hidden(client, user, db, journal, monkeypatch):
    """The stamps are read before the figures: a change committed after the figures were read
    but before the answer was kept moves them, so the next request computes again."""
    original = service._stats

    async def racing(*args, **kwargs):
        figures = await original(*args, **kwargs)
        with psycopg.connect(db) as conn:
            conn.execute(
                "INSERT INTO bubbles (user_id, symbol, timeframe, candle_time, price,"
                " bubble_type) VALUES (%s, 'SOLUSDT', '1h', now(), 10, 'manual')",
                (user.id,),
            )
        return figures

    monkeypatch.setattr(service, "_stats", racing)
    stale = get(client, user, READS["stats"])
    monkeypatch.setattr(service, "_stats", original)
    assert get(client, user, READS["stats"])["total_bubbles"] == stale["total_bubbles"] + 1


def test_stamps_follow_statements_and_users(db, user, make_user, journal, sql):
    """One bump per statement and user; a truncate bumps everyone; a deleted user's stamps go
    with them, also when their fills and bubbles are deleted in the same cascade."""
    other = make_user()

    def stamps(u) -> tuple:
        return sql(
            "SELECT (SELECT stamp FROM ledger_change_stamps WHERE user_id = %s),"
            " (SELECT stamp FROM journal_change_stamps WHERE user_id = %s)",
            u.id,
            u.id,
        )[0]

    mine, theirs = stamps(user), stamps(other)
    assert None not in mine and theirs == (None, None)
    sql(
        "INSERT INTO bubbles (user_id, symbol, timeframe, candle_time, price, bubble_type)"
        " SELECT u, 'BTCUSDT', '1h', now(), 1, 'manual' FROM unnest(%s::uuid[]) u",
        [user.id, other.id],
    )
    after = stamps(user)
    assert after[0] == mine[0] and after[1] > mine[1]
    assert stamps(other)[1] is not None and stamps(other)[0] is None
    sql("TRUNCATE outcomes CASCADE")
    assert stamps(user)[1] > after[1]
    sql("DELETE FROM users WHERE id = %s", user.id)
    assert sql("SELECT count(*) FROM journal_change_stamps WHERE user_id = %s", user.id) == [(0,)]
    assert sql("SELECT count(*) FROM ledger_change_stamps WHERE user_id = %s", user.id) == [(0,)]


BUBBLES = f"{API}/bubbles?page=1&limit=200&sort=desc"


@pytest.mark.parametrize("change", [c for c in CHANGES if c.startswith(("bubble", "outcome"))])
def test_the_bubble_list_is_kept_until_the_journal_changes(
    client, user, journal, sql, monkeypatch, change
):
    pages = count_calls(monkeypatch, journal_service, "bubble_page_json")
    before = get(client, user, BUBBLES)
    assert get(client, user, BUBBLES) == before and len(pages) == 1
    sql(f"UPDATE trade_events SET price = 90 WHERE id = {_trade_event(user)}")
    assert get(client, user, BUBBLES) == before and len(pages) == 1  # fills: not the journal
    sql(CHANGES[change](user))
    after = get(client, user, BUBBLES)
    assert len(pages) == 2
    assert after == get(client, user, BUBBLES, NO_CACHE) and len(pages) == 3
    if change.startswith("bubble"):
        assert after != before


NOTES = f"{API}/notes?page=1&limit=100"
NOTE_CHANGES = {
    "note inserted": lambda u: (
        "INSERT INTO review_notes (user_id, title, content)"
        f" VALUES ('{u.id}', 'by hand', 'written in psql')"
    ),
    "note edited": lambda u: f"UPDATE review_notes SET title = 'edited' WHERE user_id = '{u.id}'",
    "note deleted": lambda u: f"DELETE FROM review_notes WHERE user_id = '{u.id}'",
}


@pytest.mark.parametrize("change", NOTE_CHANGES)
def test_the_note_list_is_kept_until_a_note_changes(
    client, user, journal, sql, monkeypatch, change
):
    pages = count_calls(monkeypatch, notes, "_page")
    r = client.post(
        f"{API}/notes", headers=user.headers, json={"title": "why", "content": "I bought"}
    )
    assert r.status_code == 201, r.text
    before = get(client, user, NOTES)
    assert get(client, user, NOTES) == before and len(pages) == 1
    sql(f"UPDATE trade_events SET price = 90 WHERE id = {_trade_event(user)}")
    assert get(client, user, NOTES) == before and len(pages) == 1  # fills: not the journal
    sql(NOTE_CHANGES[change](user))
    after = get(client, user, NOTES)
    assert after != before and len(pages) == 2
    assert after == get(client, user, NOTES, NO_CACHE)


# The ledger's lists (kept in kifu.ledger.routes) and the query each computes its answer with.
LEDGER_READS = {
    "trades": (f"{API}/trades?page=1&limit=50", "trade_page_json"),
    "summary": (f"{API}/trades/summary", "trade_summary_json"),
    "timeline": (f"{API}/portfolio/timeline?limit=50", "timeline_json"),
    "positions": (f"{API}/portfolio/positions?limit=50", "positions_json"),
}
LEDGER_CHANGES = {
    "fill repriced": CHANGES["fill repriced"],
    "fill deleted": CHANGES["fill deleted"],
    "trade linked to a bubble": lambda u: (
        "UPDATE trades SET bubble_id = (SELECT id FROM bubbles WHERE user_id = t.user_id LIMIT 1)"
        f" FROM trades t WHERE t.id = trades.id AND trades.user_id = '{u.id}'"
    ),
    "trade deleted": lambda u: (
        "DELETE FROM trades WHERE id ="
        f" (SELECT id FROM trades WHERE user_id = '{u.id}' ORDER BY trade_time LIMIT 1)"
    ),
    "account relabelled": lambda u: (
        f"UPDATE accounts SET label = 'renamed' WHERE user_id = '{u.id}'"
    ),
    "venue renamed": lambda u: "UPDATE venues SET display_name = 'Renamed' WHERE code LIKE 'bin%'",
    "instrument renamed": lambda u: (
        "UPDATE instruments SET symbol = 'XBT/USDT' WHERE symbol = 'BTC/USDT'"
    ),
}


@pytest.mark.parametrize("read", LEDGER_READS)
@pytest.mark.parametrize("change", LEDGER_CHANGES)
def test_ledger_lists_are_kept_until_the_ledger_changes(
    client, user, journal, sql, monkeypatch, read, change
):
    path, query = LEDGER_READS[read]
    computed = count_calls(monkeypatch, ledger_queries, query)
    before = get(client, user, path)
    assert get(client, user, path) == before and len(computed) == 1
    sql(CHANGES["bubble inserted"](user))
    assert get(client, user, path) == before and len(computed) == 1  # the journal: not the ledger
    sql(LEDGER_CHANGES[change](user))
    after = get(client, user, path)
    assert len(computed) == 2
    assert after == get(client, user, path, NO_CACHE) and len(computed) == 3


@pytest.mark.parametrize("path", [READS["stats"], LEDGER_READS["positions"][0]])
def test_an_answer_read_behind_the_ledger_lock_is_not_kept(client, user, journal, sql, db, path):
    """A hand edit waits to be caught up while a writer holds the user's ledger lock: the read
    answers from what is stored and does not keep it; once the lock is free, the next read
    catches up."""
    before = get(client, user, path)
    sql("UPDATE trade_events SET price = 50 WHERE user_id = %s AND side = 'buy'", user.id)
    with psycopg.connect(db) as writer:
        writer.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"kifu.ledger:{user.id}",)
        )
        held = get(client, user, path)
    assert held == before  # realized PnL as stored
    after = get(client, user, path)
    assert after != before and after == get(client, user, path, NO_CACHE)


# -- served before routing (KeptAnswersMiddleware) ------------------------------------------------


def early(client) -> int:
    return client.app.state.answers.served_early


def test_a_request_answered_kept_before_is_answered_before_routing(
    client, user, journal, bubble, computed
):
    path = READS["stats"]
    routed = client.get(path, headers={**user.headers, "X-Request-ID": "first"})
    assert early(client) == 0 and computed["stats"] == 1
    again = client.get(path, headers={**user.headers, "X-Request-ID": "second"})
    assert early(client) == 1 and computed["stats"] == 1
    assert (again.status_code, again.content) == (routed.status_code, routed.content)
    assert again.headers["content-type"] == routed.headers["content-type"] == "application/json"
    assert again.headers["content-length"] == routed.headers["content-length"]
    assert again.headers["x-request-id"] == "second"
    # a change: the stamp read before routing differs, and the route computes the answer
    bubble("SOLUSDT", NOW - timedelta(hours=2), {"1h": "3"})
    changed = get(client, user, path)
    assert early(client) == 1 and computed["stats"] == 2
    assert changed["total_bubbles"] == json.loads(routed.content)["total_bubbles"] + 1
    assert get(client, user, path) == changed and early(client) == 2


def test_only_the_same_request_of_the_same_user_and_never_no_cache(
    client, user, make_user, journal, computed
):
    path = f"{API}/review/stats?period=all&venue=binance_futures"
    reordered = f"{API}/review/stats?venue=binance_futures&period=all"
    first = get(client, user, path)
    assert get(client, user, reordered) == first  # kept, through the route: same key
    assert early(client) == 0 and computed["stats"] == 1
    assert get(client, user, reordered) == first and early(client) == 1
    r = client.get(path, headers={**user.headers, **NO_CACHE})
    assert r.json() == first and early(client) == 1 and computed["stats"] == 2
    other = make_user()
    assert get(client, other, path)["total_bubbles"] == 0
    assert early(client) == 1
    unauthenticated = client.get(path)
    assert unauthenticated.status_code == 401 and early(client) == 1


def test_a_refused_request_is_never_remembered(client, user, journal):
    for _ in range(3):
        r = client.get(f"{API}/review/stats?timezone=Not/AZone", headers=user.headers)
        assert r.status_code == 400
    assert early(client) == 0


def test_reads_of_today_go_to_the_route_at_local_midnight(client, user, journal, monkeypatch):
    """The key of a read of "today" changes at the user's midnight with no row changing: the
    request is answered before routing up to then, and by the route after."""
    zone = "Asia/Seoul"
    path = f"{API}/review/trend?period=7d&timezone={zone}"
    local = NOW.astimezone(ZoneInfo(zone))
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0).astimezone(UTC)
    set_clock(monkeypatch, midnight - timedelta(seconds=1))
    before = get(client, user, path)
    assert get(client, user, path) == before and early(client) == 1
    set_clock(monkeypatch, midnight)
    after = get(client, user, path)
    assert early(client) == 1
    assert after["data"][-1]["date"] != before["data"][-1]["date"]
    assert get(client, user, path) == after and early(client) == 2


def test_a_request_the_route_answers_after_all_takes_one_connection(client, user, journal, bubble):
    """The probe before routing and the route share the request's one pooled connection."""
    path = READS["trend"]
    pool = client.app.state.pool

    def checkouts() -> int:
        return pool.get_stats().get("requests_num", 0)

    get(client, user, path)
    get(client, user, path)
    assert early(client) == 1
    bubble("SOLUSDT", NOW - timedelta(hours=2), {"1h": "3"})
    before = checkouts()
    get(client, user, path)  # probed before routing, stale: computed by the route
    assert early(client) == 1
    assert checkouts() - before == 1
