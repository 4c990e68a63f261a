"""Binance spot: fills per symbol with ``fromId`` cursors.

Binance has no all-symbols fill endpoint, so the symbols asked for are derived from the account:
every asset with a balance (``/api/v3/account``) paired with the usual quote assets, kept when
``/api/v3/exchangeInfo`` lists the pair, plus symbols already synced or imported (past trades,
even delisted ones) and the watch-list. ``GET /api/v3/myTrades?symbol&fromId&limit=1000``
(weight 20); the side comes from ``isBuyer``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

from kifu.ingest.venues import binance_common as bc
from kifu.ingest.venues.base import (
    Batch,
    Credentials,
    KeyCheck,
    SymbolRejected,
    SyncPlan,
    Venue,
    VenueFill,
    VenueUnavailable,
    VenueUrls,
)
from kifu.ingest.venues.http import VenueHttp
from kifu.ledger.rules import RuleError, split_symbol

EXCHANGE = "binance_spot"
PAGE = 1000
BALANCE_QUOTES = ("USDT", "USDC", "FDUSD", "BTC", "ETH", "BNB", "EUR", "TRY")


def to_fill(row: dict[str, Any], pair: tuple[str, str] | None) -> VenueFill:
    symbol = str(row["symbol"]).upper()
    base, quote = pair or split_symbol(symbol, venue=EXCHANGE)
    price_text = str(row["price"])
    return VenueFill(
        exchange=EXCHANGE,
        symbol=symbol,
        venue_symbol=symbol,
        base=base,
        quote=quote,
        trade_id=int(row["id"]),
        external_id=str(row["id"]),
        side="buy" if row.get("isBuyer") else "sell",
        qty=Decimal(str(row["qty"])),
        price=Decimal(price_text),
        price_text=price_text,
        fee=Decimal(str(row["commission"])) if row.get("commission") is not None else None,
        fee_asset=(str(row.get("commissionAsset") or "") or None),
        executed_at=bc.ms_time(row["time"]),
        meta={"order_id": str(row.get("orderId", "")), "maker": row.get("isMaker")},
    )


def balance_pairs(balances: list[dict[str, Any]], listed: dict[str, tuple[str, str]]) -> set[str]:
    """Listed symbols pairing a held asset with a usual quote (either way round)."""
    held = set()
    for b in balances:
        try:
            total = Decimal(str(b.get("free", "0"))) + Decimal(str(b.get("locked", "0")))
        except ArithmeticError:
            continue
        if total != 0:
            held.add(str(b.get("asset", "")).upper())
    out = set()
    for asset in held:
        for q in BALANCE_QUOTES:
            for s in (asset + q, q + asset):
                if s in listed:
                    out.add(s)
    return out


class BinanceSpot(Venue):
    exchange = EXCHANGE

    def __init__(self, creds: Credentials, urls: VenueUrls) -> None:
        self.creds = creds
        self.http = VenueHttp(
            "Binance spot", urls.binance_spot, urls, bc.parse_error, weight_limit=6000
        )

    async def check_key(self) -> KeyCheck:
        return await bc.check_restrictions(self.http, self.creds, needs_futures=False)

    async def _listed(self) -> dict[str, tuple[str, str]]:
        info = await self.http.get("/api/v3/exchangeInfo", bc.public([]), weight=20)
        if not isinstance(info, dict) or not isinstance(info.get("symbols"), list):
            raise VenueUnavailable("Binance answered exchangeInfo with an unexpected body")
        return {
            str(s["symbol"]): (str(s["baseAsset"]).upper(), str(s["quoteAsset"]).upper())
            for s in info["symbols"]
            if isinstance(s, dict) and "symbol" in s and "baseAsset" in s and "quoteAsset" in s
        }

    async def sync(self, plan: SyncPlan) -> AsyncIterator[Batch]:
        listed = await self._listed()
        account = await self.http.get(
            "/api/v3/account", bc.signed(self.creds, [("omitZeroBalances", "true")]), weight=20
        )
        if not isinstance(account, dict) or not isinstance(account.get("balances"), list):
            raise VenueUnavailable("Binance answered account with an unexpected body")
        symbols = balance_pairs(account["balances"], listed)
        for raw in (*plan.known_symbols, *plan.cursors):
            s = raw.strip().upper().replace("/", "").replace("-", "")
            if bc.fill_pages_symbol_ok(s):
                symbols.add(s)
        skipped: list[str] = []
        for symbol in sorted(symbols):
            pair = listed.get(symbol)
            if pair is None:
                try:
                    split_symbol(symbol, venue=EXCHANGE)
                except RuleError:
                    skipped.append(symbol)
                    continue
            try:
                async for batch in self._fills(plan, symbol, pair):
                    yield batch
            except SymbolRejected:
                skipped.append(symbol)
        plan.notes["symbols"] = sorted(symbols)
        plan.notes["symbols_skipped"] = skipped

    def _fills(
        self, plan: SyncPlan, symbol: str, pair: tuple[str, str] | None
    ) -> AsyncIterator[Batch]:
        return bc.fills_from_id(
            self.http,
            self.creds,
            plan,
            symbol,
            path="/api/v3/myTrades",
            weight=20,
            page=PAGE,
            to_fill=lambda row: to_fill(row, pair),
        )
