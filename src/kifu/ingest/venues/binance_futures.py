"""Binance USDⓈ-M futures: fills per symbol with ``fromId`` cursors, and the income history.

* Symbols: Binance has no all-symbols fill endpoint, so the symbols asked for are those the
  account shows — income history entries (every fill pays a commission), open positions
  (``/fapi/v2/positionRisk``), symbols already synced or imported, and the watch-list.
* Fills: ``GET /fapi/v1/userTrades?symbol&fromId&limit=1000`` (weight 5); no cursor or a full
  backfill starts at ``fromId=0`` (the whole history Binance keeps), else at ``cursor + 1``.
* Income: ``GET /fapi/v1/income`` (weight 30) in 7-day windows, 1,000 per page; stored as ``fee``
  events keyed by ``tranId``. Binance keeps only the last 3 months: the sync reports how far
  back it reached and that older entries cannot be fetched.
* Position side, open/close and reduce-only are derived per fill (``position_fields``).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from kifu.ingest.venues import binance_common as bc
from kifu.ingest.venues.base import (
    Batch,
    Credentials,
    Cursor,
    KeyCheck,
    SymbolRejected,
    SyncPlan,
    Venue,
    VenueFill,
    VenueIncome,
    VenueUnavailable,
    VenueUrls,
)
from kifu.ingest.venues.http import VenueHttp
from kifu.ledger.rules import RuleError, split_symbol

EXCHANGE = "binance_futures"
INCOME_CURSOR = "__income__"
PAGE = 1000
INCOME_RETENTION = timedelta(days=90)
INCOME_WINDOW = timedelta(days=7)
INCOME_OVERLAP = timedelta(minutes=5)
QUOTES = ("USDT", "USDC", "BUSD", "FDUSD")


def position_fields(
    side: str, position_side: str | None, realized_pnl: Decimal | None
) -> tuple[str | None, str | None, bool | None]:
    """``(position_side, open_close, reduce_only)`` of one fill (side ``buy``/``sell``).

    Hedge mode (LONG/SHORT): LONG+buy and SHORT+sell open, the other two close. One-way mode
    (BOTH, stored as no position side): a fill with realized PnL closes, one without opens —
    Binance books PnL only on the closing part. Reduce-only when it closes with PnL (the
    reference rule; userTrades does not say whether the order was flagged reduce-only).
    """
    ps = (position_side or "").upper()
    pnl = realized_pnl or Decimal(0)
    if ps in ("LONG", "SHORT"):
        opening = (ps == "LONG") == (side == "buy")
        oc = "OPEN" if opening else "CLOSE"
        return ps, oc, oc == "CLOSE" and pnl != 0
    oc = "CLOSE" if pnl != 0 else "OPEN"
    return None, oc, oc == "CLOSE"


@functools.lru_cache(maxsize=1024)
def _pair(symbol: str) -> tuple[str, str]:
    return split_symbol(symbol, venue=EXCHANGE)  # once per symbol, not once per fill


def to_fill(row: dict[str, Any]) -> VenueFill:
    symbol = str(row["symbol"]).upper()
    base, quote = _pair(symbol)
    side = str(row["side"]).lower()
    if side not in ("buy", "sell"):
        raise VenueUnavailable(f"Binance sent a fill with side {row['side']!r}")
    pnl = Decimal(str(row["realizedPnl"])) if row.get("realizedPnl") is not None else None
    ps, oc, ro = position_fields(side, row.get("positionSide"), pnl)
    price_text = str(row["price"])
    return VenueFill(
        exchange=EXCHANGE,
        symbol=symbol,
        venue_symbol=symbol,
        base=base,
        quote=quote,
        trade_id=int(row["id"]),
        external_id=str(row["id"]),
        side=side,
        qty=Decimal(str(row["qty"])),
        price=Decimal(price_text),
        price_text=price_text,
        fee=Decimal(str(row["commission"])) if row.get("commission") is not None else None,
        fee_asset=(str(row.get("commissionAsset") or "") or None),
        executed_at=bc.ms_time(row["time"]),
        realized_pnl=pnl,
        position_side=ps,
        open_close=oc,
        reduce_only=ro,
        meta={
            "order_id": str(row.get("orderId", "")),
            "realized_pnl": str(row.get("realizedPnl", "")),
            "position_side": row.get("positionSide"),
            "maker": row.get("maker"),
        },
    )


def to_income(row: dict[str, Any]) -> VenueIncome | None:
    symbol = str(row.get("symbol") or "").upper()
    if not symbol:
        return None  # transfers and bonuses belong to no market; not a trading cost
    try:
        base, quote = split_symbol(symbol, venue=EXCHANGE)
    except RuleError:
        return None
    text = str(row["income"])
    return VenueIncome(
        exchange=EXCHANGE,
        symbol=symbol,
        base=base,
        quote=quote,
        income_type=str(row.get("incomeType", "")),
        asset=str(row.get("asset", "")),
        income_text=text,
        income=Decimal(text),
        tran_id=str(row["tranId"]),
        executed_at=bc.ms_time(row["time"]),
    )


def futures_symbol(raw: str) -> str | None:
    s = raw.strip().upper()
    if s.endswith("KRW"):  # a watch-list entry for Upbit's market: ask for the USDT contract
        s = s[:-3] + "USDT"
    if not bc.fill_pages_symbol_ok(s) or not s.endswith(QUOTES):
        return None
    return s


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


class BinanceFutures(Venue):
    exchange = EXCHANGE

    def __init__(self, creds: Credentials, urls: VenueUrls) -> None:
        self.creds = creds
        self.http = VenueHttp(
            "Binance futures", urls.binance_futures, urls, bc.parse_error, weight_limit=2400
        )
        self.sapi = VenueHttp("Binance", urls.binance_spot, urls, bc.parse_error, weight_limit=6000)

    @property
    def server_seconds(self) -> float:
        return self.http.server_seconds + self.sapi.server_seconds

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.sapi.aclose()

    async def check_key(self) -> KeyCheck:
        return await bc.check_restrictions(self.sapi, self.creds, needs_futures=True)

    async def sync(self, plan: SyncPlan) -> AsyncIterator[Batch]:
        symbols: set[str] = set()
        async for batch in self._income(plan):
            symbols.update(i.symbol for i in batch.incomes)
            yield batch
        symbols.update(await self._position_symbols())
        for raw in (*plan.known_symbols, *plan.cursors):
            s = futures_symbol(raw)
            if s:
                symbols.add(s)
        skipped: list[str] = []
        for symbol in sorted(symbols):
            try:
                async for batch in self._fills(plan, symbol):
                    yield batch
            except SymbolRejected:
                skipped.append(symbol)
        plan.notes["symbols"] = sorted(symbols)
        plan.notes["symbols_skipped"] = skipped

    async def _position_symbols(self) -> set[str]:
        rows = await self.http.get("/fapi/v2/positionRisk", bc.signed(self.creds, []), weight=5)
        if not isinstance(rows, list):
            raise VenueUnavailable("Binance answered positionRisk with an unexpected body")
        return {
            str(r["symbol"]).upper()
            for r in rows
            if isinstance(r, dict) and Decimal(str(r.get("positionAmt", "0"))) != 0
        }

    def _fills(self, plan: SyncPlan, symbol: str) -> AsyncIterator[Batch]:
        return bc.fills_from_id(
            self.http,
            self.creds,
            plan,
            symbol,
            path="/fapi/v1/userTrades",
            weight=5,
            page=PAGE,
            to_fill=to_fill,
        )

    async def _income(self, plan: SyncPlan) -> AsyncIterator[Batch]:
        now = plan.now
        retention_start = now - INCOME_RETENTION + timedelta(hours=1)
        cur = plan.cursors.get(INCOME_CURSOR)
        if cur is not None and not plan.full_backfill:
            start = cur.last_sync_at - INCOME_OVERLAP
            limited = start < retention_start
        else:
            wanted = now - timedelta(days=plan.history_days) if plan.history_days else None
            limited = wanted is None or wanted < retention_start
            start = retention_start if limited or wanted is None else wanted
        start = max(start, retention_start)
        plan.notes["income_history_from"] = start
        plan.notes["income_history_limited"] = limited
        if limited:
            plan.notes["income_history_note"] = (
                "Binance keeps income history (funding fees, commissions, realized PnL) for 3"
                " months only; entries older than income_history_from can no longer be fetched"
                " (import them from Binance's transaction history export)"
            )
        ws = start
        while ws < now:
            we = min(ws + INCOME_WINDOW, now)
            page_start = ws
            while True:
                rows = await self.http.get(
                    "/fapi/v1/income",
                    bc.signed(
                        self.creds,
                        [
                            ("startTime", str(_ms(page_start))),
                            ("endTime", str(_ms(we) - 1)),
                            ("limit", str(PAGE)),
                        ],
                    ),
                    weight=30,
                )
                if not isinstance(rows, list):
                    raise VenueUnavailable("Binance answered income with an unexpected body")
                incomes = [i for i in (to_income(r) for r in rows) if i is not None]
                full = len(rows) >= PAGE
                if full:
                    last_ms = max(int(r["time"]) for r in rows)
                    nxt = bc.ms_time(last_ms)
                    page_start = nxt if nxt > page_start else page_start + timedelta(milliseconds=1)
                    # same-ms entries may repeat on the next page: tranId keys dedupe them
                    yield Batch(
                        incomes=incomes,
                        cursors={INCOME_CURSOR: Cursor(_ms(page_start), page_start)},
                    )
                    continue
                yield Batch(incomes=incomes, cursors={INCOME_CURSOR: Cursor(_ms(we), we)})
                break
            ws = we
