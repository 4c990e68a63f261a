"""The reference's generic unified-import columns, with their aliases (kifu-behaviour §2.3)."""

from __future__ import annotations

from kifu.ingest.formats.base import (
    Format,
    ImportContext,
    ParsedRow,
    RowParser,
    canonical_json,
    cell,
    number,
    parse_side,
    parse_time,
)
from kifu.ledger.rules import RuleError

ALIASES: dict[str, tuple[str, ...]] = {
    "executed_at": ("executed_at", "trade_time", "timestamp", "time", "datetime"),
    "symbol": ("symbol", "pair", "instrument"),
    "side": ("side", "type"),
    "qty": ("qty", "quantity", "amount", "size"),
    "price": ("price", "avg_price", "executed_price"),
    "fee": ("fee", "commission"),
    "fee_asset": ("fee_asset", "fee_currency", "commission_asset"),
    "event_type": ("event_type",),
    "external_id": ("external_id", "trade_id", "tx_hash"),
    "venue_symbol": ("venue_symbol", "exchange_symbol"),
    "base_asset": ("base_asset", "base"),
    "quote_asset": ("quote_asset", "quote"),
    "metadata": ("metadata",),
}
REQUIRED = ("executed_at", "symbol", "side", "qty", "price")


def resolve(header: list[str]) -> dict[str, int]:
    """Canonical field → column index (first alias present wins)."""
    found: dict[str, int] = {}
    for field, names in ALIASES.items():
        for name in names:
            if name in header:
                found[field] = header.index(name)
                break
    return found


class Generic(Format):
    name = "generic"
    time_note = "times without a zone are read as UTC"

    def matches(self, header: list[str]) -> bool:
        return True

    def missing(self, header: list[str]) -> list[str]:
        cols = resolve(header)
        return [f for f in REQUIRED if f not in cols]

    def parser(self, header: list[str], ctx: ImportContext) -> RowParser:
        c = resolve(header)
        g = c.get

        def parse(cells: list[str]) -> ParsedRow:
            raw_time = cell(cells, g("executed_at"))
            if not raw_time:
                raise RuleError("executed_at is required")
            at, assumed = parse_time(raw_time)
            symbol = cell(cells, g("venue_symbol")) or cell(cells, g("symbol"))
            if not cell(cells, g("symbol")):
                raise RuleError("symbol is required")
            fee = number(cell(cells, g("fee")), "fee")
            meta = cell(cells, g("metadata"))
            return ParsedRow(
                executed_at=at,
                symbol=symbol,
                base=cell(cells, g("base_asset")) or None,
                quote=cell(cells, g("quote_asset")) or None,
                event_type=cell(cells, g("event_type")).lower() or None,
                side=parse_side(cell(cells, g("side"))),
                qty=number(cell(cells, g("qty")), "qty"),  # type: ignore[arg-type]
                price=number(cell(cells, g("price")), "price"),
                fee=fee,
                fee_asset=cell(cells, g("fee_asset")).upper() or None,
                external_id=cell(cells, g("external_id")) or None,
                metadata=canonical_json(meta) if meta else None,
                zone_assumed=assumed,
            )

        return parse
