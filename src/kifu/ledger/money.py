"""The money of a span of the ledger per currency: realized PnL, fees, funding, and the number of
trade fills, folded from the groups ``queries.fee_buckets`` and ``queries.realized_pnl_buckets``
return. Pure (imports only ``kifu.kit``); ``queries.money_by_day_json`` is its SQL twin, which
the review calendar answers from, pinned to this module by ``tests/ledger/test_money.py``.

* *realized PnL* ``[quote]`` — Σ of the fills' FIFO realized PnL, in the instrument's quote.
* *fees* ``[asset]`` — Σ ``fee`` of trade fills plus Σ ``fee`` of fee events without an income
  type (CSV fee rows), in the first of fee asset, instrument quote, metadata asset that is not
  missing, upper case; a group whose Σ fee is zero adds no currency, and an empty asset none.
* *funding* ``[asset]`` — Σ of the signed funding income (``kifu_funding_amount``, positive =
  received) of ``FUNDING_FEE`` events, in the first of metadata asset, fee asset, quote, upper
  case; an empty asset adds nothing.
* *fills* — the number of trade fills (spot, perpetual, swap).

The summary pack folds fees by the same currencies with its own counts (``kifu.packs.rules``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kifu.kit.money import EXACT, dec_str

TRADE_EVENT_TYPES = ("spot_trade", "perp_trade", "dex_swap")


def _add(m: dict[str, Decimal], key: str, value: Decimal) -> None:
    m[key] = EXACT.add(m.get(key, Decimal(0)), value)


def _first(*values: str | None) -> str | None:
    return next((v for v in values if v is not None), None)


@dataclass
class MoneyByCcy:
    """Realized PnL, fees and funding per currency, and the number of trade fills."""

    realized_pnl: dict[str, Decimal] = field(default_factory=dict)
    fees: dict[str, Decimal] = field(default_factory=dict)
    funding: dict[str, Decimal] = field(default_factory=dict)
    fills: int = 0

    def add_pnl(self, quote: str, pnl: Decimal) -> None:
        _add(self.realized_pnl, quote, pnl)

    def as_json(self) -> dict[str, Any]:
        """Currencies in code-point order, amounts as ``dec_str`` prints them."""
        return {
            "realized_pnl": {k: dec_str(v) for k, v in sorted(self.realized_pnl.items())},
            "fees": {k: dec_str(v) for k, v in sorted(self.fees.items())},
            "funding": {k: dec_str(v) for k, v in sorted(self.funding.items())},
            "fills": self.fills,
        }


def add_fee_group(into: MoneyByCcy, g: dict[str, Any]) -> None:
    """Fold one event group (event type, income type, fee asset, metadata asset, quote, count,
    Σ fee, Σ funding) into fees, funding and the fill count, by the module docstring's rules."""
    trade = g["event_type"] in TRADE_EVENT_TYPES
    fee_event = g["event_type"] == "fee"
    income = g["income_type"] if fee_event else None
    if trade:
        into.fills += int(g["n"])
    fee_ccy = _first(g["fee_asset"], g["quote"], g["meta_asset"])
    if g["fee_sum"] and fee_ccy and (trade or (fee_event and income is None)):
        _add(into.fees, fee_ccy.upper(), g["fee_sum"])
    if fee_event and income == "FUNDING_FEE" and g["funding"] is not None:
        ccy = _first(g["meta_asset"], g["fee_asset"], g["quote"])
        if ccy:
            _add(into.funding, ccy.upper(), g["funding"])
