"""SQL for writing fills: a staging table filled by COPY, then set-based inserts.

Private to the ledger: every writer goes through ``kifu.ledger.writer``, which fills ``_fills``
with normalised rows and calls ``write_staged_fills`` and ``project_trades``. Keys follow
``kifu.ledger.rules``: the content base is computed in Python, the occurrence index and the
SHA-256 in SQL (one window over the batch, no per-file state in memory).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from kifu.kit import locks
from kifu.ledger.rules import venue_display_name

STAGE_COLUMNS = (
    "row_no",
    "venue",
    "venue_type",
    "asset_class",
    "base",
    "quote",
    "instrument",
    "venue_symbol",
    "event_type",
    "side",
    "qty",
    "price",
    "fee",
    "fee_asset",
    "executed_at",
    "external_id",
    "metadata",
    "cbase",
    "id_key",
    # what the fill's ``trades`` row carries beyond the fill (kifu.ledger.writer.TradeFields)
    "trade_ref",
    "trade_no",
    "trade_symbol",
    "realized_pnl",
    "position_side",
    "open_close",
    "reduce_only",
)


async def create_stage(conn: AsyncConnection) -> None:
    """The session's staging table for one write (dropped at commit)."""
    await conn.execute(
        """
        CREATE TEMP TABLE _fills (
            row_no bigint NOT NULL, venue text NOT NULL, venue_type text NOT NULL,
            asset_class text NOT NULL, base text NOT NULL, quote text NOT NULL,
            instrument text NOT NULL, venue_symbol text NOT NULL, event_type text NOT NULL,
            side text, qty numeric, price numeric, fee numeric, fee_asset text,
            executed_at timestamptz NOT NULL, external_id text, metadata jsonb,
            cbase text NOT NULL, id_key text,
            trade_ref uuid, trade_no bigint, trade_symbol text, realized_pnl numeric,
            position_side text, open_close text, reduce_only boolean
        ) ON COMMIT DROP
        """
    )


def copy_sql() -> str:
    return f"COPY _fills ({', '.join(STAGE_COLUMNS)}) FROM STDIN"


@dataclass
class WriteResult:
    accepted: int
    inserted: int
    duplicate_rows: list[tuple[int, bool]]  # (row_no, has trade id), first ones only


async def _upsert_venues_accounts(
    conn: AsyncConnection, user_id: uuid.UUID, label: str, address: str | None, source: str
) -> None:
    cur = await conn.execute("SELECT DISTINCT venue, venue_type FROM _fills")
    for code, venue_type in await cur.fetchall():
        await conn.execute(
            "INSERT INTO venues (code, venue_type, display_name) VALUES (%s, %s, %s)"
            " ON CONFLICT (code) DO NOTHING",
            (code, venue_type, venue_display_name(code)[:60]),
        )
        await conn.execute(
            "INSERT INTO accounts (user_id, venue_id, label, address, source)"
            " SELECT %s, id, %s, %s, %s FROM venues WHERE code = %s"
            " ON CONFLICT (user_id, venue_id, label) DO NOTHING",
            (user_id, label, address, source, code),
        )


