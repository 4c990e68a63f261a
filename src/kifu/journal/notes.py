"""Review notes: use cases and SQL (small enough to read in one file)."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from kifu.journal import store
from kifu.journal.schemas import Note, NoteBody
from kifu.journal.service import own_bubble, parse_id
from kifu.kit import jsonsql
from kifu.kit.answers import Asked, Computed
from kifu.kit.errors import BadRequest, NotFound
from kifu.kit.pagination import MAX_PAGE, parse_positive_int
from kifu.kit.timeutil import rfc3339_seconds

NOTE_NOT_FOUND = "NOTE_NOT_FOUND"
AI_SUMMARY_TITLE = "AI 복기 요약"  # "AI review summary": the client's auto-saved AI answers
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_TAGS = 20
MAX_TAG_LEN = 64
MAX_BUBBLE_NOTES = 200
COLUMNS = "id, bubble_id, title, content, tags, lesson_learned, emotion, created_at, updated_at"
# The columns of one ``schemas.Note`` (``note_json`` in SQL), for ``jsonsql.json_array``.
JSON_COLUMNS = (
    "id, bubble_id, title, content,"
    f" {jsonsql.text_array('tags')} AS tags, lesson_learned, emotion,"
    f" {jsonsql.rfc3339_seconds('created_at')} AS created_at,"
    f" {jsonsql.rfc3339_seconds('updated_at')} AS updated_at"
)


def note_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "bubble_id": str(row["bubble_id"]) if row["bubble_id"] else None,
        "title": row["title"],
        "content": row["content"],
        "tags": list(row["tags"] or []),
        "lesson_learned": row["lesson_learned"],
        "emotion": row["emotion"],
        # whole seconds, as the reference's NoteResponse printed them
        "created_at": rfc3339_seconds(row["created_at"]),
        "updated_at": rfc3339_seconds(row["updated_at"]),
    }


def _text(raw: object, field: str, max_len: int | None = None) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise BadRequest("INVALID_REQUEST", f"{field}: required")
    if max_len is not None and len(raw) > max_len:
        raise BadRequest("INVALID_REQUEST", f"{field}: at most {max_len} characters")
    return raw


def _tags(raw: list[Any] | None) -> list[str] | None:
    if raw is None:
        return None
    if len(raw) > MAX_TAGS:
        raise BadRequest("INVALID_TAGS", f"tags: at most {MAX_TAGS}")
    tags: list[str] = []
    for item in raw:
        if not isinstance(item, str):
            raise BadRequest("INVALID_TAGS", "tags: every tag must be a string")
        tag = item.strip()
        if len(tag) > MAX_TAG_LEN:
            raise BadRequest("INVALID_TAGS", f"tags: {tag[:20]!r}… is longer than {MAX_TAG_LEN}")
        if tag and tag not in tags:
            tags.append(tag)
    return tags


async def _values(conn: AsyncConnection, user_id: uuid.UUID, body: NoteBody) -> tuple:
    bubble_id = None
    if body.bubble_id not in (None, ""):
        bubble_id = parse_id(body.bubble_id, "bubble_id")
        if await store.get_bubble(conn, user_id, bubble_id) is None:
            raise NotFound("BUBBLE_NOT_FOUND", "bubble_id: bubble not found")
    emotion = (body.emotion or "").strip().lower() or None
    if emotion is not None and len(emotion) > 20:
        raise BadRequest("INVALID_REQUEST", "emotion: at most 20 characters")
    return (
        bubble_id,
        _text(body.title, "title", 200),
        _text(body.content, "content"),
        _tags(body.tags),
        body.lesson_learned,
        emotion,
    )


async def create(
    conn: AsyncConnection, user_id: uuid.UUID, body: NoteBody, keep_ai: int
) -> dict[str, Any]:
    values = await _values(conn, user_id, body)
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "INSERT INTO review_notes (user_id, bubble_id, title, content, tags, lesson_learned,"
            f" emotion) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {COLUMNS}",
            (user_id, *values),
        )
        row = await cur.fetchone()
        if values[1] == AI_SUMMARY_TITLE:
            # Keep only the newest ``keep_ai`` auto-saved AI notes of this user.
            await cur.execute(
                "DELETE FROM review_notes WHERE id IN (SELECT id FROM review_notes"
                " WHERE user_id = %s AND title = %s ORDER BY created_at DESC, id DESC"
                " OFFSET %s)",
                (user_id, AI_SUMMARY_TITLE, keep_ai),
            )
    assert row is not None
    return note_json(row)


async def listing(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    kept: Asked,
    *,
    page_raw: str | None,
    limit_raw: str | None,
    now: datetime,
) -> bytes:
    """``schemas.NotePage`` as finished JSON, newest first; kept (``kit.answers``) until the
    user's journal change stamp (read first) moves."""
    page = parse_positive_int(page_raw, "page", 1, at_most=MAX_PAGE)
    limit = min(parse_positive_int(limit_raw, "limit", DEFAULT_LIMIT), MAX_LIMIT)

    async def compute() -> Computed:
        return await _page(conn, user_id, page, limit), None

    key = ("notes", page, limit)
    return await kept.serve(conn, user_id, key, store.change_stamp, now, compute)


