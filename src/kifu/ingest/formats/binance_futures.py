"""Binance USDⓈ-M futures "Trade History" export:
``Date(UTC), Pair, Side, Price, Quantity, Amount, Fee, Realized Profit``.

Times are UTC (the header says so). ``Fee`` may carry its asset (``0.0123 USDT``); a bare number
is in the quote asset (USDⓈ-M charges the margin asset). ``Realized Profit`` is the exchange's own
figure and is kept in the event's metadata; kifu computes its own FIFO PnL.
"""

from __future__ import annotations

import json

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

HEADER = ("date(utc)", "pair", "side", "price", "quantity", "amount", "fee", "realized_profit")


class BinanceFutures(Format):
    name = "binance_futures"
    venue = "binance_futures"

    def matches(self, header: list[str]) -> bool:
        return all(h in header for h in HEADER)

    def parser(self, header: list[str], ctx: ImportContext) -> RowParser:
        i = {h: header.index(h) for h in HEADER}

        def parse(cells: list[str]) -> ParsedRow:
            at, _ = parse_time(cell(cells, i["date(utc)"]))
            qty, _ = amount(cell(cells, i["quantity"]), "qty")
            price, _ = amount(cell(cells, i["price"]), "price")
            fee, fee_asset = amount(cell(cells, i["fee"]), "fee")
            pnl, pnl_asset = amount(cell(cells, i["realized_profit"]), "realized profit")
            meta = None
            if pnl is not None:
                meta = json.dumps(
                    {"realized_profit": str(pnl), "realized_profit_asset": pnl_asset},
                    sort_keys=True,
                    separators=(",", ":"),
                )
            return ParsedRow(
                executed_at=at,
                symbol=cell(cells, i["pair"]),
                base=None,
                quote=None,
                event_type="perp_trade",
                side=parse_side(cell(cells, i["side"])),
                qty=qty,  # type: ignore[arg-type]
                price=price,
                fee=fee,
                fee_asset=fee_asset,
                external_id=None,
                metadata=meta,
                realized_pnl=pnl,
            )

        return parse