async def write_staged_fills(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    *,
    account_label: str,
    address: str | None,
    source: str,
    issue_room: int,
) -> WriteResult:
    """Insert the staged fills not already in the ledger; call inside a transaction.

    A staged row is skipped when its dedupe key exists for the user (unique index, ON CONFLICT
    DO NOTHING, so concurrent writers store each fill once), and also when the same fill is
    already stored under the other kind of key: a row without a trade id whose content key
    belongs to a stored event, or a row with a trade id whose content key belongs to a stored
    event that had no trade id. The new rows' ids and keys go to ``_inserted``; the books they
    change are queued for the tracker by the table's trigger.
    """
    await _upsert_venues_accounts(conn, user_id, account_label, address, source)
    await conn.execute(
        """
        INSERT INTO instruments (asset_class, base_asset, quote_asset, symbol)
        SELECT DISTINCT asset_class, base, quote, instrument FROM _fills
        ON CONFLICT (asset_class, symbol) DO NOTHING
        """
    )
    await conn.execute(
        """
        INSERT INTO instrument_mappings (instrument_id, venue_id, venue_symbol)
        SELECT DISTINCT ON (v.id, m.vs) i.id, v.id, m.vs
        FROM (SELECT DISTINCT venue, asset_class, instrument, left(venue_symbol, 40) AS vs
              FROM _fills) m
        JOIN venues v ON v.code = m.venue
        JOIN instruments i ON i.asset_class = m.asset_class AND i.symbol = m.instrument
        ON CONFLICT (venue_id, venue_symbol) DO NOTHING
        """
    )
    await conn.execute(
        """
        CREATE TEMP TABLE _keyed ON COMMIT DROP AS
        SELECT f.*, a.id AS account_id, v.id AS venue_id, i.id AS instrument_id, k.ckey,
               coalesce(f.id_key, k.ckey) AS dkey
        FROM (SELECT *, row_number() OVER (PARTITION BY cbase ORDER BY row_no) - 1 AS occ
              FROM _fills) f
        CROSS JOIN LATERAL (SELECT encode(sha256(convert_to(f.cbase || '|' || f.occ, 'UTF8')),
                                          'hex') AS ckey) k
        JOIN venues v ON v.code = f.venue
        JOIN accounts a ON a.user_id = %(user)s AND a.venue_id = v.id AND a.label = %(label)s
        JOIN instruments i ON i.asset_class = f.asset_class AND i.symbol = f.instrument
        """,
        {"user": user_id, "label": account_label},
    )
    # A temp table has no statistics until analyzed: without them the planner guesses its size
    # and, for a batch of a few thousand rows, hashes every stored event of the user in each
    # duplicate check below instead of probing the unique index per row. A user without stored
    # events (a first import) has nothing to hash or probe, so the sampling is skipped there.
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM trade_events WHERE user_id = %s)", (user_id,)
    )
    if (await cur.fetchone())[0]:  # type: ignore[index]
        await conn.execute("ANALYZE _keyed (dkey, ckey, id_key)")
    cur = await conn.execute("SELECT count(*) FROM _keyed")
    accepted = (await cur.fetchone())[0]  # type: ignore[index]
    cur = await conn.execute(
        """
        WITH ins AS (
            INSERT INTO trade_events (user_id, account_id, venue_id, instrument_id, asset_class,
                venue_type, event_type, side, qty, price, fee, fee_asset, executed_at, source,
                external_id, metadata, dedupe_key, content_key)
            SELECT %(user)s, k.account_id, k.venue_id, k.instrument_id, k.asset_class,
                   k.venue_type, k.event_type, k.side, k.qty, k.price, k.fee, k.fee_asset,
                   k.executed_at, %(source)s, left(k.external_id, 120),
                   CASE WHEN jsonb_typeof(k.metadata) = 'object'
                        THEN nullif(k.metadata - '_stage', '{}'::jsonb) ELSE k.metadata END,
                   k.dkey, k.ckey
            FROM _keyed k
            WHERE NOT EXISTS (  -- already stored: skip before trying (unique index probe)
                SELECT 1 FROM trade_events e
                WHERE e.user_id = %(user)s AND e.dedupe_key = k.dkey)
              AND NOT EXISTS (  -- a row without an id whose fill is stored with its id
                SELECT 1 FROM trade_events e
                WHERE k.id_key IS NULL AND e.user_id = %(user)s AND e.content_key = k.ckey
                  AND e.external_id IS NOT NULL)
              AND NOT EXISTS (  -- a row with an id whose fill is stored without one
                SELECT 1 FROM trade_events e
                WHERE k.id_key IS NOT NULL AND e.user_id = %(user)s AND e.dedupe_key = k.ckey
                  AND e.external_id IS NULL)  -- such an event is keyed by its content key
            ORDER BY k.dkey, k.row_no
            ON CONFLICT DO NOTHING
            RETURNING id, dedupe_key
        )
        INSERT INTO _inserted SELECT id, dedupe_key FROM ins
        """,
        {"user": user_id, "source": source},
    )
    cur = await conn.execute("SELECT count(*) FROM _inserted")
    inserted = (await cur.fetchone())[0]  # type: ignore[index]
    dups: list[tuple[int, bool]] = []
    if accepted > inserted and issue_room > 0:
        cur = await conn.execute(
            """
            SELECT k.row_no, k.id_key IS NOT NULL FROM _keyed k
            WHERE NOT EXISTS (SELECT 1 FROM _inserted n WHERE n.dedupe_key = k.dkey)
            UNION
            SELECT x.row_no, true FROM (
                SELECT row_no, row_number() OVER (PARTITION BY dkey ORDER BY row_no) AS rn
                FROM _keyed WHERE id_key IS NOT NULL) x
            WHERE x.rn > 1
            ORDER BY 1 LIMIT %s
            """,
            (issue_room,),
        )
        dups = [(r[0], r[1]) for r in await cur.fetchall()]
    return WriteResult(accepted=accepted, inserted=inserted, duplicate_rows=dups)


