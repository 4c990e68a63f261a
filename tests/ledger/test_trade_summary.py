"""``/trades/summary`` from the rollups of migration 048 equals the scan it replaced.

The oracle is the summary's previous SQL (four aggregating queries over every ``trades`` row),
kept here verbatim; random trades, filters, updates and deletes must give the same answer."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from kifu.kit import venues
from kifu.kit.money import EXACT, dec_str, round_places
from kifu.ledger import queries, rules
from kifu.ledger.queries import TradeFilter
from kifu.ledger.schemas import TradeSummary

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
    avg = round_places(avg_pnl, 10) if avg_pnl is not None else Decimal(0)
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


async def _sent_and_built(
    conn: psycopg.AsyncConnection, user_id: uuid.UUID, f: TradeFilter
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The summary as the API sends it, and as Python builds it (in the model's key order)."""
    sent = json.loads(await queries.trade_summary_json(conn, user_id, f))
    built = TradeSummary.model_validate(await queries.trade_summary(conn, user_id, f))
    return sent, built.model_dump(mode="json")


async def _new(db: str, user_id: uuid.UUID, filters: list[TradeFilter]) -> list[dict[str, Any]]:
    """The summary of each filter, as the API sends it (written by PostgreSQL), after checking
    it is what Python's ``trade_summary`` builds, key order included."""
    out = []
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        for f in filters:
            sent, built = await _sent_and_built(conn, user_id, f)
            assert json.dumps(sent) == json.dumps(built), f  # the same keys in the same order
            out.append({**sent, "count": await queries.trade_count(conn, user_id, f)})
    return out


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


# -- the summary's quote currencies, computed by PostgreSQL -----------------------------------

# Pieces of symbols and venue codes, awkward ones included: every quote (as suffix, prefix and
# the other side of a separator), each separator, ASCII white space, lower case, dots, digits.
_PIECES = [
    *rules.QUOTES,
    *(q.lower() for q in rules.QUOTES),
    "BTC", "btc", "DOGE", "1000PEPE", "BRK.B", "A", "X" * 21,
    "-", "_", "/", ":", " ", "\t", "\n", "\x0b", "\x1c", "\x1f", ".", "0", "",
]  # fmt: skip
_EXCHANGES = [
    *(v.code for v in venues.VENUES),
    *(v.code.upper() for v in venues.VENUES),
    "",
    " upbit",
    "korbit",
]


def _symbols(rnd: random.Random, n: int) -> list[str]:
    return ["".join(rnd.choice(_PIECES) for _ in range(rnd.randint(1, 4))) for _ in range(n)]


def test_quote_of_in_sql_is_rules_quote_of(db):
    """``kifu_quote_of`` (db/repeatable/trades_summary.sql) answers as ``rules.quote_of`` for
    every ASCII exchange and symbol, its copies of the quote list and of the KRW-quoted venues
    included, and NULL (ask Python) for any text that is not ASCII."""
    rnd = random.Random(11)
    cases = [(e, s) for e in _EXCHANGES for s in [*rules.QUOTES, "BTC", "KRW-BTC", "BTC/USDT:USDT"]]
    cases += [(rnd.choice(_EXCHANGES), s) for s in _symbols(rnd, 6000)]
    cases += [(e, f"{q}-{p}") for e in ("upbit", "x") for q in rules.QUOTES for p in rules.QUOTES]
    with psycopg.connect(db) as conn:
        got = conn.execute(
            "SELECT kifu_quote_of(e, s) FROM unnest(%s::text[], %s::text[])"
            " WITH ORDINALITY AS x(e, s, i) ORDER BY i",
            ([c[0] for c in cases], [c[1] for c in cases]),
        ).fetchall()
        for (exchange, symbol), (quote,) in zip(cases, got, strict=True):
            assert quote == rules.quote_of(exchange, symbol), (exchange, symbol)
        assert {rules.quote_of(e, s) for e, s in cases} >= {*rules.QUOTES, "?"}  # all reached
        for exchange, symbol in (("upbit", "ＢＴＣ"), ("binance", "ﬀusdt"), ("upbİt", "BTC")):
            assert conn.execute("SELECT kifu_quote_of(%s, %s)", (exchange, symbol)).fetchone() == (
                None,
            )


def _insert_trades(db: str, user_id: uuid.UUID, rows: list[tuple]) -> None:
    """(exchange, symbol, side, quantity, price, realized PnL, time) rows as the user's trades."""
    with psycopg.connect(db) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO trades (user_id, binance_trade_id, exchange, symbol, side, quantity,"
            " price, realized_pnl, trade_time) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(user_id, i, *r) for i, r in enumerate(rows, 1)],
        )


async def _both(db: str, user_id: uuid.UUID, f: TradeFilter) -> tuple[dict, dict]:
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        return await _sent_and_built(conn, user_id, f)


def test_summary_by_currency_written_by_postgres_is_pythons(db, make_user):
    """Several quote currencies, a symbol no rule reads (``?``), averages that tie at the 11th
    decimal and sums past 28 digits: PostgreSQL's answer is Python's, key order included."""
    user = make_user()
    big = Decimal("12345678901234567890123456789.123456789")
    _insert_trades(
        db,
        user.id,
        [
            ("upbit", "KRW-BTC", "BUY", 1, 50000000, Decimal("0.00000000005"), T0),
            ("upbit", "BTC", "SELL", 2, 51000000, None, T0),
            ("binance_futures", "BTCUSDT", "SELL", Decimal("0.5"), 42000, big, T0),
            ("binance_futures", "BTCUSDT", "BUY", Decimal("0.5"), 41000, big, T0),
            ("binance_spot", "ETH/USDC", "BUY", 3, 2500, Decimal("-0.00000000015"), T0),
            ("binance_spot", "??", "BUY", 1, 1, Decimal("1.5"), T0),
        ],
    )
    for f in (TradeFilter(), TradeFilter(exchange="upbit"), TradeFilter(start=T0)):
        sent, built = asyncio.run(_both(db, user.id, f))
        assert sent == built and json.dumps(sent) == json.dumps(built), f
    sent, _ = asyncio.run(_both(db, user.id, TradeFilter()))
    assert sent["totals"]["total_volume"] is None  # several quotes
    assert list(sent["totals"]["total_volume_by_currency"]) == ["?", "KRW", "USDC", "USDT"]
    assert sent["totals"]["realized_pnl_by_currency"]["USDT"] == dec_str(EXACT.add(big, big))
    upbit = next(g for g in sent["by_exchange"] if g["exchange"] == "upbit")
    assert upbit["average_pnl"] == "0.0000000001"  # half away from zero, as NUMERIC(30,10)
    assert upbit["total_volume"] == "152000000"


def test_summary_of_a_symbol_only_python_reads(db, make_user):
    """A stored symbol that is not ASCII: Python's upper() reads ``ﬀusdt`` as FFUSDT, which the
    database's locale may not; the answer is then built by Python, still in the model's shape."""
    user = make_user()
    _insert_trades(
        db,
        user.id,
        [
            ("binance_spot", "ﬀusdt", "BUY", 2, 3, Decimal("1"), T0),
            ("upbit", "KRW-BTC", "BUY", 1, 5, None, T0),
        ],
    )
    sent, built = asyncio.run(_both(db, user.id, TradeFilter()))
    assert sent == built
    assert sent["totals"]["total_volume_by_currency"] == {"KRW": "5", "USDT": "6"}
