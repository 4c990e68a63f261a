"""The ledger's stored per-fill FIFO realized PnL and hourly curve (kifu.ledger.pnl), as a pack
reads them, against the ledger's FIFO book (kifu.ledger.positions)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kifu.ledger import tracker
from kifu.ledger.positions import FifoBook, Fill
from kifu.packs import rules, service
from tests.packs.ledger_rows import ANCHOR, Ledger

fills_st = st.lists(
    st.tuples(
        st.sampled_from(["buy", "sell"]),
        st.one_of(  # round quantities make books go flat, where replays restart
            st.sampled_from([Decimal("0.5"), Decimal(1), Decimal(2)]),
            st.decimals(min_value=Decimal("0.001"), max_value=5, places=3),
        ),
        st.decimals(min_value=1, max_value=200, places=2),
        st.sampled_from(["A/USDT", "B/USDT", "C/KRW"]),
        st.integers(min_value=0, max_value=300),  # minutes after the first fill
    ),
    min_size=1,
    max_size=25,
)


@pytest.fixture
def ledger(db, make_user) -> Ledger:
    return Ledger(db, make_user().id)


async def _catch_up(conninfo: str, user: uuid.UUID) -> int:
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        return (await tracker.catch_up_now(conn, user)).replayed


async def _figures(
    conninfo: str, user: uuid.UUID, start: datetime | None, end: datetime
) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        return await service._realized(conn, user, start, end)


def _expected(fills, start: datetime, end: datetime) -> dict[str, list[Decimal]]:
    """Each quote's realized PnL per fill in [start, end], from FifoBook fed in time order."""
    books: dict[str, FifoBook] = {}
    out: dict[str, list[Decimal]] = {}
    for at, _, side, qty, price, symbol in sorted(fills):
        quote = symbol.split("/")[1]
        book = books.setdefault(symbol, FifoBook(quote))
        before = book.pos.realized_pnl
        book.apply(Fill(executed_at=at, side=side, qty=qty, price=price, event_type="perp_trade"))
        if start <= at <= end:
            out.setdefault(quote, []).append(book.pos.realized_pnl - before)
    return out


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fills=fills_st,
    split=st.integers(min_value=0, max_value=300),
    stop=st.integers(min_value=0, max_value=320),
    batch=st.integers(min_value=0, max_value=25),
)
def test_stored_curve_matches_the_ledger_book(
    ledger: Ledger, fills, split: int, stop: int, batch: int
) -> None:
    """Fills written in two batches (the second may land before the first's last fill), each
    caught up as a writer does; the pack's realized PnL and drawdown over a range cut at
    arbitrary minutes (partial hours at both ends) equal FifoBook's."""
    with psycopg.connect(ledger.conninfo, autocommit=True) as conn:
        conn.execute("DELETE FROM trade_events WHERE user_id = %s", (ledger.user_id,))
    t0 = ANCHOR - timedelta(days=1, seconds=7)
    written = []
    for i, (side, qty, price, symbol, minute) in enumerate(fills):
        at = t0 + timedelta(minutes=minute, seconds=i)
        venue = "upbit" if symbol.endswith("KRW") else "binance_futures"
        ledger.fill(venue, symbol, side, str(qty), str(price), at)
        written.append((at, i, side, qty, price, symbol))
        if i + 1 == batch:
            asyncio.run(_catch_up(ledger.conninfo, ledger.user_id))
    asyncio.run(_catch_up(ledger.conninfo, ledger.user_id))
    start = t0 + timedelta(minutes=split, seconds=13)
    end = max(start, t0 + timedelta(minutes=stop, seconds=29))
    realized, drawdown = asyncio.run(_figures(ledger.conninfo, ledger.user_id, start, end))
    for quote, pnls in _expected(written, start, end).items():
        assert realized.get(quote, Decimal(0)) == sum(pnls, Decimal(0)), quote
        assert drawdown.get(quote, Decimal(0)) == rules.max_drawdown(pnls), quote
    everything = _expected(written, t0, ANCHOR)
    realized, drawdown = asyncio.run(_figures(ledger.conninfo, ledger.user_id, None, ANCHOR))
    for quote, pnls in everything.items():
        assert realized.get(quote, Decimal(0)) == sum(pnls, Decimal(0)), quote
        assert drawdown.get(quote, Decimal(0)) == rules.max_drawdown(pnls), quote


