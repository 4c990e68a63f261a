"""A run whose process dies is closed as failed (INTERRUPTED), never left ``running``; a live run,
however slow, is left alone."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import psycopg

from kifu import runs

# An import of a long file that arrives slowly: past 100 kB the reader stalls, as an upload from
# a slow client would, so the test can kill the process mid-import.
IMPORTER = """
import asyncio, io, sys, time, uuid, psycopg
from kifu.ingest import service

class Stalling(io.BytesIO):
    def read(self, n=-1):
        if self.tell() > 100_000:
            time.sleep(3600)
        return super().read(n)

async def main():
    data = Stalling(sys.stdin.buffer.read())
    async with await psycopg.AsyncConnection.connect(sys.argv[1], autocommit=True) as conn:
        req = service.UnifiedRequest(venue="binance_futures")
        await service.import_unified(conn, uuid.UUID(sys.argv[2]), data, req)

asyncio.run(main())
"""
HEADER = b"executed_at,symbol,side,qty,price\n"
ROW = b"2026-01-05T10:00:00Z,BTCUSDT,buy,0.5,42000\n"


def _runs(client, user) -> list[dict]:
    r = client.get("/api/v1/runs", headers=user.headers)
    assert r.status_code == 200
    return r.json()["items"]


def _wait_for_running(client, user, proc) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        items = _runs(client, user)
        if items:
            return items[0]
        time.sleep(0.05)
    raise AssertionError("the importer never recorded its run")


def test_killed_import_is_closed_as_interrupted_and_wrote_nothing(db, client, user):
    proc = subprocess.Popen(
        [sys.executable, "-c", IMPORTER, db, str(user.id)],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert proc.stdin is not None
        proc.stdin.write(HEADER + ROW * 5000)
        proc.stdin.close()
        run = _wait_for_running(client, user, proc)
        # Alive and mid-file: every later listing leaves it running.
        time.sleep(0.3)
        now = _runs(client, user)[0]
        assert now["status"] == "running", now
        assert run["finished_at"] is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 10
    while (item := _runs(client, user)[0])["status"] == "running":
        assert time.monotonic() < deadline, "the dead run stayed running"
        time.sleep(0.05)
    assert item["run_id"] == run["run_id"]
    assert item["status"] == "failed" and item["finished_at"]
    assert item["meta"]["code"] == "INTERRUPTED"
    assert "stopped before it finished" in item["meta"]["error"]
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM trade_events").fetchone() == (0,)


def test_sweep_leaves_live_runs_and_is_idempotent(db, user):
    async def scenario() -> tuple[int, int, str, str]:
        async with (
            await psycopg.AsyncConnection.connect(db, autocommit=True) as owner,
            await psycopg.AsyncConnection.connect(db, autocommit=True) as other,
        ):
            live = await runs.start(owner, user.id, "trade_csv_import", {})
            dead_conn = await psycopg.AsyncConnection.connect(db, autocommit=True)
            dead = await runs.start(dead_conn, user.id, "trade_csv_import", {})
            pid = dead_conn.info.backend_pid
            await dead_conn.close()  # the owner is gone without finishing the run
            for _ in range(200):  # its server process exits (and drops the lock) just after
                cur = await other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,))
                if await cur.fetchone() is None:
                    break
                await asyncio.sleep(0.05)
            first = await runs.fail_orphans(other, user.id)
            second = await runs.fail_orphans(other, user.id)
            await runs.complete(owner, live, {})
            cur = await other.execute(
                "SELECT run_id, status FROM runs WHERE run_id = ANY(%s)", ([live, dead],)
            )
            status = {r[0]: r[1] for r in await cur.fetchall()}
            return first, second, status[live], status[dead]

    first, second, live_status, dead_status = asyncio.run(scenario())
    assert (first, second) == (1, 0)
    assert live_status == "completed"
    assert dead_status == "failed"


# An import that reaches the ledger write at once and waits there, in PostgreSQL, for the user's
# ledger lock (which the test holds, as a second import of the same user would).
WAITING_IMPORTER = """
import asyncio, io, sys, uuid, psycopg
from kifu.ingest import service

async def main():
    data = io.BytesIO(sys.stdin.buffer.read())
    async with await psycopg.AsyncConnection.connect(sys.argv[1], autocommit=True) as conn:
        req = service.UnifiedRequest(venue="binance_futures")
        await service.import_unified(conn, uuid.UUID(sys.argv[2]), data, req)

asyncio.run(main())
"""


def test_an_importer_killed_while_postgresql_runs_its_statement_is_closed_within_seconds(
    db, client, user
):
    with psycopg.connect(db) as holder:
        # the user's ledger lock, held in an open transaction for the whole test
        holder.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('kifu.ledger:' || %s, 0))",
            (str(user.id),),
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", WAITING_IMPORTER, db, str(user.id)],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        try:
            assert proc.stdin is not None
            proc.stdin.write(HEADER + ROW * 10)
            proc.stdin.close()
            run = _wait_for_running(client, user, proc)
            deadline = time.monotonic() + 30
            while True:  # the importer's statement is waiting for the lock, inside PostgreSQL
                row = holder.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                    " AND wait_event_type = 'Lock' AND query LIKE %s",
                    ("%pg_advisory_xact_lock%",),
                ).fetchone()
                if row and row[0] == 1:
                    break
                assert proc.poll() is None and time.monotonic() < deadline, "never waited"
                time.sleep(0.05)
            assert _runs(client, user)[0]["status"] == "running"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
        killed = time.monotonic()
        # still holding the lock: the statement never ends by itself, yet the run is closed
        while (item := _runs(client, user)[0])["status"] == "running":
            assert time.monotonic() - killed < 5, "the dead run stayed running"
            time.sleep(0.1)
        assert item["run_id"] == run["run_id"]
        assert item["status"] == "failed" and item["meta"]["code"] == "INTERRUPTED"
        holder.rollback()
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM trade_events").fetchone() == (0,)
