"""Summary-pack generation over 1,000,000 trade events vs one aggregating SQL scan of them.

    .venv/bin/python bench/packs.py [--events 1000000] [--rounds 3]

Starts a throw-away embedded PostgreSQL, loads one user with ``--events`` fills in the last 30
days (three instruments, two venues, USDT and KRW quotes, both sides) with one SQL statement (the
trade_events triggers keep the hourly rollups as it runs), lets the ledger replay the loaded books
as a writer does at the end of its transaction (``ledger.pnl.catch_up``, timed: that is where the
FIFO work now happens), and prints the median time of (a) ``service.generate`` for a 30d pack (a
new pack each round: one fill's fee changes between rounds, through the triggers, so the content
changes) and (b) one SQL statement that aggregates the same rows (count, notional and fees per
quote currency), and their ratio; then each of the pack's reads timed alone.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from kifu.db import runner
from kifu.db.embedded import EmbeddedPostgres
from kifu.ledger import pnl, tracker
from kifu.packs import service, store

LOAD = """
INSERT INTO users (id, email, password_hash, name) VALUES (%(u)s, 'bench@example.com', '!', 'b');
INSERT INTO venues (id, code, venue_type, display_name) VALUES
  ('00000000-0000-0000-0000-0000000000a1', 'binance_futures', 'cex', 'Binance Futures'),
  ('00000000-0000-0000-0000-0000000000a2', 'upbit', 'cex', 'Upbit');
INSERT INTO accounts (id, user_id, venue_id, label, source) VALUES
  ('00000000-0000-0000-0000-0000000000b1', %(u)s,
   '00000000-0000-0000-0000-0000000000a1', 'api', 'api'),
  ('00000000-0000-0000-0000-0000000000b2', %(u)s,
   '00000000-0000-0000-0000-0000000000a2', 'csv', 'csv');
INSERT INTO instruments (id, asset_class, base_asset, quote_asset, symbol) VALUES
  ('00000000-0000-0000-0000-0000000000c1', 'crypto', 'BTC', 'USDT', 'BTC/USDT'),
  ('00000000-0000-0000-0000-0000000000c2', 'crypto', 'ETH', 'USDT', 'ETH/USDT'),
  ('00000000-0000-0000-0000-0000000000c3', 'crypto', 'BTC', 'KRW', 'BTC/KRW');
INSERT INTO trade_events (user_id, account_id, venue_id, instrument_id, asset_class, venue_type,
  event_type, side, qty, price, fee, fee_asset, executed_at, source, external_id, created_at)
SELECT %(u)s,
  CASE WHEN g %% 3 = 2 THEN '00000000-0000-0000-0000-0000000000b2'::uuid
       ELSE '00000000-0000-0000-0000-0000000000b1'::uuid END,
  CASE WHEN g %% 3 = 2 THEN '00000000-0000-0000-0000-0000000000a2'::uuid
       ELSE '00000000-0000-0000-0000-0000000000a1'::uuid END,
  ('00000000-0000-0000-0000-0000000000c' || (g %% 3 + 1))::uuid,
  'crypto', 'cex', CASE WHEN g %% 3 = 2 THEN 'spot_trade' ELSE 'perp_trade' END,
  CASE WHEN random() < 0.5 THEN 'buy' ELSE 'sell' END,
  round((random() * 2 + 0.001)::numeric, 4), round((20000 + random() * 1000)::numeric, 2),
  round((random() * 0.5)::numeric, 6), CASE WHEN g %% 3 = 2 THEN 'KRW' ELSE 'USDT' END,
  %(t0)s + g * %(step)s, CASE WHEN g %% 3 = 2 THEN 'csv' ELSE 'api' END, g::text, %(anchor)s
