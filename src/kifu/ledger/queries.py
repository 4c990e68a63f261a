"""Read-side SQL for trades, the timeline, positions and instruments. Every query is per user,
bounded by a limit and served by an index (named next to each query)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection

from kifu.kit.money import dec_str
from kifu.kit.timeutil import rfc3339
from kifu.ledger import tracker


@dataclass
class TradeFilter:
    exchange: str | None = None
    symbol: str | None = None
    side: str | None = None
    start: datetime | None = None
    end: datetime | None = None  # exclusive

    def where(self) -> tuple[str, dict[str, Any]]:
        parts = ["t.user_id = %(user)s"]
        params: dict[str, Any] = {}
        if self.exchange:
            parts.append("t.exchange = %(exchange)s")
            params["exchange"] = self.exchange
        if self.symbol:
            parts.append("t.symbol = %(symbol)s")
            params["symbol"] = self.symbol
        if self.side:
            parts.append("upper(t.side) = %(side)s")
            params["side"] = self.side
        if self.start:
            parts.append("t.trade_time >= %(start)s")
            params["start"] = self.start
        if self.end:
            parts.append("t.trade_time < %(end)s")
            params["end"] = self.end
        return " AND ".join(parts), params


def _trade_item(r: tuple[Any, ...]) -> dict[str, Any]:
    (tid, bubble_id, exchange, symbol, side, pside, oc, ro, qty, price, pnl, at, btid) = r
    item: dict[str, Any] = {
        "id": str(tid),
        "bubble_id": str(bubble_id) if bubble_id else None,
        "exchange": exchange,
        "symbol": symbol,
        "side": side,
        "position_side": pside,
        "open_close": oc,
        "reduce_only": ro,
        "quantity": dec_str(qty),
        "price": dec_str(price),
        "realized_pnl": dec_str(pnl),
        "trade_time": rfc3339(at),
        "binance_trade_id": btid,
    }
    return item


async def list_trades(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    f: TradeFilter,
    *,
    ascending: bool,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """Index ``idx_trades_user_time`` (user_id, trade_time DESC, id DESC)."""
    where, params = f.where()
    params.update(user=user_id, limit=limit, offset=offset)
    order = "ASC" if ascending else "DESC"
    cur = await conn.execute(
        "SELECT t.id, t.bubble_id, t.exchange, t.symbol, t.side, t.position_side, t.open_close,"
        " t.reduce_only, t.quantity, t.price, t.realized_pnl, t.trade_time, t.binance_trade_id"
        f" FROM trades t WHERE {where} ORDER BY t.trade_time {order}, t.id {order}"
        " LIMIT %(limit)s OFFSET %(offset)s",
        params,
    )
    items = [_trade_item(r) for r in await cur.fetchall()]
    cur = await conn.execute(f"SELECT count(*) FROM trades t WHERE {where}", params)
    return items, (await cur.fetchone())[0]  # type: ignore[index]


_AGG = """
count(*) AS n,
count(*) FILTER (WHERE upper(t.side) = 'BUY') AS buys,
count(*) FILTER (WHERE upper(t.side) = 'SELL') AS sells,
coalesce(sum(t.quantity * t.price), 0) AS volume,
coalesce(sum(t.realized_pnl), 0) AS pnl,
avg(t.realized_pnl) AS avg_pnl,
count(*) FILTER (WHERE t.realized_pnl > 0) AS wins,
count(*) FILTER (WHERE t.realized_pnl < 0) AS losses,
count(*) FILTER (WHERE t.realized_pnl = 0) AS breakeven
"""


def _agg(row: tuple[Any, ...]) -> dict[str, Any]:
    n, buys, sells, volume, pnl, avg_pnl, wins, losses, breakeven = row
    avg = Decimal(avg_pnl).quantize(Decimal("1e-10")) if avg_pnl is not None else Decimal(0)
    return {
        "total_trades": n,
        "trade_count": n,
        "buy_count": buys,
        "sell_count": sells,
        "total_volume": dec_str(Decimal(volume)),
        "realized_pnl_total": dec_str(Decimal(pnl)),
        "average_pnl": dec_str(avg),
        "wins": wins,
        "losses": losses,
        "breakeven": breakeven,
    }


async def trade_summary(
    conn: AsyncConnection, user_id: uuid.UUID, f: TradeFilter
) -> dict[str, Any]:
    """Totals, by side, top 20 symbols and by exchange over the filtered trades.
    ``total_volume`` is Σ quantity × price (quote notional); ``average_pnl`` is the mean over
    trades that carry a realized PnL."""
    where, params = f.where()
    params["user"] = user_id
    cur = await conn.execute(f"SELECT {_AGG} FROM trades t WHERE {where}", params)
    totals = _agg(await cur.fetchone())  # type: ignore[arg-type]
    cur = await conn.execute(
        f"SELECT upper(t.side), {_AGG} FROM trades t WHERE {where} GROUP BY 1 ORDER BY 1", params
    )
    by_side = [{"side": r[0], **_agg(r[1:])} for r in await cur.fetchall()]
    cur = await conn.execute(
        f"SELECT t.symbol, {_AGG} FROM trades t WHERE {where}"
        " GROUP BY 1 ORDER BY count(*) DESC, 1 ASC LIMIT 20",
        params,
    )
    by_symbol = [{"symbol": r[0], **_agg(r[1:])} for r in await cur.fetchall()]
    cur = await conn.execute(
        f"SELECT t.exchange, {_AGG} FROM trades t WHERE {where} GROUP BY 1 ORDER BY 1", params
    )
    by_exchange = [{"exchange": r[0], **_agg(r[1:])} for r in await cur.fetchall()]
    return {
        "exchange": f.exchange or "all",
        "totals": totals,
        "by_side": by_side,
        "by_symbol": by_symbol,
        "by_exchange": by_exchange,
    }


@dataclass
class EventFilter:
    start: datetime | None = None
    end: datetime | None = None
    asset_classes: list[str] | None = None
    venues: list[str] | None = None
    sources: list[str] | None = None
    event_types: list[str] | None = None


async def timeline(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    f: EventFilter,
    *,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Keyset page, newest first; index ``idx_trade_events_user_time``."""
    parts = ["e.user_id = %(user)s"]
    params: dict[str, Any] = {"user": user_id, "limit": limit}
    if after:
        parts.append("(e.executed_at, e.id) < (%(at)s, %(id)s)")
        params.update(at=after[0], id=after[1])
    if f.start:
        parts.append("e.executed_at >= %(start)s")
        params["start"] = f.start
    if f.end:
        parts.append("e.executed_at < %(end)s")
        params["end"] = f.end
    for col, name, values in (
        ("e.asset_class", "ac", f.asset_classes),
        ("v.code", "venues", f.venues),
        ("e.source", "sources", f.sources),
        ("e.event_type", "types", f.event_types),
    ):
        if values:
            parts.append(f"{col} = ANY(%({name})s)")
            params[name] = values
    cur = await conn.execute(
        "SELECT e.id, e.executed_at, e.asset_class, e.venue_type, v.code, v.display_name,"
        " a.label, i.symbol, e.event_type, e.side, e.qty, e.price, e.fee, e.fee_asset, e.source,"
        " e.external_id, e.metadata"
        " FROM trade_events e LEFT JOIN venues v ON v.id = e.venue_id"
        " LEFT JOIN accounts a ON a.id = e.account_id"
        " LEFT JOIN instruments i ON i.id = e.instrument_id"
        f" WHERE {' AND '.join(parts)} ORDER BY e.executed_at DESC, e.id DESC LIMIT %(limit)s",
        params,
    )
    out = []
    for r in await cur.fetchall():
        out.append(
            {
                "id": str(r[0]),
                "executed_at": rfc3339(r[1]),
                "asset_class": r[2],
                "venue_type": r[3],
                "venue": r[4],
                "venue_name": r[5] or r[4],
                "account_label": r[6],
                "instrument": r[7],
                "event_type": r[8],
                "side": r[9],
                "qty": dec_str(r[10]),
                "price": dec_str(r[11]),
                "fee": dec_str(r[12]),
                "fee_asset": r[13],
                "source": r[14],
                "external_id": r[15],
                "metadata": r[16],
                "_at": r[1],
            }
        )
    return out


