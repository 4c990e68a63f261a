"""Each fill's FIFO realized PnL and the hourly realized-PnL curve, kept current for summary packs.

The ``trade_events`` triggers record in ``ledger_pnl_dirty`` every FIFO book (account, venue,
instrument) whose fills changed, and from which execution time; ``kifu.ledger.tracker`` drains
that queue and hands the books whose FIFO moved to ``replay``, which rewrites their
``ledger_fill_pnl`` rows from that time on and refolds the hours of ``ledger_pnl_hours`` from
there. It runs under the user's ledger lock, which serialises it with every kifu writer and with
a second worker doing the same.

A fill's realized PnL depends only on its book's earlier fills, so rows before a book's ``since``
never change. FIFO needs the cumulative quantities and lot costs from the last point where the
book was flat (every lot matched: nothing before it can be matched again), so a book is replayed
from its last stored flat point before ``since``, or from its first fill if it never was flat.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from kifu.ledger.curve import Segment

# Per-fill FIFO realized PnL without a row-by-row loop. Per (account, venue, instrument), with fills
# in time order, B and S are the cumulative bought and sold quantities. FIFO pairs the k-th unit
# bought with the k-th unit sold whichever side opened the position, so after a fill the matched
# quantity is M = least(B, S) and the realized PnL so far is Csell(M) − Cbuy(M), where Cbuy(q) is
# the cost of the first q units bought (piecewise linear over the buy lots) and Csell(q) the
# proceeds of the first q units sold. A closing fill's own side contributes (M − Mprev) × price;
# the opposite side's Cbuy/Csell at Mprev and M is looked up by sorting lot starts and lookup
# points on one axis and carrying the last lot forward (lot bounds are monotone, so a running max
# carries them). The division in the interpolation is exact: the quotient is price × Δq.
# The replay starts after the book's last flat point before ``since`` (bought = sold: the cumulative
# sums restart from zero there). Rows are written for fills at or after ``since`` that realize PnL,
# leave a spot book below zero (the fills a pack reads) or leave the book flat (where the next
# replay can start).
REPLAY_WORK_MEM = "256MB"
_ZERO_ID = "00000000-0000-0000-0000-000000000000"
_REPLAY_SQL = f"""
WITH k AS MATERIALIZED (  -- one flat-point probe per book, not one per fill
    SELECT coalesce(k.account_id, '{_ZERO_ID}') AS ak, coalesce(k.venue_id, '{_ZERO_ID}') AS vk,
           k.instrument_id, k.since,
           coalesce(o.executed_at, '-infinity') AS o_at,
           coalesce(o.event_id, '{_ZERO_ID}') AS o_id
    FROM unnest(%(accounts)s::uuid[], %(venues)s::uuid[], %(instruments)s::uuid[],
                %(since)s::timestamptz[]) AS k(account_id, venue_id, instrument_id, since)
    LEFT JOIN LATERAL (  -- the book's last flat point before the change
        SELECT p.executed_at, p.event_id FROM ledger_fill_pnl p
        WHERE p.user_id = %(user_id)s AND p.instrument_id = k.instrument_id
          AND p.position = 0 AND p.executed_at < k.since
          AND p.account_id IS NOT DISTINCT FROM k.account_id
          AND p.venue_id IS NOT DISTINCT FROM k.venue_id
        ORDER BY p.executed_at DESC, p.event_id DESC LIMIT 1
    ) o ON true
), f AS (
    SELECT t.id, t.account_id, t.venue_id, t.instrument_id, t.executed_at, t.price,
           t.event_type, k.since,
           CASE WHEN t.side = 'buy' THEN t.qty ELSE 0 END AS bq,
           CASE WHEN t.side = 'sell' THEN t.qty ELSE 0 END AS sq
    FROM trade_events t
    JOIN k ON k.instrument_id = t.instrument_id
          AND k.ak = coalesce(t.account_id, '{_ZERO_ID}')
          AND k.vk = coalesce(t.venue_id, '{_ZERO_ID}')
    WHERE t.user_id = %(user_id)s AND t.instrument_id = ANY(%(instruments)s::uuid[])
      AND t.event_type IN ('spot_trade', 'perp_trade', 'dex_swap')
      AND t.side IN ('buy', 'sell') AND t.qty > 0 AND t.price >= 0
      AND (t.executed_at, t.id) > (k.o_at, k.o_id)
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
    FROM c WHERE m > mp AND executed_at >= since
    UNION ALL
    SELECT p, sq > 0, mp, 0,
           NULL, NULL, NULL, NULL, id, 0
    FROM c WHERE m > mp AND mp > 0 AND executed_at >= since
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
    SELECT c.id, c.account_id, c.venue_id, c.instrument_id, c.executed_at,
           c.event_type = 'spot_trade' AS spot, c.b - c.s AS position,
           coalesce(CASE WHEN c.sq > 0 THEN (c.m - c.mp) * c.price - l.other_side
                         ELSE l.other_side - (c.m - c.mp) * c.price END, 0) AS pnl
    FROM c LEFT JOIN looked l ON l.id = c.id
    WHERE c.executed_at >= c.since
)
INSERT INTO ledger_fill_pnl (event_id, user_id, account_id, venue_id, instrument_id, quote,
                             executed_at, pnl, position, spot)
