"""SQL for summary packs: runs, the ledger figures a pack is built from, and the packs table.

Every figure is computed by PostgreSQL with aggregates and window functions over the user's
``trade_events`` (bounded by ``user_id`` and the range through ``idx_trade_events_user_time``);
Python never loops over fills.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

TRADE_LIKE = ("spot_trade", "perp_trade", "dex_swap")
GENERATION_WORK_MEM = "256MB"

# -- runs ---------------------------------------------------------------------------------------


async def get_run(conn: AsyncConnection, user_id: uuid.UUID, run_id: uuid.UUID) -> dict | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT run_id, user_id, run_type, status, started_at, finished_at, meta"
        " FROM runs WHERE run_id = %s AND user_id = %s",
        (run_id, user_id),
    )
    return await cur.fetchone()


async def latest_completed_run(
    conn: AsyncConnection, user_id: uuid.UUID, run_types: tuple[str, ...]
) -> dict | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT run_id, user_id, run_type, status, started_at, finished_at, meta FROM runs"
        " WHERE user_id = %s AND status = 'completed' AND run_type = ANY(%s)"
        " ORDER BY finished_at DESC NULLS LAST, started_at DESC, run_id DESC LIMIT 1",
        (user_id, list(run_types)),
    )
    return await cur.fetchone()


# -- ledger figures -----------------------------------------------------------------------------

# Per-fill FIFO realized PnL without a row-by-row loop. Per (account, venue, instrument), with fills
# in time order, B and S are the cumulative bought and sold quantities. FIFO pairs the k-th unit
# bought with the k-th unit sold whichever side opened the position, so after a fill the matched
# quantity is M = least(B, S) and the realized PnL so far is Csell(M) − Cbuy(M), where Cbuy(q) is
# the cost of the first q units bought (piecewise linear over the buy lots) and Csell(q) the
# proceeds of the first q units sold. A closing fill's own side contributes (M − Mprev) × price;
# the opposite side's Cbuy/Csell at Mprev and M is looked up by sorting lot starts and lookup
# points on one axis and carrying the last lot forward (lot bounds are monotone, so a running max
# carries them). The division in the interpolation is exact: the quotient is price × Δq.
_FIFO_SQL = """
WITH f AS (
    SELECT t.id, t.account_id, t.venue_id, t.instrument_id, t.executed_at, t.price,
           t.event_type,
           CASE WHEN t.side = 'buy' THEN t.qty ELSE 0 END AS bq,
           CASE WHEN t.side = 'sell' THEN t.qty ELSE 0 END AS sq
    FROM trade_events t
    WHERE t.user_id = %(user_id)s AND t.executed_at <= %(end)s
      AND t.event_type IN ('spot_trade', 'perp_trade', 'dex_swap')
      AND t.side IN ('buy', 'sell') AND t.qty > 0 AND t.price >= 0
      AND t.instrument_id IS NOT NULL
), a AS (
    SELECT f.*,
           sum(bq) OVER w AS b, sum(sq) OVER w AS s,
           sum(bq * price) OVER w AS bc, sum(sq * price) OVER w AS sp,
           dense_rank() OVER (ORDER BY account_id, venue_id, instrument_id) AS p
    FROM f
    WINDOW w AS (PARTITION BY account_id, venue_id, instrument_id
                 ORDER BY executed_at, id ROWS UNBOUNDED PRECEDING)
), c AS MATERIALIZED (
    SELECT a.*, least(b, s) AS m, least(b - bq, s - sq) AS mp FROM a
), pts AS (
    -- lots: kind 1, placed at their start; lookups: kind 0 (before a lot starting at the same q)
    SELECT p, true AS curve, b - bq AS coord, 1 AS kind,
           b - bq AS c0, bc - bq * price AS v0, b AS c1, bc AS v1, NULL::uuid AS id, 0 AS hi
    FROM c WHERE bq > 0
    UNION ALL
    SELECT p, false, s - sq, 1,
           s - sq, sp - sq * price, s, sp, NULL::uuid, 0
    FROM c WHERE sq > 0
    UNION ALL
    SELECT p, sq > 0, m, 0,
           NULL, NULL, NULL, NULL, id, 1
    FROM c WHERE m > mp
    UNION ALL
    SELECT p, sq > 0, mp, 0,
           NULL, NULL, NULL, NULL, id, 0
    FROM c WHERE m > mp AND mp > 0
), carried AS (
    SELECT id, hi, coord,
           max(c0) FILTER (WHERE kind = 1) OVER w AS c0,
           max(v0) FILTER (WHERE kind = 1) OVER w AS v0,
           max(c1) FILTER (WHERE kind = 1) OVER w AS c1,
           max(v1) FILTER (WHERE kind = 1) OVER w AS v1,
           kind
    FROM pts
    WINDOW w AS (PARTITION BY p, curve ORDER BY coord, kind ROWS UNBOUNDED PRECEDING)
), looked AS (
    SELECT id,
           sum(CASE WHEN hi = 1 THEN 1 ELSE -1 END
               * (v0 + (v1 - v0) * (coord - c0) / (c1 - c0))) AS other_side
    FROM carried WHERE kind = 0
    GROUP BY id
), r AS (
    SELECT c.id, c.executed_at, i.quote_asset AS quote,
           CASE WHEN c.sq > 0 THEN (c.m - c.mp) * c.price - l.other_side
                ELSE l.other_side - (c.m - c.mp) * c.price END AS pnl
    FROM c JOIN looked l ON l.id = c.id JOIN instruments i ON i.id = c.instrument_id
    WHERE %(start)s::timestamptz IS NULL OR c.executed_at >= %(start)s
), curve AS (
    SELECT quote, pnl, executed_at, id,
           sum(pnl) OVER (PARTITION BY quote ORDER BY executed_at, id ROWS UNBOUNDED PRECEDING)
             AS cum
    FROM r
), dd AS (
    SELECT quote, pnl,
           greatest(0, max(cum) OVER (PARTITION BY quote ORDER BY executed_at, id
                                      ROWS UNBOUNDED PRECEDING)) - cum AS fall
    FROM curve
)
SELECT 'realized' AS kind, quote, sum(pnl) AS a, greatest(0, max(fall)) AS b, NULL::jsonb AS ev
FROM dd GROUP BY quote
UNION ALL
SELECT 'negative', i.quote_asset, min(c.b - c.s), NULL,
       jsonb_build_object(
           'venue', v.code, 'symbol', i.symbol, 'account_id', c.account_id::text,
           'first_event_id', (array_agg(c.id::text ORDER BY c.executed_at, c.id))[1],
           'first_executed_at', min(c.executed_at),
           'fills_below_zero', count(*))