async def positions(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    *,
    status: str,
    start: datetime | None,
    end: datetime | None,
    asset_classes: list[str] | None,
    venues: list[str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Index ``idx_positions_user_last_executed`` (user_id, last_executed_at DESC). Changes
    made by hand since the last write are caught up first (``tracker.fresh``)."""
    await tracker.fresh(conn, user_id)
    parts = ["p.user_id = %(user)s"]
    params: dict[str, Any] = {"user": user_id, "limit": limit}
    if status != "all":
        parts.append("p.status = %(status)s")
        params["status"] = status
    if start:
        parts.append("coalesce(p.last_executed_at, p.opened_at) >= %(start)s")
        params["start"] = start
    if end:
        parts.append("coalesce(p.last_executed_at, p.opened_at) < %(end)s")
        params["end"] = end
    if asset_classes:
        parts.append("i.asset_class = ANY(%(ac)s)")
        params["ac"] = asset_classes
    if venues:
        parts.append("v.code = ANY(%(venues)s)")
        params["venues"] = venues
    cur = await conn.execute(
        "SELECT v.code, v.display_name, v.venue_type, i.symbol, i.asset_class, a.label, p.status,"
        " p.size, p.avg_entry, p.avg_exit, p.buy_qty, p.sell_qty, p.buy_notional,"
        " p.sell_notional, p.last_executed_at, p.opened_at, p.closed_at, p.quote_asset,"
        " p.realized_pnl, p.fees, p.realized_pnl_usdt, p.realized_pnl_krw, p.fees_usdt,"
        " p.fees_krw, p.unconverted_fees, p.event_count"
        " FROM positions p LEFT JOIN venues v ON v.id = p.venue_id"
        " LEFT JOIN instruments i ON i.id = p.instrument_id"
        " LEFT JOIN accounts a ON a.id = p.account_id"
        f" WHERE {' AND '.join(parts)}"
        " ORDER BY p.last_executed_at DESC NULLS LAST, p.id LIMIT %(limit)s",
        params,
    )
    out = []
    for r in await cur.fetchall():
        code, vname, vtype, inst, ac, label = r[0:6]
        out.append(
            {
                "key": f"{code}|{inst}|{ac}|{label}",
                "instrument": inst,
                "venue": code,
                "venue_name": vname or code,
                "account_label": label,
                "asset_class": ac,
                "venue_type": vtype,
                "status": r[6],
                "net_qty": dec_str(r[7]) or "0",
                "avg_entry": dec_str(r[8]) or "0",
                "avg_exit": dec_str(r[9]),
                "buy_qty": dec_str(r[10]) or "0",
                "sell_qty": dec_str(r[11]) or "0",
                "buy_notional": dec_str(r[12]) or "0",
                "sell_notional": dec_str(r[13]) or "0",
                "last_executed_at": rfc3339(r[14]),
                "opened_at": rfc3339(r[15]),
                "closed_at": rfc3339(r[16]),
                "quote_asset": r[17],
                "realized_pnl": dec_str(r[18]) or "0",
                "fees": dec_str(r[19]) or "0",
                "realized_pnl_usdt": dec_str(r[20]) or "0",
                "realized_pnl_krw": dec_str(r[21]) or "0",
                "fees_usdt": dec_str(r[22]) or "0",
                "fees_krw": dec_str(r[23]) or "0",
                "unconverted_fees": r[24] or {},
                "event_count": r[25],
            }
        )
    return out


async def instruments(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    *,
    asset_class: str | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """Instruments the user has events for, by symbol; index ``idx_trade_events_user_instrument``
    answers each EXISTS probe."""
    where = (
        "EXISTS (SELECT 1 FROM trade_events e WHERE e.user_id = %(user)s"
        " AND e.instrument_id = i.id)"
    )
    params: dict[str, Any] = {"user": user_id, "limit": limit, "offset": offset}
    if asset_class:
        where += " AND i.asset_class = %(ac)s"
        params["ac"] = asset_class
    cur = await conn.execute(
        "SELECT i.id, i.asset_class, i.base_asset, i.quote_asset, i.symbol,"
        " coalesce((SELECT array_agg(DISTINCT v.code || ':' || m.venue_symbol)"
        "  FROM instrument_mappings m JOIN venues v ON v.id = m.venue_id"
        "  WHERE m.instrument_id = i.id), '{}')"
        f" FROM instruments i WHERE {where} ORDER BY i.symbol, i.asset_class"
        " LIMIT %(limit)s OFFSET %(offset)s",
        params,
    )
    items = []
    for r in await cur.fetchall():
        mappings = []
        for m in sorted(r[5]):
            venue, _, vs = m.partition(":")
            mappings.append({"venue": venue, "venue_symbol": vs})
        items.append(
            {
                "id": str(r[0]),
                "asset_class": r[1],
                "base_asset": r[2],
                "quote_asset": r[3],
                "symbol": r[4],
                "mappings": mappings,
            }
        )
    cur = await conn.execute(f"SELECT count(*) FROM instruments i WHERE {where}", params)
    return items, (await cur.fetchone())[0]  # type: ignore[index]
