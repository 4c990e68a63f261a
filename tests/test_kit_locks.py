"""kit.locks: one key per name, shared by every kind of lock and by SQL that tests a key."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest

from kifu.kit import locks


def test_namespace_must_be_a_plain_name() -> None:
    assert locks.key_sql("kifu.run") == "hashtextextended('kifu.run:' || %s, 0)"
    for bad in ("", "Kifu", "kifu'; drop", "a b"):
        with pytest.raises(ValueError):
            locks.key_sql(bad)


def test_session_lock_is_seen_by_other_sessions_and_namespaces_are_apart(db: str) -> None:
    value = uuid.uuid4()

    async def scenario() -> tuple[bool, bool, bool, bool]:
        async with (
            await psycopg.AsyncConnection.connect(db, autocommit=True) as a,
            await psycopg.AsyncConnection.connect(db, autocommit=True) as b,
        ):
            await locks.lock(a, "kifu.one", value)
            held = not await locks.try_lock(b, "kifu.one", value)
            other_namespace_free = await locks.try_lock(b, "kifu.two", value)
            cur = await b.execute(  # the same key spelled in SQL, as the runs sweep does
                f"SELECT pg_try_advisory_xact_lock({locks.key_sql('kifu.one', '%s::text')})",
                (str(value),),
            )
            sql_sees_it = not (await cur.fetchone())[0]  # type: ignore[index]
            await locks.unlock(a, "kifu.one", value)
            free_after_unlock = await locks.try_lock(b, "kifu.one", value)
            return held, other_namespace_free, sql_sees_it, free_after_unlock

    assert asyncio.run(scenario()) == (True, True, True, True)
