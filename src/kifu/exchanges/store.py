"""SQL of exchange connections and sync: credentials, cursors, sync status, and the batch writer.

The batch writer reuses the ledger's (``kifu.ledger.store``): fills are staged in ``_fills`` and
written by ``write_staged_fills`` (the one dedupe rule), then the new fills get their ``trades``
row and auto bubble here, with the cursors, in the caller's transaction.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection, errors

from kifu.exchanges.rules import bubble_timeframe, candle_time
from kifu.ingest.venues.base import Cursor, VenueFill, VenueIncome
from kifu.ledger import store as ledger_store
from kifu.ledger.service import NormalFill

ACCOUNT_LABEL = "api-sync"

# -- credentials -------------------------------------------------------------------------------

CRED_COLUMNS = (
    "id, user_id, exchange, api_key_enc, api_secret_enc, api_key_last4, is_valid, created_at"
)


@dataclass(frozen=True)
class CredentialRow:
    id: uuid.UUID
    user_id: uuid.UUID
    exchange: str
    api_key_enc: str
    api_secret_enc: str
    api_key_last4: str
    is_valid: bool
    created_at: datetime

    def __repr__(self) -> str:
        return f"CredentialRow({self.id}, {self.exchange})"


async def upsert_credential(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    exchange: str,
    key_enc: str,
    secret_enc: str,
    last4: str,
) -> CredentialRow:
    """Register or replace the user's key for ``exchange`` (valid again, sync health reset)."""
    async with conn.transaction():
        cur = await conn.execute(
            "INSERT INTO exchange_credentials (user_id, exchange, api_key_enc, api_secret_enc,"
            " api_key_last4, is_valid) VALUES (%s, %s, %s, %s, %s, true)"
            " ON CONFLICT (user_id, exchange) DO UPDATE SET api_key_enc = EXCLUDED.api_key_enc,"
            " api_secret_enc = EXCLUDED.api_secret_enc, api_key_last4 = EXCLUDED.api_key_last4,"
            f" is_valid = true RETURNING {CRED_COLUMNS}",
            (user_id, exchange, key_enc, secret_enc, last4),
        )
        row = CredentialRow(*(await cur.fetchone()))  # type: ignore[misc]
        await conn.execute("DELETE FROM exchange_sync_status WHERE credential_id = %s", (row.id,))
    return row


async def get_credential(
    conn: AsyncConnection, credential_id: uuid.UUID, user_id: uuid.UUID | None = None
) -> CredentialRow | None:
    where = "id = %s" + (" AND user_id = %s" if user_id else "")
    params = (credential_id, user_id) if user_id else (credential_id,)
    cur = await conn.execute(
        f"SELECT {CRED_COLUMNS} FROM exchange_credentials WHERE {where}", params
    )
    row = await cur.fetchone()
    return CredentialRow(*row) if row else None


async def list_credentials(conn: AsyncConnection, user_id: uuid.UUID) -> list[tuple[Any, ...]]:
    """At most one per exchange (unique (user_id, exchange)), so the list is bounded."""
    cur = await conn.execute(
        "SELECT c.id, c.exchange, c.api_key_last4, c.is_valid, c.created_at,"
        " s.last_attempt_at, s.last_success_at, s.consecutive_failures, s.next_attempt_at,"
        " s.last_error, s.last_error_code, s.income_history_from"
        " FROM exchange_credentials c"
        " LEFT JOIN exchange_sync_status s ON s.credential_id = c.id"
        " WHERE c.user_id = %s ORDER BY c.created_at DESC, c.id DESC",
        (user_id,),
    )
    return list(await cur.fetchall())


async def delete_credential(
    conn: AsyncConnection, credential_id: uuid.UUID, user_id: uuid.UUID
) -> bool:
    cur = await conn.execute(
        "DELETE FROM exchange_credentials WHERE id = %s AND user_id = %s",
        (credential_id, user_id),
    )
    return cur.rowcount > 0


