"""Review statistics over many fills vs one aggregating SQL scan of the same fills.

    .venv/bin/python bench/review.py [--events 200000] [--rounds 3] [--tz Asia/Seoul]

Starts a throw-away embedded PostgreSQL and loads one user's fills over the last 28 days with the
summary-pack benchmark's statement (three instruments, USDT and KRW, both sides; the
trade_events triggers keep the hourly rollups), lets the ledger catch up (FIFO replay), then prints
the median time of ``/review/stats`` (30d, with the ``trading`` figures), ``/review/calendar``
(the month) and ``/review/trend`` (30d) as the service computes them, against one SQL statement
that aggregates the same rows per quote currency and local day, and the ratios. The review reads
rollups and ``ledger_fill_pnl``, so the ratio should stay near or below 1 as fills grow; the
half-hour zone ``Asia/Kolkata`` shows the cost of reading the cut hours fill by fill.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from kifu.db import runner
from kifu.db.embedded import EmbeddedPostgres
from kifu.kit.answers import Answers, Asked
from kifu.ledger import tracker
from kifu.review import service

# The reads are kept answers in the API (kit.answers): timed here as computed, none kept.
COMPUTE = Asked(Answers(0), fresh=True)

LOAD = (Path(__file__).parent / "packs.py").read_text().split('LOAD = """')[1].split('"""')[0]

SCAN = """
SELECT i.quote_asset, (t.executed_at AT TIME ZONE %(tz)s)::date, count(*),
       sum(t.qty * t.price), sum(t.fee)
FROM trade_events t JOIN instruments i ON i.id = t.instrument_id
WHERE t.user_id = %(u)s AND t.executed_at >= %(start)s
GROUP BY 1, 2
"""


async def _timed(conninfo: str, call: Callable[[psycopg.AsyncConnection], Awaitable]) -> float:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        start = time.perf_counter()
        await call(conn)
        return time.perf_counter() - start


async def _catch_up(conninfo: str, user: uuid.UUID) -> None:
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        await tracker.catch_up_now(conn, user)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tz", default="Asia/Seoul")
    args = parser.parse_args()
    user, run = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC).replace(microsecond=0)
    t0 = now - timedelta(days=28)
    tz = args.tz
    calls: dict[str, Callable[[psycopg.AsyncConnection], Awaitable]] = {
        "stats 30d (bubbles + trading)": lambda c: service.stats(
            c,
            user,
            COMPUTE,
            period="30d",
            symbol=None,
            tag=None,
            asset_class=None,
            venue=None,
            timezone=tz,
            default_tz="UTC",
            now=now,
        ),
        "calendar (a month)": lambda c: service.calendar(
            c,
            user,
            COMPUTE,
            from_=None,
            to=None,
            timezone=tz,
            default_tz="UTC",
            now=now,
        ),
        "trend 30d": lambda c: service.trend(
            c, user, COMPUTE, period="30d", timezone=tz, default_tz="UTC", now=now
        ),
    }
    with tempfile.TemporaryDirectory() as home, EmbeddedPostgres(Path(home)) as pg:
        conninfo = pg.conninfo()
        runner.upgrade(conninfo)
        print(f"loading {args.events:,} trade events ...", flush=True)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            params = {
                "u": user,
                "run": run,
                "n": args.events,
                "t0": t0,
                "step": timedelta(days=27) / args.events,
                "anchor": now,
            }
            for statement in LOAD.split(";\n"):
                if statement.strip():
                    conn.execute(
                        statement if "%(" in statement else statement.replace("%%", "%"),
                        params if "%(" in statement else None,
                    )
        asyncio.run(_catch_up(conninfo, user))
        scans: list[float] = []
        took: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(args.rounds):
            with psycopg.connect(conninfo, autocommit=True) as conn:
                s = time.perf_counter()
                conn.execute(SCAN, {"u": user, "tz": tz, "start": t0}).fetchall()
                scans.append(time.perf_counter() - s)
            for name, call in calls.items():
                took[name].append(asyncio.run(_timed(conninfo, call)))
    scan = statistics.median(scans)
    print(f"events: {args.events:,}  zone: {tz}")
    print(f"one aggregating scan per quote and day: {scan:8.3f} s")
    for name, times in took.items():
        t = statistics.median(times)
        print(f"  {name:32s} {t:8.3f} s  {t / scan:6.2f}x")


if __name__ == "__main__":
    main()
