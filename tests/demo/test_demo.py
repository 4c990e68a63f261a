"""``kifu demo`` and ``POST /admin/sim-report/run``: a sandbox journal every screen shows, the
same for a seed, reset for that user only, admins only for the route."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal as D

import psycopg
import pytest
from typer.testing import CliRunner

from kifu.ai import rules as ai_rules
from kifu.cli import app as cli_app
from kifu.config import Settings, get_settings
from kifu.demo import simulation
from tests.helpers import TEST_ENC_KEY, TEST_JWT_SECRET, ApiUser

END = date(2026, 11, 30)
PASSWORD = "demo-password-1"


def _sql(db: str, query: str, *params: object) -> list[tuple]:
    with psycopg.connect(db) as conn:
        return conn.execute(query, params).fetchall()


def _simulate(db: str, settings: Settings, **kw: object) -> simulation.SimResult:
    async def go() -> simulation.SimResult:
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
            req = simulation.SimRequest(
                **{"days": 21, "seed": 7, "end_date": END, "password": PASSWORD, **kw}
            )
            return await simulation.run(conn, settings, req)

    return asyncio.run(go())


def _journal(db: str, email: str) -> dict:
    """What a reader of the journal sees, without ids or wall-clock times."""
    (uid,) = _sql(db, "SELECT id FROM users WHERE email = %s", email)[0]
    return {
        "trades": _sql(
            db,
            "SELECT exchange, symbol, side, quantity, price, realized_pnl, trade_time FROM trades"
            " WHERE user_id = %s ORDER BY trade_time, exchange, side",
            uid,
        ),
        "pnl": _sql(db, "SELECT sum(realized_pnl) FROM positions WHERE user_id = %s", uid),
        "memos": _sql(
            db,
            "SELECT candle_time, symbol, memo, tags FROM bubbles WHERE user_id = %s"
            " ORDER BY candle_time, symbol, memo",
            uid,
        ),
        "outcomes": _sql(
            db,
            "SELECT b.candle_time, b.symbol, o.period, o.pnl_percent FROM outcomes o"
            " JOIN bubbles b ON b.id = o.bubble_id WHERE b.user_id = %s ORDER BY 1, 2, 3, 4",
            uid,
        ),
        "streak": _sql(
            db,
            "SELECT current_streak, longest_streak, last_review_date FROM user_streaks"
            " WHERE user_id = %s",
            uid,
        ),
        "reviews": _sql(
            db,
            "SELECT review_date, status FROM guided_reviews WHERE user_id = %s ORDER BY 1",
            uid,
        ),
    }


def _expected_streak(days: list[simulation.Day]) -> tuple[int, int]:
    current = longest = 0
    for d in days:
        current = current + 1 if d.reviewed else 0
        longest = max(longest, current)
    return current, longest


def test_same_seed_same_journal_and_a_rerun_resets_that_user_only(
    db: str, settings: Settings, make_user
) -> None:
    other = make_user(email="real.trader@example.com")
    _sql(
        db,
        "INSERT INTO bubbles (user_id, symbol, timeframe, candle_time, price, memo, bubble_type)"
        " VALUES (%s, 'BTCUSDT', '1h', '2026-11-20T10:00:00Z', 60000, 'mine', 'manual')"
        " RETURNING id",
        other.id,
    )
    first = _simulate(db, settings)
    assert first.reset_performed is False
    one = _journal(db, simulation.DEFAULT_EMAIL)
    assert one["trades"] and one["memos"] and one["outcomes"]

    second = _simulate(db, settings)
    assert second.reset_performed is True and second.user_id != first.user_id
    assert _journal(db, simulation.DEFAULT_EMAIL) == one
    assert first.totals == second.totals and first.streak == second.streak
    assert [r["steps"] for r in first.results] == [r["steps"] for r in second.results]
    # the first sandbox user is gone with everything it owned; the real user is untouched
    assert _sql(db, "SELECT count(*) FROM bubbles WHERE user_id = %s", first.user_id) == [(0,)]
    assert _sql(db, "SELECT count(*) FROM users WHERE id = %s", first.user_id) == [(0,)]
    tables = _sql(
        db,
        "SELECT table_name FROM information_schema.columns WHERE column_name = 'user_id'"
        " AND table_schema = 'public'",
    )
    for (table,) in tables:  # nothing of the deleted sandbox user is left anywhere
        left = _sql(db, f"SELECT count(*) FROM {table} WHERE user_id = %s", first.user_id)
        assert left == [(0,)], table
    assert _sql(db, "SELECT memo FROM bubbles WHERE user_id = %s", other.id) == [("mine",)]
    assert _sql(db, "SELECT is_sandbox FROM users WHERE id = %s", other.id) == [(False,)]

    # another seed: another journal
    _simulate(db, settings, seed=8)
    assert _journal(db, simulation.DEFAULT_EMAIL)["memos"] != one["memos"]

    # the streak is the run of completed days that ends the range
    days = simulation.plan(simulation.SimRequest(days=21, seed=7, end_date=END))
    current, longest = _expected_streak(days)
    assert (first.streak["current"], first.streak["longest"]) == (current, longest)
    assert current >= simulation.ALWAYS_REVIEWED_DAYS
    assert first.totals.review_days_complete == sum(d.reviewed for d in days)
    assert first.totals.no_trade_days == sum(d.no_trade for d in days)


def test_simulated_data_is_marked_and_stays_with_the_sandbox(db: str, settings: Settings) -> None:
    r = _simulate(db, settings)
    uid = r.user_id
    assert _sql(db, "SELECT is_sandbox, is_admin FROM users WHERE id = %s", uid) == [(True, False)]
    opinions = _sql(
        db,
        "SELECT o.provider, o.model, o.response, o.created_at <= b.candle_time + interval '1h'"
        " FROM ai_opinions o JOIN bubbles b ON b.id = o.bubble_id WHERE b.user_id = %s",
        uid,
    )
    assert len(opinions) == r.totals.ai_opinions_created > 0
    assert {(p, m) for p, m, _, _ in opinions} == {("simulated", "simulated")}
    assert all(text.startswith("[simulated]") and early for _, _, text, early in opinions)
    # the real scorer scored them, with the real direction words
    rows = _sql(
        db,
        "SELECT a.predicted_direction, o.response FROM ai_opinion_accuracies a"
        " JOIN ai_opinions o ON o.id = a.opinion_id JOIN bubbles b ON b.id = a.bubble_id"
        " WHERE b.user_id = %s",
        uid,
    )
    assert len(rows) == r.totals.accuracy_rows > 0
    assert all(p == ai_rules.extract_direction(text) for p, text in rows)
    # no candle was cached; every bubble period is an outcome or skipped for the outcome job
    assert _sql(db, "SELECT count(*) FROM market_candles") == [(0,)]
    assert _sql(
        db,
        "SELECT count(*) FROM bubbles b CROSS JOIN (VALUES ('1h'), ('4h'), ('1d')) p(period)"
        " WHERE b.user_id = %s AND NOT EXISTS (SELECT 1 FROM outcomes o WHERE o.bubble_id = b.id"
        " AND o.period = p.period) AND NOT EXISTS (SELECT 1 FROM outcome_attempts a"
        " WHERE a.bubble_id = b.id AND a.period = p.period AND a.status = 'skipped')",
        uid,
    ) == [(0,)]
    assert (
        r.totals.outcomes_created
        == _sql(
            db,
            "SELECT count(*) FROM outcomes o JOIN bubbles b ON b.id = o.bubble_id"
            " WHERE b.user_id = %s",
            uid,
        )[0][0]
    )


def test_a_real_account_is_never_reset(db: str, settings: Settings, make_user) -> None:
    real = make_user(email="someone@example.com")
    from kifu.kit.errors import KifuError

    with pytest.raises(KifuError) as info:
        _simulate(db, settings, email="someone@example.com")
    assert (info.value.status_code, info.value.code) == (409, "NOT_A_SANDBOX")
    assert _sql(db, "SELECT count(*) FROM users WHERE id = %s", real.id) == [(1,)]


@pytest.fixture
def kifu(db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    monkeypatch.setenv("DATABASE_URL", db)
    monkeypatch.setenv("JWT_SECRET", TEST_JWT_SECRET)
    monkeypatch.setenv("KIFU_ENC_KEY", TEST_ENC_KEY)
    monkeypatch.setenv("COLUMNS", "250")
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None):
        return runner.invoke(cli_app, list(args), input=stdin)

    yield run
    get_settings.cache_clear()


def test_kifu_demo_then_every_screen_has_data_that_agrees(kifu, client, db: str) -> None:
    end = date.today() - timedelta(days=1)
    r = kifu("demo", "--days", "30", "--seed", "11", "--password-stdin", stdin=PASSWORD + "\n")
    assert r.exit_code == 0, r.output
    assert "demo@kifu.local" in r.output and PASSWORD not in r.output
    # the password is stored hashed only
    (stored,) = _sql(db, "SELECT password_hash FROM users WHERE email = 'demo@kifu.local'")[0]
    assert PASSWORD not in stored

    login = client.post(
        "/api/v1/auth/login", json={"email": "demo@kifu.local", "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    h = {"Authorization": f"Bearer {login.json()['access_token']}"}

    def get(path: str) -> dict:
        resp = client.get("/api/v1" + path, headers=h)
        assert resp.status_code == 200, (path, resp.text)
        return resp.json()

    trades = get("/trades?page=1&limit=5&sort=desc")
    summary = get("/trades/summary")["totals"]
    assert trades["total"] == summary["total_trades"] > 0
    assert {t["exchange"] for t in get("/trades?page=1&limit=2000&sort=desc")["items"]} == {
        "binance_futures",
        "binance_spot",
        "upbit",
    }
    positions = get("/portfolio/positions?limit=50&status=all")["positions"]
    assert positions and all(p["net_qty"] == "0" for p in positions)  # every trip closed
    # the exchange's realized PnL on the Trades screen == kifu's FIFO PnL before fees
    futures = [p for p in positions if p["venue"] == "binance_futures"]
    fifo = sum(D(p["realized_pnl"]) + D(p["fees"]) for p in futures)
    assert D(get("/trades/summary?exchange=binance_futures")["totals"]["realized_pnl_total"]) == (
        fifo
    )
    bubbles = get("/bubbles?page=1&limit=200&sort=desc")
    assert bubbles["total"] > 0 and all(b["memo"] for b in bubbles["items"])
    stats = get("/review/stats?period=all")
    assert stats["total_bubbles"] == bubbles["total"] and stats["bubbles_with_outcome"] > 0
    accuracy = get("/review/accuracy?period=all&outcome_period=1h")
    assert accuracy["by_provider"]["simulated"]["evaluated"] > 0
    streak = get("/guided-reviews/streak")
    days = simulation.plan(simulation.SimRequest(days=30, seed=11, end_date=end))
    assert streak["current_streak"] == _expected_streak(days)[0] >= 7
    assert streak["last_review_date"] == end.isoformat()
    assert get("/alert-rules")["rules"][0]["symbol"] == "BTCUSDT"
    watched = {s["symbol"] for s in get("/users/me/symbols")["symbols"]}
    assert watched >= {i["symbol"] for i in bubbles["items"]}
    packs = get("/packs")
    assert len(packs["packs"] if "packs" in packs else packs["items"]) == 1
    assert get("/manual-positions?status=open")["positions"][0]["symbol"] == "BTCUSDT"
    assert get("/notes?page=1&limit=100")["notes"]
    calendar = get(f"/review/calendar?from={(end - timedelta(days=29)).isoformat()}&to={end}")
    assert calendar

    # a second run resets the sandbox user and prints a fresh password (shown once)
    r2 = kifu("demo", "--days", "5", "--seed", "11")
    assert r2.exit_code == 0 and "reset" in r2.output and "password:" in r2.output
    assert _sql(db, "SELECT count(*) FROM users WHERE email = 'demo@kifu.local'") == [(1,)]


def test_sim_report_route_is_for_admins_only(client, db: str, make_user) -> None:
    user: ApiUser = make_user()
    body = {"days": 10, "seed": 5, "start_date": END.isoformat(), "sandbox_password": PASSWORD}
    r = client.post("/api/v1/admin/sim-report/run", json=body, headers=user.headers)
    assert r.status_code == 403 and r.json()["code"] == "FORBIDDEN"
    assert _sql(db, "SELECT count(*) FROM users") == [(1,)]  # nothing was created

    _sql(db, "UPDATE users SET is_admin = true WHERE id = %s RETURNING id", user.id)
    r = client.post("/api/v1/admin/sim-report/run", json=body, headers=user.headers)
    assert r.status_code == 200, r.text
    out = r.json()
    assert PASSWORD not in json.dumps(out) and "password" not in out["effective_user"]
    assert out["effective_user"]["email"] == f"sim.{user.id.hex}@kifu.local"
    assert out["end_date"] == END.isoformat() and len(out["results"]) == 10
    t = out["totals"]
    assert t["trades_created"] == sum(d["trades_created"] for d in out["results"])
    assert t["trades_created"] == t["trade_events_created"]
    assert t["review_days_complete"] == sum(d["completed"] for d in out["results"])
    assert out["streak"]["current"] >= 7 and out["streak"]["last_review_day"] == END.isoformat()
    assert all(d["steps"] for d in out["results"])

    # the sandbox password the admin set logs in
    login = client.post(
        "/api/v1/auth/login",
        json={"email": out["effective_user"]["email"], "password": PASSWORD},
    )
    assert login.status_code == 200

    # the role is read from the database: revoked, refused at once
    _sql(db, "UPDATE users SET is_admin = false WHERE id = %s RETURNING id", user.id)
    r = client.post("/api/v1/admin/sim-report/run", json=body, headers=user.headers)
    assert r.status_code == 403
    # "self" is refused: simulated data is for a sandbox user only
    _sql(db, "UPDATE users SET is_admin = true WHERE id = %s RETURNING id", user.id)
    r = client.post(
        "/api/v1/admin/sim-report/run", json={"target_mode": "self"}, headers=user.headers
    )
    assert r.status_code == 400
    assert "403" in json.dumps(
        client.get("/openapi.json").json()["paths"]["/api/v1/admin/sim-report/run"]
    )


def test_a_range_ending_today_holds_no_trade_from_the_future() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    req = simulation.SimRequest(days=60, seed=3, end_date=END, no_trade_rate=0.0)
    days = simulation.plan(req, now)
    closes = [t.exit.at for d in days for t in d.trips]
    assert closes and max(closes) <= now
    # the cut leaves the earlier days exactly as they were
    assert [d.trips for d in days[:-1]] == [d.trips for d in simulation.plan(req)[:-1]]
    # an exit never precedes its entry, and a day's trips never overlap (books flat between)
    for d in days:
        for a, b in zip(d.trips, d.trips[1:], strict=False):
            assert a.entry.at < a.exit.at <= b.entry.at