FROM c JOIN instruments i ON i.id = c.instrument_id LEFT JOIN venues v ON v.id = c.venue_id
WHERE c.event_type = 'spot_trade' AND c.b - c.s < 0
  AND (%(start)s::timestamptz IS NULL OR c.executed_at >= %(start)s)
GROUP BY i.quote_asset, v.code, i.symbol, c.account_id
"""


async def fifo_figures(
    conn: AsyncConnection, user_id: uuid.UUID, start: datetime | None, end: datetime
) -> list[dict]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_FIFO_SQL, {"user_id": user_id, "start": start, "end": end})
    return await cur.fetchall()


async def begin_snapshot(conn: AsyncConnection) -> None:
    """Inside a transaction: every read of one generation sees the same data, and the sorts and
    groupings over a whole history get room to run in memory instead of spilling to disk
    (both settings end with the transaction)."""
    await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    await conn.execute(f"SET LOCAL work_mem = '{GENERATION_WORK_MEM}'")


_IN_RANGE = (
    "t.user_id = %(user_id)s AND t.executed_at <= %(end)s"
    " AND (%(start)s::timestamptz IS NULL OR t.executed_at >= %(start)s)"
)

# One scan of the range, grouped once by every key the figures need (a few dozen groups), then
# each figure is summed from those groups; counts and sums add up exactly. Numeric income strings
# are checked before casting, and JSON is only read where a figure uses it.
_TOTALS_SQL = f"""
WITH g AS (
    SELECT t.event_type IN ('spot_trade', 'perp_trade', 'dex_swap') AS trade,
           t.event_type = 'fee' AS fee_event, t.side, t.source, v.code AS venue,
           i.quote_asset AS quote,
           upper(coalesce(t.fee_asset, i.quote_asset, t.metadata->>'asset')) AS fee_ccy,
           CASE WHEN t.event_type = 'fee' THEN t.metadata->>'income_type' END AS income_type,
           CASE WHEN t.event_type = 'fee'
                THEN upper(coalesce(t.metadata->>'asset', t.fee_asset, i.quote_asset))
           END AS income_ccy,
           count(*) AS n,
           sum(t.qty * t.price) AS notional,
           count(*) FILTER (WHERE t.fee <> 0) AS fee_n,
           sum(t.fee) FILTER (WHERE t.fee <> 0) AS fee_sum,
           sum(CASE WHEN t.event_type = 'fee'
                     AND t.metadata->>'income_type' = 'FUNDING_FEE'
                    THEN coalesce(
                        CASE WHEN t.metadata->>'income'
                                  ~ '^\\s*[-+]?([0-9]+\\.?[0-9]*|\\.[0-9]+)\\s*$'
                             THEN (t.metadata->>'income')::numeric END,
                        -t.fee)
               END) AS funding
    FROM trade_events t
    LEFT JOIN instruments i ON i.id = t.instrument_id
    LEFT JOIN venues v ON v.id = t.venue_id
    WHERE {_IN_RANGE}
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
)
SELECT 'quote' AS kind, quote AS key,
       sum(n)::bigint AS n,
       coalesce(sum(n) FILTER (WHERE side = 'buy'), 0)::bigint AS buys,
       coalesce(sum(n) FILTER (WHERE side = 'sell'), 0)::bigint AS sells,
       sum(notional) AS notional,
       sum(CASE WHEN side = 'sell' THEN -notional ELSE notional END) AS flow