async def set_valid(conn: AsyncConnection, credential_id: uuid.UUID, valid: bool) -> None:
    await conn.execute(
        "UPDATE exchange_credentials SET is_valid = %s WHERE id = %s", (valid, credential_id)
    )


# -- sync status (poller) ----------------------------------------------------------------------


async def mark_attempt(conn: AsyncConnection, cred: CredentialRow, run_id: uuid.UUID) -> None:
    await conn.execute(
        "INSERT INTO exchange_sync_status (credential_id, user_id, last_attempt_at, last_run_id)"
        " VALUES (%s, %s, now(), %s) ON CONFLICT (credential_id) DO UPDATE SET"
        " last_attempt_at = now(), last_run_id = EXCLUDED.last_run_id, updated_at = now()",
        (cred.id, cred.user_id, run_id),
    )


async def mark_success(
    conn: AsyncConnection, credential_id: uuid.UUID, income_from: datetime | None
) -> None:
    await conn.execute(
        "UPDATE exchange_sync_status SET last_success_at = now(), consecutive_failures = 0,"
        " next_attempt_at = NULL, last_error = NULL, last_error_code = NULL,"
        " income_history_from = coalesce(%s, income_history_from), updated_at = now()"
        " WHERE credential_id = %s",
        (income_from, credential_id),
    )


async def failures(conn: AsyncConnection, credential_id: uuid.UUID) -> int:
    cur = await conn.execute(
        "SELECT consecutive_failures FROM exchange_sync_status WHERE credential_id = %s",
        (credential_id,),
    )
    row = await cur.fetchone()
    return row[0] if row else 0


async def mark_failure(
    conn: AsyncConnection,
    credential_id: uuid.UUID,
    *,
    failures: int,
    next_attempt_at: datetime | None,
    error: str,
    code: str,
) -> None:
    await conn.execute(
        "UPDATE exchange_sync_status SET consecutive_failures = %s, next_attempt_at = %s,"
        " last_error = %s, last_error_code = %s, updated_at = now() WHERE credential_id = %s",
        (failures, next_attempt_at, error[:500], code[:50], credential_id),
    )


async def due_credentials(
    conn: AsyncConnection, interval: timedelta, limit: int
) -> list[uuid.UUID]:
    """Valid credentials not tried within ``interval`` and not in a backoff or ban."""
    cur = await conn.execute(
        "SELECT c.id FROM exchange_credentials c"
        " LEFT JOIN exchange_sync_status s ON s.credential_id = c.id"
        " WHERE c.is_valid"
        " AND (s.next_attempt_at IS NULL OR s.next_attempt_at <= now())"
        " AND (s.last_attempt_at IS NULL OR s.last_attempt_at <= now() - %s)"
        " ORDER BY s.last_attempt_at NULLS FIRST, c.id LIMIT %s",
        (interval, limit),
    )
    return [r[0] for r in await cur.fetchall()]


async def is_due(conn: AsyncConnection, credential_id: uuid.UUID, interval: timedelta) -> bool:
    """``due_credentials``' rule for one credential (checked again by the job, under its lock)."""
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM exchange_credentials c"
        " LEFT JOIN exchange_sync_status s ON s.credential_id = c.id"
        " WHERE c.id = %s AND c.is_valid"
        " AND (s.next_attempt_at IS NULL OR s.next_attempt_at <= now())"
        " AND (s.last_attempt_at IS NULL OR s.last_attempt_at <= now() - %s))",
        (credential_id, interval),
    )
    return bool((await cur.fetchone())[0])  # type: ignore[index]


# -- sync context ------------------------------------------------------------------------------


async def cursors(conn: AsyncConnection, user_id: uuid.UUID, exchange: str) -> dict[str, Cursor]:
    cur = await conn.execute(
        "SELECT symbol, last_trade_id, last_sync_at FROM trade_sync_state"
        " WHERE user_id = %s AND exchange = %s",
        (user_id, exchange),
    )
    return {s: Cursor(t, at) for s, t, at in await cur.fetchall()}


