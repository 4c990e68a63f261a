"""Import benchmark: a generated Binance USDⓈ-M futures export through the unified importer.

    python bench/import.py [--rows 1000000] [--database-url URL]

Prints, from one run on one fresh database: the import time; the time to COPY the same file into
an unindexed table of text columns (the floor); their ratio; the time to INSERT the imported rows,
already parsed, into an empty twin of trade_events (same indexes, checks and foreign keys: the
least any importer of this schema can spend) and the ratios around it; a second import of the same
file (must add 0 rows) and its ratio to the first; the process's peak RSS; and a full FIFO positions
rebuild over the imported events against one GROUP BY scan of them, with one ordered running-sum
pass over the same rows (the least any FIFO replay in SQL can spend) between them; and the
import's catch-up against that ordered pass, and against the ordered pass plus the INSERT of the
realized-PnL rows the catch-up writes into an empty twin of ledger_fill_pnl (the least a catch-up
that stores them can spend). Without --database-url it starts kifu's embedded PostgreSQL in a
temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg

from _common import server
from kifu.db import runner
from kifu.ingest import service
from kifu.ledger import service as ledger

PAIRS = [
    ("BTCUSDT", 42000),
    ("ETHUSDT", 2500),
    ("SOLUSDT", 100),
    ("BNBUSDT", 300),
    ("XRPUSDT", Decimal("0.6")),
    ("DOGEUSDT", Decimal("0.08")),
    ("ADAUSDT", Decimal("0.5")),
    ("AVAXUSDT", 35),
    ("LINKUSDT", 15),
    ("DOTUSDT", 7),
]


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """Stream a futures export to ``path`` (newest first, as Binance writes it)."""
    rnd = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("Date(UTC),Pair,Side,Price,Quantity,Amount,Fee,Realized Profit\n")
        for i in range(rows, 0, -1):
            pair, base = PAIRS[i % len(PAIRS)]
            price = (Decimal(base) * Decimal(rnd.randint(9000, 11000)) / 10000).quantize(
                Decimal("0.0001")
            )
            qty = Decimal(rnd.randint(1, 5000)) / 1000
            amount = (price * qty).quantize(Decimal("0.0001"))
            fee = (amount * Decimal("0.0004")).quantize(Decimal("0.00000001"))
            at = start + timedelta(seconds=i * 7)
            side = "BUY" if rnd.random() < 0.5 else "SELL"
            fh.write(
                f"{at:%Y-%m-%d %H:%M:%S},{pair},{side},{price:f},{qty:f},{amount:f} USDT,"
                f"{fee:f} USDT,0 USDT\n"
            )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def copy_floor(conninfo: str, path: Path) -> float:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE bench_floor (d text, pair text, side text, price text, qty text,"
            " amount text, fee text, pnl text)"
        )
        t = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy("COPY bench_floor FROM STDIN (FORMAT csv, HEADER)") as cp,
            path.open("rb") as fh,
        ):
            while chunk := fh.read(1 << 20):
                cp.write(chunk)
        elapsed = time.perf_counter() - t
        conn.execute("DROP TABLE bench_floor")
    return elapsed


def _twin(conn: psycopg.Connection, table: str) -> str:
    """An empty table shaped like ``table``: same columns, defaults, checks, indexes and foreign
    keys (a foreign key to itself points at the twin)."""
    twin = f"bench_twin_{table}"
    conn.execute(f"CREATE TABLE {twin} (LIKE {table} INCLUDING ALL)")
    fks = conn.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype = 'f'",
        (table,),
    ).fetchall()
    for (definition,) in fks:
        conn.execute(f"ALTER TABLE {twin} ADD {definition}")
    return twin


def _insert_into_twin(conn: psycopg.Connection, table: str, user_id: uuid.UUID) -> float:
    """The time to INSERT the user's rows of ``table`` into an empty twin of it (dropped)."""
    twin = _twin(conn, table)
    conn.execute("CHECKPOINT")
    t = time.perf_counter()
    conn.execute(f"INSERT INTO {twin} SELECT * FROM {table} WHERE user_id = %s", (user_id,))
    elapsed = time.perf_counter() - t
    conn.execute(f"DROP TABLE {twin}")
    return elapsed


def write_floor(conninfo: str, user_id: uuid.UUID) -> tuple[float, float]:
    """INSERT the imported events, already parsed and keyed, into an empty twin of trade_events,
    then their trades rows into an empty twin of trades: the cost of writing the rows at all,
    which no importer of this schema can go below (every trade-like fill has both). Returns the
    two times."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return _insert_into_twin(conn, "trade_events", user_id), _insert_into_twin(
            conn, "trades", user_id
        )


def catch_up_write_floor(conninfo: str, user_id: uuid.UUID) -> tuple[float, int]:
    """INSERT the catch-up's realized-PnL rows (``ledger_fill_pnl``: one per closing fill, per
    fill leaving a spot book below zero and per flat point, which the packs read) into an empty
    twin: what the catch-up spends on writing them whatever computes them. Returns the time and
    the number of rows."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM ledger_fill_pnl WHERE user_id = %s", (user_id,)
        ).fetchone()[0]  # type: ignore[index]
        return _insert_into_twin(conn, "ledger_fill_pnl", user_id), rows


def import_timings(conninfo: str, run_id: str) -> dict:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(
            "SELECT meta->'timings' FROM runs WHERE run_id = %s", (run_id,)
        ).fetchone()[0]  # type: ignore[index]


