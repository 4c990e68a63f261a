"""The poller end to end: schedule due credentials on the real queue, run a burst worker."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from kifu.config import get_settings
from kifu.exchanges import tasks
from kifu.worker import runner
from kifu.worker.queue import connected
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
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _jobs(db: str) -> list[tuple]:
    with psycopg.connect(db) as conn:
        return conn.execute(
            "SELECT task_name, status FROM procrastinate_jobs WHERE task_name = %s ORDER BY id",
            (tasks.SYNC,),
        ).fetchall()


def test_poller_syncs_each_credential_once(client, user, db, venues, worker_env):
    venues.add_spot("ETHBTC", "ETH", "BTC", 30, start=datetime.now(UTC) - timedelta(days=1))
    venues.balances = [{"asset": "ETH", "free": "1", "locked": "0"}]
    r = client.post(
        "/api/v1/exchanges",
        json={"exchange": "binance_spot", "api_key": BINANCE_KEY, "api_secret": BINANCE_SECRET},
        headers=user.headers,
    )
    assert r.status_code == 200

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
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM trades").fetchone()[0] == 30
        run = conn.execute("SELECT status, meta->>'trigger' FROM runs").fetchone()
    assert run == ("completed", "poller")
    # synced just now: not due again within the interval
    assert asyncio.run(schedule_twice()) == (0, 0)