async def known_symbols(conn: AsyncConnection, user_id: uuid.UUID, exchange: str) -> set[str]:
    """Symbols the user traded on ``exchange`` (synced or imported) and the watch-list."""
    out: set[str] = set()
    cur = await conn.execute(
        "SELECT DISTINCT symbol FROM trades WHERE user_id = %s AND exchange = %s",
        (user_id, exchange),
    )
    out.update(r[0] for r in await cur.fetchall())
    cur = await conn.execute(
        "SELECT DISTINCT i.base_asset || i.quote_asset FROM trade_events e"
        " JOIN venues v ON v.id = e.venue_id JOIN instruments i ON i.id = e.instrument_id"
        " WHERE e.user_id = %s AND v.code = %s",
        (user_id, exchange),
    )
    out.update(r[0] for r in await cur.fetchall())
    cur = await conn.execute("SELECT symbol FROM user_symbols WHERE user_id = %s", (user_id,))
    out.update(r[0] for r in await cur.fetchall())
    return out


async def timeframes(conn: AsyncConnection, user_id: uuid.UUID) -> dict[str, str]:
    cur = await conn.execute(
        "SELECT symbol, timeframe_default FROM user_symbols WHERE user_id = %s", (user_id,)
    )
    return {s: tf for s, tf in await cur.fetchall()}


async def known_orders(
    conn: AsyncConnection, user_id: uuid.UUID, exchange: str, since: datetime
) -> set[str]:
    """Order uuids (Upbit) whose fills are stored, for fills since ``since``."""
    cur = await conn.execute(
        "SELECT DISTINCT e.metadata->>'order_uuid' FROM trade_events e"
        " JOIN venues v ON v.id = e.venue_id"
        " WHERE e.user_id = %s AND e.executed_at >= %s AND v.code = %s"
        " AND e.metadata ? 'order_uuid'",
        (user_id, since, exchange),
    )
    return {r[0] for r in await cur.fetchall()}


async def trade_count(conn: AsyncConnection, user_id: uuid.UUID, exchange: str) -> int:
    cur = await conn.execute(
        "SELECT count(*) FROM trades WHERE user_id = %s AND exchange = %s", (user_id, exchange)
    )
    return (await cur.fetchone())[0]  # type: ignore[index]


# -- planner statistics ------------------------------------------------------------------------

# Every batch is checked against all the user's stored events (the ledger's dedupe probes). The
# planner sizes that side from trade_events' statistics; while a first sync fills a young table
# faster than autovacuum re-analyzes it, it believes the user has a few hundred events and
# hashes every stored event of the user for every batch (batch 60 of the 100k-fill bench read
# 54,000 events twice for 999 staged fills): a quadratic sync. So a sync refreshes them itself
# when it has written more events than the table held at its last analyze (at most about
# log2(n) times in a big sync, never in an incremental one).
STATS_MIN_ROWS = 5_000


async def events_reltuples(conn: AsyncConnection) -> float:
    cur = await conn.execute("SELECT reltuples FROM pg_class WHERE oid = 'trade_events'::regclass")
    return max(0.0, float((await cur.fetchone())[0]))  # type: ignore[index]


async def analyze_events(conn: AsyncConnection) -> float:
    """Refresh trade_events' statistics unless another ANALYZE (or a vacuum) holds the table;
    its estimated row count afterwards."""
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL lock_timeout = '200ms'")
            await conn.execute("ANALYZE trade_events")
    except errors.LockNotAvailable:
        pass
    return await events_reltuples(conn)


# -- the batch writer --------------------------------------------------------------------------