async def import_once(conninfo: str, user_id: uuid.UUID, path: Path) -> tuple[float, dict]:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        t = time.perf_counter()
        with path.open("rb") as fh:
            report = await service.import_unified(
                conn, user_id, fh, service.UnifiedRequest(venue=None)
            )
        return time.perf_counter() - t, report


# The least any FIFO replay in SQL has to do: put each book's fills in execution order and carry
# one running sum through them (no lots, no prices).
ORDERED_PASS = """
SELECT account_id, instrument_id, max(b) FROM (
    SELECT account_id, instrument_id,
           sum(qty) OVER (PARTITION BY account_id, instrument_id ORDER BY executed_at, id
                          ROWS UNBOUNDED PRECEDING) AS b
    FROM trade_events WHERE user_id = %s) x
GROUP BY 1, 2
"""


async def rebuild(conninfo: str, user_id: uuid.UUID) -> tuple[float, float, float, int]:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        t = time.perf_counter()
        await conn.execute(
            "SELECT account_id, instrument_id, count(*), sum(qty), sum(qty * price)"
            " FROM trade_events WHERE user_id = %s GROUP BY 1, 2",
            (user_id,),
        )
        scan = time.perf_counter() - t
        await conn.execute("SET work_mem = '256MB'")  # the room the rebuild gives its sort
        t = time.perf_counter()
        await conn.execute(ORDERED_PASS, (user_id,))
        ordered = time.perf_counter() - t
        await conn.execute("RESET work_mem")
        t = time.perf_counter()
        n = await ledger.rebuild_positions(conn, user_id)
        return scan, ordered, time.perf_counter() - t, n


def run(conninfo: str, rows: int, workdir: Path) -> None:
    path = workdir / "futures.csv"
    t = time.perf_counter()
    generate(path, rows)
    size_mb = path.stat().st_size / 1e6
    print(f"generated {rows:,} rows ({size_mb:.1f} MB) in {time.perf_counter() - t:.1f} s")
    runner.upgrade(conninfo)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        user_id = conn.execute(
            "INSERT INTO users (email, password_hash, name) VALUES (%s, '!', 'bench') RETURNING id",
            (f"bench-{uuid.uuid4().hex[:8]}@example.com",),
        ).fetchone()[0]  # type: ignore[index]
    rss_before = peak_rss_mb()

    floor = copy_floor(conninfo, path)
    first, report = asyncio.run(import_once(conninfo, user_id, path))
    assert report["imported"] == rows, report
    second, again = asyncio.run(import_once(conninfo, user_id, path))
    assert again["imported"] == 0, again
    written_events, written_trades = write_floor(conninfo, user_id)
    written = written_events + written_trades
    pnl_written, pnl_rows = catch_up_write_floor(conninfo, user_id)
    timings = import_timings(conninfo, report["run_id"])
    scan, ordered, full, positions = asyncio.run(rebuild(conninfo, user_id))

    print(f"COPY floor (unindexed text table):  {floor:8.2f} s")
    print(f"import ({report['imported']:,} new rows):        {first:8.2f} s")
    print(f"  ratio import / COPY floor:         {first / floor:8.2f}x   (target <= 2x)")
    print(
        f"write floor (INSERT of the parsed rows into twins of trade_events and trades):"
        f" {written:.2f} s ({written_events:.2f} s + {written_trades:.2f} s)"
    )
    print(f"  ratio write floor / COPY floor:    {written / floor:8.2f}x")
    print(f"  ratio import / write floor:        {first / written:8.2f}x   (target <= 2x)")
    print(
        "  import phases (ms): "
        + ", ".join(f"{k.removesuffix('_ms')} {v}" for k, v in timings.items())
    )
    print(f"second import ({again['imported']} new rows):        {second:8.2f} s")
    print(f"  ratio second / first:              {second / first:8.2f}    (target <= 0.5)")
    print(f"peak RSS: {peak_rss_mb():.0f} MB (before the imports: {rss_before:.0f} MB)")
    print(f"GROUP BY scan over the events:       {scan:8.2f} s")
    print(f"ordered pass (one running sum per book): {ordered:5.2f} s")
    print(f"  ratio ordered pass / GROUP BY:     {ordered / scan:8.2f}x")
    catch_up = timings["catch_up_ms"] / 1000
    print(f"import's catch-up (positions + FIFO PnL of every book): {catch_up:5.2f} s")
    print(f"  ratio catch-up / ordered pass:     {catch_up / ordered:8.2f}x   (target <= 2x)")
    print(
        f"catch-up's write floor (INSERT of its {pnl_rows:,} realized-PnL rows into a twin of"
        f" ledger_fill_pnl): {pnl_written:.2f} s"
    )
    least = ordered + pnl_written
    print(f"  ratio (ordered pass + that write) / ordered pass: {least / ordered:5.2f}x")
    print(f"  ratio catch-up / (ordered pass + that write):     {catch_up / least:5.2f}x")
    print(f"full FIFO positions rebuild ({positions}):  {full:8.2f} s")
    print(f"  ratio rebuild / GROUP BY:          {full / scan:8.2f}x   (target <= 3x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with server(args.database_url) as (admin, workdir):
        run(admin, args.rows, workdir)


if __name__ == "__main__":
    sys.exit(main())
