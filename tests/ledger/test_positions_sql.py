"""The set-based positions rebuild (ledger.service) against the pure FIFO book, on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kifu.ledger import service
from kifu.ledger.positions import FifoBook, Fill
from kifu.ledger.rules import canonical_decimal
from tests.packs.ledger_rows import Ledger

T0 = datetime(2026, 1, 1, tzinfo=UTC)
COLS = (
    "p.status, p.size, p.avg_entry, p.avg_exit, p.opened_at, p.closed_at, p.realized_pnl_usdt,"
    " p.realized_pnl_krw, p.fees_usdt, p.fees_krw, p.buy_qty, p.sell_qty, p.buy_notional,"
    " p.sell_notional, p.last_executed_at, p.quote_asset, p.realized_pnl, p.fees,"
    " p.unconverted_fees, p.event_count, p.venue_id"
)

legs_st = st.lists(
    st.tuples(
        st.sampled_from(["buy", "sell"]),
        st.decimals(min_value=D("0.001"), max_value=5, places=3),
        st.decimals(min_value=D("0.01"), max_value=500, places=2),
        st.sampled_from(["A/USDT", "B/KRW"]),
        st.sampled_from(["binance_futures", "upbit"]),
        st.one_of(
            st.none(),
            st.tuples(
                st.decimals(min_value=0, max_value=2, places=4),
                st.sampled_from([None, "USDT", "usdt", "KRW", "BNB", "eth"]),
            ),
        ),
        st.integers(min_value=0, max_value=3),  # minutes after the previous fill (0: a tie)
    ),
    max_size=30,
)


@pytest.fixture
def ledger(db, make_user) -> Ledger:
    return Ledger(db, make_user().id)


async def _rebuild(conninfo: str, user_id) -> int:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        return await service.rebuild_positions(conn, user_id)


def _expected(ledger: Ledger) -> dict:
    """Feed each (account, instrument)'s fills to FifoBook in (executed_at, id) order."""
    with psycopg.connect(ledger.conninfo) as conn:
        rows = conn.execute(
            "SELECT e.account_id, e.instrument_id, a.venue_id, i.quote_asset, e.executed_at,"
            " e.side, e.qty, e.price, e.fee, e.fee_asset, e.event_type FROM trade_events e"
            " JOIN accounts a ON a.id = e.account_id JOIN instruments i ON i.id = e.instrument_id"
            " WHERE e.user_id = %s AND e.side IS NOT NULL AND e.qty IS NOT NULL"
            " AND e.price IS NOT NULL ORDER BY e.account_id, e.instrument_id, e.executed_at, e.id",
            (ledger.user_id,),
        ).fetchall()
    books: dict = {}
    for acct, instr, vid, quote, at, side, qty, price, fee, fee_asset, ev in rows:
        book = books.setdefault((acct, instr), (vid, FifoBook(quote)))[1]
        book.apply(Fill(at, side, qty, price, fee, fee_asset, ev))
    out = {}
    for key, (vid, book) in books.items():
        p = book.position()
        out[key] = (
            p.status,
            p.size,
            p.avg_entry,
            p.avg_exit,
            p.opened_at,
            p.closed_at,
            p.realized_pnl_usdt,
            p.realized_pnl_krw,
            p.fees_usdt,
            p.fees_krw,
            p.buy_qty,
            p.sell_qty,
            p.buy_notional,
            p.sell_notional,
            p.last_executed_at,
            p.quote_asset,
            p.realized_pnl,
            p.fees,
            {k: canonical_decimal(v) for k, v in p.unconverted_fees.items()},
            p.event_count,
            vid,
        )
    return out


def _stored(ledger: Ledger) -> dict:
    with psycopg.connect(ledger.conninfo) as conn:
        rows = conn.execute(
            f"SELECT p.account_id, p.instrument_id, {COLS} FROM positions p WHERE p.user_id = %s",
            (ledger.user_id,),
        ).fetchall()
    out = {}
    for r in rows:
        vals = list(r[2:])
        vals[18] = {k: canonical_decimal(D(v)) for k, v in vals[18].items()}
        out[(r[0], r[1])] = tuple(vals)
    return out


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(legs=legs_st)
def test_rebuild_equals_the_fifo_book(ledger: Ledger, legs) -> None:
    with psycopg.connect(ledger.conninfo, autocommit=True) as conn:
        conn.execute("DELETE FROM trade_events WHERE user_id = %s", (ledger.user_id,))
    at = T0
    for side, qty, price, symbol, venue, fee, gap in legs:
        at += timedelta(minutes=gap)
        ledger.fill(
            venue,
            symbol,
            side,
            str(qty),
            str(price),
            at,
            fee=str(fee[0]) if fee else None,
            fee_asset=fee[1] if fee else None,
        )
    n = asyncio.run(_rebuild(ledger.conninfo, ledger.user_id))
    expected = _expected(ledger)
    assert n == len(expected)
    assert _stored(ledger) == expected


def test_flips_partial_closes_and_non_trades(ledger: Ledger) -> None:
    t = T0
    legs = [
        ("buy", "1", "100"),
        ("buy", "2", "110"),
        ("sell", "1.5", "120"),  # partial close of the first two lots
        ("sell", "4", "90"),  # closes 1.5, flips to short 2.5
        ("buy", "2.5", "80"),  # flat
        ("sell", "1", "70"),  # short again
    ]
    for i, (side, qty, price) in enumerate(legs):
        ledger.fill("binance_futures", "X/USDT", side, qty, price, t + timedelta(minutes=i))
    ledger.fill(
        "binance_futures", "X/USDT", "buy", "9", "1", t, event_type="transfer"
    )  # not a trade: ignored
    asyncio.run(_rebuild(ledger.conninfo, ledger.user_id))
    assert _stored(ledger) == _expected(ledger)
    (pos,) = _stored(ledger).values()
    # 1@100,0.5@110 closed at 120 -> 20+5; 1.5@110 closed at 90 -> -30; short 2.5@90 covered
    # at 80 -> +25; short 1 @70 open
    assert pos[16] == D("20") and pos[1] == D("-1") and pos[2] == D("70")
    assert pos[4] == t + timedelta(minutes=5) and pos[5] is None
    assert json.dumps(pos[18]) == "{}"
