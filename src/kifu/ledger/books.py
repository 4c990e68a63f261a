"""Positions from fills: every (account, instrument) book's FIFO position in two set-based
statements, equal to feeding its fills to ``kifu.ledger.positions.FifoBook``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from kifu.ledger import store
from kifu.ledger.positions import Position
from kifu.ledger.rules import canonical_decimal

BATCH = 500
# Room for the ordered pass to sort a large history in memory (the realized-PnL replay's too).
BOOKS_WORK_MEM = "256MB"


def _position_row(
    user_id: uuid.UUID,
    account_id: uuid.UUID,
    venue_id: uuid.UUID,
    instrument_id: uuid.UUID,
    p: Position,
) -> tuple[Any, ...]:
    return (
        user_id,
        account_id,
        venue_id,
        instrument_id,
        p.status,
        p.size,
        p.avg_entry,
        p.avg_exit,
        p.opened_at,
        p.closed_at,
        p.realized_pnl_usdt,
        p.realized_pnl_krw,
        p.fees_usdt,
        p.fees_krw,
        p.buy_qty,
        p.sell_qty,
        p.buy_notional,
        p.sell_notional,
        p.last_executed_at,
        p.quote_asset,
        p.realized_pnl,
        p.fees,
        json.dumps({k: canonical_decimal(v) for k, v in sorted(p.unconverted_fees.items())}),
        p.event_count,
    )


# The FIFO book of kifu.ledger.positions, folded into one ordered pass per (account, instrument).
# FIFO pairs the k-th unit bought with the k-th unit sold whichever side opened the position, so
# with B and S the running bought and sold quantities (fills in (executed_at, id) order, only
# positive quantities move the book) and M = least(B_total, S_total) the matched quantity:
#   realized (gross of fees) = Csell(M) - Cbuy(M), where Cbuy(q) is the cost of the first q units
#     bought: each buy contributes price * clamp(M - B_before, 0, qty), likewise for sells;
#   a fill closes least(B, S) - least(B_before, S_before) units at its own price: summed, the
#     exit notional; the entry notional of the closed units is Cbuy(M) + Csell(M) - exit;
#   the open lots are the units past M on the larger side: their cost is total - C(M);
#   the book opens when the signed size leaves zero or changes sign, and closes when it returns
#     to zero (a flip closes and reopens in the same fill).
# Divisions (average prices) are left to Python so they round exactly like FifoBook.position().
_BOOK_FILTER = """
    e.user_id = %(user)s AND e.account_id IS NOT NULL
      AND e.event_type IN ('spot_trade', 'perp_trade', 'dex_swap')
      AND e.side IS NOT NULL AND e.qty IS NOT NULL AND e.price IS NOT NULL
      {only}
