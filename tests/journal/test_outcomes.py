"""The outcome job against local Binance/Upbit stand-ins, and the pnl rule."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from types import SimpleNamespace

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from kifu.config import Settings
from kifu.journal import rules, tasks
from kifu.journal.outcomes import (
    OutcomeRun,
    SimulatedOutcome,
    compute_due_outcomes,
    record_simulated,
)
from kifu.kit import money
from kifu.market import MarketData, MarketUrls, http_client
from kifu.market import outcomes as engine
from kifu.worker.queue import job_connection
from tests.helpers import ApiUser
from tests.market.fake_exchange import FakeExchange

CANDLE = (datetime.now(UTC) - timedelta(days=2)).replace(second=30, microsecond=0)
VENUE = {"BTCUSDT": "BTCUSDT", "BTCKRW": "KRW-BTC", "ETHBTC": "ETHBTC"}


def _insert(db: str, user: ApiUser, symbols: list[str], price: str = "50000") -> None:
    with psycopg.connect(db) as conn:
        for s in symbols:
            conn.execute(
                "INSERT INTO bubbles (user_id, symbol, timeframe, candle_time, price, bubble_type)"
                " VALUES (%s, %s, '1m', %s, %s, 'manual')",
                (user.id, s, CANDLE, price),
            )


async def _run(db: str, settings: Settings, runs: int = 1) -> list[tuple[object, int]]:
    out = []
    async with http_client() as http:
        for _ in range(runs):
            market = MarketData(MarketUrls.from_settings(settings), http)
            async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
                out.append((await compute_due_outcomes(conn, market), market.requests))
    return out


def _outcomes(db: str) -> dict[tuple[str, str], tuple[Decimal, Decimal, Decimal]]:
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT b.symbol, o.period, o.reference_price, o.outcome_price, o.pnl_percent"
            " FROM outcomes o JOIN bubbles b ON b.id = o.bubble_id"
        ).fetchall()
    return {(s, p): (r, c, pnl) for s, p, r, c, pnl in rows}


def test_outcomes_match_the_candles_served(
    db: str, settings: Settings, user: ApiUser, exchange: FakeExchange, client: TestClient
) -> None:
    _insert(db, user, ["BTCUSDT", "BTCKRW", "ETHBTC", "005930"])
    (run, _), (again, again_requests) = asyncio.run(_run(db, settings, runs=2))
    assert run.computed == 9 and run.skipped == 3
    got = _outcomes(db)
    assert len(got) == 9
    for symbol, venue in VENUE.items():
        for period, span in rules.PERIODS.items():
            target = (CANDLE + span).replace(second=0)
            close = FakeExchange.close(venue, target)
            ref, out, pnl = got[(symbol, period)]
            assert (ref, out) == (Decimal("50000"), close)
            assert pnl == money.pnl_percent(Decimal("50000"), close)
    # The stock symbol is marked once; nothing is asked again.
    assert again.claimed == 0 and again_requests == 0
    with psycopg.connect(db) as conn:
        marks = conn.execute("SELECT status FROM outcome_attempts").fetchall()
    assert marks == [("skipped",)] * 3
    # The API shows them.
    bubbles = client.get("/api/v1/bubbles", params={"symbol": "BTCUSDT"}, headers=user.headers)
    bid = bubbles.json()["items"][0]["id"]
    view = client.get(f"/api/v1/bubbles/{bid}/outcomes", headers=user.headers).json()
    close_1h = FakeExchange.close("BTCUSDT", (CANDLE + timedelta(hours=1)).replace(second=0))
    assert view["outcomes"][0]["outcome_price"] == format(close_1h, "f")


def test_upbit_rate_limit_defers_upbit_only(
    db: str, settings: Settings, user: ApiUser, exchange: FakeExchange
) -> None:
    exchange.upbit_status = 429
    _insert(db, user, ["BTCUSDT", "BTCKRW", "ETHKRW"])
    (run, _), (again, _) = asyncio.run(_run(db, settings, runs=2))
    assert run.computed == 3 and run.deferred == 6
    assert len(exchange.paths("/v1/candles")) == 1  # the cooldown stopped the second market
    assert again.claimed == 0
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT venue FROM market_cooldowns").fetchall() == [("upbit",)]


def test_two_workers_compute_each_outcome_once(
    db: str, settings: Settings, user: ApiUser, exchange: FakeExchange
) -> None:
    _insert(db, user, ["BTCUSDT", "ETHUSDT"] * 20)

    async def both() -> list:
        return await asyncio.gather(_run(db, settings), _run(db, settings))

    results = asyncio.run(both())
    computed = sum(r[0][0].computed for r in results)
    assert computed == 120
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM outcomes").fetchone() == (120,)


@pytest.mark.parametrize("own_connections", [False, True])
def test_two_workers_over_many_rounds_claim_each_outcome_once(
    db: str, settings: Settings, user: ApiUser, exchange: FakeExchange, own_connections: bool
) -> None:
    """Small rounds (several passes over the due work, each round's keys claimed again) on two
    workers at once, their symbols priced on the job's connection or on connections of their
    own: every outcome is claimed once, computed once, and its claim is gone."""
    with psycopg.connect(db) as conn:
        for i, symbol in enumerate(["BTCUSDT", "ETHUSDT", "BTCKRW"] * 30):
            conn.execute(
                "INSERT INTO bubbles (user_id, symbol, timeframe, candle_time, price, bubble_type)"
                " VALUES (%s, %s, '1m', %s, 50000, 'manual')",
                (user.id, symbol, CANDLE + timedelta(minutes=7 * i)),
            )

    async def worker(http: httpx.AsyncClient) -> tuple[object, int]:
        market = MarketData(MarketUrls.from_settings(settings), http)
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
            connect = _Connects(db) if own_connections else None
            return await compute_due_outcomes(
                conn, market, batch=7, max_rounds=1000, connect=connect
            ), market.requests

    async def both() -> list[tuple[object, int]]:
        async with http_client() as http:
            return list(await asyncio.gather(worker(http), worker(http)))

    runs = [run for run, _ in asyncio.run(both())]
    assert sum(r.claimed for r in runs) == sum(r.computed for r in runs) == 270  # type: ignore[attr-defined]
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM outcomes").fetchone() == (270,)
        assert conn.execute("SELECT count(*) FROM outcome_attempts").fetchone() == (0,)
    got = _outcomes_by_bubble(db)
    assert len(got) == 270
    for (symbol, candle, period), close in got.items():
        target = (candle + rules.PERIODS[period]).replace(second=0)
        assert close == FakeExchange.close(VENUE.get(symbol, symbol), target)
    ((again, requests),) = asyncio.run(_run(db, settings))
    assert again.claimed == 0 and requests == 0  # type: ignore[attr-defined]


SYMBOLS = ["BTCUSDT", "ETHUSDT", "BTCKRW", "ETHKRW", "ETHBTC"]
VENUES = {**VENUE, "ETHUSDT": "ETHUSDT", "ETHKRW": "KRW-ETH"}


def _spread_bubbles(db: str, user: ApiUser, n: int) -> None:
    """``n`` bubbles over the five symbols, a few minutes apart (several windows a symbol)."""
    with psycopg.connect(db) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO bubbles (user_id, symbol, timeframe, candle_time, price, bubble_type)"
            " VALUES (%s, %s, '1m', %s, 50000, 'manual')",
            [(user.id, SYMBOLS[i % 5], CANDLE + timedelta(minutes=13 * i)) for i in range(n)],
        )


class _Connects:
    """A ``connect`` for the job that keeps what it opened; it fails from the ``fail_at``-th."""

    def __init__(self, db: str, fail_at: int | None = None) -> None:
        self.db, self.fail_at = db, fail_at
        self.opened: list[psycopg.AsyncConnection] = []
        self.calls = 0

    async def __call__(self) -> psycopg.AsyncConnection:
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise psycopg.OperationalError("connection refused (test)")
        conn = await psycopg.AsyncConnection.connect(self.db, autocommit=True)
        self.opened.append(conn)
        return conn


def test_symbols_are_priced_on_connections_of_their_own(
    db: str, settings: Settings, user: ApiUser, exchange: FakeExchange
) -> None:
    """Given ``connect``, the job prices its symbols on at most ``PRICING_CONNECTIONS`` more
    connections (five symbols at once here), closes them when it is done, and stores what the
    one-connection job stores; its rounds are stored while the next is priced, in order."""
    _spread_bubbles(db, user, 60)
    connects = _Connects(db)

    async def job() -> OutcomeRun:
        market = MarketData(MarketUrls.from_settings(settings), http_client())
        try:
            async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
                return await compute_due_outcomes(
                    conn, market, batch=20, max_rounds=100, connect=connects
                )
        finally:
            await market.http.aclose()

    run = asyncio.run(job())
    assert run.claimed == run.computed == 180
    assert connects.calls == len(connects.opened) == engine.PRICING_CONNECTIONS
    assert all(conn.closed for conn in connects.opened)
    got = _outcomes_by_bubble(db)
    assert len(got) == 180
    for (symbol, candle, period), close in got.items():
        target = (candle + rules.PERIODS[period]).replace(second=0)
        assert close == FakeExchange.close(VENUES[symbol], target)
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM outcome_attempts").fetchone() == (0,)


def test_a_connection_that_cannot_be_opened_fails_the_run_and_loses_nothing(
    db: str, settings: Settings, user: ApiUser, exchange: FakeExchange
) -> None:
    """The second pricing connection fails to open: the run raises it, a connection it did open
    is closed (the first may still be opening: it is given up), and the work it claimed is
    still leased, not lost: once the lease is over, a run computes all of it."""
    _spread_bubbles(db, user, 10)
    connects = _Connects(db, fail_at=2)

    async def job(connect: _Connects | None, now: datetime | None = None) -> OutcomeRun:
        async with http_client() as http:
            market = MarketData(MarketUrls.from_settings(settings), http)
            async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
                return await compute_due_outcomes(conn, market, now, connect=connect)

    with pytest.raises(psycopg.OperationalError, match="test"):
        asyncio.run(job(connects))
    assert connects.calls >= 2 and all(conn.closed for conn in connects.opened)
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM outcomes").fetchone() == (0,)
        for _ in range(40):  # no backend left behind (a closed one takes a moment to exit)
            others = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
            if others == (0,):
                break
            time.sleep(0.05)
        assert others == (0,)
        leased = conn.execute("SELECT count(*) FROM outcome_attempts").fetchone()
    assert leased == (30,)
    assert asyncio.run(job(None)).claimed == 0  # leased: nobody takes it before the lease ends
    later = datetime.now(UTC) + engine.LEASE + timedelta(seconds=1)
    run = asyncio.run(job(_Connects(db), later))
    assert run.claimed == run.computed == 30
    assert len(_outcomes_by_bubble(db)) == 30


def test_the_worker_task_prices_on_connections_of_its_own(
    db: str, user: ApiUser, exchange: FakeExchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``kifu worker``'s outcome task gives the job ``job_connection`` as its ``connect``."""
    _spread_bubbles(db, user, 10)
    for name in ("KIFU_BINANCE_SPOT_URL", "KIFU_BINANCE_FUTURES_URL", "KIFU_UPBIT_URL"):
        monkeypatch.setenv(name, exchange.url)
    opened: list[psycopg.AsyncConnection] = []

    async def counted(context: object) -> psycopg.AsyncConnection:
        opened.append(await job_connection(context))  # type: ignore[arg-type]
        return opened[-1]

    monkeypatch.setattr(tasks, "job_connection", counted)
    context = SimpleNamespace(additional_context={"conninfo": db})
    asyncio.run(tasks.compute_outcomes.func(context, 0))  # type: ignore[attr-defined]
    assert len(_outcomes_by_bubble(db)) == 30
    assert len(opened) == 1 + engine.PRICING_CONNECTIONS
    assert all(conn.closed for conn in opened)


def _outcomes_by_bubble(db: str) -> dict[tuple[str, datetime, str], Decimal]:
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT b.symbol, b.candle_time, o.period, o.outcome_price"
            " FROM outcomes o JOIN bubbles b ON b.id = o.bubble_id"
        ).fetchall()
    return {(s, c, p): price for s, c, p, price in rows}