def _fill_row(f: VenueFill, row_no: int, timeframe: str) -> tuple[Any, ...]:
    trade_id = str(uuid.uuid4())
    stage = {
        "exchange": f.exchange,
        "symbol": f.symbol,
        "btid": f.trade_id,
        "side": f.side.upper(),
        "price_text": f.price_text,
        "timeframe": timeframe,
        "candle_time": candle_time(f.executed_at, timeframe).isoformat(),
        "bubble_id": str(uuid.uuid4()),
        "realized_pnl": None if f.realized_pnl is None else str(f.realized_pnl),
        "position_side": f.position_side,
        "open_close": f.open_close,
        "reduce_only": f.reduce_only,
    }
    meta = {"trade_id": trade_id, "exchange": f.exchange, **f.meta, "_stage": stage}
    nf = NormalFill(
        venue=f.exchange,
        venue_type="cex",
        asset_class="crypto",
        base=f.base,
        quote=f.quote,
        venue_symbol=f.venue_symbol[:40],
        event_type="perp_trade" if f.exchange == "binance_futures" else "spot_trade",
        side=f.side,
        qty=f.qty,
        price=f.price,
        fee=f.fee,
        fee_asset=f.fee_asset,
        executed_at=f.executed_at,
        external_id=f.external_id,
        metadata=json.dumps(meta, separators=(",", ":")),
    )
    return nf.stage_row(row_no)


def _income_row(i: VenueIncome, row_no: int) -> tuple[Any, ...]:
    """The contract summary packs read: a ``fee`` event, fee = −income (positive = paid),
    fee_asset = asset, metadata with the income type and Binance's own figures; keyed by
    ``<incomeType>:<tranId>`` so a re-sync never doubles it."""
    meta = {
        "income_type": i.income_type,
        "symbol": i.symbol,
        "asset": i.asset,
        "income": i.income_text,
        "tran_id": i.tran_id,
    }
    nf = NormalFill(
        venue=i.exchange,
        venue_type="cex",
        asset_class="crypto",
        base=i.base,
        quote=i.quote,
        venue_symbol=i.symbol[:40],
        event_type="fee",
        side=None,
        qty=None,
        price=None,
        fee=-i.income,
        fee_asset=i.asset[:20] or None,
        executed_at=i.executed_at,
        external_id=f"{i.income_type}:{i.tran_id}",
        metadata=json.dumps(meta, separators=(",", ":")),
    )
    return nf.stage_row(row_no)