FROM g WHERE trade AND quote IS NOT NULL
GROUP BY quote
UNION ALL
SELECT 'fills', NULL, coalesce(sum(n), 0)::bigint,
       coalesce(sum(n) FILTER (WHERE side = 'buy'), 0)::bigint,
       coalesce(sum(n) FILTER (WHERE side = 'sell'), 0)::bigint, NULL, NULL
FROM g WHERE trade
UNION ALL
SELECT 'fee', fee_ccy, sum(fee_n)::bigint, NULL, NULL, sum(fee_sum), NULL
FROM g
WHERE fee_n > 0 AND fee_ccy IS NOT NULL AND (trade OR (fee_event AND income_type IS NULL))
GROUP BY fee_ccy
UNION ALL
SELECT 'funding', income_ccy, sum(n)::bigint, NULL, NULL, sum(funding), NULL
FROM g WHERE fee_event AND income_type = 'FUNDING_FEE' AND income_ccy IS NOT NULL
GROUP BY income_ccy
UNION ALL
SELECT 'venue', venue, sum(n)::bigint, NULL, NULL, NULL, NULL FROM g WHERE venue IS NOT NULL
GROUP BY venue
UNION ALL
SELECT 'source', source, sum(n)::bigint, NULL, NULL, NULL, NULL FROM g GROUP BY source
UNION ALL
SELECT 'income_type', income_type, sum(n)::bigint, NULL, NULL, NULL, NULL
FROM g WHERE fee_event AND income_type IS NOT NULL GROUP BY income_type
"""


async def totals(
    conn: AsyncConnection, user_id: uuid.UUID, start: datetime | None, end: datetime
) -> list[dict]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_TOTALS_SQL, {"user_id": user_id, "start": start, "end": end})
    return await cur.fetchall()


async def trade_id_sample(
    conn: AsyncConnection, user_id: uuid.UUID, start: datetime | None, end: datetime, limit: int
) -> list[str]:
    cur = await conn.execute(
        f"SELECT t.external_id FROM trade_events t WHERE {_IN_RANGE}"
        " AND t.event_type IN ('spot_trade', 'perp_trade', 'dex_swap')"
        " AND t.external_id IS NOT NULL AND t.external_id <> ''"
        " ORDER BY t.executed_at, t.id LIMIT %(limit)s",
        {"user_id": user_id, "start": start, "end": end, "limit": limit},
    )
    return [r[0] for r in await cur.fetchall()]


# Same venue trade id stored twice (ids are only unique within a venue), and the same fill
# content arriving from two sources (e.g. a CSV export and exchange sync) and kept twice.
# The repeated ids are found with a bare count per key first; only their few rows are then read
# again (through idx_trade_events_external_id) for the evidence. Venues with mixed sources are
# found by grouping on (venue, source), which needs no per-venue sort.
_DUPLICATES_SQL = f"""
WITH dup AS MATERIALIZED (
    SELECT t.venue_id, t.instrument_id, t.external_id FROM trade_events t
    WHERE {_IN_RANGE} AND t.event_type IN ('spot_trade', 'perp_trade', 'dex_swap')
      AND t.external_id IS NOT NULL AND t.external_id <> ''
    GROUP BY t.venue_id, t.instrument_id, t.external_id
    HAVING count(*) > 1
), mixed AS (  -- only venues whose fills in range came from more than one source
    SELECT venue_id FROM (
        SELECT t.venue_id, t.source FROM trade_events t
        WHERE {_IN_RANGE} AND t.event_type IN ('spot_trade', 'perp_trade', 'dex_swap')
        GROUP BY t.venue_id, t.source) vs
    GROUP BY venue_id HAVING count(*) > 1
)
SELECT 'duplicate_external_id' AS kind, v.code AS venue, i.symbol, t.external_id AS key,
       count(*) AS n, array_agg(t.id::text ORDER BY t.executed_at, t.id) AS ids,
       array_agg(DISTINCT t.source ORDER BY t.source) AS sources
