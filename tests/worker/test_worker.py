"""`kifu worker`: periodic jobs are deferred once per tick across workers, and the quota reset
runs across a month boundary with two worker processes at once, resetting each row once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime

import psycopg
from procrastinate.periodic import PeriodicDeferrer

from kifu.accounts.tasks import RESET_QUOTAS
from kifu.worker.queue import connected, queue
from tests.helpers import TEST_ENC_KEY, TEST_JWT_SECRET


def _sql(db: str, query: str, *params: object) -> list[tuple]:
    with psycopg.connect(db) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def _reset_jobs(db: str) -> list[tuple]:
    return _sql(
        db, "SELECT status::text FROM procrastinate_jobs WHERE task_name = %s", RESET_QUOTAS
    )


def test_two_deferrers_defer_a_periodic_tick_once(db: str) -> None:
    queue.perform_import_paths()
    tick = 1_767_225_900  # 2026-01-01T00:05:00Z, an :05 tick of the hourly schedule

    async def defer_from_two_workers() -> None:
        async with connected(db):
            registry = queue.periodic_registry
            key = next(k for k in registry.periodic_tasks if k[0] == RESET_QUOTAS)
            task = registry.periodic_tasks[key]
            a, b = PeriodicDeferrer(registry), PeriodicDeferrer(registry)
            await asyncio.gather(a.defer_jobs([(task, tick)]), b.defer_jobs([(task, tick)]))
            assert len(_reset_jobs(db)) == 1
            # Even once that job has finished (no queueing lock left), the tick is not redone.
            _sql(db, "UPDATE procrastinate_jobs SET status = 'succeeded'")
            await PeriodicDeferrer(registry).defer_jobs([(task, tick)])
            assert len(_reset_jobs(db)) == 1
            # The next tick is deferred.
            await b.defer_jobs([(task, tick + 3600)])
            assert len(_reset_jobs(db)) == 2

    asyncio.run(defer_from_two_workers())
    # procrastinate keeps the newest tick per schedule as the marker of what was deferred.
    assert _sql(
        db,
        "SELECT defer_timestamp FROM procrastinate_periodic_defers WHERE task_name = %s",
        RESET_QUOTAS,
    ) == [(tick + 3600,)]


def _run_two_workers(db: str) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": db,
        "JWT_SECRET": TEST_JWT_SECRET,
        "KIFU_ENC_KEY": TEST_ENC_KEY,
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "kifu", "worker", "--burst", "--name", f"w{i}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for i in range(2)
    ]
    for p in procs:
        output, _ = p.communicate(timeout=120)
        assert p.returncode == 0, output.decode()


def test_quota_reset_across_a_month_boundary_with_two_workers(db: str, make_user) -> None:
    users = [make_user() for _ in range(5)]
    now = datetime.now(UTC)
    last_month = datetime(now.year - (now.month == 1), (now.month - 2) % 12 + 1, 28, tzinfo=UTC)
    _sql(db, "UPDATE subscriptions SET ai_quota_remaining = 2, last_reset_at = %s", last_month)
    _sql(
        db,
        "UPDATE subscriptions SET tier = 'silver', expires_at = now() + interval '30 days'"
        " WHERE user_id = %s",
        users[0].id,
    )

    _run_two_workers(db)

    rows = _sql(
        db, "SELECT user_id, ai_quota_remaining, ai_quota_limit, last_reset_at FROM subscriptions"
    )
    assert len(rows) == 5
    for user_id, remaining, limit, reset_at in rows:
        expected = 200 if user_id == users[0].id else 20
        assert (remaining, limit) == (expected, expected)
        assert (reset_at.year, reset_at.month) == (now.year, now.month)
    assert _reset_jobs(db) and all(status == "succeeded" for (status,) in _reset_jobs(db))

    # Credits spent after the reset stay spent when the workers run again this month.
    _sql(db, "UPDATE subscriptions SET ai_quota_remaining = ai_quota_remaining - 1")
    stamps = _sql(db, "SELECT last_reset_at FROM subscriptions ORDER BY user_id")
    _run_two_workers(db)
    assert _sql(db, "SELECT DISTINCT ai_quota_remaining FROM subscriptions ORDER BY 1") == [
        (19,),
        (199,),
    ]
    assert _sql(db, "SELECT last_reset_at FROM subscriptions ORDER BY user_id") == stamps
