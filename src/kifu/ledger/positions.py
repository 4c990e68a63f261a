"""Positions from fills: FIFO lots per account and instrument. Pure; no I/O.

Rules (documented in the README):

* Only trade-like events (spot_trade, perp_trade, dex_swap) with a side, a quantity and a price
  move a position; fills are applied in ``(executed_at, id)`` order.
* Lots are kept first-in first-out. A fill against the open direction closes the oldest lots
  first; realized PnL of a closed unit is ``exit − entry`` for a long lot and ``entry − exit`` for
  a short lot, in the quote currency. A fill larger than the open size closes everything and opens
  the rest in the other direction (a flip), in the same fill.
* A fee whose asset is the quote asset (or has no asset) is counted in ``fees`` and taken off
  realized PnL when it is paid, so for a fully closed history
  ``Σ realized = sell notional − buy notional − quote fees``. Fees in any other asset (BNB, the base
  asset…) are listed in ``unconverted_fees`` by asset and never dropped or guessed.
* ``avg_entry``: open → quantity-weighted entry of the remaining lots; flat → of every closed unit.
  ``avg_exit``: quantity-weighted exit price of every closed unit (None when nothing closed).
  ``opened_at``: when the current (or, when flat, the last) position opened from flat;
  ``closed_at``: when it went flat (None while open). ``size`` is signed: short is negative.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from kifu.ledger.rules import TRADE_LIKE

ZERO = Decimal(0)


@dataclass(frozen=True)
class Fill:
    executed_at: datetime
    side: str  # buy | sell
    qty: Decimal
    price: Decimal
    fee: Decimal | None = None
    fee_asset: str | None = None
    event_type: str = "spot_trade"


@dataclass
class Position:
    quote_asset: str
    size: Decimal = ZERO
    buy_qty: Decimal = ZERO
    sell_qty: Decimal = ZERO
    buy_notional: Decimal = ZERO
    sell_notional: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    unconverted_fees: dict[str, Decimal] = field(default_factory=dict)
    avg_entry: Decimal | None = None
    avg_exit: Decimal | None = None
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    last_executed_at: datetime | None = None
    event_count: int = 0

    @property
    def status(self) -> str:
        return "open" if self.size != 0 else "closed"

    @property
    def realized_pnl_usdt(self) -> Decimal:
        return self.realized_pnl if self.quote_asset == "USDT" else ZERO

    @property
    def realized_pnl_krw(self) -> Decimal:
        return self.realized_pnl if self.quote_asset == "KRW" else ZERO

    @property
    def fees_usdt(self) -> Decimal:
        return self.fees if self.quote_asset == "USDT" else ZERO

    @property
    def fees_krw(self) -> Decimal:
        return self.fees if self.quote_asset == "KRW" else ZERO


class FifoBook:
    """Feed fills in time order with ``apply``; read the result with ``position()``."""

    def __init__(self, quote_asset: str) -> None:
        self.quote = quote_asset.upper()
        self.lots: deque[list[Decimal]] = deque()  # [signed qty, entry price]
        self.pos = Position(quote_asset=self.quote)
        self._closed_qty = ZERO
        self._closed_entry_notional = ZERO
        self._exit_notional = ZERO
        self._open = ZERO  # signed open quantity, kept in step with the lots

    def apply(self, fill: Fill) -> None:
        if fill.event_type not in TRADE_LIKE or fill.side not in ("buy", "sell"):
            return
        p = self.pos
        qty, price = fill.qty, fill.price
        p.event_count += 1
        p.last_executed_at = fill.executed_at
        if fill.side == "buy":
            p.buy_qty += qty
            p.buy_notional += qty * price
            direction = 1
        else:
            p.sell_qty += qty
            p.sell_notional += qty * price
            direction = -1
        if fill.fee:
            asset = (fill.fee_asset or self.quote).upper()
            if asset == self.quote:
                p.fees += fill.fee
                p.realized_pnl -= fill.fee
            else:
                p.unconverted_fees[asset] = p.unconverted_fees.get(asset, ZERO) + fill.fee

        remaining = qty
        was_flat = not self.lots
        while remaining > 0 and self.lots and (self.lots[0][0] > 0) != (direction > 0):
            lot = self.lots[0]
            lot_qty = abs(lot[0])
            matched = min(remaining, lot_qty)
            entry = lot[1]
            p.realized_pnl += (price - entry) * matched if lot[0] > 0 else (entry - price) * matched
            self._closed_qty += matched
            self._closed_entry_notional += matched * entry
            self._exit_notional += matched * price
            remaining -= matched
            self._open -= matched * (1 if lot[0] > 0 else -1)
            if matched == lot_qty:
                self.lots.popleft()
            else:
                lot[0] = lot[0] - matched if lot[0] > 0 else lot[0] + matched
        if not was_flat and not self.lots:
            p.closed_at = fill.executed_at
        if remaining > 0:
            if not self.lots:
                p.opened_at = fill.executed_at
                p.closed_at = None
            self.lots.append([remaining * direction, price])
            self._open += remaining * direction
        p.size = self._open

    def position(self) -> Position:
        p = self.pos
        if self.lots:
            open_qty = sum((abs(lot[0]) for lot in self.lots), ZERO)
            p.avg_entry = sum((abs(lot[0]) * lot[1] for lot in self.lots), ZERO) / open_qty
        elif self._closed_qty:
            p.avg_entry = self._closed_entry_notional / self._closed_qty
        else:
            p.avg_entry = None
        p.avg_exit = self._exit_notional / self._closed_qty if self._closed_qty else None
        return p


def compute(quote_asset: str, fills: Iterable[Fill]) -> Position:
    """The position after ``fills`` (already in execution order)."""
    book = FifoBook(quote_asset)
    for f in fills:
        book.apply(f)
    return book.position()
