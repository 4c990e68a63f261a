"""The ledger's read API for reconciliation: the figures and suspects a summary pack is built from.

A pack reads the ledger's rollups (migration 046: hourly event groups and realized-PnL curve
segments, duplicate flags) plus the raw rows of the partial hours at the ends of its range, and
makes its row-level checks through partial indexes that hold only the rows they concern; no read
goes over every fill of the range, and Python never loops over fills. ``kifu.packs`` decides what
the figures mean; the SQL over the ledger's tables lives here, with their owner. One statement
also reads ``trade_sync_state`` (the exchanges' sync cursors), to hold them against the fills.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from kifu.ledger import pnl

_IN_RANGE = (
    "t.user_id = %(user_id)s AND t.executed_at <= %(end)s"
    " AND (%(start)s::timestamptz IS NULL OR t.executed_at >= %(start)s)"
)


async def event_groups(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    first: datetime | None,
    stop: datetime,
    partial: Sequence[tuple[datetime, datetime, bool]],
) -> list[dict]:
    """The trade_events of whole UTC hours ``[first, stop)`` (all hours before ``stop`` when
    ``first`` is None) and of the ``partial`` spans ``(from, to, to included)`` around them,
    grouped by event type, side, source, venue, instrument, fee asset, metadata asset and income
    type, with the venue code and the instrument's quote and symbol: the hours from
    ``ledger_event_hours``, the spans from the rows themselves, grouped by the same SQL
    (``kifu_ledger_hour_rows_sql``, migration 046)."""
    spans, span_params = pnl.span_predicates("t.executed_at", partial)
    cur = await conn.execute(
        "SELECT kifu_ledger_hour_rows_sql('SELECT 1 AS sign, t.* FROM trade_events t"
        " WHERE t.user_id = %%(user_id)s AND (' || %(spans)s || ')')",
        {"spans": " OR ".join(spans)},
    )
    raw = str((await cur.fetchone())[0])  # type: ignore[index]
    params = {"user_id": user_id, "first": first, "stop": stop, **span_params}
    columns = (
        "event_type, side, source, venue_id, instrument_id, fee_asset, meta_asset, income_type,"
        " n, notional, fee_n, fee_sum, funding, bad_qty, bad_price, fee_ok"
    )
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"""
        SELECT g.event_type, g.side, g.source, g.venue_id, v.code AS venue, g.instrument_id,
               i.quote_asset AS quote, i.symbol, g.fee_asset, g.meta_asset, g.income_type,
               sum(g.n) AS n, sum(g.notional) AS notional, sum(g.fee_n) AS fee_n,
               sum(g.fee_sum) AS fee_sum, sum(g.funding) AS funding,
               sum(g.bad_qty) AS bad_qty, sum(g.bad_price) AS bad_price,
               sum(g.fee_ok) AS fee_ok
        FROM (
            SELECT {columns} FROM ledger_event_hours
            WHERE user_id = %(user_id)s
              AND hour >= coalesce(%(first)s::timestamptz, '-infinity') AND hour < %(stop)s
            UNION ALL
            SELECT {columns} FROM ({raw}) r
        ) g
        LEFT JOIN instruments i ON i.id = g.instrument_id
        LEFT JOIN venues v ON v.id = g.venue_id
        GROUP BY g.event_type, g.side, g.source, g.venue_id, v.code, g.instrument_id,
                 i.quote_asset, i.symbol, g.fee_asset, g.meta_asset, g.income_type
        HAVING sum(g.n) <> 0
        """,
        params,
    )
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
# content arriving from two sources (e.g. a CSV export and exchange sync) and kept twice. Only
# fills flagged when they were written (ledger_duplicate_flags, migration 046) can be either; the
# keys of the flagged fills in range are read again with every fill in range that shares them
# (through idx_trade_events_external_id and idx_trade_events_user_time), so a flag that no
# longer holds is dropped here.
_TRADE_IN_RANGE = f"{_IN_RANGE} AND t.event_type IN ('spot_trade', 'perp_trade', 'dex_swap')"
_DUPLICATES_SQL = f"""
WITH f AS MATERIALIZED (
    SELECT t.venue_id, t.instrument_id, t.external_id, t.side, t.qty, t.price, t.executed_at
    FROM ledger_duplicate_flags d JOIN trade_events t ON t.id = d.event_id
    WHERE d.user_id = %(user_id)s AND {_TRADE_IN_RANGE}
), ext AS (
    SELECT DISTINCT venue_id, instrument_id, external_id FROM f
    WHERE external_id IS NOT NULL AND external_id <> ''
), same_id AS (
    SELECT t.* FROM ext k JOIN trade_events t
      ON t.venue_id = k.venue_id AND t.external_id = k.external_id
    WHERE t.instrument_id IS NOT DISTINCT FROM k.instrument_id AND {_TRADE_IN_RANGE}
    UNION ALL
    SELECT t.* FROM ext k JOIN trade_events t
      ON t.user_id = %(user_id)s AND t.venue_id IS NULL AND t.external_id = k.external_id
    WHERE k.venue_id IS NULL AND t.instrument_id IS NOT DISTINCT FROM k.instrument_id
      AND {_TRADE_IN_RANGE}
), content AS (
    SELECT DISTINCT venue_id, instrument_id, side, qty, price,
           date_trunc('second', executed_at) AS sec
    FROM f
), same_content AS (
    SELECT DISTINCT t.* FROM content k JOIN trade_events t
      ON t.user_id = %(user_id)s
     AND t.executed_at >= k.sec AND t.executed_at < k.sec + interval '1 second'
    WHERE t.venue_id IS NOT DISTINCT FROM k.venue_id
      AND t.instrument_id IS NOT DISTINCT FROM k.instrument_id
      AND t.side IS NOT DISTINCT FROM k.side AND t.qty IS NOT DISTINCT FROM k.qty
      AND t.price IS NOT DISTINCT FROM k.price AND {_TRADE_IN_RANGE}
)
SELECT 'duplicate_external_id' AS kind, v.code AS venue, i.symbol, t.external_id AS key,
       count(*) AS n, array_agg(t.id::text ORDER BY t.executed_at, t.id) AS ids,
       array_agg(DISTINCT t.source ORDER BY t.source) AS sources
