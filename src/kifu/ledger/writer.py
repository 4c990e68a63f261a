"""The one way into the ledger.

Every source of fills (the CSV importers, exchange sync, the backfill from legacy trades, the
demo) hands normalised fills (``kifu.ledger.service.normalise_fill``) to a write and gets back
what was inserted. Inside the caller's transaction::

    async with writer.open_write(conn, user_id, source="csv", account_label="default") as w:
        await w.add_all(rows)  # (row_no, NormalFill, TradeFields | None), sync or async iterable
        # or w.add_staged(staged): rows made ahead with writer.stage (row_no, fill, trade)
        result = await w.finish(issue_room=issues.room)

``open_write`` takes the user's ledger lock (writers of one user run one at a time, so the
cross-key checks cannot race) and creates the write's scratch tables; ``add_all`` streams rows
into them with COPY (call it as often as needed, e.g. once per page or batch); ``finish``

1. stores the fills not already in the ledger, under the one dedupe rule of
   ``kifu.ledger.rules`` (``WriteResult.inserted``, the duplicates' row numbers up to
   ``issue_room``);
2. writes the ``trades`` row of every new trade-like fill, whatever its source, so the Trades
   screen, the Chart markers and every trade count see every fill; ``TradeFields`` carries what
   a row holds beyond the fill (the venue's trade number, realized PnL, position side, …), and
   a ``bubbles`` hook (the journal's auto bubbles, ``kifu.journal.auto.for_new_trades``) is
   handed the new trades first so each row is written with its bubble, or a ``bubble_rows``
   hook (``kifu.journal.auto.for_new_trade_rows``) stores them with one INSERT … SELECT from
   a query of the new trades (no row through Python);
3. catches up positions and realized PnL for the books the write changed
   (``kifu.ledger.tracker``, fed by the table's trigger).

No caller outside the ledger names its scratch tables or passes data through ``metadata``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection, pq

from kifu.ledger import store, tracker
from kifu.ledger.store import NewTrade

if TYPE_CHECKING:
    from kifu.ledger.service import NormalFill

__all__ = [
    "LedgerWrite",
    "NewTrade",
    "Staged",
    "TradeFields",
    "WriteResult",
    "open_write",
    "stage",
]


@dataclass(frozen=True, slots=True)
class TradeFields:
    """What a fill's ``trades`` row holds beyond the fill itself; every field optional."""

    # The trades row this fill is: linked when it exists (the backfill of legacy trades), else
    # the id of the row the write creates (so the event's metadata can name it).
    ref: uuid.UUID | None = None
    number: int | None = None  # the venue's numeric trade id (trades.binance_trade_id)
    symbol: str | None = None  # the row's symbol; default BASE || QUOTE (BTCUSDT, BTCKRW)
    realized_pnl: Decimal | None = None
    position_side: str | None = None
    open_close: str | None = None
    reduce_only: bool | None = None

    def columns(self) -> tuple[Any, ...]:
        return (
            self.ref,
            self.number,
            self.symbol,
            self.realized_pnl,
            self.position_side,
            self.open_close,
            self.reduce_only,
        )


_NO_TRADE_FIELDS = TradeFields().columns()

# Room for the write's sorts, for the rest of ``finish`` only (the caller's setting comes back).
WRITE_WORK_MEM = "64MB"

Row = tuple[int, "NormalFill", TradeFields | None]


@dataclass(frozen=True, slots=True)
class Staged:
    """A row as a write streams it (``stage``), made ahead of the write — e.g. while an
    earlier write runs — and handed to ``LedgerWrite.add_staged``."""

    values: tuple[Any, ...]
    fee: bool


def stage(row: Row) -> Staged:
    row_no, fill, trade = row
    values = fill.stage_row(row_no) + (trade.columns() if trade else _NO_TRADE_FIELDS)
    return Staged(values, fill.event_type == "fee")


@dataclass(slots=True)
class WriteResult:
    accepted: int  # staged rows that reached the insert (all of them)
    inserted: int  # fills stored by this write
    duplicate_rows: list[tuple[int, bool]]  # (row_no, had a trade id), first ``issue_room``
    fees_inserted: int = 0  # of ``inserted``, income/fee events
    trades_created: int = 0
    new_trades: list[NewTrade] = field(default_factory=list)  # with a ``bubbles`` hook
    new_symbols: list[str] = field(default_factory=list)  # with a ``bubble_rows`` hook
    positions: int = 0  # positions written by the catch-up
    replayed: int = 0  # books whose realized PnL was replayed
    # milliseconds: storing the fills (triggers included), their trades rows, the catch-up
    timings: dict[str, int] = field(default_factory=dict)

    @property
    def duplicates(self) -> int:
        return self.accepted - self.inserted