SELECT r.id, %(user_id)s, r.account_id, r.venue_id, r.instrument_id, i.quote_asset,
       r.executed_at, r.pnl, r.position, r.spot
FROM r JOIN instruments i ON i.id = r.instrument_id
WHERE r.pnl <> 0 OR r.position = 0 OR (r.spot AND r.position < 0)
ON CONFLICT (event_id) DO UPDATE SET
    user_id = EXCLUDED.user_id, account_id = EXCLUDED.account_id,
    venue_id = EXCLUDED.venue_id, instrument_id = EXCLUDED.instrument_id,
    quote = EXCLUDED.quote, executed_at = EXCLUDED.executed_at, pnl = EXCLUDED.pnl,
    position = EXCLUDED.position, spot = EXCLUDED.spot
"""

# The quote of every replayed book, from when it changed: this covers every row the replay
# writes; _FORGET_SQL adds the quotes of rows whose instrument is gone.
_BOOK_QUOTES_SQL = """
SELECT i.quote_asset, min(k.since)
FROM unnest(%(instruments)s::uuid[], %(since)s::timestamptz[]) AS k(instrument_id, since)
JOIN instruments i ON i.id = k.instrument_id
GROUP BY i.quote_asset
"""

_FORGET_SQL = """
WITH gone AS (
    DELETE FROM ledger_fill_pnl p
    USING unnest(%(accounts)s::uuid[], %(venues)s::uuid[], %(instruments)s::uuid[],
                 %(since)s::timestamptz[]) AS k(account_id, venue_id, instrument_id, since)
    WHERE p.user_id = %(user_id)s AND p.instrument_id = k.instrument_id
      AND p.account_id IS NOT DISTINCT FROM k.account_id
      AND p.venue_id IS NOT DISTINCT FROM k.venue_id
      AND p.executed_at >= k.since
    RETURNING p.quote, p.executed_at
)
SELECT quote, min(executed_at) AS since FROM gone GROUP BY quote
"""


def segments_sql(bucket: str, where: str) -> str:
    """Fills of ``ledger_fill_pnl`` matching ``where`` (alias ``p``), folded into one curve
    segment (see ``kifu.ledger.curve``) per quote and ``bucket`` (an expression over ``p``),
    in execution order."""
    return f"""
SELECT quote, bucket, count(*) AS fills, sum(pnl) AS total,
       greatest(0, max(cum)) AS peak, least(0, min(cum)) AS trough,
       greatest(0, max(top - cum)) AS fall
