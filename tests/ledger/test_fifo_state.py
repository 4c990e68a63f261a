"""The stored FIFO replay state (ledger_fifo_books, migration 049): a catch-up after an append
continues from each book's carried lots; a change at or before the state's last fill replays from
the last flat point. Either way the stored per-fill PnL, the hourly curve and the positions equal
a rebuild from nothing and FifoBook."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kifu.ledger import tracker
from kifu.ledger.positions import FifoBook, Fill
from tests.packs.ledger_rows import ANCHOR, Ledger

T0 = ANCHOR - timedelta(days=2)


@pytest.fixture
def ledger(db, make_user) -> Ledger:
    return Ledger(db, make_user().id)


async def _catch_up(conninfo: str, user: uuid.UUID) -> int:
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        return (await tracker.catch_up_now(conn, user)).replayed


def _stored(conninfo: str, user: uuid.UUID) -> tuple[list, list, list]:
    with psycopg.connect(conninfo) as conn:
        fills = conn.execute(
            "SELECT event_id, pnl, position, spot, quote, executed_at FROM ledger_fill_pnl"
            " WHERE user_id = %s ORDER BY event_id",
            (user,),
        ).fetchall()
        hours = conn.execute(
            "SELECT quote, hour, fills, pnl, peak, trough, fall FROM ledger_pnl_hours"
            " WHERE user_id = %s ORDER BY quote, hour",
            (user,),
        ).fetchall()
        positions = conn.execute(
            "SELECT account_id, instrument_id, status, size, avg_entry, avg_exit, realized_pnl,"
            " opened_at, closed_at FROM positions WHERE user_id = %s"
            " ORDER BY account_id, instrument_id",
            (user,),
        ).fetchall()
    return fills, hours, positions


def _rebuilt(conninfo: str, user: uuid.UUID) -> tuple[list, list, list]:
    """The same figures recomputed from nothing: no stored state, no flat points, every book
    queued from its first fill (rolled back afterwards)."""

    async def run() -> tuple[list, list, list]:
        conn = await psycopg.AsyncConnection.connect(conninfo)
        async with conn, conn.transaction(force_rollback=True):
            for table in ("ledger_fill_pnl", "ledger_fifo_books", "ledger_pnl_hours"):
                await conn.execute(f"DELETE FROM {table} WHERE user_id = %s", (user,))
            await conn.execute(
                "INSERT INTO ledger_pnl_dirty (user_id, account_id, venue_id, instrument_id,"
                " since, replay) SELECT user_id, account_id, venue_id, instrument_id,"
                " min(executed_at), true FROM trade_events WHERE user_id = %s"
                " AND instrument_id IS NOT NULL GROUP BY 1, 2, 3, 4",
                (user,),
            )
            await tracker.catch_up(conn, user)
            out = []
            for sql in (
                "SELECT event_id, pnl, position, spot, quote, executed_at FROM ledger_fill_pnl"
                " WHERE user_id = %s ORDER BY event_id",
                "SELECT quote, hour, fills, pnl, peak, trough, fall FROM ledger_pnl_hours"
                " WHERE user_id = %s ORDER BY quote, hour",
                "SELECT account_id, instrument_id, status, size, avg_entry, avg_exit,"
                " realized_pnl, opened_at, closed_at FROM positions WHERE user_id = %s"
                " ORDER BY account_id, instrument_id",
            ):
                cur = await conn.execute(sql, (user,))
                out.append(await cur.fetchall())
            return out[0], out[1], out[2]

    return asyncio.run(run())


def _state(conninfo: str, user: uuid.UUID) -> list:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(
            "SELECT instrument_id, event_id, bought, sold, cardinality(lot_q0)"
            " FROM ledger_fifo_books WHERE user_id = %s ORDER BY instrument_id",
            (user,),
        ).fetchall()


def _fifo_pnl(fills: list[tuple]) -> Decimal:
    """Σ realized PnL (gross of fees) of (at, id, side, qty, price) fills fed to FifoBook in the
    ledger's order (time, then id)."""
    book = FifoBook("USDT")
    for at, _, side, qty, price in sorted(fills):
        book.apply(
            Fill(
                executed_at=at,
                side=side,
                qty=Decimal(qty),
                price=Decimal(price),
                event_type="perp_trade",
            )
        )
    return book.pos.realized_pnl


