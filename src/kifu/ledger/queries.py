"""Read-side SQL for trades, the timeline, positions and instruments. Every query is per user,
bounded by a limit and served by an index (named next to each query)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from kifu.kit import jsonsql, stamps
from kifu.kit import venues as venue_codes
from kifu.kit.money import EXACT, dec_str, round_places
from kifu.ledger import curve, money, pnl, rules, tracker
from kifu.ledger.curve import Segment
from kifu.ledger.schemas import Position, TimelineEvent, Trade, TradeSummary


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


# -- the trade summary, from the rollups of migration 048 ------------------------------------------
#
# trade_summary_totals / _days / _hours hold, per user, exchange, symbol and upper-case side, the
# count, Σ quantity × price, Σ realized PnL, the rows with a realized PnL, wins, losses and
# breakevens (kept by the triggers of db/repeatable/trades_summary.sql). Without a time filter
# the summary reads the all-time rows; with one, the whole UTC days of the range, the whole hours
# of its partial days and the trades of its partial hours (index ``idx_trades_user_time``), so
# its cost depends on the range and the number of symbols, not on the number of fills.

# Averages (prices, the summary's PnL) are shown to 10 decimals, as the reference's
# NUMERIC(30,10) columns held them (kifu stores them unrounded since migration 024, so FIFO adds
# up exactly). PostgreSQL's ``round(numeric, n)`` rounds half away from zero, as
# ``kit.money.round_places`` does.
AVG_PLACES = 10

_FIRST = datetime(1, 1, 2, tzinfo=UTC)
_LAST = datetime(9999, 12, 30, tzinfo=UTC)
_DAY = timedelta(days=1)
_HOUR = timedelta(hours=1)


def _floor_to(t: datetime, unit: timedelta) -> datetime:
    t = t.astimezone(UTC)
    if unit == _DAY:
        return t.replace(hour=0, minute=0, second=0, microsecond=0)
    return t.replace(minute=0, second=0, microsecond=0)


def _ceil_to(t: datetime, unit: timedelta) -> datetime:
    f = _floor_to(t, unit)
    return f if f == t else f + unit


def summary_cut(
    start: datetime | None, end: datetime | None
) -> tuple[
    tuple[datetime, datetime], list[tuple[datetime, datetime]], list[tuple[datetime, datetime]]
]:
    """``[start, end)`` cut into whole UTC days, the whole hours around them and the partial
    hours at the ends: (days, two hour ranges, two raw ranges); an empty range is (x, x)."""
    s = max(start, _FIRST) if start else _FIRST
    e = min(end, _LAST) if end else _LAST
    if s >= e:
        return (s, s), [(s, s), (s, s)], [(s, s), (s, s)]
    h0, h1 = _ceil_to(s, _HOUR), _floor_to(e, _HOUR)
    if h0 >= h1:  # inside one hour, or across one hour boundary only
        return (s, s), [(s, s), (s, s)], [(s, min(h0, e)), (max(h1, h0), e)]
    d0, d1 = _ceil_to(s, _DAY), _floor_to(e, _DAY)
    if d0 >= d1:
        return (s, s), [(h0, h1), (s, s)], [(s, h0), (h1, e)]
    return (d0, d1), [(h0, d0), (d1, h1)], [(s, h0), (h1, e)]


_SUMMARY_COLS = "exchange, symbol, side, n, volume, pnl, pnl_n, wins, losses, breakeven"
_RAW_COLS = (
    "t.exchange::text, t.symbol::text, upper(t.side), 1, t.quantity * t.price,"
    " coalesce(t.realized_pnl, 0), (t.realized_pnl IS NOT NULL)::int,"
    " (t.realized_pnl > 0)::int, (t.realized_pnl < 0)::int, (t.realized_pnl = 0)::int"
)


def _rollup_rows(timed: bool, keys: str, raw_keys: str) -> str:
    """The rollup rows (and raw rows of partial hours) that add up to the filtered trades."""
    if not timed:
        rows = (
            f"SELECT {_SUMMARY_COLS} FROM trade_summary_totals r WHERE r.user_id = %(user)s{keys}"
        )
    else:
        rows = f"""
    SELECT {_SUMMARY_COLS} FROM trade_summary_days r
    WHERE r.user_id = %(user)s AND r.day >= %(d0)s AND r.day < %(d1)s{keys}
    UNION ALL
    SELECT {_SUMMARY_COLS} FROM trade_summary_hours r
    WHERE r.user_id = %(user)s AND r.hour >= %(ha0)s AND r.hour < %(ha1)s{keys}
    UNION ALL
    SELECT {_SUMMARY_COLS} FROM trade_summary_hours r
    WHERE r.user_id = %(user)s AND r.hour >= %(hb0)s AND r.hour < %(hb1)s{keys}
    UNION ALL
    SELECT {_RAW_COLS} FROM trades t
    WHERE t.user_id = %(user)s AND t.trade_time >= %(ra0)s AND t.trade_time < %(ra1)s{raw_keys}
    UNION ALL
    SELECT {_RAW_COLS} FROM trades t
    WHERE t.user_id = %(user)s AND t.trade_time >= %(rb0)s AND t.trade_time < %(rb1)s{raw_keys}"""
    return rows


def _summary_groups_sql(timed: bool, keys: str, raw_keys: str) -> str:
    rows = _rollup_rows(timed, keys, raw_keys)
    if timed:
        # a range reads a row per day (or hour) and key: added up per key first, the grouping
        # sets below aggregate a row per key instead of each of them five times (30 days of
        # 10 symbols: 0.9 -> 0.55 ms); the all-time rollup already has a row per key
        rows = (
            "SELECT exchange, symbol, side, sum(n), sum(volume), sum(pnl), sum(pnl_n), sum(wins),"
            f" sum(losses), sum(breakeven) FROM ({rows}\n) g({_SUMMARY_COLS}) GROUP BY 1, 2, 3"
        )
    # kind: 0 totals, 1 by side, 2 by symbol, 3 by exchange; 4: the volume of each (exchange,
    # symbol, side), which decides its quote currency (as many rows as the rollup rows read, so
    # the summary stays O(rollups)). The last column orders the symbols (most trades first).
    return f"""
SELECT CASE WHEN grouping(f.exchange, f.symbol, f.side) = 0 THEN 4
            WHEN grouping(f.side) = 0 THEN 1 WHEN grouping(f.symbol) = 0 THEN 2
            WHEN grouping(f.exchange) = 0 THEN 3 ELSE 0 END AS kind,
       coalesce(f.side, f.symbol, f.exchange) AS key, f.exchange, f.symbol,
       coalesce(sum(f.n), 0) AS n, coalesce(sum(f.n) FILTER (WHERE f.side = 'BUY'), 0) AS buys,
       coalesce(sum(f.n) FILTER (WHERE f.side = 'SELL'), 0) AS sells,
       coalesce(sum(f.volume), 0) AS volume, coalesce(sum(f.pnl), 0) AS pnl,
       coalesce(sum(f.pnl_n), 0) AS pnl_n, coalesce(sum(f.wins), 0) AS wins,
       coalesce(sum(f.losses), 0) AS losses, coalesce(sum(f.breakeven), 0) AS breakeven,
       sum(f.pnl) / nullif(sum(f.pnl_n), 0) AS avg,  -- as avg() divides: Σ / count, same scale
       CASE WHEN grouping(f.symbol) = 0 AND grouping(f.side) = 1 THEN sum(f.n) END AS rank_n
