"""Packs read the per-fill FIFO realized PnL the ledger stores when it refreshes positions; the
figures and content hashes equal those computed from the fills, and stale values are never used."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kifu.ledger import service as ledger_service
from kifu.ledger.positions import FifoBook, Fill
from kifu.packs import service, store
from tests.packs.ledger_rows import ANCHOR, Ledger


@pytest.fixture
def ledger(db, make_user) -> Ledger:
    return Ledger(db, make_user().id)


def _rebuild(ledger: Ledger) -> None:
    async def go() -> None:
        async with await psycopg.AsyncConnection.connect(ledger.conninfo, autocommit=True) as c:
            await ledger_service.rebuild_positions(c, ledger.user_id)

    asyncio.run(go())


def _current(ledger: Ledger) -> bool:
    async def go() -> bool:
        async with await psycopg.AsyncConnection.connect(ledger.conninfo, autocommit=True) as c:
            return await store.stored_fifo_current(c, ledger.user_id)

    return asyncio.run(go())


def _figures(ledger: Ledger, start, end, use_stored: bool) -> list[dict]:
    async def go() -> list[dict]:
        async with await psycopg.AsyncConnection.connect(ledger.conninfo, autocommit=True) as c:
            return await store.fifo_figures(c, ledger.user_id, start, end, use_stored=use_stored)

    rows = asyncio.run(go())
    return sorted(rows, key=lambda r: (r["kind"], r["quote"] or "", str(r["ev"])))


def _generate(ledger: Ledger, run, range_: str) -> str:
    async def go() -> str:
        async with await psycopg.AsyncConnection.connect(ledger.conninfo, autocommit=True) as c:
            pack, _ = await service.generate(c, ledger.user_id, run, range_, "UTC", "UTC")
            return pack["content_hash"]

    return asyncio.run(go())


def _varied(ledger: Ledger) -> None:
    """Partial closes, flips (spot going short), two accounts on one instrument, USDT and KRW,
    fills on both sides of the 7d and 30d range starts and one past the range end."""
    t = ANCHOR - timedelta(days=40)
    h = timedelta(hours=7)
    spot = [
        ("buy", "2", "10"),
        ("buy", "1", "12"),
        ("sell", "1.5", "15"),
        ("sell", "3", "11"),
        ("buy", "0.5", "9"),
        ("buy", "2.25", "13.5"),
        ("sell", "0.75", "14"),
    ]
    perp = [
        ("sell", "1", "100"),
        ("buy", "0.4", "90"),
        ("buy", "1", "95"),
        ("sell", "0.6", "99"),
        ("sell", "0.8", "101.5"),
        ("buy", "0.3", "97"),
    ]
    krw = [("buy", "1", "1000"), ("sell", "0.3", "1100"), ("sell", "0.7", "900")]
    for k in range(3):  # spread over 40 days: some before each range start
        base = t + timedelta(days=k * 13)
        for i, (side, q, p) in enumerate(spot):
            ledger.fill("binance_spot", "A/USDT", side, q, p, base + i * h)
        for i, (side, q, p) in enumerate(perp):
            ledger.fill("binance_futures", "B/USDT", side, q, p, base + i * h + timedelta(1))
        for i, (side, q, p) in enumerate(krw):
            ledger.fill("upbit", "C/KRW", side, q, p, base + i * h + timedelta(2))
        ledger.fill("binance_spot", "A/USDT", "sell", "0.5", "16", base + h, source="api")
        ledger.fill("binance_spot", "A/USDT", "buy", "0.5", "8", base + 3 * h, source="api")
    # same instant, tie broken by id
    ledger.fill("binance_futures", "B/USDT", "buy", "0.2", "96", ANCHOR - timedelta(days=2))
    ledger.fill("binance_futures", "B/USDT", "sell", "0.9", "94", ANCHOR - timedelta(days=2))
    ledger.fill("binance_futures", "B/USDT", "buy", "5", "50", ANCHOR + timedelta(days=1))


def test_stored_figures_and_hashes_equal_the_computed_ones(ledger: Ledger) -> None:
    _varied(ledger)
    run = ledger.run()
    assert not _current(ledger)  # inserted behind the ledger's back: computed from fills
    before = {r: _generate(ledger, run, r) for r in ("7d", "30d", "all")}
    _rebuild(ledger)
    assert _current(ledger)
    for start in (None, ANCHOR - timedelta(days=30), ANCHOR - timedelta(days=7)):
        for end in (ANCHOR, ANCHOR - timedelta(days=3), ANCHOR + timedelta(days=2)):
            assert _figures(ledger, start, end, True) == _figures(ledger, start, end, False)
    stored = {r: _generate(ledger, run, r) for r in ("7d", "30d", "all")}
    assert stored == before
    assert len(set(stored.values())) == 3
    with psycopg.connect(ledger.conninfo, autocommit=True) as conn:
        conn.execute("DELETE FROM summary_packs WHERE user_id = %s", (ledger.user_id,))
        conn.execute("DELETE FROM fill_pnl_books WHERE user_id = %s", (ledger.user_id,))
    assert not _current(ledger)
    assert {r: _generate(ledger, run, r) for r in ("7d", "30d", "all")} == before


def test_changed_fills_make_the_stored_values_stale(ledger: Ledger) -> None:
    t = ANCHOR - timedelta(days=1)
    a = ledger.fill("binance_spot", "A/USDT", "buy", "1", "10", t)
    b = ledger.fill("binance_spot", "A/USDT", "sell", "1", "12", t + timedelta(hours=1))
    _rebuild(ledger)
    assert _current(ledger)
    changes = [
        ("UPDATE trade_events SET price = 11 WHERE id = %s", a),
        ("UPDATE trade_events SET side = 'buy' WHERE id = %s", b),
        ("UPDATE trade_events SET executed_at = executed_at - interval '2 hours' WHERE id = %s", b),
        ("UPDATE trade_events SET event_type = 'perp_trade' WHERE id = %s", a),
        ("DELETE FROM trade_events WHERE id = %s", a),
    ]
    for sql, event in changes:
        with psycopg.connect(ledger.conninfo, autocommit=True) as conn:
            conn.execute(sql, (event,))
        assert not _current(ledger), sql
        _rebuild(ledger)
        assert _current(ledger), sql
    ledger.fill("binance_spot", "A/USDT", "buy", "1", "10", t + timedelta(hours=2))
    assert not _current(ledger)
    _rebuild(ledger)
    assert _current(ledger)
    # a fill without an account is in no ledger book: packs always compute from the fills
    with psycopg.connect(ledger.conninfo, autocommit=True) as conn:
        conn.execute("UPDATE trade_events SET account_id = NULL WHERE id = %s", (b,))
    _rebuild(ledger)
    assert not _current(ledger)
    with psycopg.connect(ledger.conninfo, autocommit=True) as conn:
        conn.execute("DELETE FROM trade_events WHERE user_id = %s", (ledger.user_id,))
    assert not _current(ledger)
    _rebuild(ledger)
    assert _current(ledger)
    with psycopg.connect(ledger.conninfo, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM fill_pnl_books").fetchone() == (0,)


def test_swapped_fill_times_make_the_stored_values_stale(ledger: Ledger) -> None:
    t = ANCHOR - timedelta(days=1)
    a = ledger.fill("binance_spot", "A/USDT", "buy", "1", "10", t)
    b = ledger.fill("binance_spot", "A/USDT", "buy", "2", "20", t + timedelta(hours=1))
    ledger.fill("binance_spot", "A/USDT", "sell", "1.5", "30", t + timedelta(hours=2))
    _rebuild(ledger)
    assert _current(ledger)
    with psycopg.connect(ledger.conninfo, autocommit=True) as conn:
        conn.execute(
            "UPDATE trade_events e SET executed_at = o.executed_at FROM trade_events o"
            " WHERE (e.id, o.id) IN ((%s, %s), (%s, %s))",
            (a, b, b, a),
        )
    assert not _current(ledger)


fills_st = st.lists(
    st.tuples(
        st.sampled_from(["buy", "sell"]),
        st.decimals(min_value=Decimal("0.001"), max_value=5, places=3),
        st.decimals(min_value=1, max_value=200, places=2),
        st.sampled_from(["A/USDT", "B/USDT", "C/KRW"]),
        st.integers(min_value=0, max_value=3),
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(fills=fills_st)
def test_stored_per_fill_values_equal_the_fifo_book(ledger: Ledger, fills) -> None:
    with psycopg.connect(ledger.conninfo, autocommit=True) as conn:
        conn.execute("DELETE FROM trade_events WHERE user_id = %s", (ledger.user_id,))
    t0 = ANCHOR - timedelta(days=1)
    books: dict[str, FifoBook] = {}
    expected: dict = {}
    minutes = 0
    stamps = []
    for side, qty, price, symbol, gap in fills:
        minutes += gap  # gap 0: several fills at one instant
        at = t0 + timedelta(minutes=minutes)
        stamps.append((symbol, at))
        venue = "upbit" if symbol.endswith("KRW") else "binance_futures"
        event = ledger.fill(venue, symbol, side, str(qty), str(price), at)
        book = books.setdefault(symbol, FifoBook(symbol.split("/")[1]))
        before = book.pos.realized_pnl
        book.apply(Fill(executed_at=at, side=side, qty=qty, price=price, event_type="perp_trade"))
        expected[event] = book.pos.realized_pnl - before
    # the book applies fills in insertion order; the ledger in (executed_at, id) order: compare
    # only where the two orders agree, i.e. no two fills of one book share an instant
    if len(set(stamps)) < len(stamps):
        return
    _rebuild(ledger)
    assert _current(ledger)
    with psycopg.connect(ledger.conninfo, autocommit=True) as conn:
        got = dict(
            conn.execute(
                "SELECT event_id, coalesce(realized_pnl, 0) FROM fill_realized_pnl"
                " WHERE user_id = %s",
                (ledger.user_id,),
            ).fetchall()
        )
    assert got == expected