async def inserted_of_type(conn: AsyncConnection, event_type: str) -> int:
    """How many of this write's inserted fills are of ``event_type``."""
    cur = await conn.execute(
        "SELECT count(DISTINCT n.event_id) FROM _inserted n JOIN _keyed k ON k.dkey = n.dedupe_key"
        " WHERE k.event_type = %s",
        (event_type,),
    )
    return (await cur.fetchone())[0]  # type: ignore[index]


async def raise_work_mem(conn: AsyncConnection, size: str) -> str:
    """Set ``work_mem`` to ``size`` for the transaction; returns the setting it replaced."""
    cur = await conn.execute(
        "SELECT current_setting('work_mem'), set_config('work_mem', %s, true)", (size,)
    )
    return (await cur.fetchone())[0]  # type: ignore[index]


async def restore_work_mem(conn: AsyncConnection, previous: str) -> None:
    await conn.execute("SELECT set_config('work_mem', %s, true)", (previous,))


LEDGER_LOCK = "kifu.ledger"


async def lock_ledger(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    """Serialise the user's ledger writers and position rebuilds until the transaction ends."""
    await locks.xact_lock(conn, LEDGER_LOCK, user_id)


async def begin_write(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    """Start a ledger write inside the caller's transaction: serialise the user's writers (so
    the cross-key check above cannot race) and create the scratch tables."""
    await lock_ledger(conn, user_id)
    await create_stage(conn)
    await conn.execute(
        # no index: it is only ever scanned whole or hashed (by dedupe_key)
        "CREATE TEMP TABLE _inserted (event_id uuid NOT NULL, dedupe_key text) ON COMMIT DROP"
    )


# -- positions -------------------------------------------------------------------------------

UPSERT_POSITION_SQL = """
INSERT INTO positions (user_id, account_id, venue_id, instrument_id, status, size, avg_entry,
    avg_exit, opened_at, closed_at, realized_pnl_usdt, realized_pnl_krw, fees_usdt, fees_krw,
    buy_qty, sell_qty, buy_notional, sell_notional, last_executed_at, quote_asset, realized_pnl,
    fees, unconverted_fees, event_count, updated_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
        %s, %s, now())
ON CONFLICT (user_id, account_id, instrument_id) DO UPDATE SET
    venue_id = EXCLUDED.venue_id, status = EXCLUDED.status, size = EXCLUDED.size,
    avg_entry = EXCLUDED.avg_entry, avg_exit = EXCLUDED.avg_exit,
    opened_at = EXCLUDED.opened_at, closed_at = EXCLUDED.closed_at,
    realized_pnl_usdt = EXCLUDED.realized_pnl_usdt, realized_pnl_krw = EXCLUDED.realized_pnl_krw,
    fees_usdt = EXCLUDED.fees_usdt, fees_krw = EXCLUDED.fees_krw,
    buy_qty = EXCLUDED.buy_qty, sell_qty = EXCLUDED.sell_qty,
    buy_notional = EXCLUDED.buy_notional, sell_notional = EXCLUDED.sell_notional,
    last_executed_at = EXCLUDED.last_executed_at, quote_asset = EXCLUDED.quote_asset,
    realized_pnl = EXCLUDED.realized_pnl, fees = EXCLUDED.fees,
    unconverted_fees = EXCLUDED.unconverted_fees, event_count = EXCLUDED.event_count,
    updated_at = now()
"""


async def upsert_positions(conn: AsyncConnection, rows: Sequence[Sequence[Any]]) -> None:
    if rows:
        async with conn.cursor() as cur:
            await cur.executemany(UPSERT_POSITION_SQL, rows)


async def delete_positions_except(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    keep: Sequence[tuple[uuid.UUID, uuid.UUID]],
    books: Sequence[tuple[uuid.UUID, uuid.UUID]] | None = None,
) -> None:
    """Drop the positions (of ``books``, or all the user's) whose (account, instrument) is not in
    ``keep``: the books that still have fills, as the caller just counted them under the ledger
    lock (a key lookup, where probing the fills for each position cost a scan of the user's)."""
    await conn.execute(
        """
        DELETE FROM positions p WHERE p.user_id = %(user)s
          AND (%(accounts)s::uuid[] IS NULL OR (p.account_id, p.instrument_id) IN (
               SELECT * FROM unnest(%(accounts)s::uuid[], %(instruments)s::uuid[])))
          AND NOT EXISTS (
            SELECT 1 FROM unnest(%(keep_accounts)s::uuid[], %(keep_instruments)s::uuid[])
                AS k(account_id, instrument_id)
            WHERE k.account_id = p.account_id AND k.instrument_id = p.instrument_id)
        """,
        {
            "user": user_id,
            "accounts": None if books is None else [b[0] for b in books],
            "instruments": None if books is None else [b[1] for b in books],
            "keep_accounts": [k[0] for k in keep],
            "keep_instruments": [k[1] for k in keep],
        },
    )


# The ``trades`` rows of the write's new trade-like fills (the legacy projection the Trades screen,
# Chart markers and trade counts read). A fill that names an existing row (``trade_ref``: the
# backfill of events from legacy trades) links it; a fill whose (exchange, symbol, trade id) is an
# existing unlinked row links that row (the same fill, written before events existed); every other
# new fill gets a new row, whose id is ``trade_ref`` when the writer chose one. The trade id is
# the venue's own number (``trade_no``, else a numeric ``external_id``), else
# ``kifu_synthetic_trade_id`` of the fill's key: negative, so it never meets a venue's id, and
# stable, so the same fill always maps to the same row.
_PROJECTED_SQL = """
CREATE TEMP TABLE _projected ON COMMIT DROP AS
SELECT x.*, coalesce(x.trade_ref, gen_random_uuid()) AS trade_id,
       CASE WHEN %(bubble_ids)s THEN gen_random_uuid() END AS bubble_id  -- set-based bubbles
FROM (
    SELECT n.event_id, k.row_no, k.trade_ref, k.qty, k.price, k.executed_at, k.realized_pnl,
           k.position_side, k.open_close, k.reduce_only, upper(k.side) AS side,
           left(k.venue, 30) AS exchange,
           left(coalesce(k.trade_symbol, upper(k.base || k.quote)), 20) AS symbol,
           coalesce(k.trade_no,
                    CASE WHEN k.external_id ~ '^[1-9][0-9]{0,17}$' THEN k.external_id::bigint END,
                    kifu_synthetic_trade_id(k.dkey)) AS trade_no
    FROM _inserted n JOIN _keyed k ON k.dkey = n.dedupe_key
    WHERE k.event_type IN ('spot_trade', 'perp_trade', 'dex_swap')
      AND k.side IS NOT NULL AND k.qty IS NOT NULL AND k.price IS NOT NULL
) x
"""

# One row per (exchange, symbol, trade id): the first staged of new fills that share one. Found
# by grouping (hashed, and almost always empty) rather than by sorting every row of the write.
_ONE_PER_TRADE_SQL = """
DELETE FROM _projected p
USING (SELECT exchange, symbol, trade_no, min(row_no) AS first FROM _projected
       GROUP BY 1, 2, 3 HAVING count(*) > 1) d
WHERE p.exchange = d.exchange AND p.symbol = d.symbol AND p.trade_no = d.trade_no
  AND p.row_no > d.first
"""

# Existing rows that are these fills get linked; every row of _projected that now has a trades
# row (linked, or its key taken by another fill's row) is dropped, so the insert below meets no
# conflict (the ledger lock keeps other writers of the user out) and its auto bubbles never
# point at a row that was not written.
_LINK_TRADES_SQL = """
UPDATE trades t SET event_id = p.event_id
FROM _projected p
WHERE t.user_id = %(user)s AND t.event_id IS NULL
  AND (t.id = p.trade_id
       OR (t.exchange = p.exchange AND t.symbol = p.symbol AND t.binance_trade_id = p.trade_no))
"""

_DROP_WRITTEN_SQL = """
DELETE FROM _projected p
WHERE EXISTS (SELECT 1 FROM trades t WHERE t.id = p.trade_id)  -- primary key probe
   OR EXISTS (SELECT 1 FROM trades t  -- idx_trades_unique_exchange probe
              WHERE t.user_id = %(user)s AND t.exchange = p.exchange AND t.symbol = p.symbol
                AND t.binance_trade_id = p.trade_no)
"""

_MAY_BE_WRITTEN_SQL = """
SELECT EXISTS (SELECT 1 FROM trades t WHERE t.user_id = %(user)s)
    OR EXISTS (SELECT 1 FROM _projected p WHERE p.trade_ref IS NOT NULL)
"""

_NEW_TRADES_SQL = """
SELECT trade_id, row_no, exchange, symbol, side, price, executed_at FROM _projected ORDER BY row_no
"""

# The new trades as a set-based bubble hook reads them (``BubbleRowsHook``).
_NEW_TRADE_ROWS_SQL = (
    "SELECT trade_id, bubble_id, row_no, exchange, symbol, side, price, executed_at FROM _projected"
)

_NEW_SYMBOLS_SQL = "SELECT DISTINCT symbol FROM _projected"

_INSERT_TRADES_SQL = """
INSERT INTO trades (id, user_id, bubble_id, binance_trade_id, exchange, symbol, side,
                    position_side, open_close, reduce_only, quantity, price, realized_pnl,
                    trade_time, event_id)
SELECT p.trade_id, %(user)s, coalesce(m.bubble_id, p.bubble_id), p.trade_no, p.exchange,
       p.symbol, p.side, p.position_side, p.open_close, p.reduce_only, p.qty, p.price,
       p.realized_pnl, p.executed_at, p.event_id
FROM _projected p
LEFT JOIN unnest(%(trades)s::uuid[], %(bubbles)s::uuid[]) AS m(trade_id, bubble_id)
  ON m.trade_id = p.trade_id  -- each row's auto bubble, joined as it is written
ORDER BY p.row_no
"""


async def link_trade_bubbles(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    pairs: Sequence[tuple[uuid.UUID, uuid.UUID | None]],
    *,
    only_unlinked: bool,
) -> int:
    """Point each (trade, bubble) pair's trade at its bubble (None unlinks); returns rows
    changed. ``only_unlinked`` leaves trades that already have a bubble alone."""
    if not pairs:
        return 0
    cur = await conn.execute(
        "UPDATE trades t SET bubble_id = p.bubble_id"
        " FROM unnest(%(trades)s::uuid[], %(bubbles)s::uuid[]) AS p(trade_id, bubble_id)"
        " WHERE t.id = p.trade_id AND t.user_id = %(user)s"
        + (" AND t.bubble_id IS NULL" if only_unlinked else ""),
        {"user": user_id, "trades": [p[0] for p in pairs], "bubbles": [p[1] for p in pairs]},
    )
    return cur.rowcount


@dataclass(slots=True)
class NewTrade:
    """A ``trades`` row the write created, with the staged row it came from."""

    trade_id: uuid.UUID
    row_no: int
    exchange: str
    symbol: str
    side: str
    price: Any
    executed_at: Any


BubbleHook = Callable[[list[NewTrade]], Awaitable[dict[uuid.UUID, uuid.UUID]]]
# A set-based bubble hook: given a SELECT of the new trades (trade_id, bubble_id, row_no,
# exchange, symbol, side, price, executed_at), it stores one bubble per row with id
# ``bubble_id`` in one statement; each trades row is written pointing at its bubble.
BubbleRowsHook = Callable[[str], Awaitable[None]]


@dataclass(slots=True)
class Projected:
    created: int  # trades rows written
    new_trades: list[NewTrade]  # with a ``bubbles`` hook: the rows, in staged order
    new_symbols: list[str]  # with a ``bubble_rows`` hook: the new rows' symbols


async def project_trades(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    *,
    bubbles: BubbleHook | None,
    bubble_rows: BubbleRowsHook | None = None,
) -> Projected:
    """Write the ``trades`` rows of this write's new fills (after ``write_staged_fills``).
    ``bubbles`` is given the new trades before they are written and answers the bubble of each
    (trade id → bubble id); ``bubble_rows`` instead stores them from SQL, without a row through
    Python (one bubble per new trade, with the id it is handed). The rows are written with
    their bubbles."""
    if bubbles is not None and bubble_rows is not None:
        raise ValueError("a write has one bubble hook")
    params = {"user": user_id}
    linked: dict[uuid.UUID, uuid.UUID] = {}
    await conn.execute(_PROJECTED_SQL, {"bubble_ids": bubble_rows is not None})
    await conn.execute(_ONE_PER_TRADE_SQL)
    # Only a user's own trades rows can be these fills or hold their keys, and a row id can only
    # be taken when the writer chose it (``trade_ref``; the others are fresh random uuids): a
    # user without trades rows (a first import) skips two index probes per fill.
    cur = await conn.execute(_MAY_BE_WRITTEN_SQL, params)
    if (await cur.fetchone())[0]:  # type: ignore[index]
        await conn.execute(_LINK_TRADES_SQL, params)
        await conn.execute(_DROP_WRITTEN_SQL, params)
    made: list[NewTrade] = []
    if bubbles is not None:
        cur = await conn.execute(_NEW_TRADES_SQL)
        made = [NewTrade(*r) for r in await cur.fetchall()]
        linked = await bubbles(made) if made else {}
    symbols: list[str] = []
    if bubble_rows is not None:
        await bubble_rows(_NEW_TRADE_ROWS_SQL)
        cur = await conn.execute(_NEW_SYMBOLS_SQL)
        symbols = [r[0] for r in await cur.fetchall()]
    cur = await conn.execute(
        _INSERT_TRADES_SQL,
        {**params, "trades": list(linked), "bubbles": list(linked.values())},
    )
    return Projected(cur.rowcount, made, symbols)
