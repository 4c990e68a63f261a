"""Manual positions (user-declared, used as AI context and chart overlays): use cases and SQL.

Numbers are decimal strings checked against their columns (NUMERIC(30,10), leverage
NUMERIC(10,2)); a bad one is a 400 naming the field (the reference let the database fail: 500).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from kifu.journal import store
from kifu.journal.schemas import ManualPositionBody, ManualPositions
from kifu.journal.service import parse_id, plain
from kifu.kit.answers import Asked, Computed
from kifu.kit.errors import BadRequest, NotFound
from kifu.kit.money import EXACT, parse_decimal
from kifu.kit.timeutil import parse_instant, rfc3339, utc_now

ASSET_CLASSES = ("crypto", "stock")
SIDES = ("long", "short")
STATUSES = ("open", "closed")
# field → (digits before the point, digits after) allowed by the column
NUMBERS = {
    "size": (20, 10),
    "entry_price": (20, 10),
    "stop_loss": (20, 10),
    "take_profit": (20, 10),
    "leverage": (8, 2),
}
TEXTS = {"venue": 30, "strategy": None, "memo": None}
LIST_LIMIT = 500
COLUMNS = (
    "id, symbol, asset_class, venue, position_side, size, entry_price, stop_loss, take_profit,"
    " leverage, strategy, memo, status, opened_at, closed_at, created_at, updated_at"
)


def position_json(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": str(row["id"])}
    for name in ("symbol", "asset_class", "venue", "position_side", "strategy", "memo", "status"):
        out[name] = row[name]
    for name in NUMBERS:
        out[name] = plain(row[name])
    for name in ("opened_at", "closed_at", "created_at", "updated_at"):
        out[name] = rfc3339(row[name])
    return out


def _number(raw: object, field: str) -> Decimal | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    value = parse_decimal(raw, field)
    whole, scale = NUMBERS[field]
    if abs(value) >= Decimal(10) ** whole:
        raise BadRequest("INVALID_REQUEST", f"{field}: must be below 10^{whole}")
    if value != value.quantize(Decimal(1).scaleb(-scale), context=EXACT):
        raise BadRequest("INVALID_REQUEST", f"{field}: at most {scale} decimal places")
    if value < 0:
        raise BadRequest("INVALID_REQUEST", f"{field}: must not be negative")
    return value


def _enum(raw: object, field: str, allowed: tuple[str, ...], required: bool) -> str | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            raise BadRequest("INVALID_REQUEST", f"{field}: required ({'/'.join(allowed)})")
        return None
    value = raw.strip().lower() if isinstance(raw, str) else None
    if value not in allowed:
        raise BadRequest("INVALID_REQUEST", f"{field}: must be one of {', '.join(allowed)}")
    return value


def _symbol(raw: object, required: bool) -> str | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            raise BadRequest("INVALID_SYMBOL", "symbol: required")
        return None
    if not isinstance(raw, str) or len(raw.strip()) > 40:
        raise BadRequest("INVALID_SYMBOL", "symbol: at most 40 characters")
    return raw.strip().upper()


def _text(raw: object, field: str) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise BadRequest("INVALID_REQUEST", f"{field}: must be a string")
    value = raw.strip()
    limit = TEXTS[field]
    if limit is not None and len(value) > limit:
        raise BadRequest("INVALID_REQUEST", f"{field}: at most {limit} characters")
    return value or None


def _time(raw: object, field: str) -> datetime | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise BadRequest("INVALID_REQUEST", f"{field}: must be an RFC 3339 time")
    return parse_instant(raw, field)


def _changes(body: ManualPositionBody, creating: bool) -> dict[str, Any]:
    given = body.model_fields_set
    values: dict[str, Any] = {}
    for field, value in (
        ("symbol", _symbol(body.symbol, creating)),
        ("asset_class", _enum(body.asset_class, "asset_class", ASSET_CLASSES, creating)),
        ("position_side", _enum(body.position_side, "position_side", SIDES, creating)),
        ("status", _enum(body.status, "status", STATUSES, False)),
    ):
        if value is not None:  # non-empty values replace; empty ones keep the stored value
            values[field] = value
    for field in NUMBERS:
        if field in given:
            values[field] = _number(getattr(body, field), field)
    for field in TEXTS:
        if field in given:
            values[field] = _text(getattr(body, field), field)
    for field in ("opened_at", "closed_at"):
        if field in given:
            values[field] = _time(getattr(body, field), field)
    return values


def _wanted(status: str | None) -> str:
    wanted = (status or "").strip().lower()
    if wanted not in ("", "all", *STATUSES):
        raise BadRequest("INVALID_REQUEST", "status: must be open, closed or all")
    return wanted


async def listing_answer(
    conn: AsyncConnection, user_id: uuid.UUID, kept: Asked, status: str | None
) -> bytes:
    """``listing`` as ``schemas.ManualPositions`` JSON, kept per status under the user's
    journal stamp (its triggers cover ``manual_positions``)."""
    wanted = _wanted(status)

    async def compute() -> Computed:
        figures = await listing(conn, user_id, wanted)
        return ManualPositions.model_validate(figures).model_dump_json(by_alias=True).encode(), None

    key = ("manual-positions", wanted)
    return await kept.serve(conn, user_id, key, store.change_stamp, utc_now(), compute)


async def listing(conn: AsyncConnection, user_id: uuid.UUID, status: str | None) -> dict:
    wanted = _wanted(status)
    clause, args = "", [user_id]
    if wanted in STATUSES:
        clause, args = " AND status = %s", [user_id, wanted]
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {COLUMNS} FROM manual_positions WHERE user_id = %s{clause}"
            " ORDER BY updated_at DESC, id DESC LIMIT %s",
            [*args, LIST_LIMIT],
        )
        rows = await cur.fetchall()
    return {"positions": [position_json(r) for r in rows]}


async def create(conn: AsyncConnection, user_id: uuid.UUID, body: ManualPositionBody) -> dict:
    values = _changes(body, creating=True)
    values.setdefault("status", "open")
    if values["status"] == "closed" and values.get("closed_at") is None:
        values["closed_at"] = utc_now()
    columns = ", ".join(["user_id", *values])
    marks = ", ".join(["%s"] * (len(values) + 1))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"INSERT INTO manual_positions ({columns}) VALUES ({marks}) RETURNING {COLUMNS}",
            [user_id, *values.values()],
        )
        row = await cur.fetchone()
    assert row is not None
    return position_json(row)


async def update(
    conn: AsyncConnection, user_id: uuid.UUID, raw_id: str, body: ManualPositionBody
) -> dict:
    position_id = parse_id(raw_id)
    values = _changes(body, creating=False)
    sets = [f"{name} = %s" for name in values] + ["updated_at = NOW()"]
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"UPDATE manual_positions SET {', '.join(sets)} WHERE id = %s AND user_id = %s",
            [*values.values(), position_id, user_id],
        )
        if cur.rowcount != 1:
            raise NotFound("NOT_FOUND", "position not found")
        # Closing without a time stamps it now (reference §4.12).
        await cur.execute(
            "UPDATE manual_positions SET closed_at = NOW()"
            " WHERE id = %s AND status = 'closed' AND closed_at IS NULL",
            (position_id,),
        )
        await cur.execute(f"SELECT {COLUMNS} FROM manual_positions WHERE id = %s", (position_id,))
        row = await cur.fetchone()
    assert row is not None
    return position_json(row)


async def delete(conn: AsyncConnection, user_id: uuid.UUID, raw_id: str) -> None:
    cur = await conn.execute(
        "DELETE FROM manual_positions WHERE id = %s AND user_id = %s", (parse_id(raw_id), user_id)
    )
    if cur.rowcount != 1:
        raise NotFound("NOT_FOUND", "position not found")