class LedgerWrite:
    """One write of fills for one user, source and account; see the module docstring."""

    def __init__(
        self,
        conn: AsyncConnection,
        user_id: uuid.UUID,
        *,
        source: str,
        account_label: str,
        address: str | None,
    ) -> None:
        self._conn = conn
        self._user = user_id
        self._source = source
        self._label = account_label
        self._address = address
        self._fees = False
        self._finished = False

    async def add_all(self, rows: Iterable[Row] | AsyncIterable[Row]) -> int:
        """Stage ``rows`` with one COPY; returns how many. Row numbers order duplicates and
        name them in issues, so give each row its line or position."""
        n = 0
        async with self._conn.cursor() as cur, cur.copy(store.copy_sql()) as cp:
            if isinstance(rows, AsyncIterable):
                async for row in rows:
                    await cp.write_row(self._stage(row))
                    n += 1
            else:
                for row in rows:
                    await cp.write_row(self._stage(row))
                    n += 1
        return n

    async def add_staged(self, rows: Iterable[Staged]) -> int:
        """``add_all`` of rows already staged (``stage``); returns how many."""
        n = 0
        async with self._conn.cursor() as cur, cur.copy(store.copy_sql()) as cp:
            for row in rows:
                self._fees = self._fees or row.fee
                await cp.write_row(row.values)
                n += 1
        return n

    def _stage(self, row: Row) -> tuple[Any, ...]:
        staged = stage(row)
        self._fees = self._fees or staged.fee
        return staged.values

    async def finish(
        self,
        *,
        issue_room: int = 0,
        bubbles: store.BubbleHook | None = None,
        bubble_rows: store.BubbleRowsHook | None = None,
        catch_up: bool = True,
    ) -> WriteResult:
        """Store what was staged, write the new fills' trades rows, catch up; see the module
        docstring. Call once. ``bubbles`` (the journal's auto bubbles) is handed the new
        trades before they are written and answers each one's bubble id; ``bubble_rows``
        (the same, set-based) is handed a query of them and stores one bubble per row with the
        id the row names, and ``WriteResult.new_symbols`` lists their symbols. ``catch_up=False``
        leaves the changed books queued for a later ``tracker.catch_up`` (a sync of many
        batches catches up once, at its end)."""
        if self._finished:
            raise RuntimeError("a ledger write finishes once")
        self._finished = True
        conn, user = self._conn, self._user
        clock = [time.perf_counter()]
        # The write sorts its whole batch several times (occurrence numbers, hourly groups, the
        # trades rows): with the default 4MB each sort of a large import spills to disk.
        work_mem = await store.raise_work_mem(conn, WRITE_WORK_MEM)
        written = await store.write_staged_fills(
            conn,
            user,
            account_label=self._label,
            address=self._address,
            source=self._source,
            issue_room=issue_room,
        )
        result = WriteResult(
            accepted=written.accepted,
            inserted=written.inserted,
            duplicate_rows=written.duplicate_rows,
        )
        clock.append(time.perf_counter())
        if written.inserted:
            if self._fees:
                result.fees_inserted = await store.inserted_of_type(conn, "fee")
            projected = await store.project_trades(
                conn, user, bubbles=bubbles, bubble_rows=bubble_rows
            )
            result.trades_created = projected.created
            result.new_trades = projected.new_trades
            result.new_symbols = projected.new_symbols
        clock.append(time.perf_counter())
        if written.inserted and catch_up:
            caught = await tracker.catch_up(conn, user)
            result.positions, result.replayed = caught.positions, caught.replayed
        clock.append(time.perf_counter())
        await store.restore_work_mem(conn, work_mem)
        result.timings = {
            name: round((clock[i + 1] - clock[i]) * 1000)
            for i, name in enumerate(("store_ms", "trades_ms", "catch_up_ms"))
        }
        return result


@asynccontextmanager
async def open_write(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    *,
    source: str,
    account_label: str,
    address: str | None = None,
) -> AsyncIterator[LedgerWrite]:
    """Start a write inside the caller's transaction (lock and scratch tables); see the module
    docstring. The scratch tables go with the transaction."""
    if conn.info.transaction_status == pq.TransactionStatus.IDLE:
        raise RuntimeError("a ledger write runs inside the caller's transaction")
    await store.begin_write(conn, user_id)
    yield LedgerWrite(conn, user_id, source=source, account_label=account_label, address=address)
