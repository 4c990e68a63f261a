"""Upbit web export (거래내역): 체결시간, 코인, 마켓, 종류, 거래수량, 거래단가, 거래금액, 수수료,
정산금액, 주문시간 (field notes §4.3).

Times are Korea time (KST, UTC+9) and are converted to UTC. 종류 매수/매도 are buys/sells;
입금/출금 (deposit/withdrawal) become ``transfer`` events, which do not move positions. Amounts may
carry their asset and thousands commas (``1,234.5 KRW``). The fee is in the market currency.
"""

from __future__ import annotations

import json

from kifu.ingest.formats.base import (
    KST,
    Format,
    ImportContext,
    ParsedRow,
    RowParser,
    amount,
    cell,
    parse_time,
)
from kifu.ledger.rules import RuleError

HEADER = ("체결시간", "코인", "마켓", "종류", "거래수량", "거래단가")
_KINDS = {"매수": ("spot_trade", "buy"), "매도": ("spot_trade", "sell")}
_TRANSFERS = {"입금": "deposit", "출금": "withdrawal"}


def _index(header: list[str], name: str) -> int | None:
    for n, h in enumerate(header):
        if h == name or h.startswith(name + "("):
            return n
    return None


class Upbit(Format):
    name = "upbit"
    venue = "upbit"
    time_note = "Upbit times are Korea time (UTC+9) and were converted to UTC"

    def matches(self, header: list[str]) -> bool:
        return all(_index(header, h) is not None for h in HEADER)

    def parser(self, header: list[str], ctx: ImportContext) -> RowParser:
        i = {h: _index(header, h) for h in (*HEADER, "수수료")}

        def parse(cells: list[str]) -> ParsedRow:
            at, _ = parse_time(cell(cells, i["체결시간"]), KST)
            kind = cell(cells, i["종류"])
            coin = cell(cells, i["코인"]).upper()
            market = cell(cells, i["마켓"]).upper()
            if not coin or not market:
                raise RuleError("symbol is required")
            if coin == market:
                raise RuleError(f"{kind} of {coin} cash is not a trade; skipped")
            qty, _ = amount(cell(cells, i["거래수량"]), "qty")
            price, _ = amount(cell(cells, i["거래단가"]), "price")
            fee, fee_asset = amount(cell(cells, i["수수료"]), "fee")
            if kind in _KINDS:
                event_type, side = _KINDS[kind]
                meta = None
            elif kind in _TRANSFERS:
                event_type, side = "transfer", None
                meta = json.dumps({"kind": _TRANSFERS[kind]})
            else:
                raise RuleError(f"unknown 종류 {kind!r} (expected 매수, 매도, 입금 or 출금)")
            return ParsedRow(
                executed_at=at,
                symbol=f"{market}-{coin}",
                base=coin,
                quote=market,
                event_type=event_type,
                side=side,
                qty=qty,  # type: ignore[arg-type]
                price=price,
                fee=fee,
                fee_asset=fee_asset or (market if fee else None),
                external_id=None,
                metadata=meta,
            )

        return parse