FROM ({rows}
) f(exchange, symbol, side, n, volume, pnl, pnl_n, wins, losses, breakeven)
GROUP BY GROUPING SETS ((), (f.side), (f.symbol), (f.exchange), (f.exchange, f.symbol, f.side))
"""


def _summary_sql(timed: bool, keys: str, raw_keys: str) -> str:
    """The groups in the order the summary lists them."""
    return _summary_groups_sql(timed, keys, raw_keys) + "ORDER BY 1, rank_n DESC, 2\n"


# The fields of one ``schemas.TradeTotals`` over a row of ``_summary_groups_sql`` (``g``) and its
# per-currency row (``m``, null when the group has no trades), as ``_agg`` and ``_by_currency``
# print them.
_TOTALS_JSON = (
    "'total_trades', g.n, 'trade_count', g.n, 'buy_count', g.buys, 'sell_count', g.sells,"
    " 'total_volume', CASE WHEN m.kind IS NULL THEN '0' ELSE m.single END,"
    " 'total_volume_by_currency', coalesce(m.volumes, '{}'::json),"
    f" 'realized_pnl_total', {jsonsql.dec('g.pnl')},"
    " 'realized_pnl_by_currency', coalesce(m.pnls, '{}'::json),"
    f" 'average_pnl', {jsonsql.dec(f'round(coalesce(g.avg, 0), {AVG_PLACES})')},"
    " 'wins', g.wins, 'losses', g.losses, 'breakeven', g.breakeven"
)


def _summary_json_sql(timed: bool, keys: str, raw_keys: str) -> str:
    """``trade_summary``'s answer written by PostgreSQL, and whether it could be: the quote of
    every (exchange, symbol) is ``kifu_quote_of`` (db/repeatable/trades_summary.sql, the SQL
    twin of ``rules.quote_of``), which only answers for ASCII text."""
    return f"""
WITH g AS MATERIALIZED ({_summary_groups_sql(timed, keys, raw_keys)}
), p AS MATERIALIZED (  -- one quote lookup per (exchange, symbol), not per side as well
    SELECT exchange, symbol, kifu_quote_of(exchange, symbol) AS quote
    FROM g WHERE kind = 4 GROUP BY 1, 2
), q AS MATERIALIZED (
    SELECT g.*, p.quote FROM g JOIN p USING (exchange, symbol) WHERE g.kind = 4
), c AS (  -- volume and realized PnL per quote, of the totals (0) and of each group (1, 2, 3)
    -- (an unknown quote is counted as "?" here only so the statement ends: then Python answers)
    SELECT x.kind, x.key, coalesce(q.quote, '?') AS quote, sum(q.volume) AS volume,
           sum(q.pnl) AS pnl
    FROM q CROSS JOIN LATERAL (VALUES (0, NULL), (1, q.key), (2, q.symbol), (3, q.exchange))
        AS x(kind, key)
    GROUP BY 1, 2, 3
), m AS (  -- the one-currency volume (null when several) and the two maps, quotes in order
    SELECT kind, key, CASE WHEN count(*) = 1 THEN {jsonsql.dec("min(volume)")} END AS single,
           json_object_agg(quote, {jsonsql.dec("volume")} ORDER BY quote COLLATE "C") AS volumes,
           json_object_agg(quote, {jsonsql.dec("pnl")} ORDER BY quote COLLATE "C") AS pnls
    FROM c GROUP BY 1, 2
), o AS (
    SELECT g.kind, g.key, g.rank_n, CASE g.kind
        WHEN 0 THEN json_build_object({_TOTALS_JSON})
        WHEN 1 THEN json_build_object('side', g.key, {_TOTALS_JSON})
        WHEN 2 THEN json_build_object('symbol', g.key, {_TOTALS_JSON})
        ELSE json_build_object('exchange', g.key, {_TOTALS_JSON}) END AS item
    FROM g LEFT JOIN m ON m.kind = g.kind AND m.key IS NOT DISTINCT FROM g.key
    WHERE g.kind < 4
)
SELECT coalesce((SELECT bool_and(quote IS NOT NULL) FROM q), true),
       json_build_object(
           'exchange', %(exchange_out)s::text,
           'totals', (SELECT item FROM o WHERE kind = 0),
           'by_side', coalesce((SELECT json_agg(item ORDER BY key) FROM o WHERE kind = 1),
                               '[]'),
           'by_symbol', coalesce((SELECT json_agg(item ORDER BY rank_n DESC, key)
                                  FROM (SELECT * FROM o WHERE kind = 2
                                        ORDER BY rank_n DESC, key LIMIT 20) s), '[]'),
           'by_exchange', coalesce((SELECT json_agg(item ORDER BY key) FROM o WHERE kind = 3),
                                   '[]'))::text