FROM (
    SELECT quote, bucket, pnl, cum,
           greatest(0, max(cum) OVER (PARTITION BY quote, bucket ORDER BY executed_at, event_id
                                      ROWS UNBOUNDED PRECEDING)) AS top
    FROM (
        SELECT p.quote, {bucket} AS bucket, p.pnl, p.executed_at, p.event_id,
               sum(p.pnl) OVER (PARTITION BY p.quote, {bucket}
                                ORDER BY p.executed_at, p.event_id ROWS UNBOUNDED PRECEDING)
                 AS cum
        FROM ledger_fill_pnl p
        WHERE {where}
    ) x
) y
GROUP BY quote, bucket
"""


_UNFOLD_SQL = """
DELETE FROM ledger_pnl_hours h
USING unnest(%(quotes)s::text[], %(since)s::timestamptz[]) AS q(quote, since)
WHERE h.user_id = %(user_id)s AND h.quote = q.quote AND h.hour >= date_trunc('hour', q.since, 'UTC')
"""

_REFOLD_SQL = f"""
INSERT INTO ledger_pnl_hours (user_id, quote, hour, fills, pnl, peak, trough, fall)
SELECT %(user_id)s, quote, bucket, fills, total, peak, trough, fall FROM ({
    segments_sql(
        "date_trunc('hour', p.executed_at, 'UTC')",
        "p.user_id = %(user_id)s AND p.executed_at >= date_trunc('hour', %(first)s, 'UTC')"
        " AND p.executed_at >= (SELECT date_trunc('hour', q.since, 'UTC')"
        " FROM unnest(%(quotes)s::text[], %(since)s::timestamptz[]) AS q(quote, since)"
        " WHERE q.quote = p.quote)",
    )
}) s
"""


async def replay(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    books: Sequence[tuple[uuid.UUID | None, uuid.UUID | None, uuid.UUID, datetime]],
) -> None:
    """Replay these (account, venue, instrument, since) books of the user and refold the hours
    they touched; inside a transaction holding the ledger lock (``kifu.ledger.tracker``)."""
    if not books:
        return
    params: dict[str, Any] = {
        "user_id": user_id,
        "accounts": [b[0] for b in books],
        "venues": [b[1] for b in books],
        "instruments": [b[2] for b in books],
        "since": [b[3] for b in books],
    }
    changed: dict[str, datetime] = {}
    # Room to sort a long history in memory; the caller's setting comes back afterwards.
    cur = await conn.execute(
        "SELECT current_setting('work_mem'), current_setting('enable_nestloop')"
    )
    work_mem, nestloop = await cur.fetchone()  # type: ignore[misc]
    await conn.execute("SELECT set_config('work_mem', %s, true)", (REPLAY_WORK_MEM,))
    for sql in (_BOOK_QUOTES_SQL, _FORGET_SQL):
        cur = await conn.execute(sql, params)
        for quote, since in await cur.fetchall():
            changed[quote] = min(since, changed.get(quote, since))
    # Right after a large write the table's statistics still describe it without the new rows
    # (they are not committed yet), and the planner would join the replay's million-row steps by
    # nested loops: hash joins are right at every size here.
    await conn.execute("SELECT set_config('enable_nestloop', 'off', true)")
    await conn.execute(_REPLAY_SQL, params)
    await conn.execute("SELECT set_config('enable_nestloop', %s, true)", (nestloop,))
    if changed:
        quotes = sorted(changed)
        fold = {
            "user_id": user_id,
            "quotes": quotes,
            "since": [changed[q] for q in quotes],
            "first": min(changed.values()),
        }
        await conn.execute(_UNFOLD_SQL, fold)
        await conn.execute(_REFOLD_SQL, fold)
    await conn.execute("SELECT set_config('work_mem', %s, true)", (work_mem,))


# -- reads for summary packs --------------------------------------------------------------------


async def hour_segments(
    conn: AsyncConnection, user_id: uuid.UUID, first: datetime | None, stop: datetime
) -> list[tuple[str, datetime, Segment]]:
    """The stored hourly segments with ``first <= hour < stop``, in time order."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT quote, hour, pnl, peak, trough, fall FROM ledger_pnl_hours"
        " WHERE user_id = %(u)s AND hour >= coalesce(%(first)s::timestamptz, '-infinity')"
        " AND hour < %(stop)s ORDER BY quote, hour",
        {"u": user_id, "first": first, "stop": stop},
    )
    return [
        (r["quote"], r["hour"], Segment(r["pnl"], r["peak"], r["trough"], r["fall"]))
        for r in await cur.fetchall()
    ]


# ``curve.fold`` of the hourly segments of each quote, in SQL (one row per quote instead of one
# per hour): with c the running total before a segment and P the highest point before it (≥ 0,
# the start counts), the fold's total is Σ pnl, its peak max(0, c + peak), its trough
# min(0, c + trough) and its fall the largest of the segments' own falls and P − (c + trough).
_FOLDED_HOURS_SQL = """
WITH h AS (
    SELECT quote, hour, pnl, peak, trough, fall,
           coalesce(sum(pnl) OVER before, 0) AS c
    FROM ledger_pnl_hours
    WHERE user_id = %(u)s AND hour >= coalesce(%(first)s::timestamptz, '-infinity')
      AND hour < %(stop)s
    WINDOW before AS (PARTITION BY quote ORDER BY hour ROWS BETWEEN UNBOUNDED PRECEDING
                      AND 1 PRECEDING)
), r AS (
    SELECT h.*, greatest(0, max(c + peak) OVER before) AS top
    FROM h
    WINDOW before AS (PARTITION BY quote ORDER BY hour ROWS BETWEEN UNBOUNDED PRECEDING
                      AND 1 PRECEDING)
)
SELECT quote, sum(pnl), greatest(0, max(c + peak)), least(0, min(c + trough)),
       greatest(0, max(fall), max(top - (c + trough)))
FROM r GROUP BY quote
"""


