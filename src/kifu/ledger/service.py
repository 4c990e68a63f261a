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

from kifu.ledger import store
from kifu.ledger.positions import FifoBook, Fill, Position
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


async def refresh_positions(
    conn: AsyncConnection, user_id: uuid.UUID, *, touched_only: bool
) -> int:
    """Recompute positions with FIFO; inside a transaction. ``touched_only``: only the
    (account, instrument) pairs in ``_touched`` (filled by the last write) — each pair depends
    only on its own events, so this always equals a full rebuild. Returns positions written."""
    only = (
        "AND (e.account_id, e.instrument_id) IN (SELECT account_id, instrument_id FROM _touched)"
        if touched_only
        else ""
    )
    written = 0
    pending: list[tuple[Any, ...]] = []
    key: tuple[Any, Any] | None = None
    book: FifoBook | None = None
    venue_id = None
    async with conn.cursor(name=f"pos_{uuid.uuid4().hex[:8]}") as cur:
        cur.itersize = 5000
        await cur.execute(store.POSITION_EVENTS_SQL.format(only=only), {"user": user_id})
        async for acct, instr, vid, quote, at, side, qty, price, fee, fee_asset, ev in cur:
            if (acct, instr) != key:
                if book is not None and key is not None:
                    pending.append(
                        _position_row(user_id, key[0], venue_id, key[1], book.position())
                    )
                key, venue_id, book = (acct, instr), vid, FifoBook(quote)
            book.apply(Fill(at, side, qty, price, fee, fee_asset, ev))  # type: ignore[union-attr]
            if len(pending) >= BATCH:
                await store.upsert_positions(conn, pending)
                written += len(pending)
                pending = []
    if book is not None and key is not None:
        pending.append(_position_row(user_id, key[0], venue_id, key[1], book.position()))
    await store.upsert_positions(conn, pending)
    written += len(pending)
    if not touched_only:
        await store.delete_positions_without_events(conn, user_id)
    return written


async def rebuild_positions(conn: AsyncConnection, user_id: uuid.UUID) -> int:
    """Full rebuild of one user's positions, in its own transaction."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 4))", (str(user_id),))
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