@given(
    st.decimals(min_value="0.00000001", max_value="1e9", places=8, allow_nan=False),
    st.decimals(min_value="0", max_value="1e9", places=8, allow_nan=False),
)
def test_pnl_percent_is_exact_rounding(reference: Decimal, outcome: Decimal) -> None:
    with localcontext() as ctx:
        ctx.prec = 200
        expected = ((outcome - reference) / reference * 100).quantize(
            Decimal("0.00000001"), ROUND_HALF_UP
        )
    assert money.pnl_percent(reference, outcome) == expected


def test_pnl_percent_examples() -> None:
    assert money.pnl_percent(Decimal("3"), Decimal("4")) == Decimal("33.33333333")
    assert money.pnl_percent(Decimal("3"), Decimal("2")) == Decimal("-33.33333333")
    assert rules.fmt8(money.pnl_percent(Decimal("100"), Decimal("101"))) == "1"
    assert rules.outcome_target(datetime(2026, 1, 1, 10, 7, 30, tzinfo=UTC), "4h") == datetime(
        2026, 1, 1, 14, 7, tzinfo=UTC
    )


def test_simulated_outcomes_are_written_for_sandbox_users_only(db: str, user: ApiUser) -> None:
    """``record_simulated`` asks accounts whether the user is a sandbox user (no SQL of its own
    on ``users``): anyone else is refused before anything is written."""
    _insert(db, user, ["BTCUSDT"])
    with psycopg.connect(db) as conn:
        bubble = conn.execute("SELECT id FROM bubbles WHERE user_id = %s", (user.id,)).fetchone()
    outcome = SimulatedOutcome(bubble[0], "1h", Decimal("50500"), Decimal("1"))  # type: ignore[index]

    async def record() -> int:
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
            return await record_simulated(conn, user.id, [outcome], bubble_ids=[outcome.bubble_id])

    with pytest.raises(ValueError, match="sandbox users only"):
        asyncio.run(record())
    with psycopg.connect(db, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM outcomes").fetchone() == (0,)
        conn.execute("UPDATE users SET is_sandbox = true WHERE id = %s", (user.id,))
    assert asyncio.run(record()) == 1