def test_an_append_continues_from_the_carried_lots(ledger: Ledger) -> None:
    """A book that is never flat: after the first catch-up its state holds the open lots; a fill
    appended later is priced against them, and the earlier stored rows are not recomputed (one
    is deliberately wrong here, and stays so)."""
    first = ledger.fill("binance_futures", "X/USDT", "buy", "2", "10", T0)
    ledger.fill("binance_futures", "X/USDT", "buy", "1", "12", T0 + timedelta(hours=1))
    closing = ledger.fill("binance_futures", "X/USDT", "sell", "1", "14", T0 + timedelta(hours=2))
    assert asyncio.run(_catch_up(ledger.conninfo, ledger.user_id)) == 1
    state = _state(ledger.conninfo, ledger.user_id)
    # bought 3, sold 1: the lot of 2 at 10 (1 left) and the lot at 12 are still open; the sell
    # lot ends at M = 1 and is kept for the lookup at M
    assert [s[1:] for s in state] == [(closing, Decimal(3), Decimal(1), 3)]
    with psycopg.connect(ledger.conninfo, autocommit=True) as conn:
        assert conn.execute(
            "SELECT pnl FROM ledger_fill_pnl WHERE event_id = %s", (closing,)
        ).fetchone() == (Decimal(4),)
        conn.execute("UPDATE ledger_fill_pnl SET pnl = 999 WHERE event_id = %s", (closing,))
    # sells 1.5 at 20: the rest of the lot at 10 (+10) and half of the lot at 12 (+4)
    last = ledger.fill("binance_futures", "X/USDT", "sell", "1.5", "20", T0 + timedelta(hours=3))
    assert asyncio.run(_catch_up(ledger.conninfo, ledger.user_id)) == 1
    with psycopg.connect(ledger.conninfo) as conn:
        rows = conn.execute(
            "SELECT event_id, pnl, position FROM ledger_fill_pnl WHERE user_id = %s"
            " ORDER BY executed_at",
            (ledger.user_id,),
        ).fetchall()
    assert rows == [(closing, Decimal(999), Decimal(2)), (last, Decimal(14), Decimal("0.5"))]
    assert [s[1:] for s in _state(ledger.conninfo, ledger.user_id)] == [
        (last, Decimal(3), Decimal("2.5"), 2)
    ]
    # A change before the state's last fill drops it and replays from the book's start.
    with psycopg.connect(ledger.conninfo, autocommit=True) as conn:
        conn.execute("UPDATE trade_events SET price = 11 WHERE id = %s", (first,))
    asyncio.run(_catch_up(ledger.conninfo, ledger.user_id))
    assert _stored(ledger.conninfo, ledger.user_id) == _rebuilt(ledger.conninfo, ledger.user_id)
    with psycopg.connect(ledger.conninfo) as conn:
        assert conn.execute(
            "SELECT pnl FROM ledger_fill_pnl WHERE event_id = %s", (closing,)
        ).fetchone() == (Decimal(3),)


CHANGES = ["append", "insert_before", "update_middle", "delete_middle", "append_same_time"]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fills=st.lists(
        st.tuples(
            st.sampled_from(["buy", "sell"]),
            st.sampled_from(["0.5", "1", "2", "0.25", "3"]),
            st.integers(min_value=1, max_value=40),
            st.sampled_from(["X/USDT", "Y/USDT"]),
        ),
        min_size=2,
        max_size=14,
    ),
    changes=st.lists(
        st.tuples(st.sampled_from(CHANGES), st.integers(min_value=0, max_value=100)),
        min_size=1,
        max_size=4,
    ),
    spot=st.booleans(),
)
def test_every_change_equals_a_rebuild(ledger: Ledger, fills, changes, spot: bool) -> None:
    """Fills caught up, then appends, inserts before the state's last fill, updates and deletes
    in the middle of a book, each caught up in turn: the stored per-fill PnL, hourly curve and
    positions equal a rebuild from nothing after every step, and the realized total equals
    FifoBook's."""
    with psycopg.connect(ledger.conninfo, autocommit=True) as conn:
        conn.execute("DELETE FROM trade_events WHERE user_id = %s", (ledger.user_id,))
    venue = "binance_spot" if spot else "binance_futures"
    rows: dict[uuid.UUID, tuple] = {}

    def add(side: str, qty: str, price: int, symbol: str, at) -> None:
        rows[ledger.fill(venue, symbol, side, qty, str(price), at)] = (at, side, qty, price, symbol)

    for i, (side, qty, price, symbol) in enumerate(fills):
        add(side, qty, price, symbol, T0 + timedelta(minutes=10 * i))
    asyncio.run(_catch_up(ledger.conninfo, ledger.user_id))
    for n, (change, pick) in enumerate(changes):
        ordered = sorted(rows, key=lambda k: rows[k][0])
        target = ordered[pick % len(ordered)]
        at, side, qty, price, symbol = rows[target]
        if change == "append":
            add(side, qty, price + 3, symbol, rows[ordered[-1]][0] + timedelta(minutes=7))
        elif change == "append_same_time":  # the same instant as the last fill
            add("sell" if side == "buy" else "buy", "1", price, symbol, rows[ordered[-1]][0])
        elif change == "insert_before":
            add(side, "1.5", price + 1, symbol, at - timedelta(seconds=30 + n))
        elif change == "update_middle":
            with psycopg.connect(ledger.conninfo, autocommit=True) as conn:
                conn.execute(
                    "UPDATE trade_events SET qty = qty + 1, price = price + 2 WHERE id = %s",
                    (target,),
                )
            rows[target] = (at, side, str(Decimal(qty) + 1), price + 2, symbol)
        elif len(rows) > 1:
            with psycopg.connect(ledger.conninfo, autocommit=True) as conn:
                conn.execute("DELETE FROM trade_events WHERE id = %s", (target,))
            del rows[target]
        asyncio.run(_catch_up(ledger.conninfo, ledger.user_id))
        stored = _stored(ledger.conninfo, ledger.user_id)
        assert stored == _rebuilt(ledger.conninfo, ledger.user_id), change
        for symbol in ("X/USDT", "Y/USDT"):
            book = [(r[0], k, r[1], r[2], r[3]) for k, r in rows.items() if r[4] == symbol]
            with psycopg.connect(ledger.conninfo) as conn:
                total = conn.execute(
                    "SELECT coalesce(sum(p.pnl), 0) FROM ledger_fill_pnl p"
                    " JOIN instruments i ON i.id = p.instrument_id"
                    " WHERE p.user_id = %s AND i.symbol = %s",
                    (ledger.user_id, symbol),
                ).fetchone()[0]
            assert total == _fifo_pnl(book), (change, symbol)
