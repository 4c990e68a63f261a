"""The pack's set-based FIFO SQL against the ledger's FIFO book (kifu.ledger.positions)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from kifu.ledger.positions import FifoBook, Fill
from kifu.packs import rules, store
from tests.packs.ledger_rows import ANCHOR, Ledger

fills_st = st.lists(
    st.tuples(
        st.sampled_from(["buy", "sell"]),
        st.decimals(min_value=Decimal("0.001"), max_value=5, places=3),
        st.decimals(min_value=1, max_value=200, places=2),
        st.sampled_from(["A/USDT", "B/USDT", "C/KRW"]),
    ),
    min_size=1,
    max_size=25,
)


@pytest.fixture
def ledger(db, make_user) -> Ledger:
    return Ledger(db, make_user().id)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(fills=fills_st, split=st.integers(min_value=0, max_value=25))
def test_fifo_sql_matches_the_ledger_book(ledger: Ledger, fills, split: int) -> None:
    with psycopg.connect(ledger.conninfo, autocommit=True) as conn:
        conn.execute("DELETE FROM trade_events WHERE user_id = %s", (ledger.user_id,))
    t0 = ANCHOR - timedelta(days=1)
    books: dict[str, FifoBook] = {}
    expected_pnl: dict[str, list[Decimal]] = {}
    start = t0 + timedelta(minutes=split)
    for i, (side, qty, price, symbol) in enumerate(fills):
        at = t0 + timedelta(minutes=i)
        venue = "upbit" if symbol.endswith("KRW") else "binance_futures"
        ledger.fill(venue, symbol, side, str(qty), str(price), at)
        quote = symbol.split("/")[1]
        book = books.setdefault(symbol, FifoBook(quote))
        before = book.pos.realized_pnl
        book.apply(Fill(executed_at=at, side=side, qty=qty, price=price, event_type="perp_trade"))
        if at >= start:
            expected_pnl.setdefault(quote, []).append(book.pos.realized_pnl - before)
    with psycopg.connect(ledger.conninfo) as conn:
        rows = (
            conn.cursor(row_factory=dict_row)
            .execute(store._FIFO_SQL, {"user_id": ledger.user_id, "start": start, "end": ANCHOR})
            .fetchall()
        )
    got = {r["quote"]: (r["a"], r["b"]) for r in rows if r["kind"] == "realized"}
    for quote, pnls in expected_pnl.items():
        total, dd = got.get(quote, (Decimal(0), Decimal(0)))
        assert total == sum(pnls, Decimal(0)), quote
        assert dd == rules.max_drawdown(pnls), quote


def test_partitions_are_per_account(ledger: Ledger) -> None:
    """The same instrument in two accounts is two FIFO books."""
    t = ANCHOR - timedelta(hours=5)
    ledger.fill("binance_spot", "X/USDT", "buy", "1", "10", t, source="csv")
    ledger.fill("binance_spot", "X/USDT", "buy", "1", "20", t + timedelta(hours=1), source="api")
    ledger.fill("binance_spot", "X/USDT", "sell", "1", "25", t + timedelta(hours=2), source="api")
    with psycopg.connect(ledger.conninfo) as conn:
        rows = (
            conn.cursor(row_factory=dict_row)
            .execute(store._FIFO_SQL, {"user_id": ledger.user_id, "start": None, "end": ANCHOR})
            .fetchall()
        )
    assert [(r["kind"], r["a"]) for r in rows] == [("realized", Decimal(5))]