FROM dup d
JOIN trade_events t
  ON t.venue_id IS NOT DISTINCT FROM d.venue_id AND t.external_id = d.external_id
 AND t.instrument_id IS NOT DISTINCT FROM d.instrument_id
LEFT JOIN venues v ON v.id = t.venue_id LEFT JOIN instruments i ON i.id = t.instrument_id
WHERE {_IN_RANGE} AND t.event_type IN ('spot_trade', 'perp_trade', 'dex_swap')
GROUP BY t.venue_id, v.code, t.instrument_id, i.symbol, t.external_id
UNION ALL
SELECT 'cross_source_duplicate', v.code, i.symbol,
       concat_ws('|', t.side, t.qty::text, t.price::text,
                 to_char(date_trunc('second', t.executed_at) AT TIME ZONE 'UTC',
                         'YYYY-MM-DD"T"HH24:MI:SS"Z"')),
       count(*), array_agg(t.id::text ORDER BY t.executed_at, t.id),
       array_agg(DISTINCT t.source ORDER BY t.source)
FROM trade_events t
LEFT JOIN venues v ON v.id = t.venue_id LEFT JOIN instruments i ON i.id = t.instrument_id
WHERE {_IN_RANGE} AND t.event_type IN ('spot_trade', 'perp_trade', 'dex_swap')
  AND t.venue_id IN (SELECT venue_id FROM mixed)
GROUP BY t.venue_id, v.code, t.instrument_id, i.symbol, t.side, t.qty, t.price,
         date_trunc('second', t.executed_at)
HAVING count(DISTINCT t.source) > 1
"""


async def duplicates(
    conn: AsyncConnection, user_id: uuid.UUID, start: datetime | None, end: datetime
) -> list[dict]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_DUPLICATES_SQL, {"user_id": user_id, "start": start, "end": end})
    return await cur.fetchall()


# Fills of one order whose metadata carries the order's executed quantity.
_ORDERS_SQL = f"""
SELECT v.code AS venue, i.symbol, t.metadata->>'order_id' AS order_id,
       sum(t.qty) AS filled,
       min(coalesce(t.metadata->>'order_executed_qty', t.metadata->>'executed_qty',
                    t.metadata->>'order_qty')) AS executed_text,
       count(DISTINCT coalesce(t.metadata->>'order_executed_qty', t.metadata->>'executed_qty',
                               t.metadata->>'order_qty')) AS variants,
       count(*) AS n, array_agg(t.id::text ORDER BY t.executed_at, t.id) AS ids
