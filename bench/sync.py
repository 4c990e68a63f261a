"""Exchange sync benchmark: 100,000 Binance USDⓈ-M futures fills from a local stand-in.

    python bench/sync.py [--fills 100000] [--symbols 10] [--database-url URL]

Runs kifu's real sync (HTTP client, signatures, paging, batch writes through the ledger's one
writer: events, trades rows, auto bubbles; positions and realized PnL caught up at the end) against
the local fake exchange of the test suite and prints, from one run: the sync time; the time kifu
spent in requests to the exchange (and the time the fake spent inside its handlers; the venue is
paged while earlier pages are written, so that time overlaps the writes' and includes waiting
for them); their ratio and the rest per fill; the time of an incremental sync with nothing new;
and the time to import
the same fills as a Binance futures CSV export for another user (the same write path), with the
ratio sync / import (target <= 1.5). Without --database-url it starts kifu's embedded PostgreSQL
in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.exchanges.fake_venues import FakeVenues, Key, serve

from kifu.config import Settings
from kifu.db import runner
from kifu.db.embedded import EmbeddedPostgres
from kifu.exchanges import store
from kifu.exchanges.sync import sync_credential
from kifu.ingest import service as ingest
from kifu.kit import crypto

API_KEY, API_SECRET = "benchKEY0123456789abcdef", "benchSECRET0123456789abcdef"


def setup(conninfo: str, enc_key: str) -> uuid.UUID:
    key = crypto.load_key(enc_key)
    with psycopg.connect(conninfo) as conn:
        user = conn.execute(
            "INSERT INTO users (email, password_hash, name) VALUES (%s, '!', 'bench') RETURNING id",
            (f"bench-{uuid.uuid4().hex[:8]}@example.com",),
        ).fetchone()[0]
        return conn.execute(
            "INSERT INTO exchange_credentials (user_id, exchange, api_key_enc, api_secret_enc,"
            " api_key_last4) VALUES (%s, 'binance_futures', %s, %s, %s) RETURNING id",
            (user, crypto.encrypt(key, API_KEY), crypto.encrypt(key, API_SECRET), API_KEY[-4:]),
        ).fetchone()[0]


async def one_sync(settings: Settings, conninfo: str, cred_id: uuid.UUID) -> tuple[float, dict]:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        cred = await store.get_credential(conn, cred_id)
        assert cred is not None
        t = time.perf_counter()
        result = await sync_credential(conn, settings, cred, trigger="bench")
        return time.perf_counter() - t, result


def export_csv(fake: FakeVenues, path: Path) -> int:
    """The fake's futures fills as a Binance futures trade-history export."""
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        fh.write("Date(UTC),Pair,Side,Price,Quantity,Amount,Fee,Realized Profit\n")
        for rows in fake.futures.values():
            for r in rows:
                at = datetime.fromtimestamp(r["time"] / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
                fh.write(
                    f"{at},{r['symbol']},{r['side']},{r['price']},{r['qty']},{r['quoteQty']},"
                    f"{r['commission']} {r['commissionAsset']},{r['realizedPnl']}\n"
                )
                n += 1
    return n


async def import_csv(conninfo: str, path: Path) -> tuple[float, dict]:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        cur = await conn.execute(
            "INSERT INTO users (email, password_hash, name) VALUES (%s, '!', 'csv') RETURNING id",
            (f"bench-csv-{uuid.uuid4().hex[:8]}@example.com",),
        )
        user = (await cur.fetchone())[0]  # type: ignore[index]
        t = time.perf_counter()
        with path.open("rb") as fh:
            report = await ingest.import_unified(conn, user, fh, ingest.UnifiedRequest(venue=None))
        return time.perf_counter() - t, report


def bench(conninfo: str, fills: int, symbols: int, workdir: Path) -> None:
    runner.upgrade(conninfo)
    fake = FakeVenues()
    fake.keys[API_KEY] = Key(API_SECRET)
    start = datetime.now(UTC) - timedelta(days=30)
    per = fills // symbols
    for n in range(symbols):
        fake.add_futures(f"S{n:02d}XUSDT", per, start=start, step=timedelta(seconds=3))
        fake.positions[f"S{n:02d}XUSDT"] = "0"
    fake.positions["S00XUSDT"] = "1"
    server, _ = serve(fake)
    enc_key = crypto.new_key()
    settings = Settings(
        database_url=conninfo,
        jwt_secret="bench",
        enc_key=enc_key,
        binance_spot_url=fake.url,
        binance_futures_url=fake.url,
        upbit_url=fake.url,
    )
    # every symbol is discovered from the account: put them on the user's watch-list
    cred_id = setup(conninfo, enc_key)
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            "INSERT INTO user_symbols (user_id, symbol) SELECT user_id, s FROM"
            " exchange_credentials, unnest(%s::text[]) s WHERE id = %s",
            ([f"S{n:02d}XUSDT" for n in range(symbols)], cred_id),
        )
    try:
        took, result = asyncio.run(one_sync(settings, conninfo, cred_id))
        waited = result["server_seconds"]
        print(
            f"fills synced:                {result['fills_fetched']:,}"
            f" ({result['inserted_count']:,} trades, {result['batches']} batches)"
        )
        print(f"sync time:                   {took:8.2f} s")
        print(
            f"waiting for the exchange:    {waited:8.2f} s"
            f" (fake handlers {fake.server_seconds:.2f} s)"
        )
        per_fill_ms = (took - waited) / max(1, result["fills_fetched"]) * 1e3
        print(f"sync / exchange time:        {took / waited:8.2f}")
        print(f"kifu overhead per fill:      {per_fill_ms:8.3f} ms")
        took2, result2 = asyncio.run(one_sync(settings, conninfo, cred_id))
        print(
            f"incremental, nothing new:    {took2:8.3f} s"
            f" ({result2['inserted_count']} new, {len(fake.requests)} requests in all)"
        )
        path = workdir / "futures.csv"
        rows = export_csv(fake, path)
        took3, report = asyncio.run(import_csv(conninfo, path))
        assert report["imported"] == rows, report
        print(f"CSV import of the same fills: {took3:8.2f} s ({rows:,} rows, another user)")
        print(f"  ratio sync / CSV import:    {took / took3:8.2f}x   (target <= 1.5x)")
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fills", type=int, default=100_000)
    ap.add_argument("--symbols", type=int, default=10)
    ap.add_argument("--database-url")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        if args.database_url:
            bench(args.database_url, args.fills, args.symbols, Path(home))
            return
        with EmbeddedPostgres(Path(home) / "pg") as pg:
            with psycopg.connect(pg.conninfo("postgres"), autocommit=True) as conn:
                conn.execute("CREATE DATABASE kifu_bench")
            bench(pg.conninfo("kifu_bench"), args.fills, args.symbols, Path(home))


if __name__ == "__main__":
    main()
