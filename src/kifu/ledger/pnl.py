"""Each fill's FIFO realized PnL and the hourly realized-PnL curve, kept current for summary packs.

The ``trade_events`` triggers record in ``ledger_pnl_dirty`` every FIFO book (account, venue,
instrument) whose fills changed, and from which execution time; ``kifu.ledger.tracker`` drains
that queue and hands the books whose FIFO moved to ``replay``, which rewrites their
``ledger_fill_pnl`` rows from that time on and refolds the hours of ``ledger_pnl_hours`` from
there. It runs under the user's ledger lock, which serialises it with every kifu writer and with
a second worker doing the same.

A fill's realized PnL depends only on its book's earlier fills, so rows before a book's ``since``
never change. FIFO needs the cumulative quantities and lot costs from a known point: a book changed
only after the last fill of its stored replay state (``ledger_fifo_books``: the sums and the lots
still open there, saved by every replay) continues from that state, so an append replays only the
new fills; any other book is replayed from its last stored flat point before ``since`` (every lot
matched: nothing before it can be matched again), or from its first fill if it never was flat.
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
# by M: one sort puts every lot at its start and every looked-up fill at its M on one axis, a
# running max carries the last lot of each side to each lookup (lot bounds are monotone), where
# Cbuy(M) and Csell(M) are interpolated, and lag() over the same order gives the previous R.
# The division in the interpolation is exact: the quotient is price × Δq.
#
# Where a replay starts: a book whose change comes after the last fill of its stored replay state
# (``ledger_fifo_books``, migration 049) continues from that state: its cumulative sums, the lots
# later fills can still be matched against (every lot ending at or past M; older lots lie wholly
# below every later lookup), and a lookup at M (not written) whose R the next closing fill
# subtracts. Any other book starts after its last flat point before ``since`` (bought = sold: the
# sums restart from zero there), or at its first fill. Rows are written for fills at or after
# ``since`` that realize PnL, leave a spot book below zero (the fills a pack reads) or leave the
# book flat (where a later replay can start); every replayed book's state is saved.
REPLAY_WORK_MEM = "256MB"
_ZERO_ID = "00000000-0000-0000-0000-000000000000"
_REPLAY_SQL = f"""
WITH k AS MATERIALIZED (  -- one state lookup or flat-point probe per book, not one per fill
    SELECT k.account_id, k.venue_id, coalesce(k.account_id, '{_ZERO_ID}') AS ak,
           coalesce(k.venue_id, '{_ZERO_ID}') AS vk, k.instrument_id, k.since,
           coalesce(c.executed_at, o.executed_at, '-infinity') AS o_at,
           coalesce(c.event_id, o.event_id, '{_ZERO_ID}') AS o_id,
           coalesce(c.bought, 0) AS b0, coalesce(c.sold, 0) AS s0,
           coalesce(c.cost, 0) AS bc0, coalesce(c.proceeds, 0) AS sp0,
           c.lot_buy, c.lot_q0, c.lot_v0, c.lot_q1, c.lot_v1
    FROM unnest(%(accounts)s::uuid[], %(venues)s::uuid[], %(instruments)s::uuid[],
                %(since)s::timestamptz[]) AS k(account_id, venue_id, instrument_id, since)
    LEFT JOIN ledger_fifo_books c  -- the stored state, when the change comes after it
      ON c.user_id = %(user_id)s AND c.instrument_id = k.instrument_id
     AND c.account_key = coalesce(k.account_id, '{_ZERO_ID}')
     AND c.venue_key = coalesce(k.venue_id, '{_ZERO_ID}') AND c.executed_at < k.since
    LEFT JOIN LATERAL (  -- else the book's last flat point before the change
        SELECT p.executed_at, p.event_id FROM ledger_fill_pnl p
        WHERE c.event_id IS NULL
          AND p.user_id = %(user_id)s AND p.instrument_id = k.instrument_id
          AND p.position = 0 AND p.executed_at < k.since
          AND p.account_id IS NOT DISTINCT FROM k.account_id
          AND p.venue_id IS NOT DISTINCT FROM k.venue_id
        ORDER BY p.executed_at DESC, p.event_id DESC LIMIT 1
    ) o ON true
), f AS (
    -- the book's fills (src 0) after its starting point; a stored state's lots (src 1, first)
    -- and its lookup at M (src 2, just before the fills), which adds the state's sums: bought and
    -- sold quantities (bq, sq), cost and proceeds (bv, sv)
    SELECT 0 AS src, t.id, t.account_id, t.venue_id, t.instrument_id, t.executed_at,
           t.event_type = 'spot_trade' AS spot, t.executed_at >= k.since AS due, x.bq, x.sq,
           x.bq * t.price AS bv, x.sq * t.price AS sv,
           NULL::boolean AS lot_buy, NULL::numeric AS lot_q0, NULL::numeric AS lot_v0,
           NULL::numeric AS lot_q1, NULL::numeric AS lot_v1
    FROM trade_events t
    JOIN k ON k.instrument_id = t.instrument_id
          AND k.ak = coalesce(t.account_id, '{_ZERO_ID}')
          AND k.vk = coalesce(t.venue_id, '{_ZERO_ID}')
    CROSS JOIN LATERAL (
        SELECT CASE WHEN t.side = 'buy' THEN t.qty ELSE 0 END AS bq,
               CASE WHEN t.side = 'sell' THEN t.qty ELSE 0 END AS sq
    ) x
    WHERE t.user_id = %(user_id)s AND t.instrument_id = ANY(%(instruments)s::uuid[])
      AND t.event_type IN ('spot_trade', 'perp_trade', 'dex_swap')
      AND t.side IN ('buy', 'sell') AND t.qty > 0 AND t.price >= 0
      AND (t.executed_at, t.id) > (k.o_at, k.o_id)
    UNION ALL
    SELECT 1, NULL, k.account_id, k.venue_id, k.instrument_id, '-infinity', false, false,
           0, 0, 0, 0, x.buy, x.q0, x.v0, x.q1, x.v1
    FROM k CROSS JOIN LATERAL unnest(k.lot_buy, k.lot_q0, k.lot_v0, k.lot_q1, k.lot_v1)
        AS x(buy, q0, v0, q1, v1)
    UNION ALL
    SELECT 2, k.o_id, k.account_id, k.venue_id, k.instrument_id, k.o_at, false, false,
           k.b0, k.s0, k.bc0, k.sp0, NULL, NULL, NULL, NULL, NULL
    FROM k WHERE k.lot_buy IS NOT NULL
), a AS (
    SELECT f.src, f.id, f.account_id, f.venue_id, f.instrument_id, f.executed_at, f.spot, f.due,
           b, s, bc, sp, last,
           least(b, s) AS m, least(b, s) > least(b - bq, s - sq) AS closing,
           -- the row's lot on its side's axis: start q0 and end q1, the side's value v0 and v1
           CASE WHEN src = 1 THEN lot_buy ELSE bq > 0 END AS buy,
           CASE WHEN src = 1 THEN lot_q0 WHEN bq > 0 THEN b - bq ELSE s - sq END AS q0,
           CASE WHEN src = 1 THEN lot_v0 WHEN bq > 0 THEN bc - bv ELSE sp - sv END AS v0,
           CASE WHEN src = 1 THEN lot_q1 WHEN bq > 0 THEN b ELSE s END AS q1,
           CASE WHEN src = 1 THEN lot_v1 WHEN bq > 0 THEN bc ELSE sp END AS v1
    FROM (
        SELECT f.*, sum(bq) OVER w AS b, sum(sq) OVER w AS s, sum(bv) OVER w AS bc,
               sum(sv) OVER w AS sp, NOT lead(true, 1, false) OVER w AS last
        FROM f
        WINDOW w AS (PARTITION BY account_id, venue_id, instrument_id
                     ORDER BY executed_at, id ROWS UNBOUNDED PRECEDING)
    ) f
), pts AS (
    -- on each book's axis, sorted by (coord, kind, time): lookups (kind 0) at M after each fill
    -- that may be written (closing, or leaving a spot book below zero) and at a stored state's
    -- M; the book's end (kind 1) at M after its last fill, with that fill's sums (b, bc, s, sp)
    -- as its lot; lots (kind 2) at their start, as [q0, v0, q1, v1]
    SELECT a.account_id, a.venue_id, a.instrument_id, a.src = 0 AS fill, a.id, a.executed_at,
           a.due, a.spot, a.b - a.s AS position, v.kind, v.coord, a.buy,
           CASE v.kind WHEN 2 THEN ARRAY[a.q0, a.v0, a.q1, a.v1]
                       WHEN 1 THEN ARRAY[a.b, a.bc, a.s, a.sp] END AS lot
    FROM a CROSS JOIN LATERAL (VALUES (2, a.q0), (1, a.m), (0, a.m)) v(kind, coord)
    WHERE CASE v.kind
              WHEN 2 THEN a.src < 2
              WHEN 1 THEN a.src = 0 AND a.last
              ELSE a.src = 2 OR (a.src = 0 AND (a.closing OR (a.spot AND a.b < a.s AND a.due)))
          END
), carried AS (
    -- the last lot of each side so far: the greatest, as lots start ever higher on their side
    SELECT *,
           max(lot) FILTER (WHERE kind = 2 AND buy) OVER w AS bl,
           max(lot) FILTER (WHERE kind = 2 AND NOT buy) OVER w AS sl,
           count(*) FILTER (WHERE kind = 1) OVER w > 0 AS past_end
    FROM pts
    WINDOW w AS (PARTITION BY account_id, venue_id, instrument_id
                 ORDER BY coord, kind, executed_at, id ROWS UNBOUNDED PRECEDING)
), outp AS MATERIALIZED (
    -- the lookups with their realized PnL (R after the fill, no lot below M = 0: R = 0, less R
    -- after the previous lookup), and what the next replay needs: each book's end, the lot of
    -- each side it falls in, and the lots past it (every lot ending at or past the end's M)
    SELECT fill, id, account_id, venue_id, instrument_id, executed_at, spot, position, kind,
           buy, lot, due,
           CASE WHEN kind = 0 THEN r - lag(r, 1, 0::numeric) OVER (
               PARTITION BY account_id, venue_id, instrument_id
               ORDER BY coord, kind, executed_at, id) END AS pnl,
           CASE WHEN kind = 1 THEN bl END AS bl, CASE WHEN kind = 1 THEN sl END AS sl
    FROM (
        SELECT c.*,
               CASE WHEN kind = 0 THEN
                   coalesce(sl[2] + (sl[4] - sl[2]) * (coord - sl[1]) / (sl[3] - sl[1]), 0)
                   - coalesce(bl[2] + (bl[4] - bl[2]) * (coord - bl[1]) / (bl[3] - bl[1]), 0)
               END AS r
        FROM carried c WHERE kind < 2 OR past_end
    ) c
), saved AS (  -- each book's state after its last fill
    INSERT INTO ledger_fifo_books AS c (user_id, account_key, venue_key, instrument_id,
        executed_at, event_id, bought, sold, cost, proceeds, lot_buy, lot_q0, lot_v0, lot_q1,
        lot_v1)
    SELECT %(user_id)s, coalesce(e.account_id, '{_ZERO_ID}'), coalesce(e.venue_id, '{_ZERO_ID}'),
           e.instrument_id, e.executed_at, e.id, e.lot[1], e.lot[3], e.lot[2], e.lot[4],
           coalesce(l.lot_buy, '{{}}'), coalesce(l.lot_q0, '{{}}'), coalesce(l.lot_v0, '{{}}'),
           coalesce(l.lot_q1, '{{}}'), coalesce(l.lot_v1, '{{}}')
    FROM outp e
    LEFT JOIN (
        SELECT account_id, venue_id, instrument_id, array_agg(buy) AS lot_buy,
               array_agg(lot[1]) AS lot_q0, array_agg(lot[2]) AS lot_v0,
               array_agg(lot[3]) AS lot_q1, array_agg(lot[4]) AS lot_v1
        FROM (
            SELECT account_id, venue_id, instrument_id, buy, lot FROM outp WHERE kind = 2
            UNION ALL
            SELECT account_id, venue_id, instrument_id, true, bl FROM outp
            WHERE kind = 1 AND bl IS NOT NULL
            UNION ALL
            SELECT account_id, venue_id, instrument_id, false, sl FROM outp
            WHERE kind = 1 AND sl IS NOT NULL
        ) x
        GROUP BY 1, 2, 3
    ) l ON l.instrument_id = e.instrument_id AND l.account_id IS NOT DISTINCT FROM e.account_id
       AND l.venue_id IS NOT DISTINCT FROM e.venue_id
    WHERE e.kind = 1
    ON CONFLICT (user_id, instrument_id, account_key, venue_key) DO UPDATE SET
        executed_at = EXCLUDED.executed_at, event_id = EXCLUDED.event_id,
        bought = EXCLUDED.bought, sold = EXCLUDED.sold, cost = EXCLUDED.cost,
        proceeds = EXCLUDED.proceeds, lot_buy = EXCLUDED.lot_buy, lot_q0 = EXCLUDED.lot_q0,
        lot_v0 = EXCLUDED.lot_v0, lot_q1 = EXCLUDED.lot_q1, lot_v1 = EXCLUDED.lot_v1
)
INSERT INTO ledger_fill_pnl (event_id, user_id, account_id, venue_id, instrument_id, quote,
                             executed_at, pnl, position, spot)
SELECT r.id, %(user_id)s, r.account_id, r.venue_id, r.instrument_id, i.quote_asset,
       r.executed_at, r.pnl, r.position, r.spot
FROM outp r JOIN instruments i ON i.id = r.instrument_id
WHERE r.kind = 0 AND r.fill AND r.due
  AND (r.pnl <> 0 OR r.position = 0 OR (r.spot AND r.position < 0))
ON CONFLICT (event_id) DO UPDATE SET
    user_id = EXCLUDED.user_id, account_id = EXCLUDED.account_id,
    venue_id = EXCLUDED.venue_id, instrument_id = EXCLUDED.instrument_id,
    quote = EXCLUDED.quote, executed_at = EXCLUDED.executed_at, pnl = EXCLUDED.pnl,
    position = EXCLUDED.position, spot = EXCLUDED.spot
"""

# A stored replay state that a change at or before its last fill makes stale: such a book
# replays from its last flat point, and the replay saves its state again.
_STALE_STATE_SQL = f"""
DELETE FROM ledger_fifo_books c
USING unnest(%(accounts)s::uuid[], %(venues)s::uuid[], %(instruments)s::uuid[],
             %(since)s::timestamptz[]) AS k(account_id, venue_id, instrument_id, since)
WHERE c.user_id = %(user_id)s AND c.instrument_id = k.instrument_id
  AND c.account_key = coalesce(k.account_id, '{_ZERO_ID}')
  AND c.venue_key = coalesce(k.venue_id, '{_ZERO_ID}') AND c.executed_at >= k.since
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
    await conn.execute(_STALE_STATE_SQL, params)
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
