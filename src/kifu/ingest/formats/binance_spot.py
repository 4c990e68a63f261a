"""Binance spot "Trade History" export: ``Date(UTC), Pair, Side, Price, Executed, Amount, Fee``.

``Executed``, ``Amount`` and ``Fee`` carry their asset, with or without a space
(``0.00100000BTC``, ``25.5 USDT``, ``0.0000010BNB``). Times are UTC.
"""

from __future__ import annotations

from kifu.ingest.formats.base import (
    Format,
    ImportContext,
    ParsedRow,
    RowParser,
    amount,
    cell,
    parse_side,
    parse_time,
)

HEADER = ("date(utc)", "pair", "side", "price", "executed", "amount", "fee")


class BinanceSpot(Format):
    name = "binance_spot"
    venue = "binance_spot"

    def matches(self, header: list[str]) -> bool:
        return all(h in header for h in HEADER) and "realized_profit" not in header

    def parser(self, header: list[str], ctx: ImportContext) -> RowParser:
        i = {h: header.index(h) for h in HEADER}

        def parse(cells: list[str]) -> ParsedRow:
            at, _ = parse_time(cell(cells, i["date(utc)"]))
            qty, base = amount(cell(cells, i["executed"]), "qty")
            price, _ = amount(cell(cells, i["price"]), "price")
            _, quote = amount(cell(cells, i["amount"]), "amount")
            fee, fee_asset = amount(cell(cells, i["fee"]), "fee")
            pair = cell(cells, i["pair"])
            known = bool(base and quote and pair.upper().replace("/", "") == base + quote)
            return ParsedRow(
                executed_at=at,
                symbol=pair,
                base=base if known else None,
                quote=quote if known else None,
                event_type="spot_trade",
                side=parse_side(cell(cells, i["side"])),
                qty=qty,  # type: ignore[arg-type]
                price=price,
                fee=fee,
                fee_asset=fee_asset,
                external_id=None,
                metadata=None,
            )

        return parse