"""

# The order-free part of every book: one parallel aggregate.
_BOOK_TOTALS_SQL = f"""
SELECT t.*, a.venue_id FROM (
    SELECT e.account_id, e.instrument_id, max(i.quote_asset) AS quote_asset,
           count(*) AS n, max(e.executed_at) AS last_at,
           coalesce(sum(e.qty) FILTER (WHERE e.side = 'buy'), 0) AS buy_qty,
           coalesce(sum(e.qty) FILTER (WHERE e.side = 'sell'), 0) AS sell_qty,
           coalesce(sum(e.qty * e.price) FILTER (WHERE e.side = 'buy'), 0) AS buy_notional,
           coalesce(sum(e.qty * e.price) FILTER (WHERE e.side = 'sell'), 0) AS sell_notional,
           coalesce(sum(e.qty) FILTER (WHERE e.side = 'buy' AND e.qty > 0), 0) AS bt,
           coalesce(sum(e.qty) FILTER (WHERE e.side = 'sell' AND e.qty > 0), 0) AS st,
           coalesce(sum(e.qty * e.price) FILTER (WHERE e.side = 'buy' AND e.qty > 0), 0)
             AS buy_cost,
           coalesce(sum(e.qty * e.price) FILTER (WHERE e.side = 'sell' AND e.qty > 0), 0)
             AS sell_proceeds,
           coalesce(sum(e.fee) FILTER (WHERE e.fee <> 0 AND upper(coalesce(e.fee_asset,
             i.quote_asset)) = upper(i.quote_asset)), 0) AS fees,
           count(*) FILTER (WHERE e.fee <> 0 AND upper(coalesce(e.fee_asset, i.quote_asset))
             <> upper(i.quote_asset)) AS other_fees
    FROM trade_events e JOIN instruments i ON i.id = e.instrument_id
    WHERE {_BOOK_FILTER}
    GROUP BY e.account_id, e.instrument_id
) t JOIN accounts a ON a.id = t.account_id
"""

# The order-dependent part: one ordered pass with the running bought (b) and sold (s) quantities;
# m is each book's matched quantity least(bought, sold) from the totals above.
_BOOK_ORDERED_SQL = f"""
WITH w AS (
    SELECT e.account_id, e.instrument_id, e.executed_at, e.price, k.m, x.bq, x.sq,
           sum(x.bq) OVER o AS b, sum(x.sq) OVER o AS s
    FROM trade_events e
    JOIN unnest(%(accounts)s::uuid[], %(instruments)s::uuid[], %(matched)s::numeric[])
           AS k(account_id, instrument_id, m)
      ON k.account_id = e.account_id AND k.instrument_id = e.instrument_id
    CROSS JOIN LATERAL (
        SELECT CASE WHEN e.side = 'buy' AND e.qty > 0 THEN e.qty ELSE 0 END AS bq,
               CASE WHEN e.side = 'sell' AND e.qty > 0 THEN e.qty ELSE 0 END AS sq) x
    WHERE {_BOOK_FILTER}
    WINDOW o AS (PARTITION BY e.account_id, e.instrument_id ORDER BY e.executed_at, e.id
                 ROWS UNBOUNDED PRECEDING)
), c AS (
    SELECT w.*, least(b, s) - least(b - bq, s - sq) AS closed FROM w
)
SELECT account_id, instrument_id,
       coalesce(sum(price * least(bq, m - b + bq)) FILTER (WHERE bq > 0 AND b - bq < m), 0)
         AS buy_matched,
       coalesce(sum(price * least(sq, m - s + sq)) FILTER (WHERE sq > 0 AND s - sq < m), 0)
         AS sell_matched,
       coalesce(sum(price * closed) FILTER (WHERE closed > 0), 0) AS exit_notional,
       max(executed_at) FILTER (WHERE b <> s AND sign(b - s) <> sign(b - bq - s + sq))
         AS opened_at,
       max(executed_at) FILTER (WHERE b = s AND closed > 0) AS flat_at
FROM c
GROUP BY account_id, instrument_id
"""

# Fees in an asset other than the quote, per asset, for the positions that have any.
_OTHER_FEES_SQL = """
SELECT e.account_id, e.instrument_id, upper(e.fee_asset) AS asset, sum(e.fee) AS total
FROM trade_events e
JOIN accounts a ON a.id = e.account_id
JOIN instruments i ON i.id = e.instrument_id
WHERE e.user_id = %(user)s AND e.account_id = ANY(%(accounts)s)
  AND e.instrument_id = ANY(%(instruments)s)
  AND e.event_type IN ('spot_trade', 'perp_trade', 'dex_swap')
  AND e.side IS NOT NULL AND e.qty IS NOT NULL AND e.price IS NOT NULL
  AND e.fee <> 0 AND upper(coalesce(e.fee_asset, i.quote_asset)) <> upper(i.quote_asset)