def test_partitions_are_per_account(ledger: Ledger) -> None:
    """The same instrument in two accounts is two FIFO books."""
    t = ANCHOR - timedelta(hours=5)
    ledger.fill("binance_spot", "X/USDT", "buy", "1", "10", t, source="csv")
    ledger.fill("binance_spot", "X/USDT", "buy", "1", "20", t + timedelta(hours=1), source="api")
    ledger.fill("binance_spot", "X/USDT", "sell", "1", "25", t + timedelta(hours=2), source="api")
    asyncio.run(_catch_up(ledger.conninfo, ledger.user_id))
    realized, _ = asyncio.run(_figures(ledger.conninfo, ledger.user_id, None, ANCHOR))
    assert realized == {"USDT": Decimal(5)}


def test_changes_by_hand_are_replayed(ledger: Ledger) -> None:
    """Updating or deleting a fill with plain SQL marks its book; the next catch-up replays it,
    and a change that cannot move FIFO (a fee) replays nothing."""
    t = ANCHOR - timedelta(hours=5)
    ledger.fill("binance_futures", "X/USDT", "buy", "1", "10", t)
    sell = ledger.fill("binance_futures", "X/USDT", "sell", "1", "15", t + timedelta(hours=1))
    assert asyncio.run(_catch_up(ledger.conninfo, ledger.user_id)) == 1
    assert asyncio.run(_catch_up(ledger.conninfo, ledger.user_id)) == 0
    with psycopg.connect(ledger.conninfo, autocommit=True) as conn:
        conn.execute("UPDATE trade_events SET fee = 1 WHERE id = %s", (sell,))
    assert asyncio.run(_catch_up(ledger.conninfo, ledger.user_id)) == 0
    with psycopg.connect(ledger.conninfo, autocommit=True) as conn:
        conn.execute("UPDATE trade_events SET price = 12 WHERE id = %s", (sell,))
    assert asyncio.run(_catch_up(ledger.conninfo, ledger.user_id)) == 1
    assert asyncio.run(_figures(ledger.conninfo, ledger.user_id, None, ANCHOR))[0] == {
        "USDT": Decimal(2)
    }
    with psycopg.connect(ledger.conninfo, autocommit=True) as conn:
        conn.execute("DELETE FROM trade_events WHERE id = %s", (sell,))
    asyncio.run(_catch_up(ledger.conninfo, ledger.user_id))
    assert asyncio.run(_figures(ledger.conninfo, ledger.user_id, None, ANCHOR))[0] == {}
    with psycopg.connect(ledger.conninfo) as conn:
        assert conn.execute(
            "SELECT count(*) FROM ledger_pnl_hours WHERE user_id = %s", (ledger.user_id,)
        ).fetchone() == (0,)


def test_a_replay_starts_at_the_last_flat_point(ledger: Ledger) -> None:
    """A change after a book went flat replays only the fills after that point: a stored row
    before it is left as it was (here deliberately wrong, to show it is not rewritten), while
    the rows after it are recomputed."""
    t = ANCHOR - timedelta(hours=6)
    first = ledger.fill("binance_futures", "X/USDT", "buy", "1", "10", t)
    closing = ledger.fill("binance_futures", "X/USDT", "sell", "1", "14", t + timedelta(hours=1))
    ledger.fill("binance_futures", "X/USDT", "buy", "2", "20", t + timedelta(hours=2))
    asyncio.run(_catch_up(ledger.conninfo, ledger.user_id))
    with psycopg.connect(ledger.conninfo, autocommit=True) as conn:
        assert conn.execute(
            "SELECT pnl, position FROM ledger_fill_pnl WHERE event_id = %s", (closing,)
        ).fetchone() == (Decimal(4), Decimal(0))
        conn.execute("UPDATE ledger_fill_pnl SET pnl = 999 WHERE event_id = %s", (closing,))
    ledger.fill("binance_futures", "X/USDT", "sell", "1", "25", t + timedelta(hours=3))
    asyncio.run(_catch_up(ledger.conninfo, ledger.user_id))
    with psycopg.connect(ledger.conninfo) as conn:
        rows = conn.execute(
            "SELECT pnl FROM ledger_fill_pnl WHERE user_id = %s ORDER BY executed_at",
            (ledger.user_id,),
        ).fetchall()
    assert rows == [(Decimal(999),), (Decimal(5),)]
    # A change before the flat point replays the book from its start.
    with psycopg.connect(ledger.conninfo, autocommit=True) as conn:
        conn.execute("UPDATE trade_events SET price = 11 WHERE id = %s", (first,))
    asyncio.run(_catch_up(ledger.conninfo, ledger.user_id))
    realized, _ = asyncio.run(_figures(ledger.conninfo, ledger.user_id, None, ANCHOR))
    assert realized == {"USDT": Decimal(8)}