"""


def _by_currency(volumes: dict[str, Decimal], pnls: dict[str, Decimal]) -> dict[str, Any]:
    """The one-currency volume the reference's field had (as packs give it): the only quote's
    volume, ``"0"`` when none, null when several; every quote's volume and realized PnL beside
    it (``realized_pnl_total`` adds every quote together, as the reference did)."""
    if not volumes:
        single: str | None = "0"
    elif len(volumes) == 1:
        single = dec_str(next(iter(volumes.values())))
    else:
        single = None
    return {
        "total_volume": single,
        "total_volume_by_currency": {q: dec_str(v) for q, v in sorted(volumes.items())},
        "realized_pnl_by_currency": {q: dec_str(v) for q, v in sorted(pnls.items())},
    }


def _agg(row: tuple[Any, ...]) -> dict[str, Any]:
    n, buys, sells, _vol, pnl, _pnl_n, wins, losses, breakeven, avg_pnl = row
    avg = round_places(Decimal(avg_pnl), AVG_PLACES) if avg_pnl is not None else Decimal(0)
    return {
        "total_trades": int(n),
        "trade_count": int(n),
        "buy_count": int(buys),
        "sell_count": int(sells),
        "realized_pnl_total": dec_str(Decimal(pnl)),
        "average_pnl": dec_str(avg),
        "wins": int(wins),
        "losses": int(losses),
        "breakeven": int(breakeven),
    }


def _rollup_query(user_id: uuid.UUID, f: TradeFilter) -> tuple[bool, str, str, dict[str, Any]]:
    """Whether ``f`` has a time filter, the key conditions on rollup rows (``r``) and on trades
    (``t``), and the parameters of ``_rollup_rows``."""
    params: dict[str, Any] = {"user": user_id}
    keys = raw_keys = ""
    for name, value in (("exchange", f.exchange), ("symbol", f.symbol), ("side", f.side)):
        if value:
            params[name] = value
            keys += f" AND r.{name} = %({name})s"
            raw_keys += (
                " AND upper(t.side) = %(side)s" if name == "side" else f" AND t.{name} = %({name})s"
            )
    timed = f.start is not None or f.end is not None
    if timed:
        days, hours, raw = summary_cut(f.start, f.end)
        params.update(d0=days[0], d1=days[1])
        for (lo, hi), a, b in zip(hours, ("ha0", "hb0"), ("ha1", "hb1"), strict=True):
            params.update({a: lo, b: hi})
        for (lo, hi), a, b in zip(raw, ("ra0", "rb0"), ("ra1", "rb1"), strict=True):
            params.update({a: lo, b: hi})
    return timed, keys, raw_keys, params


async def change_stamp(conn: AsyncConnection, user_id: uuid.UUID) -> int | None:
    """The user's ledger change stamp (migration 130; bumped by the triggers on trade_events,
    trades, accounts, venues and instruments, ``db/repeatable/change_stamps.sql``; None before
    their first change): its primary key."""
    return await stamps.read(
        conn, "SELECT (SELECT stamp FROM ledger_change_stamps WHERE user_id = %(u)s)", user_id
    )


async def behind(conn: AsyncConnection, user_id: uuid.UUID) -> bool:
    """Whether changes to the user's fills wait to be caught up (``ledger_pnl_dirty``: a read
    that found the ledger lock taken answered from positions and realized PnL as stored); an
    answer read then is not one to keep."""
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM ledger_pnl_dirty WHERE user_id = %s)", (user_id,)
    )
    return bool((await cur.fetchone())[0])  # type: ignore[index]


async def trade_count(conn: AsyncConnection, user_id: uuid.UUID, f: TradeFilter) -> int:
    """How many trades ``f`` selects, added up from the summary's rollups (the count of a
    ``/trades`` page) instead of counting every row."""
    timed, keys, raw_keys, params = _rollup_query(user_id, f)
    rows = _rollup_rows(timed, keys, raw_keys)
    cur = await conn.execute(
        f"SELECT coalesce(sum(f.n), 0)::bigint FROM ({rows}\n) f({_SUMMARY_COLS})", params
    )
    return int((await cur.fetchone())[0])  # type: ignore[index]


# The columns of one ``schemas.Trade`` (``_trade_item`` in SQL), for ``jsonsql.json_array``.
_TRADE_JSON_COLUMNS = (
    "t.id, t.bubble_id, t.exchange, t.symbol, t.side, t.position_side, t.open_close,"
    f" t.reduce_only, {jsonsql.dec('t.quantity')} AS quantity, {jsonsql.dec('t.price')} AS price,"
    f" {jsonsql.dec('t.realized_pnl')} AS realized_pnl,"
    f" {jsonsql.rfc3339('t.trade_time')} AS trade_time, t.binance_trade_id"
)


async def trade_page_json(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    f: TradeFilter,
    *,
    ascending: bool,
    limit: int,
    offset: int,
) -> tuple[int, str]:
    """``list_trades`` in one round trip, the page as JSON text (``kit.jsonsql``): the page from
    ``idx_trades_user_time``; the total is the page's size when the whole selection is on it,
    else ``trade_count``'s sum of the rollups (a lazily run subquery of the same statement)."""
    where, params = f.where()
    timed, keys, raw_keys, count_params = _rollup_query(user_id, f)
    params.update(count_params, user=user_id, limit=limit, offset=offset)
    order = "ASC" if ascending else "DESC"
    cur = await conn.execute(
        "WITH page AS ("
        f"  SELECT * FROM trades t WHERE {where}"
        f"  ORDER BY t.trade_time {order}, t.id {order} LIMIT %(limit)s OFFSET %(offset)s)"
        " SELECT CASE WHEN %(offset)s = 0 AND (SELECT count(*) FROM page) < %(limit)s"
        "   THEN (SELECT count(*) FROM page)"
        "   ELSE (SELECT coalesce(sum(f.n), 0)::bigint"
        f"        FROM ({_rollup_rows(timed, keys, raw_keys)}\n) f({_SUMMARY_COLS})) END,"
        + jsonsql.json_array(
            f"SELECT {_TRADE_JSON_COLUMNS} FROM page t ORDER BY t.trade_time {order}, t.id {order}",
            Trade,
        ),
        params,
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0]), row[1]


async def trade_summary(
    conn: AsyncConnection, user_id: uuid.UUID, f: TradeFilter
) -> dict[str, Any]:
    """Totals, by side, top 20 symbols (most trades first, then by symbol) and by exchange over
    the filtered trades, in one statement over the rollups (see above). ``total_volume`` is
    Σ quantity × price (quote notional) when the trades have one quote currency, else null
    (``total_volume_by_currency`` has each, and ``realized_pnl_by_currency`` each quote's
    realized PnL; the quote comes from the exchange and symbol the rollups are keyed by,
    ``rules.quote_of``); ``average_pnl`` is the mean over trades that carry a
    realized PnL (divided as ``avg()`` does), to ten places (half away from zero).
    ``trade_summary_json`` is the same answer, as the API sends it."""
    timed, keys, raw_keys, params = _rollup_query(user_id, f)
    cur = await conn.execute(_summary_sql(timed, keys, raw_keys), params)
    totals = _agg((0, 0, 0, 0, 0, 0, 0, 0, 0, None))
    groups: dict[int, list[dict[str, Any]]] = {1: [], 2: [], 3: []}
    names = {1: "side", 2: "symbol", 3: "exchange"}
    # volume and realized PnL per quote currency of the totals (kind 0) and of each group
    # (kind, key)
    volumes: dict[tuple[int, str | None], dict[str, Decimal]] = {}
    pnls: dict[tuple[int, str | None], dict[str, Decimal]] = {}
    quotes: dict[tuple[str, str], str] = {}
    for kind, key, exchange, symbol, *figures, _rank in await cur.fetchall():
        if kind == 4:
            quote = quotes.get((exchange, symbol))
            if quote is None:
                quote = quotes[exchange, symbol] = rules.quote_of(exchange, symbol)
            for group in ((0, None), (1, key), (2, symbol), (3, exchange)):
                for sums, figure in ((volumes, figures[3]), (pnls, figures[4])):
                    by_quote = sums.setdefault(group, {})
                    by_quote[quote] = EXACT.add(by_quote.get(quote, Decimal(0)), Decimal(figure))
        elif kind == 0:
            totals = _agg(tuple(figures))
        elif kind != 2 or len(groups[2]) < 20:
            groups[kind].append({names[kind]: key, **_agg(tuple(figures))})
    totals.update(_by_currency(volumes.get((0, None), {}), pnls.get((0, None), {})))
    for kind, items in groups.items():
        for item in items:
            group = (kind, item[names[kind]])
            item.update(_by_currency(volumes.get(group, {}), pnls.get(group, {})))
    return {
        "exchange": f.exchange or "",  # as the reference sent it: empty when not filtered
        "totals": totals,
        "by_side": groups[1],
        "by_symbol": groups[2],
        "by_exchange": groups[3],
    }


async def trade_summary_json(conn: AsyncConnection, user_id: uuid.UUID, f: TradeFilter) -> bytes:
    """``trade_summary`` as JSON text (``schemas.TradeSummary``), in one round trip written by
    PostgreSQL (``_summary_json_sql``); when a stored exchange or symbol is not ASCII, which
    only Python's ``rules.quote_of`` reads, by ``trade_summary``."""
    timed, keys, raw_keys, params = _rollup_query(user_id, f)
    cur = await conn.execute(
        _summary_json_sql(timed, keys, raw_keys), {**params, "exchange_out": f.exchange or ""}
    )
    written, text = await cur.fetchone()  # type: ignore[misc]
    if written:
        return text.encode()
    summary = await trade_summary(conn, user_id, f)
    return TradeSummary.model_validate(summary).model_dump_json().encode()


@dataclass
class EventFilter:
    start: datetime | None = None
    end: datetime | None = None
    asset_classes: list[str] | None = None
    venues: list[str] | None = None
    sources: list[str] | None = None
    event_types: list[str] | None = None


def _timeline_where(
    user_id: uuid.UUID, f: EventFilter, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> tuple[str, dict[str, Any]]:
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
        ("v.code", "venues", venue_codes.filter_codes(f.venues) if f.venues else None),
        ("e.source", "sources", f.sources),
        ("e.event_type", "types", f.event_types),
    ):
        if values:
            parts.append(f"{col} = ANY(%({name})s)")
            params[name] = values
    return " AND ".join(parts), params