FROM same_id t
LEFT JOIN venues v ON v.id = t.venue_id LEFT JOIN instruments i ON i.id = t.instrument_id
GROUP BY t.venue_id, v.code, t.instrument_id, i.symbol, t.external_id
HAVING count(*) > 1
UNION ALL
SELECT 'cross_source_duplicate', v.code, i.symbol,
       concat_ws('|', t.side, t.qty::text, t.price::text,
                 to_char(date_trunc('second', t.executed_at) AT TIME ZONE 'UTC',
                         'YYYY-MM-DD"T"HH24:MI:SS"Z"')),
       count(*), array_agg(t.id::text ORDER BY t.executed_at, t.id),
       array_agg(DISTINCT t.source ORDER BY t.source)
FROM same_content t
LEFT JOIN venues v ON v.id = t.venue_id LEFT JOIN instruments i ON i.id = t.instrument_id
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


# idx_trade_events_future (migration 046) holds the fills executed more than five minutes after
# they were recorded; the query repeats its predicate so the planner can use it.
_FUTURE_INDEX_SECONDS = 300


async def time_suspects(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    start: datetime | None,
    tolerance_seconds: int,
    earliest: datetime,
) -> list[dict]:
    """Fills executed after they were recorded (beyond the tolerance, at least five minutes),
    and fills before the earliest plausible time. Future fills lie past the range end, so the
    search starts at the range start rather than stopping at its end."""
    if tolerance_seconds < _FUTURE_INDEX_SECONDS:
        raise ValueError("the future-fill index covers tolerances of five minutes or more")
    select = (
        "SELECT {kind} AS kind, t.id::text AS id, v.code AS venue, i.symbol, t.executed_at,"
        " t.created_at, t.source FROM trade_events t"
        " LEFT JOIN venues v ON v.id = t.venue_id"
        " LEFT JOIN instruments i ON i.id = t.instrument_id WHERE t.user_id = %(user_id)s"
    )
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT * FROM ("
        + select.format(kind="'future_fill'")
        + " AND t.executed_at >= greatest(%(earliest)s, %(start)s::timestamptz)"
        " AND t.executed_at - t.created_at > interval '5 minutes'"
        " AND t.executed_at > t.created_at + make_interval(secs => %(tol)s)"
        " UNION ALL "
        + select.format(kind="'implausible_time'")
        + " AND t.executed_at < %(earliest)s) x"
        " ORDER BY executed_at, id LIMIT 1000",
        {"user_id": user_id, "start": start, "tol": tolerance_seconds, "earliest": earliest},
    )
    return await cur.fetchall()


# The code of a trade row the totals cannot place (the first that applies), and the predicate of
# idx_trade_events_anomalies (migration 046), which holds every row with one of the row-level
# codes; rows of instruments without a BASE/QUOTE symbol are found by instrument instead.
_NORMALISATION_CODE = """
CASE
  WHEN t.instrument_id IS NULL THEN 'missing_instrument'
  WHEN t.venue_id IS NULL THEN 'missing_venue'
  WHEN t.side IS NULL THEN 'missing_side'
  WHEN t.qty IS NULL OR t.qty <= 0 THEN 'invalid_qty'
  WHEN t.price IS NULL OR t.price < 0 THEN 'invalid_price'
  WHEN i.symbol !~ '^[A-Z0-9.]+/[A-Z0-9.]+$' THEN 'symbol_mapping_gap'
  WHEN t.fee IS NOT NULL AND t.fee <> 0 AND t.fee_asset IS NULL THEN 'fee_asset_assumed_quote'
END
"""
_ANOMALY = (
    "t.event_type IN ('spot_trade', 'perp_trade', 'dex_swap')"
    " AND (t.instrument_id IS NULL OR t.venue_id IS NULL OR t.side IS NULL OR t.qty IS NULL"
    " OR t.qty <= 0 OR t.price IS NULL OR t.price < 0 OR (t.fee <> 0 AND t.fee_asset IS NULL))"
)


async def normalisation_ids(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    start: datetime | None,
    end: datetime,
    code: str,
    unmapped: list[Any],
    limit: int,
) -> list[str]:
    """The first ``limit`` trade rows in range (execution order) that get ``code``."""
    rows = (
        f"{_TRADE_IN_RANGE} AND t.instrument_id = ANY(%(unmapped)s::uuid[])"
        if code == "symbol_mapping_gap"
        else f"{_IN_RANGE} AND {_ANOMALY}"
    )
    cur = await conn.execute(
        "SELECT t.id::text FROM trade_events t LEFT JOIN instruments i ON i.id = t.instrument_id"
        f" WHERE {rows} AND {_NORMALISATION_CODE} = %(code)s"
        " ORDER BY t.executed_at, t.id LIMIT %(limit)s",
        {
            "user_id": user_id,
            "start": start,
            "end": end,
            "code": code,
            "unmapped": unmapped,
            "limit": limit,
        },
    )
    return [r[0] for r in await cur.fetchall()]


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
