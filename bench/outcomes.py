"""Outcomes for many bubbles from a local candle server, twice, in one run.

    .venv/bin/python bench/outcomes.py [--bubbles 10000]

Starts a throw-away embedded PostgreSQL and a local Binance/Upbit stand-in in a process of its own
(``_candle_server.py``: as an exchange, it shares no interpreter lock with the job; in the job's
process each side's time counted the other's Python), inserts bubbles spread
over the last 30 days, runs the outcome job to completion, and prints its time, the candle
requests it made, the time the server spent answering them (wall time with at least one answer
under way, so overlapping answers count once; and the answering threads' CPU time), the distinct
1m candles stored, and the first run's time over the server's (target: at most 2). A second run
over the same bubbles plus a copy of each bubble (same candles) must make no request: the candles
come from PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import fresh_database
from kifu.db import runner
from kifu.db.embedded import EmbeddedPostgres
from kifu.journal.outcomes import compute_due_outcomes
from kifu.market import MarketData, MarketUrls, http_client

SYMBOLS = ["BTCUSDT", "ETHUSDT", "BTCKRW", "ETHKRW", "ETHBTC"]


def _ask(server: subprocess.Popen[str], command: str) -> dict[str, float]:
    """The candle server's counters: answering time, its CPU time, requests (``reset`` zeroes
    them first)."""
    server.stdin.write(command + "\n")  # type: ignore[union-attr]
    server.stdin.flush()  # type: ignore[union-attr]
    return json.loads(server.stdout.readline())  # type: ignore[union-attr]


def _seed(conninfo: str, n: int, symbols: list[str], copy: bool = False) -> None:
    rng = random.Random(7)
    now = datetime.now(UTC)
    with psycopg.connect(conninfo) as conn:
        user = conn.execute(
            "INSERT INTO users (email, password_hash, name) VALUES (%s, '!', 'bench') RETURNING id",
            (f"bench-{uuid.uuid4().hex[:6]}@example.com",),
        ).fetchone()[0]  # type: ignore[index]
        rows = []
        for _ in range(n):
            at = now - timedelta(days=2, minutes=rng.randrange(28 * 24 * 60))
            rows.append((user, rng.choice(symbols), "1h", at, "100"))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO bubbles (user_id, symbol, timeframe, candle_time, price, bubble_type)"
                " VALUES (%s, %s, %s, %s, %s, 'manual')",
                rows,
            )


def _stat(pid: int | str) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command's name (Linux)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _postgres_cpu(postmaster: int) -> float:
    """User + system CPU time of the PostgreSQL server so far: the postmaster's live children
    (backends and helpers), and its children that have exited (the job's extra connections)."""
    ticks = sum(int(v) for v in _stat(postmaster)[11:15])  # its own, and its reaped children's
    for pid in os.listdir("/proc"):
        try:
            fields = _stat(pid) if pid.isdigit() else None
        except OSError:  # exited meanwhile
            continue
        if fields is not None and fields[1] == str(postmaster):
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def _run(
    conninfo: str, urls: MarketUrls, postmaster: int
) -> tuple[float, int, object, float, float]:
    """The job's time, requests, result, and the CPU time it used in this process and in
    PostgreSQL. It runs as ``kifu worker`` runs it: one connection for its claims, more opened
    for the symbols' candles."""

    async def connect() -> psycopg.AsyncConnection:
        return await psycopg.AsyncConnection.connect(conninfo, autocommit=True)

    async with http_client() as http:
        market = MarketData(urls, http)
        async with await connect() as conn:
            cpu, server_cpu = time.process_time(), _postgres_cpu(postmaster)
            started = time.perf_counter()
            result = await compute_due_outcomes(
                conn, market, batch=2000, max_rounds=1000, connect=connect
            )
            elapsed = time.perf_counter() - started
            job_cpu = time.process_time() - cpu
            await asyncio.sleep(0.5)  # the closed connections' backends finish exiting
            return (
                elapsed,
                market.requests,
                result,
                job_cpu,
                _postgres_cpu(postmaster) - server_cpu,
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bubbles", type=int, default=10_000)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("_candle_server.py"))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    url = server.stdout.readline().strip()  # type: ignore[union-attr]
    urls = MarketUrls(url, url, url)
    with tempfile.TemporaryDirectory() as home:
        pg = EmbeddedPostgres(Path(home))
        pg.start()
        try:
            conninfo = fresh_database(pg.conninfo("postgres"))
            runner.upgrade(conninfo)
            _seed(conninfo, args.bubbles, SYMBOLS)
            postmaster = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
            seconds, requests, result, job_cpu, pg_cpu = asyncio.run(
                _run(conninfo, urls, postmaster)
            )
            served = _ask(server, "stats")
            server_seconds, server_cpu = served["seconds"], served["cpu_seconds"]
            with psycopg.connect(conninfo) as conn:
                candles = conn.execute("SELECT count(*) FROM market_candles").fetchone()[0]  # type: ignore[index]
                outcomes = conn.execute("SELECT count(*) FROM outcomes").fetchone()[0]  # type: ignore[index]
            print(f"bubbles {args.bubbles}, outcomes {outcomes} ({result})")
            print(
                f"first run:  {seconds:.2f} s, {requests} candle requests,"
                f" server {server_seconds:.2f} s ({server_seconds / seconds:.0%} of the run;"
                f" {server_cpu:.2f} s CPU), {candles} distinct 1m candles stored"
            )
            print(f"first run ÷ server time: {seconds / server_seconds:.2f} (target: at most 2)")
            # The three share this machine's cores: the run cannot take less than their CPU
            # time spread over every core.
            cores = os.cpu_count() or 1
            total = job_cpu + pg_cpu + server_cpu
            print(
                f"CPU: job {job_cpu:.2f} s, PostgreSQL {pg_cpu:.2f} s, candle server"
                f" {server_cpu:.2f} s; {total:.2f} s on {cores} cores: no run shorter than"
                f" {total / cores:.2f} s ({total / cores / server_seconds:.2f}x the server's time)"
            )
            _ask(server, "reset")
            with psycopg.connect(conninfo) as conn:  # same bubbles again: every candle cached
                conn.execute(
                    "INSERT INTO bubbles (user_id, symbol, timeframe, candle_time, price,"
                    " bubble_type) SELECT user_id, symbol, timeframe, candle_time, 200, 'manual'"
                    " FROM bubbles"
                )
            seconds2, requests2, result2, _, _ = asyncio.run(_run(conninfo, urls, postmaster))
            served2 = _ask(server, "stats")["requests"]  # the server's own count: must be 0 too
            print(
                f"second run: {seconds2:.2f} s, {requests2} candle requests"
                f" ({served2:.0f} answered by the server; {result2})"
            )
            print(f"ratio second/first time: {seconds2 / seconds:.2f}")
        finally:
            pg.stop()
            server.kill()


if __name__ == "__main__":
    main()