FROM trade_events t
LEFT JOIN venues v ON v.id = t.venue_id LEFT JOIN instruments i ON i.id = t.instrument_id
WHERE {_IN_RANGE} AND t.event_type IN ('spot_trade', 'perp_trade', 'dex_swap')
  AND t.metadata ? 'order_id'
  AND (t.metadata ? 'order_executed_qty' OR t.metadata ? 'executed_qty'
       OR t.metadata ? 'order_qty')
GROUP BY t.venue_id, v.code, t.instrument_id, i.symbol, t.metadata->>'order_id'
"""


async def order_fills(
    conn: AsyncConnection, user_id: uuid.UUID, start: datetime | None, end: datetime
) -> list[dict]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_ORDERS_SQL, {"user_id": user_id, "start": start, "end": end})
    return await cur.fetchall()


async def time_suspects(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    start: datetime | None,
    tolerance_seconds: int,
    earliest: datetime,
) -> list[dict]:
    """Fills executed after they were recorded (beyond the tolerance), and fills before the
    earliest plausible time. Future fills lie past the range end, so the search starts at the
    range start rather than stopping at its end."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT CASE WHEN t.executed_at < %(earliest)s THEN 'implausible_time'"
        "            ELSE 'future_fill' END AS kind,"
        " t.id::text AS id, v.code AS venue, i.symbol, t.executed_at, t.created_at, t.source"
        " FROM trade_events t"
        " LEFT JOIN venues v ON v.id = t.venue_id LEFT JOIN instruments i ON i.id = t.instrument_id"
        " WHERE t.user_id = %(user_id)s"
        "   AND ((t.executed_at >= coalesce(%(start)s::timestamptz, '-infinity')"
        "         AND t.executed_at > t.created_at + make_interval(secs => %(tol)s))"
        "        OR t.executed_at < %(earliest)s)"
        " ORDER BY t.executed_at, t.id LIMIT 1000",
        {"user_id": user_id, "start": start, "tol": tolerance_seconds, "earliest": earliest},
    )
    return await cur.fetchall()


# Rows the totals cannot place: named by id so they can be fixed.
_NORMALISATION_SQL = f"""
SELECT code, count(*) AS n, (array_agg(id ORDER BY executed_at, id))[1:%(ids)s] AS ids
FROM (
    SELECT t.id::text AS id, t.executed_at,
           CASE
             WHEN t.instrument_id IS NULL THEN 'missing_instrument'
             WHEN t.venue_id IS NULL THEN 'missing_venue'
             WHEN t.side IS NULL THEN 'missing_side'
             WHEN t.qty IS NULL OR t.qty <= 0 THEN 'invalid_qty'
             WHEN t.price IS NULL OR t.price < 0 THEN 'invalid_price'
             WHEN i.symbol !~ '^[A-Z0-9.]+/[A-Z0-9.]+$' THEN 'symbol_mapping_gap'
             WHEN t.fee IS NOT NULL AND t.fee <> 0 AND t.fee_asset IS NULL
               THEN 'fee_asset_assumed_quote'
           END AS code
    FROM trade_events t LEFT JOIN instruments i ON i.id = t.instrument_id
    WHERE {_IN_RANGE} AND t.event_type IN ('spot_trade', 'perp_trade', 'dex_swap')
) x
WHERE code IS NOT NULL
GROUP BY code
"""


async def normalisation(
    conn: AsyncConnection, user_id: uuid.UUID, start: datetime | None, end: datetime, ids: int
) -> list[dict]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        _NORMALISATION_SQL, {"user_id": user_id, "start": start, "end": end, "ids": ids}
    )
    return await cur.fetchall()


# A sync cursor that says trades up to last_trade_id were fetched, while the ledger holds no fill
# with that id (or a later one) for the venue and symbol: the fetched fills never arrived.
_CURSOR_SQL = """
SELECT s.exchange, s.symbol, s.last_trade_id, s.last_sync_at,
       (SELECT max(t.external_id::numeric) FROM trade_events t
         JOIN venues v ON v.id = t.venue_id
         LEFT JOIN instrument_mappings m ON m.venue_id = t.venue_id AND m.venue_symbol = s.symbol
         LEFT JOIN instruments i ON i.id = t.instrument_id
        WHERE t.user_id = s.user_id AND v.code = s.exchange
          AND (t.instrument_id = m.instrument_id
               OR replace(i.symbol, '/', '') = upper(replace(replace(s.symbol, '-', ''), '_', ''))
               OR i.base_asset || i.quote_asset = upper(s.symbol)
               OR i.quote_asset || '-' || i.base_asset = upper(s.symbol))
          AND t.external_id ~ '^[0-9]{1,30}$') AS ledger_max_id
FROM trade_sync_state s
WHERE s.user_id = %(user_id)s AND s.last_trade_id > 0
ORDER BY s.exchange, s.symbol
LIMIT 1000
"""


