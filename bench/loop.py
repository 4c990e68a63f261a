"""Event-loop benchmark: how long does a large import make other requests wait?

    python bench/loop.py [--rows 1000000] [--database-url URL]

Serves kifu with uvicorn in a child process (one worker, one event loop, as `kifu serve`),
uploads a generated Binance futures export of ``--rows`` rows to ``POST /imports/trades`` and,
while it runs, polls ``GET /health`` every 20 ms from this process. Prints the worst and the 99th
percentile ``/health`` answer time during the import against the same figures with the server
idle (the floor: what a poll costs when nothing else runs), and their ratio; and, since /health
also waits for PostgreSQL, the server's own event-loop lag (how late a 5 ms sleep wakes). The
target is a worst delay under 100 ms: no single request may hold the event loop. Without
--database-url it starts kifu's embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg

from _common import server
from kifu.db import runner
from kifu.kit.auth import issue_access_token

sys.path.insert(0, str(Path(__file__).parent))
generate = importlib.import_module("import").generate  # bench/import.py's file generator

SECRET = "bench-loop-secret-" + "x" * 32
ENC_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # base64 of 32 bytes
POLL_SECONDS = 0.02
SERVE = """
import asyncio, sys, time, uvicorn
from kifu.app import create_app
from kifu.config import Settings
s = Settings(database_url=sys.argv[1], jwt_secret=sys.argv[2], enc_key=sys.argv[3])
app = create_app(s, sys.argv[1])
lag = {"max": 0.0, "task": None}

async def monitor():
    while True:
        t = time.perf_counter()
        await asyncio.sleep(0.005)
        lag["max"] = max(lag["max"], time.perf_counter() - t - 0.005)

@app.get("/_bench/lag", include_in_schema=False)
async def read_lag():
    if lag["task"] is None:
        lag["task"] = asyncio.get_running_loop().create_task(monitor())
    value, lag["max"] = lag["max"], 0.0
    return {"max": value}

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[4]), log_level="warning")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _poll(client: httpx.AsyncClient, stop: asyncio.Event) -> list[float]:
    times: list[float] = []
    while not stop.is_set():
        t = time.perf_counter()
        r = await client.get("/health")
        times.append(time.perf_counter() - t)
        assert r.status_code in (200, 503), r.text
        await asyncio.sleep(POLL_SECONDS)
    return times


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def _measure(
    base: str, token: str, path: Path
) -> tuple[list[float], list[float], dict, float, float]:
    async with httpx.AsyncClient(base_url=base, timeout=None) as client:
        await client.get("/_bench/lag")  # starts the server's own loop-lag monitor
        stop = asyncio.Event()
        idle_task = asyncio.create_task(_poll(client, stop))
        await asyncio.sleep(3)
        stop.set()
        idle = await idle_task
        idle_lag = (await client.get("/_bench/lag")).json()["max"]

        stop = asyncio.Event()
        busy_task = asyncio.create_task(_poll(client, stop))
        async with httpx.AsyncClient(base_url=base, timeout=None) as uploader:
            with path.open("rb") as fh:
                r = await uploader.post(
                    "/api/v1/imports/trades",
                    headers={"Authorization": f"Bearer {token}"},
                    files={"file": ("futures.csv", fh, "text/csv")},
                )
        stop.set()
        busy = await busy_task
        busy_lag = (await client.get("/_bench/lag")).json()["max"]
        assert r.status_code == 200, r.text
        return idle, busy, r.json(), idle_lag, busy_lag


def run(conninfo: str, rows: int, workdir: Path) -> None:
    path = workdir / "futures.csv"
    generate(path, rows)
    print(f"generated {rows:,} rows ({path.stat().st_size / 1e6:.1f} MB)")
    runner.upgrade(conninfo)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        user_id = conn.execute(
            "INSERT INTO users (email, password_hash, name) VALUES (%s, '!', 'bench') RETURNING id",
            (f"bench-{uuid.uuid4().hex[:8]}@example.com",),
        ).fetchone()[0]  # type: ignore[index]
    token = issue_access_token(user_id, SECRET)
    port = _free_port()
    env = {**os.environ, "KIFU_MAX_BODY_BYTES": str(1 << 30)}
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, conninfo, SECRET, ENC_KEY, str(port)], env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(base + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        started = time.perf_counter()
        idle, busy, report, idle_lag, busy_lag = asyncio.run(_measure(base, token, path))
        took = time.perf_counter() - started - 3
    finally:
        server.terminate()
        server.wait(timeout=30)
    worst, floor = max(busy), max(idle)
    print(f"import: {report['imported']:,} rows in {took:.1f} s ({len(busy)} polls of /health)")
    print(f"/health idle:        worst {floor * 1000:7.1f} ms, p99 {_p99(idle) * 1000:7.1f} ms")
    print(f"/health during it:   worst {worst * 1000:7.1f} ms, p99 {_p99(busy) * 1000:7.1f} ms")
    print(f"  ratio worst during / worst idle: {worst / floor:6.1f}x")
    verdict = "ok" if worst < 0.1 else "OVER"
    print(f"  worst delay {worst * 1000:.1f} ms (target < 100 ms): {verdict}")
    # /health also waits for PostgreSQL (SELECT 1), which the import keeps busy; the server's
    # own monitor (a 5 ms sleep, how late it wakes) is the event loop alone.
    print(
        f"server event-loop lag: worst {busy_lag * 1000:.1f} ms during the import"
        f" ({idle_lag * 1000:.1f} ms idle)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with server(args.database_url) as (admin, workdir):
        run(admin, args.rows, workdir)


if __name__ == "__main__":
    sys.exit(main())
