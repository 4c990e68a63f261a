"""``/trades/summary`` from the rollups of migration 048 equals the scan it replaced.

The oracle is the summary's previous SQL (four aggregating queries over every ``trades`` row),
kept here verbatim; random trades, filters, updates and deletes must give the same answer."""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from kifu.kit.money import dec_str
from kifu.ledger import queries
from kifu.ledger.queries import TradeFilter

T0 = datetime(2026, 3, 1, tzinfo=UTC)

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


def _old_agg(row: tuple[Any, ...]) -> dict[str, Any]:
    n, buys, sells, volume, pnl, avg_pnl, wins, losses, breakeven = row
    avg = Decimal(avg_pnl).quantize(Decimal("1e-10")) if avg_pnl is not None else Decimal(0)
    return {
        "total_trades": n,
        "trade_count": n,
        "buy_count": buys,
        "sell_count": sells,
        "total_volume": dec_str(Decimal(volume)),
        # every symbol here is quoted in USDT, so the one-currency total is the whole sum
        "total_volume_by_currency": {"USDT": dec_str(Decimal(volume))} if n else {},
        "realized_pnl_total": dec_str(Decimal(pnl)),
        "realized_pnl_by_currency": {"USDT": dec_str(Decimal(pnl))} if n else {},
        "average_pnl": dec_str(avg),
        "wins": wins,
        "losses": losses,
        "breakeven": breakeven,
    }


def old_summary(conn: psycopg.Connection, user_id: uuid.UUID, f: TradeFilter) -> dict[str, Any]:
    where, params = f.where()
    params["user"] = user_id
    totals = _old_agg(conn.execute(f"SELECT {_AGG} FROM trades t WHERE {where}", params).fetchone())
    by_side = [
        {"side": r[0], **_old_agg(r[1:])}
        for r in conn.execute(
            f"SELECT upper(t.side), {_AGG} FROM trades t WHERE {where} GROUP BY 1 ORDER BY 1",
            params,
        ).fetchall()
    ]
    by_symbol = [
        {"symbol": r[0], **_old_agg(r[1:])}
        for r in conn.execute(
            f"SELECT t.symbol, {_AGG} FROM trades t WHERE {where}"
            " GROUP BY 1 ORDER BY count(*) DESC, 1 ASC LIMIT 20",
            params,
        ).fetchall()
    ]
    by_exchange = [
        {"exchange": r[0], **_old_agg(r[1:])}
        for r in conn.execute(
            f"SELECT t.exchange, {_AGG} FROM trades t WHERE {where} GROUP BY 1 ORDER BY 1",
            params,
        ).fetchall()
    ]
    return {
        "exchange": f.exchange or "",  # the reference's empty string (kifu sent "all" once)
        "totals": totals,
        "by_side": by_side,
        "by_symbol": by_symbol,
        "by_exchange": by_exchange,
    }


async def _new(db: str, user_id: uuid.UUID, filters: list[TradeFilter]) -> list[dict[str, Any]]:
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        return [
            {
                **await queries.trade_summary(conn, user_id, f),
                "count": await queries.trade_count(conn, user_id, f),
            }
            for f in filters
        ]


SYMBOLS = [f"S{i:02d}USDT" for i in range(25)]  # more than the 20 listed
EXCHANGES = ["binance_futures", "binance_spot", "upbit"]


def _random_trades(rnd: random.Random, n: int) -> list[tuple[Any, ...]]:
    rows = []
    for i in range(n):
        pnl_kind = rnd.random()
        pnl = (
            None
            if pnl_kind < 0.3
            else Decimal(0)
            if pnl_kind < 0.4
            else Decimal(rnd.randint(-(10**9), 10**9)).scaleb(-rnd.randint(2, 8))
        )
        at = T0 + timedelta(seconds=rnd.randint(0, 6 * 86400), microseconds=rnd.randint(0, 999999))
        rows.append(
            (
                i + 1,
                rnd.choice(EXCHANGES),
                rnd.choice(SYMBOLS[: rnd.randint(1, len(SYMBOLS))]),
                rnd.choice(["BUY", "SELL", "buy", "Sell"]),
                Decimal(rnd.randint(1, 10**6)).scaleb(-rnd.randint(0, 6)),
                Decimal(rnd.randint(1, 10**7)).scaleb(-rnd.randint(0, 4)),
                pnl,
                at,
            )
        )
    return rows


def _random_filters(rnd: random.Random, k: int) -> list[TradeFilter]:
    out = [TradeFilter(), TradeFilter(exchange="upbit"), TradeFilter(side="SELL")]
    for _ in range(k):
        start = end = None
        if rnd.random() < 0.7:
            start = T0 + timedelta(seconds=rnd.randint(-3600, 6 * 86400))
            if rnd.random() < 0.3:  # a whole day or hour
                start = start.replace(minute=0, second=0, hour=rnd.choice([0, start.hour]))
        if rnd.random() < 0.6:
            end = (start or T0) + timedelta(seconds=rnd.choice([59, 3600, 5000, 90000, 400000]))
        out.append(
            TradeFilter(
                exchange=rnd.choice([None, None, *EXCHANGES]),
                symbol=rnd.choice([None, None, None, *SYMBOLS[:5]]),
                side=rnd.choice([None, None, "BUY", "SELL"]),
                start=start,
                end=end,
            )
        )
    return out


