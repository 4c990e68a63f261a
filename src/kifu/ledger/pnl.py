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
# quantity is M = least(B, S) and the realized PnL so far is R = Csell(M) − Cbuy(M), where Cbuy(q)
# is the cost of the first q units bought (piecewise linear over the buy lots) and Csell(q) the
# proceeds of the first q units sold; a fill that moves M (a closing fill) realizes R − R of the
# book's previous closing fill. M only grows, so the closing fills are in time order when sorted
# by M: one sort puts every lot at its start and every closing fill at its M on one axis, a
# running max carries the last lot of each side to each closing fill (lot bounds are monotone),
# where Cbuy(M) and Csell(M) are interpolated, and lag() over the same order gives the previous R.
# The division in the interpolation is exact: the quotient is price × Δq.
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
           t.event_type = 'spot_trade' AS spot, k.since,
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
           sum(bq * price) OVER w AS bc, sum(sq * price) OVER w AS sp
    FROM f
    WINDOW w AS (PARTITION BY account_id, venue_id, instrument_id
                 ORDER BY executed_at, id ROWS UNBOUNDED PRECEDING)
), pts AS (
    -- each fill's lot (kind 1) on its side's axis, placed at its start; a lookup (kind 0) at M
    -- after each fill that may be written (closing, or leaving a spot book below zero), sorted
    -- before a lot starting at the same quantity and, at equal M, in time order
    SELECT a.account_id, a.venue_id, a.instrument_id, a.id, a.executed_at, a.since, a.spot,
           a.b - a.s AS position, v.kind, v.coord, a.bq > 0 AS buy,
           CASE WHEN v.kind = 1 THEN x.c1 - x.q END AS c0,
           CASE WHEN v.kind = 1 THEN x.v1 - x.q * a.price END AS v0,
           CASE WHEN v.kind = 1 THEN x.c1 END AS c1,
           CASE WHEN v.kind = 1 THEN x.v1 END AS v1
    FROM a
    CROSS JOIN LATERAL (
        SELECT least(a.b, a.s) AS m, least(a.b, a.s) > least(a.b - a.bq, a.s - a.sq) AS closing,
               a.bq + a.sq AS q,
               CASE WHEN a.bq > 0 THEN a.b ELSE a.s END AS c1,
               CASE WHEN a.bq > 0 THEN a.bc ELSE a.sp END AS v1
    ) x
    CROSS JOIN LATERAL (VALUES (1, x.c1 - x.q), (0, x.m)) v(kind, coord)
    WHERE v.kind = 1 OR x.closing OR (a.spot AND a.b < a.s AND a.executed_at >= a.since)
), carried AS (
    SELECT id, executed_at, since, spot, position, kind, account_id, venue_id, instrument_id,
           coord,
           max(c0) FILTER (WHERE kind = 1 AND buy) OVER w AS bc0,
           max(v0) FILTER (WHERE kind = 1 AND buy) OVER w AS bv0,
           max(c1) FILTER (WHERE kind = 1 AND buy) OVER w AS bc1,
           max(v1) FILTER (WHERE kind = 1 AND buy) OVER w AS bv1,
           max(c0) FILTER (WHERE kind = 1 AND NOT buy) OVER w AS sc0,
           max(v0) FILTER (WHERE kind = 1 AND NOT buy) OVER w AS sv0,
           max(c1) FILTER (WHERE kind = 1 AND NOT buy) OVER w AS sc1,
           max(v1) FILTER (WHERE kind = 1 AND NOT buy) OVER w AS sv1
    FROM pts
    WINDOW w AS (PARTITION BY account_id, venue_id, instrument_id
                 ORDER BY coord, kind, executed_at, id ROWS UNBOUNDED PRECEDING)
), realized AS (  -- R after each looked-up fill (no lot below M = 0: R = 0)
    SELECT id, executed_at, since, spot, position, account_id, venue_id, instrument_id, coord,
           kind,
           coalesce(sv0 + (sv1 - sv0) * (coord - sc0) / (sc1 - sc0), 0)
           - coalesce(bv0 + (bv1 - bv0) * (coord - bc0) / (bc1 - bc0), 0) AS r
    FROM carried WHERE kind = 0
), r AS (
    SELECT id, account_id, venue_id, instrument_id, executed_at, spot, position,
           r - lag(r, 1, 0::numeric) OVER (PARTITION BY account_id, venue_id, instrument_id
                                          ORDER BY coord, kind, executed_at, id) AS pnl,
           executed_at >= since AS due
    FROM realized
)
INSERT INTO ledger_fill_pnl (event_id, user_id, account_id, venue_id, instrument_id, quote,
                             executed_at, pnl, position, spot)
SELECT r.id, %(user_id)s, r.account_id, r.venue_id, r.instrument_id, i.quote_asset,
       r.executed_at, r.pnl, r.position, r.spot
FROM r JOIN instruments i ON i.id = r.instrument_id
WHERE r.due AND (r.pnl <> 0 OR r.position = 0 OR (r.spot AND r.position < 0))
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