async def sync_cursors(conn: AsyncConnection, user_id: uuid.UUID) -> list[dict]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_CURSOR_SQL, {"user_id": user_id})
    return await cur.fetchall()


async def realized_pnl_income(
    conn: AsyncConnection, user_id: uuid.UUID, start: datetime | None, end: datetime
) -> list[dict]:
    """Exchange-reported realized PnL (Binance REALIZED_PNL income) in range, per venue+symbol."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT t.venue_id, v.code AS venue, t.metadata->>'symbol' AS symbol,"
        " array_agg(t.executed_at ORDER BY t.executed_at) AS times,"
        " array_agg(t.metadata->>'income' ORDER BY t.executed_at) AS amounts"
        " FROM trade_events t JOIN venues v ON v.id = t.venue_id"
        f" WHERE {_IN_RANGE} AND t.event_type = 'fee'"
        " AND t.metadata->>'income_type' = 'REALIZED_PNL' AND t.metadata ? 'symbol'"
        " GROUP BY t.venue_id, v.code, t.metadata->>'symbol'",
        {"user_id": user_id, "start": start, "end": end},
    )
    return await cur.fetchall()


# Cash flow of perp fills between two flat points of one venue+instrument: between two instants
# where the position is zero every cost method realizes the same PnL (proceeds − cost), so the
# exchange's own REALIZED_PNL over the same span must match it.
_FLAT_SQL = """
WITH f AS (
    SELECT t.id, t.executed_at,
           sum(CASE WHEN t.side = 'buy' THEN t.qty ELSE -t.qty END)
             OVER (ORDER BY t.executed_at, t.id ROWS UNBOUNDED PRECEDING) AS pos,
           sum(CASE WHEN t.side = 'sell' THEN t.qty * t.price ELSE -t.qty * t.price END)
             OVER (ORDER BY t.executed_at, t.id ROWS UNBOUNDED PRECEDING) AS cash,
           count(*) OVER (ORDER BY t.executed_at, t.id ROWS UNBOUNDED PRECEDING) AS seq
    FROM trade_events t
    WHERE t.user_id = %(user_id)s AND t.venue_id = %(venue_id)s
      AND t.instrument_id = %(instrument_id)s AND t.executed_at <= %(end)s
      AND t.event_type IN ('spot_trade', 'perp_trade', 'dex_swap')
      AND t.side IN ('buy', 'sell') AND t.qty > 0 AND t.price IS NOT NULL
), before AS (
    SELECT * FROM f WHERE executed_at < coalesce(%(start)s::timestamptz, '-infinity')
    ORDER BY seq DESC LIMIT 1
), opening AS (
    -- flat at the range start (no earlier fill, or the last earlier fill left it flat) ...
    SELECT NULL::timestamptz AS at, 0::numeric AS cash, 0::bigint AS seq
    WHERE NOT EXISTS (SELECT 1 FROM before)
    UNION ALL
    SELECT executed_at, cash, seq FROM before WHERE pos = 0
    UNION ALL
    -- ... else the first flat point inside the range
    (SELECT executed_at, cash, seq FROM f
      WHERE pos = 0 AND EXISTS (SELECT 1 FROM before WHERE pos <> 0)
        AND executed_at >= coalesce(%(start)s::timestamptz, '-infinity')
      ORDER BY seq LIMIT 1)
), closing AS (
    SELECT executed_at AS at, cash, seq FROM f WHERE pos = 0 ORDER BY seq DESC LIMIT 1
)
SELECT o.at AS start_at, o.cash AS start_cash, c.at AS end_at, c.cash AS end_cash,
       c.seq - o.seq AS fills
