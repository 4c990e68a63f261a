"""Ledger use cases: rebuild positions (incremental or full) and turn normalised fills into
staging rows with their keys."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from kifu.ledger import pnl, store
from kifu.ledger.positions import Position
from kifu.ledger.rules import (
    ASSET_CLASSES,
    EVENT_TYPES,
    TRADE_LIKE,
    RuleError,
    canonical_decimal,
    canonical_venue,
    content_base,
    default_event_type,
    id_key,
    instrument_symbol,
    split_symbol,
    venue_type_for,
)

BATCH = 500


@dataclass(slots=True)
class NormalFill:
    """A fill in canonical form, as every writer of trade events produces it."""

    venue: str
    venue_type: str
    asset_class: str
    base: str
    quote: str
    venue_symbol: str
    event_type: str
    side: str | None
    qty: Decimal | None
    price: Decimal | None
    fee: Decimal | None
    fee_asset: str | None
    executed_at: datetime
    external_id: str | None
    metadata: str | None

    @property
    def instrument(self) -> str:
        return instrument_symbol(self.base, self.quote)

    def stage_row(self, row_no: int) -> tuple[Any, ...]:
        inst = self.instrument
        cb = content_base(
            venue=self.venue,
            asset_class=self.asset_class,
            instrument=inst,
            event_type=self.event_type,
            side=self.side,
            qty=self.qty,
            price=self.price,
            executed_at=self.executed_at,
        )
        ik = (
            id_key(
                venue=self.venue,
                asset_class=self.asset_class,
                instrument=inst,
                external_id=self.external_id,
            )
            if self.external_id
            else None
        )
        return (
            row_no,
            self.venue,
            self.venue_type,
            self.asset_class,
            self.base,
            self.quote,
            inst,
            self.venue_symbol,
            self.event_type,
            self.side,
            self.qty,
            self.price,
            self.fee,
            self.fee_asset,
            self.executed_at,
            self.external_id,
            self.metadata,
            cb,
            ik,
        )


def _check_amount(name: str, value: Decimal | None, *, required: bool, positive: bool) -> None:
    if value is None:
        if required:
            raise RuleError(f"invalid {name}: empty")
        return
    if value < 0:
        raise RuleError(f"invalid {name}: {canonical_decimal(value)} is negative")
    if positive and value == 0:
        raise RuleError(f"invalid {name}: must be greater than 0")


def normalise_fill(
    *,
    venue: str,
    venue_type: str | None,
    asset_class: str,
    symbol: str,
    base: str | None,
    quote: str | None,
    event_type: str | None,
    side: str | None,
    qty: Decimal | None,
    price: Decimal | None,
    fee: Decimal | None,
    fee_asset: str | None,
    executed_at: datetime,
    external_id: str | None,
    metadata: str | None,
    symbol_cache: dict[tuple[str, str, str | None, str | None], tuple[str, str]] | None = None,
) -> NormalFill:
    """Validate and canonicalise one fill; ``RuleError`` carries the row's issue reason."""
    if asset_class not in ASSET_CLASSES:
        raise RuleError("asset_class must be crypto or stock")
    raw_venue = venue.strip().lower()
    vtype = venue_type or venue_type_for(canonical_venue(raw_venue, event_type or "spot_trade"))
    ev = event_type if event_type in EVENT_TYPES else None
    code = canonical_venue(raw_venue, ev)
    if ev is None:
        ev = default_event_type(code, vtype)
        code = canonical_venue(raw_venue, ev)
    trade_like = ev in TRADE_LIKE
    if trade_like and side not in ("buy", "sell"):
        raise RuleError("side is required for trade events")
    _check_amount("qty", qty, required=True, positive=trade_like)
    _check_amount("price", price, required=trade_like, positive=trade_like)
    _check_amount("fee", fee, required=False, positive=False)
    ck = (symbol, code, base, quote)
    pair = symbol_cache.get(ck) if symbol_cache is not None else None
    if pair is None:
        pair = split_symbol(symbol, venue=code, asset_class=asset_class, base=base, quote=quote)
        if symbol_cache is not None and len(symbol_cache) < 10_000:
            symbol_cache[ck] = pair
    b, q = pair
    return NormalFill(
        venue=code,
        venue_type=vtype,
        asset_class=asset_class,
        base=b,
        quote=q,
        venue_symbol=(symbol.strip() or f"{b}{q}")[:40],
        event_type=ev,
        side=side if side in ("buy", "sell") else None,
        qty=qty,
        price=price,
        fee=fee,
        fee_asset=(fee_asset or (q if fee else None)),
        executed_at=executed_at,
        external_id=external_id.strip()[:120] if external_id and external_id.strip() else None,
        metadata=metadata,
    )


