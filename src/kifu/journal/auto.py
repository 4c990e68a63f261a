"""Auto bubbles: the journal's one way to put a bubble on a trade's candle.

Four things make them: the legacy CSV importer and exchange sync (one per new trade: the
ledger's write hands its new trades to ``for_new_trades`` — or, for sync, a query of them to
``for_new_trade_rows``, one INSERT … SELECT — before writing them, and writes each with its
bubble), ``POST /trades/convert-bubbles`` (one per unlinked trade) and
``POST /portfolio/backfill-bubbles`` (one per ledger fill without one). All of them build an
``AutoBubble`` with ``auto_bubble`` (the one memo rule, ``rules.auto_memo``, and the candle floor)
but sync, whose statement fills in the same rule (``rules.auto_memo_parts``) and floor;
``create`` stores bubbles for existing trades and asks the ledger, the owner of ``trades``, to
link each.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from psycopg import AsyncConnection

from kifu.journal import rules, store
from kifu.ledger import service as ledger
from kifu.ledger.writer import NewTrade


@dataclass(frozen=True, slots=True)
class AutoBubble:
    trade_id: uuid.UUID | None  # the trade it marks, linked by the ledger; None: none
    symbol: str
    timeframe: str
    candle_time: datetime
    price: Decimal
    memo: str
    tags: list[str] | None
    asset_class: str | None
    venue_name: str | None


def auto_bubble(
    origin: str,
    *,
    trade_id: uuid.UUID | None,
    symbol: str,
    side: str,
    price: Decimal,
    at: datetime,
    timeframe: str,
    price_text: str | None = None,
    tags: list[str] | None = None,
    asset_class: str | None = "crypto",
    venue_name: str | None = None,
) -> AutoBubble:
    """The auto bubble of one fill: on the candle of ``timeframe`` holding ``at`` (UTC), with
    the memo of ``origin`` (``rules.AUTO_ORIGINS``); ``price_text`` is the price as the source
    wrote it, else the price in plain notation."""
    return AutoBubble(
        trade_id=trade_id,
        symbol=symbol,
        timeframe=timeframe,
        candle_time=rules.floor_to_timeframe(at, timeframe),
        price=price,
        memo=rules.auto_memo(origin, symbol, side, price_text or format(price, "f")),
        tags=tags,
        asset_class=asset_class,
        venue_name=venue_name[: rules.VENUE_NAME_LEN] if venue_name else None,
    )


async def insert(
    conn: AsyncConnection, user_id: uuid.UUID, bubbles: Sequence[AutoBubble]
) -> dict[uuid.UUID, uuid.UUID]:
    """Store the bubbles; the id of each trade's bubble (trade id → bubble id)."""
    ids = [uuid.uuid4() for _ in bubbles]
    if bubbles:
        await store.insert_auto_bubbles(conn, user_id, ids, bubbles)
    return {b.trade_id: i for b, i in zip(bubbles, ids, strict=True) if b.trade_id is not None}


def for_new_trades(
    conn: AsyncConnection, user_id: uuid.UUID, build: Callable[[NewTrade], AutoBubble]
) -> Callable[[list[NewTrade]], Awaitable[dict[uuid.UUID, uuid.UUID]]]:
    """The ledger write's bubble hook (``LedgerWrite.finish(bubbles=…)``): one auto bubble,
    made by ``build``, for each trade the write is about to create, which is written with it."""

    async def hook(trades: list[NewTrade]) -> dict[uuid.UUID, uuid.UUID]:
        return await insert(conn, user_id, [build(t) for t in trades])

    return hook


def for_new_trade_rows(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    origin: str,
    *,
    timeframes: dict[str, str],
    default_timeframe: str,
    tags: list[str] | None = None,
    asset_class: str | None = "crypto",
) -> Callable[[str], Awaitable[None]]:
    """The ledger write's set-based bubble hook (``LedgerWrite.finish(bubble_rows=…)``): the
    auto bubble of each new trade, as ``auto_bubble`` makes it (memo of ``origin``, candle of
    its symbol's timeframe in ``timeframes``, else ``default_timeframe``; the trade's price in
    plain notation; its exchange as the venue name), stored in one statement from the ledger's
    query of the new trades."""
    chosen = {s: (tf, rules.TIMEFRAMES.get(tf, 60)) for s, tf in timeframes.items()}
    default = (default_timeframe, rules.TIMEFRAMES.get(default_timeframe, 60))

    async def hook(trades_sql: str) -> None:
        await store.insert_auto_bubbles_from(
            conn,
            user_id,
            trades_sql,
            memo=rules.auto_memo_parts(origin),
            timeframes=chosen,
            default_timeframe=default,
            tags=tags or [],
            asset_class=asset_class,
            venue_name_len=rules.VENUE_NAME_LEN,
        )

    return hook


async def create(conn: AsyncConnection, user_id: uuid.UUID, bubbles: Sequence[AutoBubble]) -> int:
    """Store the bubbles and link each to its existing trade (unless that trade got a bubble
    meanwhile); inside the caller's transaction. Returns how many bubbles were made."""
    if not bubbles:
        return 0
    ids = [uuid.uuid4() for _ in bubbles]
    await store.insert_auto_bubbles(conn, user_id, ids, bubbles)
    await ledger.link_trade_bubbles(
        conn,
        user_id,
        [(b.trade_id, i) for b, i in zip(bubbles, ids, strict=True) if b.trade_id is not None],
        only_unlinked=True,
    )
    return len(bubbles)