async def folded_hours(
    conn: AsyncConnection, user_id: uuid.UUID, first: datetime | None, stop: datetime
) -> dict[str, Segment]:
    """Per quote, the stored hourly segments with ``first <= hour < stop`` composed in time
    order (``curve.fold`` of ``hour_segments``, folded by PostgreSQL): index
    ``ledger_pnl_hours_pkey`` (user_id, quote, hour)."""
    cur = await conn.execute(_FOLDED_HOURS_SQL, {"u": user_id, "first": first, "stop": stop})
    return {r[0]: Segment(r[1], r[2], r[3], r[4]) for r in await cur.fetchall()}


Span = tuple[datetime, datetime, bool]  # start, stop, stop inclusive


def span_predicates(column: str, spans: Sequence[Span]) -> tuple[list[str], dict[str, Any]]:
    """One SQL predicate on ``column`` per span, and their parameters (``lo<i>``, ``hi<i>``)."""
    predicates, params = [], {}
    for i, (lo, hi, inclusive) in enumerate(spans):
        predicates.append(
            f"({column} >= %(lo{i})s AND {column} {'<=' if inclusive else '<'} %(hi{i})s)"
        )
        params[f"lo{i}"], params[f"hi{i}"] = lo, hi
    return predicates, params


async def span_segments(
    conn: AsyncConnection, user_id: uuid.UUID, spans: Sequence[Span]
) -> list[tuple[str, int, Segment]]:
    """One segment per quote and span, straight from the fills. The int is the span's index."""
    if not spans:
        return []
    predicates, params = span_predicates("p.executed_at", spans)
    bucket = "CASE " + " ".join(f"WHEN {w} THEN {i}" for i, w in enumerate(predicates)) + " END"
    where = f"p.user_id = %(u)s AND ({' OR '.join(predicates)})"
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(segments_sql(bucket, where), {"u": user_id, **params})
    return [
        (r["quote"], r["bucket"], Segment(r["total"], r["peak"], r["trough"], r["fall"]))
        for r in await cur.fetchall()
    ]


_BELOW_ZERO = (
    "p.user_id = %(u)s AND p.spot AND p.position < 0 AND p.executed_at <= %(end)s"
    " AND (%(start)s::timestamptz IS NULL OR p.executed_at >= %(start)s)"
)
_SPOT_BELOW_ZERO_SQL = f"""
SELECT g.quote, v.code AS venue, i.symbol, g.account_id, g.lowest, f.first_event_id,
       g.first_executed_at, g.fills_below_zero
FROM (
    SELECT p.quote, p.account_id, p.venue_id, p.instrument_id, min(p.position) AS lowest,
           min(p.executed_at) AS first_executed_at, count(*) AS fills_below_zero
    FROM ledger_fill_pnl p WHERE {_BELOW_ZERO}
    GROUP BY p.quote, p.account_id, p.venue_id, p.instrument_id
) g
CROSS JOIN LATERAL (
    SELECT p.event_id::text AS first_event_id FROM ledger_fill_pnl p
    WHERE {_BELOW_ZERO} AND p.executed_at = g.first_executed_at
      AND p.instrument_id = g.instrument_id AND p.account_id IS NOT DISTINCT FROM g.account_id
      AND p.venue_id IS NOT DISTINCT FROM g.venue_id
    ORDER BY p.event_id LIMIT 1
) f
JOIN instruments i ON i.id = g.instrument_id
LEFT JOIN venues v ON v.id = g.venue_id
"""


async def spot_below_zero(
    conn: AsyncConnection, user_id: uuid.UUID, start: datetime | None, end: datetime
) -> list[dict]:
    """Spot books whose bought-minus-sold quantity is below zero after fills in range."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_SPOT_BELOW_ZERO_SQL, {"u": user_id, "start": start, "end": end})
    return await cur.fetchall()