# -- positions -------------------------------------------------------------------------------


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
    conn: AsyncConnection, user_id: uuid.UUID, *, touched_only: bool
) -> int:
    """Recompute positions with FIFO; inside a transaction. ``touched_only``: only the
    (account, instrument) pairs in ``_touched`` (filled by the last write) — each pair depends
    only on its own events, so this always equals a full rebuild. Returns positions written.

    Two set-based statements (``_BOOK_TOTALS_SQL``, ``_BOOK_ORDERED_SQL``) give every book's
    sums; the result equals feeding the fills to ``FifoBook`` (tests/ledger pin this)."""
    only = (
        "AND (e.account_id, e.instrument_id) IN (SELECT account_id, instrument_id FROM _touched)"
        if touched_only
        else ""
    )
    params: dict[str, Any] = {"user": user_id}
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_BOOK_TOTALS_SQL.format(only=only), params)
    totals = {(r["account_id"], r["instrument_id"]): r for r in await cur.fetchall()}
    ordered: dict[tuple[Any, Any], dict[str, Any]] = {}
    if totals:
        keys = list(totals)
        # Room to sort a large history in memory; the caller's setting is restored afterwards.
        await cur.execute("SELECT current_setting('work_mem') AS w")
        work_mem = (await cur.fetchone())["w"]  # type: ignore[index]
        await cur.execute("SELECT set_config('work_mem', '64MB', true)")
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
        await cur.execute("SELECT set_config('work_mem', %s, true)", (work_mem,))
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
    if not touched_only:
        await store.delete_positions_without_events(conn, user_id)
    # The written fills' realized PnL and its hourly curve, for summary packs.
    await pnl.catch_up(conn, user_id)
    return len(rows)


async def rebuild_positions(conn: AsyncConnection, user_id: uuid.UUID) -> int:
    """Full rebuild of one user's positions, in its own transaction."""
    async with conn.transaction():
        await store.lock_ledger(conn, user_id)
        return await refresh_positions(conn, user_id, touched_only=False)


# -- backfill from the legacy trades table -----------------------------------------------------


async def backfill_events(conn: AsyncConnection, user_id: uuid.UUID, page: int) -> dict[str, Any]:
    """Create trade events for the user's ``trades`` rows (one transaction, read in pages of
    ``page``). Trades with a real (positive) exchange id are keyed by it; CSV-imported trades
    (negative synthetic ids) by content, so their existing events are recognised."""
    processed = 0
    async with conn.transaction():
        await store.begin_write(conn, user_id)
        last: tuple[Any, Any] | None = None
        # A COPY would hold the connection, so pages go in with executemany instead.
        insert = store.insert_stage_sql()
        while True:
            cur = await conn.execute(
                "SELECT id, exchange, symbol, side, quantity, price, trade_time,"
                " binance_trade_id FROM trades WHERE user_id = %(user)s"
                + (" AND (trade_time, id) > (%(at)s, %(id)s)" if last else "")
                + " ORDER BY trade_time, id LIMIT %(page)s",
                {
                    "user": user_id,
                    "page": page,
                    "at": last[0] if last else None,
                    "id": last[1] if last else None,
                },
            )
            batch = await cur.fetchall()
            if not batch:
                break
            staged: list[tuple[Any, ...]] = []
            for tid, exchange, symbol, side, qty, price, at, btid in batch:
                processed += 1
                ex = (exchange or "binance_futures").lower()
                try:
                    nf = normalise_fill(
                        venue=ex,
                        venue_type=None,
                        asset_class="crypto",
                        symbol=symbol,
                        base=None,
                        quote=None,
                        event_type="perp_trade"
                        if "futures" in ex or "perp" in ex
                        else "spot_trade",
                        side=(side or "buy").lower(),
                        qty=qty,
                        price=price,
                        fee=None,
                        fee_asset=None,
                        executed_at=at,
                        external_id=str(btid) if btid and btid > 0 else None,
                        metadata=json.dumps({"trade_id": str(tid), "exchange": exchange}),
                    )
                except RuleError:
                    continue  # unreadable legacy symbol: counted in "skipped"
                staged.append(nf.stage_row(processed))
            if staged:
                async with conn.cursor() as cur:
                    await cur.executemany(insert, staged)
            last = (batch[-1][6], batch[-1][0])
        result = await store.write_staged_fills(
            conn, user_id, account_label="api-sync", address=None, source="api", issue_room=0
        )
        if result.inserted:
            await refresh_positions(conn, user_id, touched_only=True)
    return {
        "processed": processed,
        "created": result.inserted,
        "skipped": processed - result.inserted,
        "positions_refreshed": result.inserted > 0,
        "positions_refresh_error": None,
    }