GROUP BY 1, 2, 3
"""


def _position_from_sums(
    t: dict[str, Any], o: dict[str, Any], other_fees: dict[str, Decimal]
) -> Position:
    """A Position equal to FifoBook.position() from one book's totals ``t`` and ordered sums
    ``o``."""
    p = Position(quote_asset=t["quote_asset"].upper())
    p.event_count, p.last_executed_at = t["n"], t["last_at"]
    p.buy_qty, p.sell_qty = t["buy_qty"], t["sell_qty"]
    p.buy_notional, p.sell_notional = t["buy_notional"], t["sell_notional"]
    size = p.size = t["bt"] - t["st"]
    matched = min(t["bt"], t["st"])
    buy_matched, sell_matched = o["buy_matched"], o["sell_matched"]
    exit_notional = o["exit_notional"]
    p.fees = t["fees"]
    p.realized_pnl = sell_matched - buy_matched - p.fees
    p.unconverted_fees = other_fees
    p.opened_at = o["opened_at"]
    p.closed_at = o["flat_at"] if size == 0 else None
    if size > 0:
        p.avg_entry = (t["buy_cost"] - buy_matched) / size
    elif size < 0:
        p.avg_entry = (t["sell_proceeds"] - sell_matched) / -size
    elif matched:
        p.avg_entry = (buy_matched + sell_matched - exit_notional) / matched
    p.avg_exit = exit_notional / matched if matched else None
    return p


async def refresh_positions(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    books: Sequence[tuple[uuid.UUID, uuid.UUID]] | None = None,
) -> int:
    """Recompute positions with FIFO; inside a transaction holding the ledger lock. ``books``:
    only these (account, instrument) pairs (each depends only on its own events, so this always
    equals a full rebuild of them); ``None``: every book of the user. A book left without fills
    loses its position. Returns positions written.

    Two set-based statements (``_BOOK_TOTALS_SQL``, ``_BOOK_ORDERED_SQL``) give every book's
    sums; the result equals feeding the fills to ``FifoBook`` (tests/ledger pin this)."""
    params: dict[str, Any] = {"user": user_id}
    only = ""
    if books is not None:
        if not books:
            return 0
        only = (
            "AND (e.account_id, e.instrument_id) IN (SELECT * FROM unnest("
            "%(book_accounts)s::uuid[], %(book_instruments)s::uuid[]))"
        )
        params["book_accounts"] = [b[0] for b in books]
        params["book_instruments"] = [b[1] for b in books]
    cur = conn.cursor(row_factory=dict_row)
    # Both statements read every fill of the books: hash joins at every size, and room to sort
    # them in memory (the caller's settings come back afterwards). Right after a large write the
    # statistics do not count the new fills, and the planner looked up each fill's instrument
    # and book by nested loops, merged or sorted them all to group, and spilled the ordered
    # pass to disk (6.4 s of a 1M-fill catch-up, 4.8 s without). The books' instruments are
    # given as = ANY too: the (user_id, instrument_id) index narrows the scan to them.
    if books:
        only = "AND e.instrument_id = ANY(%(book_instruments)s::uuid[]) " + only
    await cur.execute(
        "SELECT current_setting('enable_nestloop') AS n, current_setting('enable_mergejoin') AS m,"
        " current_setting('work_mem') AS w, set_config('enable_nestloop', 'off', true),"
        " set_config('enable_mergejoin', 'off', true), set_config('work_mem', %s, true)",
        (BOOKS_WORK_MEM,),
    )
    planner = await cur.fetchone()
    await cur.execute(_BOOK_TOTALS_SQL.format(only=only), params)
    totals = {(r["account_id"], r["instrument_id"]): r for r in await cur.fetchall()}
    ordered: dict[tuple[Any, Any], dict[str, Any]] = {}
    if totals:
        keys = list(totals)
        await cur.execute(
            _BOOK_ORDERED_SQL.format(only=only),
            {
                **params,
                "accounts": [k[0] for k in keys],
                "instruments": [k[1] for k in keys],
                "matched": [min(totals[k]["bt"], totals[k]["st"]) for k in keys],
            },
        )
        ordered = {(r["account_id"], r["instrument_id"]): r for r in await cur.fetchall()}
    await cur.execute(
        "SELECT set_config('enable_nestloop', %s, true), set_config('enable_mergejoin', %s, true),"
        " set_config('work_mem', %s, true)",
        (planner["n"], planner["m"], planner["w"]),  # type: ignore[index]
    )
    other: dict[tuple[Any, Any], dict[str, Decimal]] = {}
    with_other = [k for k, t in totals.items() if t["other_fees"]]
    if with_other:
        await cur.execute(
            _OTHER_FEES_SQL,
            {
                "user": user_id,
                "accounts": list({k[0] for k in with_other}),
                "instruments": list({k[1] for k in with_other}),
            },
        )
        for r in await cur.fetchall():
            other.setdefault((r["account_id"], r["instrument_id"]), {})[r["asset"]] = r["total"]
    rows = [
        _position_row(
            user_id, k[0], t["venue_id"], k[1], _position_from_sums(t, ordered[k], other.get(k, {}))
        )
        for k, t in totals.items()
    ]
    for i in range(0, len(rows), BATCH):
        await store.upsert_positions(conn, rows[i : i + BATCH])
    await store.delete_positions_except(conn, user_id, list(totals), books)
    return len(rows)
