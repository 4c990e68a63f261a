"""Ledger use cases: rebuild positions (incremental or full) and turn normalised fills into
staging rows with their keys."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection

from kifu.ledger import store, tracker, writer
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


@functools.lru_cache(maxsize=1024)
def _venue_of(venue: str, venue_type: str | None, event_type: str | None) -> tuple[str, str, str]:
    """(venue code, venue type, event type) of a fill: a pure function of the static venue
    registry, asked once per distinct input (a file has one or two) instead of once per row."""
    raw_venue = venue.strip().lower()
    vtype = venue_type or venue_type_for(canonical_venue(raw_venue, event_type or "spot_trade"))
    ev = event_type if event_type in EVENT_TYPES else None
    code = canonical_venue(raw_venue, ev)
    if ev is None:
        ev = default_event_type(code, vtype)
        code = canonical_venue(raw_venue, ev)
    return code, vtype, ev


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
    code, vtype, ev = _venue_of(venue, venue_type, event_type)
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


# -- trades ------------------------------------------------------------------------------------


async def link_trade_bubbles(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    pairs: Sequence[tuple[uuid.UUID, uuid.UUID | None]],
    *,
    only_unlinked: bool = False,
) -> int:
    """Link trades to bubbles (the journal's auto bubbles and ``/trades/:id/link``); the ledger
    owns ``trades``, so this is the one writer of ``trades.bubble_id``."""
    return await store.link_trade_bubbles(conn, user_id, pairs, only_unlinked=only_unlinked)


# -- positions -------------------------------------------------------------------------------


async def rebuild_positions(conn: AsyncConnection, user_id: uuid.UUID) -> int:
    """Full rebuild of one user's positions, in its own transaction."""
    return await tracker.rebuild(conn, user_id)


# -- backfill from the legacy trades table -----------------------------------------------------


async def backfill_events(conn: AsyncConnection, user_id: uuid.UUID, page: int) -> dict[str, Any]:
    """Create trade events for the user's ``trades`` rows (one transaction, read in pages of
    ``page``). Trades with a real (positive) exchange id are keyed by it; CSV-imported trades
    (negative synthetic ids) by content, so their existing events are recognised. Each new event
    is linked to the trade it came from (no second ``trades`` row)."""
    processed = 0
    async with (
        conn.transaction(),
        writer.open_write(conn, user_id, source="api", account_label="api-sync") as w,
    ):
        last: tuple[Any, Any] | None = None
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
            staged: list[writer.Row] = []
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
                staged.append((processed, nf, writer.TradeFields(ref=tid)))
            await w.add_all(staged)
            last = (batch[-1][6], batch[-1][0])
        result = await w.finish()
    return {
        "processed": processed,
        "created": result.inserted,
        "skipped": processed - result.inserted,
        "positions_refreshed": result.inserted > 0,
        "positions_refresh_error": None,
    }