# The batch's fills not stored before get their auto bubble, their ``trades`` row (linked to the
# bubble) and their symbol on the watch-list, in one statement: the fills are picked once (a
# CTE read by the three inserts), and the trades' foreign key to bubbles is checked at the end
# of the statement, after the bubbles' insert.
WRITE_TRADES_SQL = """
WITH new AS MATERIALIZED (
    SELECT DISTINCT ON (k.metadata->'_stage'->>'symbol', (k.metadata->'_stage'->>'btid')::bigint)
           k.row_no, k.qty, k.price, k.executed_at, k.metadata->'_stage' AS st,
           (k.metadata->>'trade_id')::uuid AS trade_id
    FROM _keyed k
    WHERE k.metadata ? '_stage'
      AND NOT EXISTS (
          SELECT 1 FROM trades t
          WHERE t.user_id = %(user)s AND t.exchange = k.metadata->'_stage'->>'exchange'
            AND t.symbol = k.metadata->'_stage'->>'symbol'
            AND t.binance_trade_id = (k.metadata->'_stage'->>'btid')::bigint)
      -- the same fill imported earlier by the legacy CSV importer already has its trades row
      AND NOT EXISTS (
          SELECT 1 FROM trade_events e
          JOIN trades t2 ON t2.user_id = e.user_id
           AND t2.id = CASE WHEN e.metadata->>'trade_id' ~ '^[0-9a-f-]{36}$'
                            THEN (e.metadata->>'trade_id')::uuid END
          WHERE e.user_id = %(user)s AND e.dedupe_key = k.ckey AND e.external_id IS NULL)
    ORDER BY k.metadata->'_stage'->>'symbol', (k.metadata->'_stage'->>'btid')::bigint, k.row_no
), bubbles_new AS (
    INSERT INTO bubbles (id, user_id, symbol, timeframe, candle_time, price, bubble_type, memo,
                         tags, asset_class, venue_name)
    SELECT (st->>'bubble_id')::uuid, %(user)s, st->>'symbol', st->>'timeframe',
           (st->>'candle_time')::timestamptz, price, 'auto',
           '자동 기록: ' || (st->>'symbol') || ' ' || (st->>'side') || ' @ ' || (st->>'price_text'),
           '{}'::text[], 'crypto', st->>'exchange'
    FROM new
), watched AS (
    INSERT INTO user_symbols (user_id, symbol, timeframe_default)
    SELECT DISTINCT %(user)s, st->>'symbol', '1h' FROM new
    WHERE length(st->>'symbol') <= 20
    ON CONFLICT DO NOTHING
)
INSERT INTO trades (id, user_id, bubble_id, binance_trade_id, exchange, symbol, side,
                    position_side, open_close, reduce_only, quantity, price, realized_pnl,
                    trade_time)
SELECT trade_id, %(user)s, (st->>'bubble_id')::uuid, (st->>'btid')::bigint, st->>'exchange',
       st->>'symbol', st->>'side', st->>'position_side', st->>'open_close',
       (st->>'reduce_only')::boolean, qty, price, (st->>'realized_pnl')::numeric, executed_at
FROM new
ON CONFLICT DO NOTHING
"""


@dataclass
class BatchResult:
    fills: int = 0
    incomes: int = 0
    events_inserted: int = 0
    fee_events_inserted: int = 0
    trades_inserted: int = 0


async def write_batch(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    exchange: str,
    fills: list[VenueFill],
    incomes: list[VenueIncome],
    new_cursors: dict[str, Cursor],
    tfs: dict[str, str],
) -> BatchResult:
    """One batch, all or nothing: events (deduped by the ledger), trades + auto bubbles for
    fills not stored before, traded symbols on the watch-list, and the cursors."""
    res = BatchResult(fills=len(fills), incomes=len(incomes))
    async with conn.transaction():
        if fills or incomes:
            await ledger_store.begin_write(conn, user_id)
            async with conn.cursor() as cur, cur.copy(ledger_store.copy_sql()) as cp:
                n = 0
                for f in fills:
                    n += 1
                    await cp.write_row(_fill_row(f, n, bubble_timeframe(tfs.get(f.symbol))))
                for i in incomes:
                    n += 1
                    await cp.write_row(_income_row(i, n))
            written = await ledger_store.write_staged_fills(
                conn,
                user_id,
                account_label=ACCOUNT_LABEL,
                address=None,
                source="api",
                issue_room=0,
            )
            res.events_inserted = written.inserted
            if incomes:
                cur = await conn.execute(
                    "SELECT count(*) FROM _keyed k JOIN _inserted n ON n.dedupe_key = k.dkey"
                    " WHERE k.event_type = 'fee'"
                )
                res.fee_events_inserted = (await cur.fetchone())[0]  # type: ignore[index]
            if fills:
                cur = await conn.execute(WRITE_TRADES_SQL, {"user": user_id})
                res.trades_inserted = cur.rowcount
        for symbol, c in new_cursors.items():
            await conn.execute(
                "INSERT INTO trade_sync_state (user_id, exchange, symbol, last_trade_id,"
                " last_sync_at) VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (user_id, exchange, symbol) DO UPDATE SET"
                " last_trade_id = EXCLUDED.last_trade_id, last_sync_at = EXCLUDED.last_sync_at",
                (user_id, exchange, symbol[:20], c.last_trade_id, c.last_sync_at),
            )
    return res