def _check(db: str, user_id: uuid.UUID, filters: list[TradeFilter]) -> None:
    got = asyncio.run(_new(db, user_id, filters))
    with psycopg.connect(db) as conn:
        for f, summary in zip(filters, got, strict=True):
            where, params = f.where()
            count = conn.execute(
                f"SELECT count(*) FROM trades t WHERE {where}", {**params, "user": user_id}
            ).fetchone()[0]
            assert summary.pop("count") == count, f  # the /trades total
            assert summary == old_summary(conn, user_id, f), f


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_summary_equals_the_scan_on_random_trades(db, make_user, seed):
    rnd = random.Random(seed)
    user, other = make_user(), make_user()
    with psycopg.connect(db) as conn:
        for who, count in ((user, 400), (other, 50)):
            with conn.cursor() as cur:
                cur.executemany(  # several statements, and one multi-row batch below
                    "INSERT INTO trades (user_id, binance_trade_id, exchange, symbol, side,"
                    " quantity, price, realized_pnl, trade_time)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [(who.id, *r) for r in _random_trades(rnd, count)[: count // 2]],
                )
            conn.execute(
                "INSERT INTO trades (user_id, binance_trade_id, exchange, symbol, side, quantity,"
                " price, realized_pnl, trade_time)"
                " SELECT %s, x.id + 100000, x.ex, x.sym, x.side, x.q, x.p, x.pnl, x.at"
                " FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::numeric[],"
                " %s::numeric[], %s::numeric[], %s::timestamptz[])"
                " AS x(id, ex, sym, side, q, p, pnl, at)",
                (who.id, *map(list, zip(*_random_trades(rnd, count)[count // 2 :], strict=True))),
            )
    filters = _random_filters(rnd, 40)
    _check(db, user.id, filters)

    with psycopg.connect(db) as conn:  # edits by hand: every kind the triggers must follow
        conn.execute(
            "UPDATE trades SET realized_pnl = realized_pnl * -1 + 1 WHERE user_id = %s"
            " AND binance_trade_id %% 7 = 0",
            (user.id,),
        )
        conn.execute(
            "UPDATE trades SET trade_time = trade_time + interval '13 hours', side = 'sell'"
            " WHERE user_id = %s AND binance_trade_id %% 11 = 0",
            (user.id,),
        )
        conn.execute(
            "UPDATE trades SET symbol = 'MOVEDUSDT', exchange = 'upbit'"
            " WHERE user_id = %s AND binance_trade_id %% 13 = 0",
            (user.id,),
        )
        conn.execute(  # a column the summary does not read
            "UPDATE trades SET position_side = 'LONG' WHERE user_id = %s", (user.id,)
        )
        conn.execute(
            "DELETE FROM trades WHERE user_id = %s AND binance_trade_id %% 5 = 0", (user.id,)
        )
        conn.execute(  # one symbol leaves entirely: its groups must go
            "DELETE FROM trades WHERE user_id = %s AND symbol = 'S00USDT'", (user.id,)
        )
        conn.execute(  # rows that change owner
            "UPDATE trades SET user_id = %s WHERE user_id = %s AND binance_trade_id %% 17 = 0",
            (user.id, other.id),
        )
    _check(db, user.id, filters)
    _check(db, other.id, filters[:10])
    with psycopg.connect(db) as conn:
        empty = conn.execute(
            "SELECT (SELECT count(*) FROM trade_summary_hours WHERE n <= 0)"
            " + (SELECT count(*) FROM trade_summary_days WHERE n <= 0)"
            " + (SELECT count(*) FROM trade_summary_totals WHERE n <= 0)"
        ).fetchone()[0]
        assert empty == 0


def test_summary_rollups_follow_truncate_and_user_delete(db, make_user):
    user = make_user()
    with psycopg.connect(db) as conn:
        conn.execute(
            "INSERT INTO trades (user_id, binance_trade_id, exchange, symbol, side, quantity,"
            " price, realized_pnl, trade_time) VALUES (%s, 1, 'upbit', 'KRW-BTC', 'BUY', 1, 2, 3,"
            " %s)",
            (user.id, T0),
        )
        conn.execute("DELETE FROM users WHERE id = %s", (user.id,))
        assert conn.execute("SELECT count(*) FROM trade_summary_totals").fetchone()[0] == 0
    again = make_user()
    with psycopg.connect(db) as conn:
        conn.execute(
            "INSERT INTO trades (user_id, binance_trade_id, exchange, symbol, side, quantity,"
            " price, trade_time) VALUES (%s, 1, 'upbit', 'KRW-BTC', 'BUY', 1, 2, %s)",
            (again.id, T0),
        )
        conn.execute("TRUNCATE trades CASCADE")
        for table in ("trade_summary_totals", "trade_summary_days", "trade_summary_hours"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
    _check(db, again.id, [TradeFilter(), TradeFilter(start=T0)])


def test_summary_cut_covers_the_range_once():
    rnd = random.Random(5)
    for _ in range(500):
        s = T0 + timedelta(seconds=rnd.randint(0, 5 * 86400), microseconds=rnd.randint(0, 9))
        e = s + timedelta(seconds=rnd.choice([0, 1, 3599, 3600, 7200, 86400, 200000]))
        days, hours, raw = queries.summary_cut(s, e)
        pieces = sorted(p for p in [days, *hours, *raw] if p[0] < p[1])
        assert pieces[0][0] == s and pieces[-1][1] == e if pieces else s == e
        for a, b in itertools.pairwise(pieces):
            assert a[1] == b[0]
        for lo, hi in hours:
            assert lo >= hi or (lo.minute, lo.second, hi.minute, hi.second) == (0, 0, 0, 0)
