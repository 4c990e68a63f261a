"""SQL of the summary_packs table. The ledger figures a pack is built from are read through the
ledger's read API for reconciliation (``kifu.ledger.reconciliation``)."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

# -- packs --------------------------------------------------------------------------------------

_PACK_COLUMNS = (
    "pack_id, user_id, source_run_id, range, schema_version, calc_version, content_hash,"
    " reconciliation_status, missing_suspects_count, duplicate_suspects_count,"
    " normalization_warnings, payload, created_at"
)


async def find_by_hash(conn: AsyncConnection, user_id: uuid.UUID, content_hash: str) -> dict | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {_PACK_COLUMNS} FROM summary_packs WHERE user_id = %s AND content_hash = %s",
        (user_id, content_hash),
    )
    return await cur.fetchone()


async def insert_pack(conn: AsyncConnection, row: dict[str, Any]) -> dict:
    """Insert, or return the user's existing pack with the same content hash (two generators
    racing over the same data end with one row)."""
    async with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "INSERT INTO summary_packs (pack_id, user_id, source_run_id, range, schema_version,"
            " calc_version, content_hash, reconciliation_status, missing_suspects_count,"
            " duplicate_suspects_count, normalization_warnings, payload)"
            " VALUES (%(pack_id)s, %(user_id)s, %(source_run_id)s, %(range)s,"
            " %(schema_version)s, %(calc_version)s, %(content_hash)s, %(reconciliation_status)s,"
            " %(missing_suspects_count)s, %(duplicate_suspects_count)s,"
            " %(normalization_warnings)s::text[], %(payload)s)"
            " ON CONFLICT (user_id, content_hash) DO NOTHING"
            f" RETURNING {_PACK_COLUMNS}",
            {**row, "payload": Jsonb(row["payload"])},
        )
        inserted = await cur.fetchone()
    if inserted is not None:
        return inserted
    existing = await find_by_hash(conn, row["user_id"], row["content_hash"])
    assert existing is not None
    return existing


async def get_pack(conn: AsyncConnection, user_id: uuid.UUID, pack_id: uuid.UUID) -> dict | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {_PACK_COLUMNS} FROM summary_packs WHERE pack_id = %s AND user_id = %s",
        (pack_id, user_id),
    )
    return await cur.fetchone()


async def latest_pack(
    conn: AsyncConnection, user_id: uuid.UUID, range_: str, tz: str | None
) -> dict | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {_PACK_COLUMNS} FROM summary_packs WHERE user_id = %(u)s AND range = %(r)s"
        " AND (%(tz)s::text IS NULL OR payload->'time_range'->>'timezone' = %(tz)s)"
        " ORDER BY created_at DESC, pack_id DESC LIMIT 1",
        {"u": user_id, "r": range_, "tz": tz},
    )
    return await cur.fetchone()


async def list_packs(
    conn: AsyncConnection, user_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[dict], int]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT pack_id, source_run_id, range, schema_version, calc_version, content_hash,"
        " reconciliation_status, missing_suspects_count, duplicate_suspects_count,"
        " normalization_warnings, created_at, payload->'time_range' AS time_range"
        " FROM summary_packs WHERE user_id = %s"
        " ORDER BY created_at DESC, pack_id DESC LIMIT %s OFFSET %s",
        (user_id, limit, offset),
    )
    items = await cur.fetchall()
    cur2 = await conn.execute("SELECT count(*) FROM summary_packs WHERE user_id = %s", (user_id,))
    total_row = await cur2.fetchone()
    return items, int(total_row[0]) if total_row else 0