# The columns of one ``schemas.TimelineEvent`` (``timeline`` in SQL), for ``jsonsql``.
_EVENT_JSON_COLUMNS = (
    f"e.id, {jsonsql.rfc3339('e.executed_at')} AS executed_at, e.asset_class, e.venue_type,"
    " e.code AS venue, coalesce(nullif(e.display_name, ''), e.code) AS venue_name,"
    " e.label AS account_label, e.symbol AS instrument, e.event_type, e.side,"
    f" {jsonsql.dec('e.qty')} AS qty, {jsonsql.dec('e.price')} AS price,"
    f" {jsonsql.dec('e.fee')} AS fee, e.fee_asset, e.source, e.external_id,"
    # JSON null reads as None in Python, so it is left out as SQL NULL is
    " nullif(e.metadata, 'null'::jsonb) AS metadata"
)


async def timeline_json(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    f: EventFilter,
    *,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> tuple[str, int, tuple[datetime, uuid.UUID] | None]:
    """``timeline`` in one round trip: the page as JSON text (``kit.jsonsql``), its number of
    events and the (executed_at, id) of its last one (the next cursor's key). Index
    ``idx_trade_events_user_time``."""
    where, params = _timeline_where(user_id, f, after, limit)
    cur = await conn.execute(
        "WITH page AS ("
        "  SELECT e.*, v.code, v.display_name, a.label, i.symbol"
        "  FROM trade_events e LEFT JOIN venues v ON v.id = e.venue_id"
        "  LEFT JOIN accounts a ON a.id = e.account_id"
        "  LEFT JOIN instruments i ON i.id = e.instrument_id"
        f"  WHERE {where} ORDER BY e.executed_at DESC, e.id DESC LIMIT %(limit)s)"
        " SELECT "
        + jsonsql.json_array(
            f"SELECT {_EVENT_JSON_COLUMNS} FROM page e ORDER BY e.executed_at DESC, e.id DESC",
            TimelineEvent,
        )
        + ", (SELECT count(*) FROM page),"
        " (SELECT executed_at FROM page ORDER BY executed_at, id LIMIT 1),"
        " (SELECT id FROM page ORDER BY executed_at, id LIMIT 1)",
        params,
    )
    row = await cur.fetchone()
    assert row is not None
    items, n, last_at, last_id = row
    last = (last_at, last_id) if n else None
    return items, int(n), last


def _zero(column: str) -> str:
    return f"coalesce({jsonsql.dec(column)}, '0')"


# The columns of one ``schemas.Position``, for ``jsonsql.json_array``. ``key`` joins the parts
# as Python's f-string does (a missing part is ``None``); ``venue_name`` falls back to the code.
_POSITION_JSON_COLUMNS = (
    "concat_ws('|', coalesce(p.code, 'None'), coalesce(p.symbol, 'None'),"
    " coalesce(p.asset_class, 'None'), coalesce(p.label, 'None')) AS key,"
    " p.symbol AS instrument, p.code AS venue,"
    " coalesce(nullif(p.display_name, ''), p.code) AS venue_name, p.label AS account_label,"
    " p.asset_class, p.venue_type, p.status,"
    f" {_zero('p.size')} AS net_qty, {_zero(f'round(p.avg_entry, {AVG_PLACES})')} AS avg_entry,"
    f" {jsonsql.dec(f'round(p.avg_exit, {AVG_PLACES})')} AS avg_exit,"
    f" {_zero('p.buy_qty')} AS buy_qty,"
    f" {_zero('p.sell_qty')} AS sell_qty, {_zero('p.buy_notional')} AS buy_notional,"
    f" {_zero('p.sell_notional')} AS sell_notional,"
    f" {jsonsql.rfc3339('p.last_executed_at')} AS last_executed_at,"
    f" {jsonsql.rfc3339('p.opened_at')} AS opened_at,"
    f" {jsonsql.rfc3339('p.closed_at')} AS closed_at, p.quote_asset,"
    f" {_zero('p.realized_pnl')} AS realized_pnl, {_zero('p.fees')} AS fees,"
    f" {_zero('p.realized_pnl_usdt')} AS realized_pnl_usdt,"
    f" {_zero('p.realized_pnl_krw')} AS realized_pnl_krw,"
    f" {_zero('p.fees_usdt')} AS fees_usdt, {_zero('p.fees_krw')} AS fees_krw,"
    " coalesce(nullif(p.unconverted_fees, '{}'::jsonb), '{}'::jsonb) AS unconverted_fees,"
    " p.event_count"
)


async def positions_json(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    *,
    status: str,
    start: datetime | None,
    end: datetime | None,
    asset_classes: list[str] | None,
    venues: list[str] | None,
    limit: int,
) -> tuple[str, int]:
    """FIFO positions, most recently traded first, as JSON text (``kit.jsonsql``) and their
    number; index ``idx_positions_user_last_executed`` (user_id, last_executed_at DESC). The
    same statement asks whether changes made by hand since the last write wait in the queue;
    when they do, they are caught up (``tracker.fresh``) and the page read again."""
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
        params["venues"] = venue_codes.filter_codes(venues)
    sql = (
        "WITH page AS ("
        "  SELECT p.*, v.code, v.display_name, v.venue_type, i.symbol, i.asset_class, a.label"
        "  FROM positions p LEFT JOIN venues v ON v.id = p.venue_id"
        "  LEFT JOIN instruments i ON i.id = p.instrument_id"
        "  LEFT JOIN accounts a ON a.id = p.account_id"
        f"  WHERE {' AND '.join(parts)}"
        "  ORDER BY p.last_executed_at DESC NULLS LAST, p.id LIMIT %(limit)s)"
        " SELECT EXISTS (SELECT 1 FROM ledger_pnl_dirty WHERE user_id = %(user)s),"
        + jsonsql.json_array(
            f"SELECT {_POSITION_JSON_COLUMNS} FROM page p"
            " ORDER BY p.last_executed_at DESC NULLS LAST, p.id",
            Position,
        )
        + ", (SELECT count(*) FROM page)"
    )
    cur = await conn.execute(sql, params)
    dirty, items, n = await cur.fetchone()  # type: ignore[misc]
    if dirty:
        await tracker.fresh(conn, user_id)
        cur = await conn.execute(sql, params)
        _dirty, items, n = await cur.fetchone()  # type: ignore[misc]
    return items, int(n)


@dataclass(frozen=True)
class OpenPosition:
    """One account's open FIFO position in one instrument (``size`` > 0 long, < 0 short)."""

    venue: str
    account_label: str | None
    instrument: str
    quote_asset: str
    size: Decimal
    avg_entry: Decimal | None


async def open_positions_of_pair(
    conn: AsyncConnection, user_id: uuid.UUID, chart_symbol: str
) -> list[OpenPosition]:
    """The user's open positions in the pair a chart names (``BASE||QUOTE``: ``BTCUSDT`` is
    BTC/USDT on every venue and account, ``BTCKRW`` is Upbit's KRW-BTC): what is held now, from
    the FIFO books, not a sum of every fill ever made. Index ``idx_positions_user_status``;
    changes made by hand since the last write are caught up first (``tracker.fresh``)."""
    await tracker.fresh(conn, user_id)
    cur = await conn.execute(
        "SELECT coalesce(v.code, '?'), a.label, i.symbol,"
        " upper(coalesce(p.quote_asset, i.quote_asset)),"
        " p.size, p.avg_entry"
        " FROM positions p JOIN instruments i ON i.id = p.instrument_id"
        " LEFT JOIN venues v ON v.id = p.venue_id"
        " LEFT JOIN accounts a ON a.id = p.account_id"
        " WHERE p.user_id = %s AND p.status = 'open' AND p.size <> 0"
        "   AND upper(i.base_asset || i.quote_asset) = %s"
        " ORDER BY v.code, a.label, i.symbol, p.id",
        (user_id, chart_symbol.strip().upper()),
    )
    return [OpenPosition(*r) for r in await cur.fetchall()]


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


# -- reads for review (kifu.review): figures in the user's days, closed round trips, fills ------
#
# Figures bucketed by local day or hour come from the hourly rollups (``ledger_pnl_hours``,
# ``ledger_event_hours``, migration 046) for every UTC hour that lies inside one bucket; the
# hours a bucket boundary cuts (zones offset by a fraction of an hour) are read fill by fill
# through the user/time indexes, one hour each (``raw_hours``), or the whole window when every
# hour is cut (``raw_all``).

# The event types of trade fills, as SQL: the list ``money.add_fee_group`` counts as fills, so
# ``money_by_day_json`` (its SQL twin) cannot count others.
_TRADE_TYPES = "(" + ", ".join(f"'{t}'" for t in money.TRADE_EVENT_TYPES) + ")"
_NEVER = "-infinity"


# Local bucket of a row's instant ``x.at``: its local day or hour start, or one bucket for all.
_BUCKETS = {
    "day": "date_trunc('day', x.at AT TIME ZONE %(zone)s)",
    "hour": "date_trunc('hour', x.at AT TIME ZONE %(zone)s)",
    "none": "NULL::timestamp",
}


async def fresh(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    """Catch up the changes made by hand since the last write (``tracker.fresh``, one indexed
    probe when there are none). The PnL reads below do it themselves; a reader that makes
    several of them calls this once and passes ``caught_up=True``."""
    await tracker.fresh(conn, user_id)


def _window(start: datetime | None, end: datetime | None) -> dict[str, Any]:
    """``[start, end)`` as parameters, and ``start_hour``: the UTC hour ``start`` falls in, the
    first hourly rollup row the window reads. Truncated here, not in SQL: the API plans its
    statements once (``db.pool.PLANNING``), and in such a plan ``date_trunc(…, 'UTC')`` (stable,
    not immutable) of a parameter filtered every row of a sequential scan (30 days of hourly PnL
    rows: 1.29 -> 0.46 ms)."""
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0) if start else None
    return {"start": start or _NEVER, "start_hour": hour or _NEVER, "end": end or "infinity"}


# The realized PnL of ``[start, end)``: the hourly rollups of the whole hours, the fills of
# ``raw_hours`` (the hours a local day boundary cuts), or every fill when ``raw_all``.
_PNL_ROWS = """
    SELECT h.quote, h.hour AS at, h.pnl FROM ledger_pnl_hours h
    WHERE NOT %(raw_all)s AND h.user_id = %(u)s
      AND h.hour >= %(start_hour)s AND h.hour < %(end)s
      AND NOT (h.hour = ANY(%(raw_hours)s::timestamptz[]))
    UNION ALL
    SELECT p.quote, p.executed_at, p.pnl FROM ledger_fill_pnl p
    WHERE %(raw_all)s AND p.user_id = %(u)s
      AND p.executed_at >= %(start)s AND p.executed_at < %(end)s
    UNION ALL
    SELECT p.quote, p.executed_at, p.pnl
    FROM unnest(%(raw_hours)s::timestamptz[]) AS r(hour)
    CROSS JOIN LATERAL (  -- one index range per cut hour, whatever the statistics say
        SELECT p.quote, p.executed_at, p.pnl FROM ledger_fill_pnl p
        WHERE p.user_id = %(u)s
          AND p.executed_at >= r.hour AND p.executed_at < r.hour + interval '1 hour'
        OFFSET 0  -- kept a subquery, so it runs per hour
    ) p
    WHERE NOT %(raw_all)s AND p.executed_at >= %(start)s AND p.executed_at < %(end)s
"""


def _pnl_buckets_sql(bucket: str) -> str:
    return f"""
SELECT x.quote, {bucket} AS bucket, sum(x.pnl) AS pnl
FROM ({_PNL_ROWS}) x
GROUP BY 1, 2
"""


# Per quote: by local weekday (0 = Monday), by local hour of day, and in all (both NULL).
_PNL_WEEK_HOURS_SQL = f"""
SELECT x.quote, x.weekday, x.hour, sum(x.pnl) AS pnl
FROM (
    SELECT r.quote, r.pnl,
           extract(isodow FROM r.at AT TIME ZONE %(zone)s)::int - 1 AS weekday,
           extract(hour FROM r.at AT TIME ZONE %(zone)s)::int AS hour
    FROM ({_PNL_ROWS}) r
) x
GROUP BY GROUPING SETS ((x.quote, x.weekday), (x.quote, x.hour), (x.quote))
"""


async def realized_pnl_week_hours(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    *,
    start: datetime | None,
    end: datetime | None,
    zone: str,
    raw_hours: list[datetime],
    raw_all: bool,
    caught_up: bool = False,
) -> list[tuple[str, int | None, int | None, Decimal]]:
    """Realized PnL of ``[start, end)`` (read as ``realized_pnl_buckets``) per quote and local
    weekday (0 = Monday), per quote and local hour of day, and per quote in all: rows
    (quote, weekday, hour, pnl) with the other key, or both, None."""
    if not caught_up:
        await tracker.fresh(conn, user_id)
    cur = await conn.execute(
        _PNL_WEEK_HOURS_SQL,
        {
            "u": user_id,
            "zone": zone,
            "raw_hours": raw_hours,
            "raw_all": raw_all,
            **_window(start, end),
        },
    )
    return [(r[0], r[1], r[2], r[3]) for r in await cur.fetchall()]


async def realized_pnl_buckets(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    *,
    start: datetime | None,
    end: datetime | None,
    zone: str,
    unit: str,
    raw_hours: list[datetime],
    raw_all: bool,
    caught_up: bool = False,
) -> list[tuple[str, datetime, Decimal]]:
    """Realized PnL (FIFO, gross) of fills in ``[start, end)`` per quote and local ``unit``
    (``day``, ``hour``, or ``none`` for one bucket) start in ``zone`` (naive local time).
    ``caught_up``: the caller ran ``fresh`` already."""
    if unit not in _BUCKETS:
        raise ValueError(unit)
    if not caught_up:
        await tracker.fresh(conn, user_id)
    cur = await conn.execute(
        _pnl_buckets_sql(_BUCKETS[unit]),
        {
            "u": user_id,
            "zone": zone,
            "raw_hours": raw_hours,
            "raw_all": raw_all,
            **_window(start, end),
        },
    )
    return [(r[0], r[1], r[2]) for r in await cur.fetchall()]


def _fee_buckets_sql(bucket: str) -> str:
    return f"""
SELECT {bucket} AS bucket, x.event_type,
       x.income_type, x.fee_asset, x.meta_asset, i.quote_asset AS quote,
       sum(x.n) AS n, sum(x.fee_sum) AS fee_sum, sum(x.funding) AS funding
FROM (
    SELECT h.hour AS at, h.event_type, h.income_type, h.fee_asset, h.meta_asset,
           h.instrument_id, h.n, h.fee_sum, h.funding
    FROM ledger_event_hours h
    WHERE NOT %(raw_all)s AND h.user_id = %(u)s
      AND h.hour >= %(start_hour)s AND h.hour < %(end)s
      AND NOT (h.hour = ANY(%(raw_hours)s::timestamptz[]))
      AND (h.event_type IN {_TRADE_TYPES} OR h.event_type = 'fee')
    UNION ALL
    SELECT e.executed_at, e.event_type,
           CASE WHEN e.event_type = 'fee' THEN e.metadata->>'income_type' END,
           e.fee_asset, e.metadata->>'asset', e.instrument_id, 1, coalesce(e.fee, 0),
           coalesce(kifu_funding_amount(e.event_type, e.metadata, e.fee), 0)
    FROM (
        SELECT e.* FROM trade_events e
        WHERE %(raw_all)s AND e.user_id = %(u)s
          AND e.executed_at >= %(start)s AND e.executed_at < %(end)s
        UNION ALL
        SELECT e.* FROM unnest(%(raw_hours)s::timestamptz[]) AS r(hour)
        CROSS JOIN LATERAL (
            SELECT e.* FROM trade_events e
            WHERE e.user_id = %(u)s
              AND e.executed_at >= r.hour AND e.executed_at < r.hour + interval '1 hour'
            OFFSET 0
        ) e
        WHERE NOT %(raw_all)s AND e.executed_at >= %(start)s AND e.executed_at < %(end)s
    ) e
    WHERE e.event_type IN {_TRADE_TYPES} OR e.event_type = 'fee'
) x
LEFT JOIN instruments i ON i.id = x.instrument_id
GROUP BY 1, 2, 3, 4, 5, 6
"""


async def fee_buckets(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    *,
    start: datetime | None,
    end: datetime | None,
    zone: str,
    unit: str,
    raw_hours: list[datetime],
    raw_all: bool,
) -> list[dict[str, Any]]:
    """Trade fills and fee/income events of ``[start, end)`` grouped per local ``unit`` start,
    event type, income type, fee asset, metadata asset and quote: count, Σ fee (cost positive)
    and Σ signed funding (``kifu_funding_amount``)."""
    if unit not in _BUCKETS:
        raise ValueError(unit)
    cur = await conn.execute(
        _fee_buckets_sql(_BUCKETS[unit]),
        {
            "u": user_id,
            "zone": zone,
            "raw_hours": raw_hours,
            "raw_all": raw_all,
            **_window(start, end),
        },
    )
    names = [d.name for d in cur.description or []]
    return [dict(zip(names, r, strict=True)) for r in await cur.fetchall()]


def _ccy_members(kind: str) -> str:
    """``"kind":{"CCY":"amount",…}`` of one day's ``m`` rows of ``kind``, currencies in
    code-point order (``COLLATE "C"``: UTF-8 bytes sort as code points), amounts ``dec_str``."""
    item = f"to_json(m.ccy)::text || ':\"' || {jsonsql.dec('m.amount')} || '\"'"
    agg = f"string_agg({item}, ',' ORDER BY m.ccy COLLATE \"C\") FILTER (WHERE m.kind = '{kind}')"
    return f"'\"{kind}\":{{' || coalesce({agg}, '') || '}}'"


# ``money.MoneyByCcy.as_json`` of each local day of ``[start, end)`` with realized PnL or event
# groups, as the members text of a JSON object; ``g`` is ``fee_buckets``' groups, ``c`` each
# group's part by ``money.add_fee_group`` (its currencies upper-cased for ASCII only: Python's
# and the server locale's case mappings differ beyond it, so ``foreign`` sends such a span to
# Python). ``dirty``: changes wait for a catch-up, so the figures may be behind.
_UPPER = "translate({}, 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')"
_MONEY_BY_DAY_SQL = f"""
WITH g AS ({_fee_buckets_sql(_BUCKETS["day"])}
), c AS (
    SELECT g.bucket::date AS day, g.n, g.event_type IN {_TRADE_TYPES} AS trade, g.fee_sum,
           g.funding,
           CASE WHEN g.fee_sum <> 0 AND (g.event_type IN {_TRADE_TYPES}
                                         OR (g.event_type = 'fee' AND g.income_type IS NULL))
                THEN nullif(coalesce(g.fee_asset, g.quote, g.meta_asset), '') END AS fee_ccy,
           CASE WHEN g.event_type = 'fee' AND g.income_type = 'FUNDING_FEE'
                     AND g.funding IS NOT NULL
                THEN nullif(coalesce(g.meta_asset, g.fee_asset, g.quote), '') END AS funding_ccy
    FROM g
), m AS (
    SELECT x.bucket::date AS day, 'realized_pnl' AS kind, x.quote AS ccy, x.pnl AS amount
    FROM ({_pnl_buckets_sql(_BUCKETS["day"])}) x
    UNION ALL
    SELECT c.day, 'fees', {_UPPER.format("c.fee_ccy")}, sum(c.fee_sum) FROM c
    WHERE c.fee_ccy IS NOT NULL GROUP BY 1, 3
    UNION ALL
    SELECT c.day, 'funding', {_UPPER.format("c.funding_ccy")}, sum(c.funding) FROM c
    WHERE c.funding_ccy IS NOT NULL GROUP BY 1, 3
    UNION ALL
    SELECT c.day, 'fills', NULL, coalesce(sum(c.n) FILTER (WHERE c.trade), 0) FROM c GROUP BY 1
), d AS (
    SELECT m.day,
           {_ccy_members("realized_pnl")} || ',' || {_ccy_members("fees")} || ','
           || {_ccy_members("funding")} || ',"fills":'
           || coalesce(sum(m.amount) FILTER (WHERE m.kind = 'fills'), 0)::text AS members
    FROM m GROUP BY m.day
)
SELECT EXISTS (SELECT 1 FROM ledger_pnl_dirty WHERE user_id = %(u)s) AS dirty,
       EXISTS (SELECT 1 FROM m WHERE m.kind IN ('fees', 'funding')
               AND m.ccy ~ '[^\\x01-\\x7f]') AS foreign,
       (SELECT array_agg(d.day ORDER BY d.day) FROM d) AS days,
       (SELECT array_agg(d.members ORDER BY d.day) FROM d) AS members
"""


async def money_by_day_json(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    *,
    start: datetime,
    end: datetime,
    zone: str,
    raw_hours: list[datetime],
) -> dict[date, str] | None:
    """Per local day of ``[start, end)`` in ``zone`` with realized PnL, fills or fee events:
    the members text ``"realized_pnl":{…},"fees":{…},"funding":{…},"fills":n`` of
    ``money.MoneyByCcy.as_json``, written by PostgreSQL in one statement (``raw_hours``: the
    UTC hours a local midnight cuts, read from the fills). The statement also asks whether hand
    changes wait for a catch-up; then it catches up (``tracker.fresh``) and asks again, so a
    read with nothing to catch up is one round trip. None when a fee or funding asset is not
    ASCII: the caller folds ``fee_buckets`` with ``money.add_fee_group`` then."""
    params = {"u": user_id, "zone": zone, "raw_hours": raw_hours, "raw_all": False}
    params.update(_window(start, end))
    cur = await conn.execute(_MONEY_BY_DAY_SQL, params)
    dirty, foreign, days, members = await cur.fetchone()  # type: ignore[misc]
    if dirty:  # (a writer holding the ledger lock catches up itself: then this reads as before)
        await tracker.fresh(conn, user_id)
        cur = await conn.execute(_MONEY_BY_DAY_SQL, params)
        _, foreign, days, members = await cur.fetchone()  # type: ignore[misc]
    if foreign:
        return None
    return dict(zip(days or [], members or [], strict=True))


_ZERO_UUID = "00000000-0000-0000-0000-000000000000"
_TRIPS_SQL = f"""
WITH b AS (  -- books that went flat inside the window
    SELECT DISTINCT p.account_id, p.venue_id, p.instrument_id FROM ledger_fill_pnl p
    WHERE p.user_id = %(u)s AND p.position = 0
      AND p.executed_at >= %(start)s AND p.executed_at < %(end)s
), s AS (  -- each from its last flat point before the window
    SELECT b.*, coalesce(o.executed_at, '-infinity') AS o_at,
           coalesce(o.event_id, '{_ZERO_UUID}') AS o_id
    FROM b LEFT JOIN LATERAL (
        SELECT p.executed_at, p.event_id FROM ledger_fill_pnl p
        WHERE p.user_id = %(u)s AND p.instrument_id = b.instrument_id AND p.position = 0
          AND p.executed_at < %(start)s
          AND p.account_id IS NOT DISTINCT FROM b.account_id
          AND p.venue_id IS NOT DISTINCT FROM b.venue_id
        ORDER BY p.executed_at DESC, p.event_id DESC LIMIT 1
    ) o ON true
), f AS (
    SELECT p.account_id, p.venue_id, p.instrument_id, p.quote, p.executed_at, p.event_id,
           p.pnl, p.position
    FROM s JOIN ledger_fill_pnl p
      ON p.user_id = %(u)s AND p.instrument_id = s.instrument_id
     AND p.account_id IS NOT DISTINCT FROM s.account_id
     AND p.venue_id IS NOT DISTINCT FROM s.venue_id
     AND (p.executed_at, p.event_id) > (s.o_at, s.o_id) AND p.executed_at < %(end)s
), t AS (
    SELECT f.*, coalesce(sum((f.position = 0)::int) OVER (
               PARTITION BY f.account_id, f.venue_id, f.instrument_id
               ORDER BY f.executed_at, f.event_id
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS trip
    FROM f
)
SELECT quote, max(executed_at) AS closed_at, sum(pnl) AS pnl,
       (array_agg(event_id ORDER BY executed_at DESC, event_id DESC))[1] AS last_id
FROM t
GROUP BY account_id, venue_id, instrument_id, quote, trip
HAVING bool_or(position = 0) AND max(executed_at) >= %(start)s
ORDER BY closed_at, last_id
"""


async def closed_trips(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    start: datetime | None,
    end: datetime | None,
    *,
    caught_up: bool = False,
) -> list[tuple[str, datetime, Decimal]]:
    """Round trips (a book from flat to flat) that closed in ``[start, end)``: quote, closing
    time and Σ realized PnL of their fills, in closing order. Reads ``ledger_fill_pnl`` only
    (fills that realize PnL or leave their book flat) through ``idx_ledger_fill_pnl_flat`` and
    ``idx_ledger_fill_pnl_book``. ``caught_up``: the caller ran ``fresh`` already."""
    if not caught_up:
        await tracker.fresh(conn, user_id)
    cur = await conn.execute(_TRIPS_SQL, {"u": user_id, **_window(start, end)})
    return [(r[0], r[1], r[2]) for r in await cur.fetchall()]


async def realized_curve(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    start: datetime | None,
    end: datetime | None,
    *,
    caught_up: bool = False,
) -> dict[str, Segment]:
    """Per quote, the realized-PnL curve of ``[start, end)`` as one segment (total, peak,
    trough, largest fall: ``kifu.ledger.curve``): the stored hourly segments of the whole hours
    (folded by PostgreSQL, ``pnl.folded_hours``) and the fills of the partial hours at the
    ends, composed in time order. ``caught_up``: the caller ran ``fresh`` already."""
    if not caught_up:
        await tracker.fresh(conn, user_id)
    first = None if start is None else _ceil_hour(start)
    stop = _FAR if end is None else _floor_hour(end)
    head: list[pnl.Span] = []
    tail: list[pnl.Span] = []
    if start is not None and first is not None and start < first:
        head.append((start, min(first, end or first), False))
    if end is not None and stop < end and (first is None or stop >= first):
        tail.append((stop, end, False))
    parts: dict[str, list[tuple[int, Segment]]] = {}
    for quote, _i, seg in await pnl.span_segments(conn, user_id, head):
        parts.setdefault(quote, []).append((0, seg))
    if first is None or stop > first:
        for quote, seg in (await pnl.folded_hours(conn, user_id, first, stop)).items():
            parts.setdefault(quote, []).append((1, seg))
    for quote, _i, seg in await pnl.span_segments(conn, user_id, tail):
        parts.setdefault(quote, []).append((2, seg))
    return {q: curve.fold(s for _k, s in sorted(v, key=lambda x: x[0])) for q, v in parts.items()}


_FAR = datetime(9999, 1, 1, tzinfo=UTC)


def _floor_hour(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _ceil_hour(t: datetime) -> datetime:
    f = _floor_hour(t)
    return f if f == t else f + timedelta(hours=1)


@dataclass(frozen=True)
class DayTrade:
    """A trade as the guided review bundles it: the chart symbol, BUY/SELL, time, PnL."""

    trade_id: uuid.UUID
    symbol: str
    side: str
    at: datetime
    pnl: Decimal


async def trades_between(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    start: datetime,
    end: datetime,
    *,
    after: datetime | None = None,
) -> list[DayTrade]:
    """The user's trades (every source: each fill has its ``trades`` row) with ``start <=
    trade_time < end`` (and ``> after``), in time order; PnL is the venue's realized PnL when the
    row carries one, else the fill's FIFO realized PnL, else 0. Index ``idx_trades_user_time``."""
    await tracker.fresh(conn, user_id)
    cur = await conn.execute(
        "SELECT t.id, t.symbol, upper(t.side), t.trade_time,"
        " coalesce(t.realized_pnl, p.pnl, 0)"
        " FROM trades t LEFT JOIN ledger_fill_pnl p ON p.event_id = t.event_id"
        " WHERE t.user_id = %(u)s AND t.trade_time >= %(start)s AND t.trade_time < %(end)s"
        " AND t.trade_time > coalesce(%(after)s::timestamptz, '-infinity')"
        " ORDER BY t.trade_time, t.id",
        {"u": user_id, "start": start, "end": end, "after": after},
    )
    return [DayTrade(r[0], r[1], r[2], r[3], r[4]) for r in await cur.fetchall()]


@dataclass(frozen=True)
class CheckFill:
    """A fill the safety check lists: its ``trade_events`` row (``event_id``) and/or its
    ``trades`` row (``trade_id``; a legacy row no event projects has no event)."""

    event_id: uuid.UUID | None
    trade_id: uuid.UUID | None
    executed_at: datetime
    asset_class: str
    venue: str
    venue_name: str
    symbol: str
    side: str
    qty: Decimal | None
    price: Decimal | None
    source: str


_CHECK_FILLS_SQL = f"""
SELECT * FROM (
    SELECT e.id AS event_id, t.id AS trade_id, e.executed_at, e.asset_class,
           coalesce(v.code, 'unknown') AS venue,
           coalesce(v.display_name, v.code, 'unknown') AS venue_name,
           coalesce(i.symbol, '-') AS symbol, upper(coalesce(e.side, '')) AS side, e.qty,
           e.price, e.source, coalesce(e.id, t.id) AS k
    FROM trade_events e
    LEFT JOIN venues v ON v.id = e.venue_id
    LEFT JOIN instruments i ON i.id = e.instrument_id
    LEFT JOIN trades t ON t.event_id = e.id
    WHERE e.user_id = %(u)s AND e.executed_at >= %(start)s AND e.executed_at < %(end)s
      AND e.event_type IN {_TRADE_TYPES}
      AND (%(ac)s::text IS NULL OR e.asset_class = %(ac)s)
      AND (%(venue)s::text IS NULL OR lower(v.code) = ANY(%(venues)s::text[])
           OR lower(v.display_name) = %(venue)s)
    UNION ALL
    SELECT NULL, t.id, t.trade_time, 'crypto', lower(coalesce(t.exchange, 'legacy')),
           coalesce(t.exchange, 'legacy'), t.symbol, upper(t.side), t.quantity, t.price,
           'api', t.id
    FROM trades t
    WHERE t.user_id = %(u)s AND t.event_id IS NULL
      AND t.trade_time >= %(start)s AND t.trade_time < %(end)s
      AND (%(ac)s::text IS NULL OR %(ac)s = 'crypto')
      AND (%(venue)s::text IS NULL
           OR lower(coalesce(t.exchange, 'legacy')) = ANY(%(venues)s::text[]))
) c
WHERE %(after_at)s::timestamptz IS NULL OR c.executed_at < %(after_at)s
   OR (c.executed_at = %(after_at)s AND (c.symbol, c.k) > (%(after_sym)s, %(after_k)s))
ORDER BY c.executed_at DESC, c.symbol ASC, c.k ASC
LIMIT %(limit)s
"""


async def fills_to_check(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    start: datetime,
    end: datetime,
    *,
    asset_class: str | None,
    venue: str | None,
    after: tuple[datetime, str, uuid.UUID] | None,
    limit: int,
) -> list[CheckFill]:
    """One page of the trade fills of ``[start, end)``, newest first (then symbol, id), each
    once: an event with the ``trades`` row that projects it, or a legacy ``trades`` row no event
    projects. ``venue`` matches the venue code (an alias or umbrella name matches the venues it
    names, ``kit.venues.filter_codes``) or display name (lower case). Indexes
    ``idx_trade_events_user_time`` and ``idx_trades_user_time``; ``after`` is the last row's
    (time, symbol, id) of the previous page."""
    cur = await conn.execute(
        _CHECK_FILLS_SQL,
        {
            "u": user_id,
            "start": start,
            "end": end,
            "ac": asset_class,
            "venue": venue.lower() if venue else None,
            "venues": venue_codes.filter_codes([venue]) if venue else None,
            "after_at": after[0] if after else None,
            "after_sym": after[1] if after else None,
            "after_k": after[2] if after else None,
            "limit": limit,
        },
    )
    return [CheckFill(*r[:11]) for r in await cur.fetchall()]


async def owned_fill(
    conn: AsyncConnection, user_id: uuid.UUID, target_type: str, target_id: uuid.UUID
) -> bool:
    """Whether the user has this trade-like event (``trade_event``) or ``trades`` row
    (``trade``)."""
    if target_type == "trade_event":
        sql = (
            "SELECT EXISTS (SELECT 1 FROM trade_events WHERE id = %s AND user_id = %s"
            f" AND event_type IN {_TRADE_TYPES})"
        )
    else:
        sql = "SELECT EXISTS (SELECT 1 FROM trades WHERE id = %s AND user_id = %s)"
    cur = await conn.execute(sql, (target_id, user_id))
    return bool((await cur.fetchone())[0])  # type: ignore[index]


# -- for exchange sync ----------------------------------------------------------------------------


async def traded_symbols(conn: AsyncConnection, user_id: uuid.UUID, venue: str) -> set[str]:
    """Chart symbols (``BASE`` + ``QUOTE``, and the trades rows' own spelling) the user has
    fills of at ``venue``, whatever brought them in."""
    cur = await conn.execute(
        "SELECT DISTINCT symbol FROM trades WHERE user_id = %s AND exchange = %s"
        " UNION SELECT DISTINCT i.base_asset || i.quote_asset FROM trade_events e"
        " JOIN venues v ON v.id = e.venue_id JOIN instruments i ON i.id = e.instrument_id"
        " WHERE e.user_id = %s AND v.code = %s",
        (user_id, venue, user_id, venue),
    )
    return {r[0] for r in await cur.fetchall()}


async def stored_orders(
    conn: AsyncConnection, user_id: uuid.UUID, venue: str, since: datetime
) -> set[str]:
    """Order uuids (Upbit's ``metadata.order_uuid``) whose fills at ``venue`` since ``since``
    are stored."""
    cur = await conn.execute(
        "SELECT DISTINCT e.metadata->>'order_uuid' FROM trade_events e"
        " JOIN venues v ON v.id = e.venue_id"
        " WHERE e.user_id = %s AND e.executed_at >= %s AND v.code = %s"
        " AND e.metadata ? 'order_uuid'",
        (user_id, since, venue),
    )
    return {r[0] for r in await cur.fetchall()}


async def exchange_trade_count(conn: AsyncConnection, user_id: uuid.UUID, exchange: str) -> int:
    """The user's trades rows at ``exchange`` (one per fill)."""
    cur = await conn.execute(
        "SELECT count(*) FROM trades WHERE user_id = %s AND exchange = %s", (user_id, exchange)
    )
    return (await cur.fetchone())[0]  # type: ignore[index]


# -- trade <-> bubble links (the journal's reads of them) ---------------------------------------

_LINKED_TRADE_COLUMNS = (
    "id, bubble_id, exchange, symbol, side, quantity, price, realized_pnl, trade_time,"
    " binance_trade_id"
)


async def trade_owner(conn: AsyncConnection, trade_id: uuid.UUID) -> uuid.UUID | None:
    """The user a ``trades`` row belongs to (primary key), or None."""
    cur = await conn.execute("SELECT user_id FROM trades WHERE id = %s", (trade_id,))
    row = await cur.fetchone()
    return row[0] if row else None


async def trades_of_bubble(
    conn: AsyncConnection, user_id: uuid.UUID, bubble_id: uuid.UUID, limit: int
) -> list[dict]:
    """The newest ``limit`` of the user's trades linked to the bubble (``idx_trades_bubble_id``)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_LINKED_TRADE_COLUMNS} FROM trades WHERE bubble_id = %s AND user_id = %s"
            " ORDER BY trade_time DESC, id DESC LIMIT %s",
            (bubble_id, user_id, limit),
        )
        return await cur.fetchall()


async def unlinked_trades(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[dict]:
    """The next of the user's trades without a bubble after ``after`` (trade_time, id), locked
    for the caller's transaction (``idx_trades_user_unlinked``); rows another transaction holds
    are skipped (it is linking them)."""
    keyset = "AND (t.trade_time, t.id) > (%s, %s)" if after else ""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT t.id, t.symbol, t.side, t.price, t.trade_time, t.exchange FROM trades t"
            f" WHERE t.user_id = %s AND t.bubble_id IS NULL {keyset}"
            " ORDER BY t.trade_time, t.id LIMIT %s FOR UPDATE OF t SKIP LOCKED",
            [user_id, *(after or ()), limit],
        )
        return await cur.fetchall()