FROM opening o, closing c
WHERE c.seq > o.seq
"""


async def flat_points(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    venue_id: uuid.UUID,
    instrument_id: uuid.UUID,
    start: datetime | None,
    end: datetime,
) -> dict | None:
    """The span between the first flat point at/after the range start and the last flat point
    up to its end, with the fills' cumulative cash flow at both ends; None if there is none."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        _FLAT_SQL,
        {
            "user_id": user_id,
            "venue_id": venue_id,
            "instrument_id": instrument_id,
            "start": start,
            "end": end,
        },
    )
    return await cur.fetchone()


async def instrument_by_symbol(conn: AsyncConnection, symbol: str) -> uuid.UUID | None:
    cur = await conn.execute(
        "SELECT id FROM instruments WHERE asset_class = 'crypto' AND symbol = %s", (symbol,)
    )
    row = await cur.fetchone()
    return row[0] if row else None


# -- packs --------------------------------------------------------------------------------------

_PACK_COLUMNS = (
    "pack_id, user_id, source_run_id, range, schema_version, calc_version, content_hash,"
    " reconciliation_status, missing_suspects_count, duplicate_suspects_count,"
    " normalization_warnings, payload, created_at"
)


async def find_by_hash(conn: AsyncConnection, user_id: uuid.UUID, content_hash: str) -> dict | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {_PACK_COLUMNS} FROM summary_packs WHERE user_id = %s AND content_hash = %s",
        (user_id, content_hash),
    )
    return await cur.fetchone()


async def insert_pack(conn: AsyncConnection, row: dict[str, Any]) -> dict:
    """Insert, or return the user's existing pack with the same content hash (two generators
    racing over the same data end with one row)."""
    async with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "INSERT INTO summary_packs (pack_id, user_id, source_run_id, range, schema_version,"
            " calc_version, content_hash, reconciliation_status, missing_suspects_count,"
            " duplicate_suspects_count, normalization_warnings, payload)"
            " VALUES (%(pack_id)s, %(user_id)s, %(source_run_id)s, %(range)s,"
            " %(schema_version)s, %(calc_version)s, %(content_hash)s, %(reconciliation_status)s,"
            " %(missing_suspects_count)s, %(duplicate_suspects_count)s,"
            " %(normalization_warnings)s::text[], %(payload)s)"
            " ON CONFLICT (user_id, content_hash) DO NOTHING"
            f" RETURNING {_PACK_COLUMNS}",
            {**row, "payload": Jsonb(row["payload"])},
        )
        inserted = await cur.fetchone()
    if inserted is not None:
        return inserted
    existing = await find_by_hash(conn, row["user_id"], row["content_hash"])
    assert existing is not None
    return existing


async def get_pack(conn: AsyncConnection, user_id: uuid.UUID, pack_id: uuid.UUID) -> dict | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {_PACK_COLUMNS} FROM summary_packs WHERE pack_id = %s AND user_id = %s",
        (pack_id, user_id),
    )
    return await cur.fetchone()


async def latest_pack(
    conn: AsyncConnection, user_id: uuid.UUID, range_: str, tz: str | None
) -> dict | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {_PACK_COLUMNS} FROM summary_packs WHERE user_id = %(u)s AND range = %(r)s"
        " AND (%(tz)s::text IS NULL OR payload->'time_range'->>'timezone' = %(tz)s)"
        " ORDER BY created_at DESC, pack_id DESC LIMIT 1",
        {"u": user_id, "r": range_, "tz": tz},
    )
    return await cur.fetchone()


async def list_packs(
    conn: AsyncConnection, user_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[dict], int]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT pack_id, source_run_id, range, schema_version, calc_version, content_hash,"
        " reconciliation_status, missing_suspects_count, duplicate_suspects_count,"
        " normalization_warnings, created_at, payload->'time_range' AS time_range"
        " FROM summary_packs WHERE user_id = %s"
        " ORDER BY created_at DESC, pack_id DESC LIMIT %s OFFSET %s",
        (user_id, limit, offset),
    )
    items = await cur.fetchall()
    cur2 = await conn.execute("SELECT count(*) FROM summary_packs WHERE user_id = %s", (user_id,))
    total_row = await cur2.fetchone()
    return items, int(total_row[0]) if total_row else 0
