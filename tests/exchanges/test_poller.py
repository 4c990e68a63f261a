"""The poller end to end: schedule due credentials on the real queue, run burst workers.

A worker started in a test would also run procrastinate's periodic deferrer, whose every-minute
``schedule_syncs`` tick lands at an arbitrary point of the test (it is how the race below was
found). The tests switch that deferrer off (``no_ticks``) and instead put exactly the jobs a tick
could produce in the queue, so every interleaving they prove is forced, not left to timing.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from kifu.config import get_settings
from kifu.exchanges import sync, tasks
from kifu.kit import locks
from kifu.worker import runner
from kifu.worker.queue import connected, queue
from tests.exchanges.conftest import BINANCE_KEY, BINANCE_SECRET
from tests.exchanges.fake_venues import FakeVenues
from tests.helpers import TEST_ENC_KEY, TEST_JWT_SECRET


@pytest.fixture
def worker_env(monkeypatch: pytest.MonkeyPatch, db: str, venues: FakeVenues):
    for name, value in {
        "DATABASE_URL": db,
        "JWT_SECRET": TEST_JWT_SECRET,
        "KIFU_ENC_KEY": TEST_ENC_KEY,
        "KIFU_BINANCE_SPOT_URL": venues.url,
        "KIFU_BINANCE_FUTURES_URL": venues.url,
        "KIFU_UPBIT_URL": venues.url,
        "KIFU_EXCHANGE_RETRY_BASE_SECONDS": "0.01",
        "KIFU_EXCHANGE_TIMEOUT_SECONDS": "60",
        "KIFU_SYNC_INTERVAL_SECONDS": "300",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def no_ticks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers run only the jobs a test queued: no periodic ticks of their own."""
    queue.perform_import_paths()
    monkeypatch.setattr(queue.periodic_registry, "periodic_tasks", {})


def _jobs(db: str) -> list[tuple]:
    with psycopg.connect(db) as conn:
        return conn.execute(
            "SELECT task_name, status FROM procrastinate_jobs WHERE task_name = %s ORDER BY id",
            (tasks.SYNC,),
        ).fetchall()


def _runs(db: str) -> list[tuple]:
    with psycopg.connect(db) as conn:
        return conn.execute(
            "SELECT status, meta->>'trigger', started_at, finished_at FROM runs"
            " WHERE run_type = 'exchange_sync' ORDER BY started_at"
        ).fetchall()


def _count(db: str, sql: str) -> int:
    with psycopg.connect(db) as conn:
        return conn.execute(sql).fetchone()[0]


def _connect_spot(client, user, venues: FakeVenues, fills: int = 30) -> str:
    venues.add_spot("ETHBTC", "ETH", "BTC", fills, start=datetime.now(UTC) - timedelta(days=1))
    venues.balances = [{"asset": "ETH", "free": "1", "locked": "0"}]
    r = client.post(
        "/api/v1/exchanges",
        json={"exchange": "binance_spot", "api_key": BINANCE_KEY, "api_secret": BINANCE_SECRET},
        headers=user.headers,
    )
    assert r.status_code == 200, r.text
    return r.json()["id"]


def _queue_jobs(db: str, cid: str, n: int) -> None:
    """``n`` sync jobs for one credential, as successive ticks leave them when each tick runs
    after the previous job started (its queueing lock released) but before it marked its
    attempt: the interleaving that made the credential sync twice."""

    async def defer() -> None:
        async with connected(db):
            for _ in range(n):
                await tasks.sync_credential_job.defer_async(credential_id=cid)

    asyncio.run(defer())


def _work(db: str, *, workers: int = 1, concurrency: int = 1) -> None:
    """Burst workers on the queue at once (each its own procrastinate worker, as in separate
    ``kifu worker`` processes: the exclusion is a PostgreSQL lock per job connection)."""

    async def go() -> None:
        async with connected(db) as app:
            await asyncio.gather(
                *(
                    app.run_worker_async(
                        concurrency=concurrency,
                        wait=False,
                        name=f"test-worker-{n}",
                        additional_context={"conninfo": db},
                        install_signal_handlers=False,
                    )
                    for n in range(workers)
                )
            )

    asyncio.run(go())


def test_poller_syncs_each_credential_once(client, user, db, venues, worker_env, no_ticks):
    _connect_spot(client, user, venues)

    async def schedule_twice() -> tuple[int, int]:
        async with (
            connected(db),
            await psycopg.AsyncConnection.connect(db, autocommit=True) as conn,
        ):
            first = await tasks.schedule_due(conn, 300)
            second = await tasks.schedule_due(conn, 300)  # queueing lock: not twice
        return len(first), len(second)

    assert asyncio.run(schedule_twice()) == (1, 0)
    asyncio.run(runner.run(db, burst=True, install_signal_handlers=False))
    assert _jobs(db) == [(tasks.SYNC, "succeeded")]
    assert _count(db, "SELECT count(*) FROM trades") == 30
    assert [r[:2] for r in _runs(db)] == [("completed", "poller")]
    # synced just now: not due again within the interval
    assert asyncio.run(schedule_twice()) == (0, 0)


def test_racing_jobs_never_sync_a_credential_twice(client, user, db, venues, worker_env, no_ticks):
    cid = _connect_spot(client, user, venues)
    key = locks.key_sql(sync.SYNC_LOCK)

    # 1. another worker (or an HTTP "sync now") holds the credential: the job does not sync
    _queue_jobs(db, cid, 1)
    with psycopg.connect(db, autocommit=True) as other:
        other.execute(f"SELECT pg_advisory_lock({key})", (str(cid),))
        _work(db)
        other.execute(f"SELECT pg_advisory_unlock({key})", (str(cid),))
    assert _jobs(db) == [(tasks.SYNC, "succeeded")]
    assert _runs(db) == [] and _count(db, "SELECT count(*) FROM trades") == 0

    # 2. two jobs for the credential run one after the other: the second finds it synced
    _queue_jobs(db, cid, 2)
    _work(db)
    assert [s for _, s in _jobs(db)] == ["succeeded"] * 3
    assert [r[:2] for r in _runs(db)] == [("completed", "poller")]
    assert _count(db, "SELECT count(*) FROM trades") == 30

    # 3. due again, new fills, four jobs on two workers at once: still one sync
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE exchange_sync_status SET last_attempt_at = now() - interval '1 h'")
    venues.add_spot("ETHBTC", "ETH", "BTC", 10, start_id=31, start=datetime.now(UTC))
    _queue_jobs(db, cid, 4)
    _work(db, workers=2, concurrency=2)
    assert [s for _, s in _jobs(db)] == ["succeeded"] * 7
    assert [r[:2] for r in _runs(db)] == [("completed", "poller")] * 2
    assert _count(db, "SELECT count(*) FROM trades") == 40
    assert _count(db, "SELECT count(DISTINCT binance_trade_id) FROM trades") == 40
