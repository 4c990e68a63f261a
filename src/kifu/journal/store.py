"""SQL for bubbles, their trades and outcomes (every query is scoped by user_id)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from kifu.journal.schemas import Bubble
from kifu.kit import jsonsql, stamps

BUBBLE_COLUMNS = (
    "id, symbol, timeframe, candle_time, price, bubble_type, asset_class, venue_name, memo, tags,"
    " created_at, updated_at"
)


@dataclass
class BubbleFilter:
    symbol: str | None = None
    tags: list[str] | None = None
    start: datetime | None = None
    end: datetime | None = None


def _where(user_id: uuid.UUID, f: BubbleFilter) -> tuple[str, list[Any]]:
    clauses = ["user_id = %s"]
    args: list[Any] = [user_id]
    if f.symbol:
        clauses.append("symbol = %s")
        args.append(f.symbol)
    if f.tags:
        clauses.append("tags && %s::text[]")
        args.append(f.tags)
    if f.start:
        clauses.append("candle_time >= %s")
        args.append(f.start)
    if f.end:
        clauses.append("candle_time <= %s")
        args.append(f.end)
    return " AND ".join(clauses), args


async def insert_bubble(conn: AsyncConnection, user_id: uuid.UUID, b: dict[str, Any]) -> dict:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "INSERT INTO bubbles (user_id, symbol, timeframe, candle_time, price, bubble_type,"
            " asset_class, venue_name, memo, tags)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            f" RETURNING {BUBBLE_COLUMNS}",
            (
                user_id,
                b["symbol"],
                b["timeframe"],
                b["candle_time"],
                b["price"],
                b["bubble_type"],
                b.get("asset_class"),
                b.get("venue_name"),
                b.get("memo"),
                b.get("tags"),
            ),
        )
        row = await cur.fetchone()
    assert row is not None
    return row


async def get_bubble(
    conn: AsyncConnection, user_id: uuid.UUID, bubble_id: uuid.UUID
) -> dict | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {BUBBLE_COLUMNS} FROM bubbles WHERE id = %s AND user_id = %s",
            (bubble_id, user_id),
        )
        return await cur.fetchone()


async def change_stamp(conn: AsyncConnection, user_id: uuid.UUID) -> int | None:
    """The user's journal change stamp (migration 130, bumped by the triggers on ``bubbles`` and
    ``outcomes``; None before their first change): its primary key."""
    return await stamps.read(
        conn, "SELECT (SELECT stamp FROM journal_change_stamps WHERE user_id = %(u)s)", user_id
    )


# The columns of one ``schemas.Bubble`` (``service.bubble_json`` in SQL), for ``jsonsql``.
BUBBLE_JSON_COLUMNS = (
    "id, symbol, timeframe,"
    f" {jsonsql.rfc3339('candle_time')} AS candle_time, {jsonsql.plain('price')} AS price,"
    " bubble_type, asset_class, venue_name, memo,"
    f" {jsonsql.text_array('tags')} AS tags,"
    f" {jsonsql.rfc3339('created_at')} AS created_at,"
    f" {jsonsql.rfc3339('updated_at')} AS updated_at"
)


async def bubble_page_json(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    f: BubbleFilter,
    ascending: bool,
    limit: int,
    offset: int,
) -> tuple[int, str]:
    """The total and one page of the filtered bubbles, the page as JSON text
    (``jsonsql.json_array``), in one round trip:
    the count and the page both from ``idx_bubbles_user_candle_time``."""
    where, args = _where(user_id, f)
    direction = "ASC" if ascending else "DESC"
    cur = await conn.execute(
        f"SELECT (SELECT count(*) FROM bubbles WHERE {where}),"
        + jsonsql.json_array(
            f"SELECT {BUBBLE_JSON_COLUMNS} FROM (SELECT * FROM bubbles WHERE {where}"
            f" ORDER BY candle_time {direction}, id {direction} LIMIT %s OFFSET %s) b"
            f" ORDER BY b.candle_time {direction}, b.id {direction}",
            Bubble,
        ),
        [*args, *args, limit, offset],
    )
    row = await cur.fetchone()
    assert row is not None
    return row[0], row[1]


async def update_bubble(
    conn: AsyncConnection, user_id: uuid.UUID, bubble_id: uuid.UUID, changes: dict[str, Any]
) -> bool:
    sets = [f"{column} = %s" for column in changes]
    sets.append("updated_at = NOW()")
    cur = await conn.execute(
        f"UPDATE bubbles SET {', '.join(sets)} WHERE id = %s AND user_id = %s",
        [*changes.values(), bubble_id, user_id],
    )
    return cur.rowcount == 1


async def delete_bubble(conn: AsyncConnection, user_id: uuid.UUID, bubble_id: uuid.UUID) -> bool:
    cur = await conn.execute(
        "DELETE FROM bubbles WHERE id = %s AND user_id = %s", (bubble_id, user_id)
    )
    return cur.rowcount == 1


async def outcomes_of(conn: AsyncConnection, bubble_id: uuid.UUID) -> dict[str, dict]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT period, reference_price, outcome_price, pnl_percent, calculated_at"
            " FROM outcomes WHERE bubble_id = %s",
            (bubble_id,),
        )
        return {row["period"]: row for row in await cur.fetchall()}


async def tagged_with_outcomes(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    symbol: str | None,
    tags: list[str],
    period: str,
    exclude: uuid.UUID | None,
    limit: int,
    offset: int,
) -> tuple[list[dict], int, list[Decimal]]:
    """Bubbles sharing a tag (newest first, one page), the total, and the pnl of every match that
    has an outcome for ``period`` (for the summary)."""
    clauses = ["b.user_id = %s", "b.tags && %s::text[]"]
    args: list[Any] = [user_id, tags]
    if symbol:
        clauses.append("b.symbol = %s")
        args.append(symbol)
    if exclude is not None:
        clauses.append("b.id <> %s")
        args.append(exclude)
    where = " AND ".join(clauses)
    join = "LEFT JOIN outcomes o ON o.bubble_id = b.id AND o.period = %s"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT count(*) AS n, coalesce(array_agg(o.pnl_percent)"
            f" FILTER (WHERE o.pnl_percent IS NOT NULL), '{{}}') AS pnls"
            f" FROM bubbles b {join} WHERE {where}",
            [period, *args],
        )
        agg = await cur.fetchone()
        assert agg is not None
        await cur.execute(
            f"SELECT b.id, b.symbol, b.timeframe, b.candle_time, b.price, b.bubble_type, b.memo,"
            f" b.tags, o.pnl_percent FROM bubbles b {join} WHERE {where}"
            " ORDER BY b.candle_time DESC, b.id DESC LIMIT %s OFFSET %s",
            [period, *args, limit, offset],
        )
        return await cur.fetchall(), agg["n"], list(agg["pnls"])


# -- trades ---------------------------------------------------------------------------------------


async def insert_auto_bubbles(
    conn: AsyncConnection, user_id: uuid.UUID, ids: Sequence[uuid.UUID], rows: Sequence[Any]
) -> None:
    """Insert auto bubbles (``kifu.journal.auto.AutoBubble``) with known ids, in one statement."""
    await conn.execute(
        "INSERT INTO bubbles (id, user_id, symbol, timeframe, candle_time, price, bubble_type,"
        " asset_class, venue_name, memo, tags)"
        " SELECT b.id, %(user)s, b.symbol, b.timeframe, b.candle_time, b.price, 'auto',"
        " b.asset_class, b.venue_name, b.memo,"
        " CASE WHEN b.tags IS NULL THEN NULL"
        " ELSE ARRAY(SELECT jsonb_array_elements_text(b.tags)) END"
        " FROM unnest(%(ids)s::uuid[], %(symbols)s::text[], %(timeframes)s::text[],"
        " %(candles)s::timestamptz[], %(prices)s::numeric[], %(classes)s::text[],"
        " %(venues)s::text[], %(memos)s::text[], %(tags)s::jsonb[])"
        " AS b(id, symbol, timeframe, candle_time, price, asset_class, venue_name, memo, tags)",
        {
            "user": user_id,
            "ids": list(ids),
            "symbols": [r.symbol for r in rows],
            "timeframes": [r.timeframe for r in rows],
            "candles": [r.candle_time for r in rows],
            "prices": [r.price for r in rows],
            "classes": [r.asset_class for r in rows],
            "venues": [r.venue_name for r in rows],
            "memos": [r.memo for r in rows],
            "tags": [None if r.tags is None else Jsonb(r.tags) for r in rows],
        },
    )


async def insert_auto_bubbles_from(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    trades_sql: str,
    *,
    memo: Sequence[tuple[str, str | None]],
    timeframes: dict[str, tuple[str, int]],
    default_timeframe: tuple[str, int],
    tags: list[str],
    asset_class: str | None,
    venue_name_len: int,
) -> None:
    """Insert one auto bubble per row of ``trades_sql`` (a query of new trades: ``bubble_id``,
    ``symbol``, ``side``, ``price``, ``executed_at``, ``exchange``) in one INSERT … SELECT, with
    the id each row names: on the candle of its symbol's timeframe (``timeframes``: symbol →
    (timeframe, seconds), else ``default_timeframe``) holding its time, on the UTC epoch grid as
    ``kit.timeutil.candle_open`` floors it, its memo the pieces of ``rules.auto_memo_parts``
    (the price in plain notation, as the row's numeric prints)."""
    fields = {"symbol": "n.symbol", "side": "upper(n.side)", "price": "n.price::text"}
    pieces: list[str] = []
    values: dict[str, Any] = {}
    for i, (text, name) in enumerate(memo):
        if text:
            values[f"memo{i}"] = text
            pieces.append(f"%(memo{i})s::text")
        if name is not None:
            pieces.append(fields[name])
    await conn.execute(
        "INSERT INTO bubbles (id, user_id, symbol, timeframe, candle_time, price, bubble_type,"
        " asset_class, venue_name, memo, tags)"
        " SELECT n.bubble_id, %(user)s, n.symbol, coalesce(m.timeframe, %(tf)s),"
        " to_timestamp(floor(extract(epoch FROM n.executed_at) / s.seconds) * s.seconds),"
        " n.price, 'auto', %(class)s, nullif(left(n.exchange, %(venue_len)s), ''),"
        f" {' || '.join(pieces)}, %(tags)s::text[]"
        f" FROM ({trades_sql}) n"
        " LEFT JOIN unnest(%(symbols)s::text[], %(timeframes)s::text[], %(seconds)s::int[])"
        "   AS m(symbol, timeframe, seconds) ON m.symbol = n.symbol"
        " CROSS JOIN LATERAL (SELECT coalesce(m.seconds, %(tf_seconds)s) AS seconds) s"
        " ORDER BY n.row_no",
        {
            **values,
            "user": user_id,
            "tf": default_timeframe[0],
            "tf_seconds": default_timeframe[1],
            "class": asset_class,
            "venue_len": venue_name_len,
            "tags": tags,
            "symbols": list(timeframes),
            "timeframes": [t[0] for t in timeframes.values()],
            "seconds": [t[1] for t in timeframes.values()],
        },
    )


async def backfill_bubbles(conn: AsyncConnection, user_id: uuid.UUID) -> int:
    """Fill missing labels, memo and tags on the user's bubbles from their earliest linked trade."""
    cur = await conn.execute(
        "UPDATE bubbles b SET"
        "  asset_class = coalesce(b.asset_class, 'crypto'),"
        "  venue_name = coalesce(b.venue_name, left(lower(t.exchange), 50)),"
        "  memo = coalesce(b.memo, 'Trade sync: ' || t.symbol || ' ' || upper(t.side) || ' @ '"
        "         || t.price::text),"
        "  tags = CASE WHEN b.tags IS NULL OR cardinality(b.tags) = 0"
        "         THEN ARRAY[lower(t.side)] ELSE b.tags END,"
        "  updated_at = NOW()"
        " FROM (SELECT DISTINCT ON (bubble_id) bubble_id, exchange, symbol, side, price"
        "       FROM trades WHERE user_id = %s AND bubble_id IS NOT NULL"
        "       ORDER BY bubble_id, trade_time, id) t"
        " WHERE b.id = t.bubble_id AND b.user_id = %s"
        "   AND (b.asset_class IS NULL OR b.venue_name IS NULL OR b.memo IS NULL"
        "        OR b.tags IS NULL OR cardinality(b.tags) = 0)",
        (user_id, user_id),
    )
    return cur.rowcount


async def event_bubble_candidates(
    conn: AsyncConnection, user_id: uuid.UUID, limit: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` trade-like ledger fills that need an auto bubble: one per chart symbol
    (``BASE`` + ``QUOTE``, e.g. ``BTCUSDT``, ``BTCKRW``), hour and price that has no auto bubble
    yet (an auto bubble already at that symbol, candle and price counts as the fill's)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """
            SELECT DISTINCT ON (sym, candle, e.price)
                   sym AS symbol, e.executed_at, e.price, e.side, e.asset_class,
                   coalesce(v.display_name, v.code) AS venue_name
            FROM trade_events e
            JOIN instruments i ON i.id = e.instrument_id
            LEFT JOIN venues v ON v.id = e.venue_id
            CROSS JOIN LATERAL (
                SELECT upper(i.base_asset || i.quote_asset) AS sym,
                       date_trunc('hour', e.executed_at, 'UTC') AS candle
            ) k
            WHERE e.user_id = %s
              AND e.event_type IN ('spot_trade', 'perp_trade', 'dex_swap')
              AND e.price IS NOT NULL
              AND length(k.sym) BETWEEN 3 AND 20
              AND NOT EXISTS (
                  SELECT 1 FROM bubbles b
                  WHERE b.user_id = e.user_id AND b.bubble_type = 'auto'
                    AND b.symbol = k.sym AND b.candle_time = k.candle AND b.price = e.price
              )
            ORDER BY sym, candle, e.price, e.executed_at, e.id
            LIMIT %s
            """,
            (user_id, limit),
        )
        return await cur.fetchall()