FROM generate_series(1, %(n)s) g;
INSERT INTO runs (run_id, user_id, run_type, status, started_at, finished_at, meta)
VALUES (%(run)s, %(u)s, 'trade_csv_import', 'completed', %(anchor)s, %(anchor)s, '{}');
ANALYZE;
"""

SCAN = """
SELECT i.quote_asset, count(*), sum(t.qty * t.price), sum(t.fee)
FROM trade_events t JOIN instruments i ON i.id = t.instrument_id
WHERE t.user_id = %(u)s AND t.executed_at >= %(start)s AND t.executed_at <= %(end)s
GROUP BY i.quote_asset
"""


async def _parts(conninfo: str, user: uuid.UUID, start: datetime, end: datetime) -> dict:
    """Each of the pack's reads on its own, to show where generation spends its time."""
    calls = {
        "realized PnL and drawdown (hourly curve + partial hours)": lambda c: service._realized(
            c, user, start, end
        ),
        "spot books below zero": lambda c: pnl.spot_below_zero(c, user, start, end),
        "totals and normalisation counts (hourly groups)": lambda c: store.event_groups(
            c, user, start, end
        ),
        "duplicate suspects (flagged fills)": lambda c: store.duplicates(c, user, start, end),
        "future / implausible times": lambda c: store.time_suspects(
            c, user, start, 300, datetime(2009, 1, 3, tzinfo=UTC)
        ),
        "order fills": lambda c: store.order_fills(c, user, start, end),
        "realized PnL income": lambda c: store.realized_pnl_income(c, user, start, end),
    }
    out = {}
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        for name, call in calls.items():
            t = time.perf_counter()
            await call(conn)
            out[name] = time.perf_counter() - t
    return out


async def _catch_up(conninfo: str, user: uuid.UUID) -> float:
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        start = time.perf_counter()
        await tracker.catch_up_now(conn, user)
        return time.perf_counter() - start


async def _generate(conninfo: str, user: uuid.UUID, run: uuid.UUID) -> float:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        start = time.perf_counter()
        await service.generate(conn, user, run, "30d", "UTC", "UTC")
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    user, run = uuid.uuid4(), uuid.uuid4()
    anchor = datetime.now(UTC).replace(microsecond=0)
    t0 = anchor - timedelta(days=28)
    step = timedelta(days=27) / args.events
    with tempfile.TemporaryDirectory() as home, EmbeddedPostgres(Path(home)) as pg:
        conninfo = pg.conninfo()
        runner.upgrade(conninfo)
        print(f"loading {args.events:,} trade events ...", flush=True)
        loaded = time.perf_counter()
        with psycopg.connect(conninfo, autocommit=True) as conn:
            params = {
                "u": user,
                "run": run,
                "n": args.events,
                "t0": t0,
                "step": step,
                "anchor": anchor,
            }
            for statement in LOAD.split(";\n"):
                if statement.strip():
                    conn.execute(
                        statement if "%(" in statement else statement.replace("%%", "%"),
                        params if "%(" in statement else None,
                    )
        loaded = time.perf_counter() - loaded
        upkeep = asyncio.run(_catch_up(conninfo, user))
        gen_times, scan_times = [], []
        start_of_range = anchor - timedelta(days=30)
        for i in range(args.rounds):
            with psycopg.connect(conninfo, autocommit=True) as conn:
                s = time.perf_counter()
                conn.execute(SCAN, {"u": user, "start": start_of_range, "end": anchor}).fetchall()
                scan_times.append(time.perf_counter() - s)
            gen_times.append(asyncio.run(_generate(conninfo, user, run)))
            with psycopg.connect(conninfo, autocommit=True) as conn:  # change the content
                conn.execute(
                    "UPDATE trade_events SET fee = fee + 0.000001 WHERE user_id = %s"
                    " AND external_id = %s",
                    (user, str(i + 1)),
                )
        parts = asyncio.run(_parts(conninfo, user, start_of_range, anchor))
    g, s = statistics.median(gen_times), statistics.median(scan_times)
    print(f"events in range:      {args.events:,}")
    print(f"load (one INSERT, rollup triggers included): {loaded:8.3f} s")
    print(f"ledger catch-up after the load (FIFO replay of every book): {upkeep:8.3f} s")
    print(f"pack generation:      {g:8.3f} s  (median of {args.rounds})")
    print(f"one aggregating scan: {s:8.3f} s")
    print(f"ratio:                {g / s:8.2f}x  (target <= 2x)")
    print("where generation spends its time (each read alone):")
    for name, took in parts.items():
        print(f"  {name:48s} {took:8.3f} s  {took / s:6.2f}x")


if __name__ == "__main__":
    main()