async def _page(conn: AsyncConnection, user_id: uuid.UUID, page: int, limit: int) -> bytes:
    # One round trip: the count (index-only on idx_review_notes_user_id) and the page
    # (idx_review_notes_user_created) as JSON text written by PostgreSQL (``kit.jsonsql``).
    cur = await conn.execute(
        "SELECT (SELECT count(*) FROM review_notes WHERE user_id = %s),"
        + jsonsql.json_array(
            f"SELECT {JSON_COLUMNS} FROM (SELECT * FROM review_notes WHERE user_id = %s"
            " ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s) n"
            " ORDER BY n.created_at DESC, n.id DESC",
            Note,
        ),
        (user_id, user_id, limit, (page - 1) * limit),
    )
    total, notes = await cur.fetchone()  # type: ignore[misc]
    return jsonsql.document(
        notes=jsonsql.Raw(notes),
        total=total,
        page=page,
        limit=limit,
        total_pages=math.ceil(total / limit),
    )


async def get(conn: AsyncConnection, user_id: uuid.UUID, raw_id: str) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {COLUMNS} FROM review_notes WHERE id = %s AND user_id = %s",
            (parse_id(raw_id), user_id),
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(NOTE_NOT_FOUND, "note not found")
    return note_json(row)


async def replace(
    conn: AsyncConnection, user_id: uuid.UUID, raw_id: str, body: NoteBody
) -> dict[str, Any]:
    note_id = parse_id(raw_id)
    values = await _values(conn, user_id, body)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "UPDATE review_notes SET bubble_id = %s, title = %s, content = %s, tags = %s,"
            " lesson_learned = %s, emotion = %s, updated_at = NOW()"
            f" WHERE id = %s AND user_id = %s RETURNING {COLUMNS}",
            (*values, note_id, user_id),
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(NOTE_NOT_FOUND, "note not found")
    return note_json(row)


async def delete(conn: AsyncConnection, user_id: uuid.UUID, raw_id: str) -> None:
    cur = await conn.execute(
        "DELETE FROM review_notes WHERE id = %s AND user_id = %s", (parse_id(raw_id), user_id)
    )
    if cur.rowcount != 1:
        raise NotFound(NOTE_NOT_FOUND, "note not found")


async def of_bubble(conn: AsyncConnection, user_id: uuid.UUID, raw_id: str) -> dict[str, Any]:
    bubble = await own_bubble(conn, user_id, raw_id)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {COLUMNS} FROM review_notes WHERE bubble_id = %s AND user_id = %s"
            " ORDER BY created_at DESC, id DESC LIMIT %s",
            (bubble["id"], user_id, MAX_BUBBLE_NOTES),
        )
        rows = await cur.fetchall()
    return {"notes": [note_json(r) for r in rows]}
