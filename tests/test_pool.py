"""The API pool checks a connection on checkout only when it was not checked in the last
second: one round trip per request instead of two under load, idle connections still checked."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from kifu.db import pool as pool_module


def test_checkout_checks_a_connection_at_most_once_a_second(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[int] = []
    real = AsyncConnectionPool.check_connection

    async def counting(conn):
        checks.append(id(conn))
        await real(conn)

    monkeypatch.setattr(AsyncConnectionPool, "check_connection", staticmethod(counting))
    monkeypatch.setattr(pool_module, "CHECK_EVERY", 0.3)

    async def run() -> None:
        pool = pool_module.make_pool(db, max_size=1)
        await pool.open(wait=True)
        try:
            for _ in range(20):
                async with pool.connection() as conn:
                    await conn.execute("SELECT 1")
            assert len(checks) == 1
            await asyncio.sleep(0.35)
            async with pool.connection() as conn:
                await conn.execute("SELECT 1")
            assert len(checks) == 2
        finally:
            await pool.close()

    asyncio.run(run())


def test_a_dropped_connection_is_replaced_after_the_check_window(db: str) -> None:
    async def run() -> None:
        pool = pool_module.make_pool(db, max_size=1)
        await pool.open(wait=True)
        try:
            async with pool.connection() as conn:
                pid = conn.info.backend_pid
            async with await psycopg.AsyncConnection.connect(db, autocommit=True) as admin:
                await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            await asyncio.sleep(pool_module.CHECK_EVERY + 0.1)
            async with pool.connection() as conn:  # checked, found dead, replaced
                assert (await (await conn.execute("SELECT 1")).fetchone()) == (1,)
                assert conn.info.backend_pid != pid
        finally:
            await pool.close()

    asyncio.run(run())


def test_api_connections_plan_statements_once_and_keep_the_callers_options(db: str) -> None:
    conninfo = psycopg.conninfo.make_conninfo(db, options="-c statement_timeout=7s")
    assert pool_module.api_options(db) == pool_module.PLANNING
    assert pool_module.api_options(conninfo).startswith("-c statement_timeout=7s ")

    async def run() -> tuple[str, str]:
        pool = pool_module.make_pool(conninfo, max_size=1)
        await pool.open(wait=True)
        try:
            async with pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT current_setting('plan_cache_mode'),"
                    " current_setting('statement_timeout')"
                )
                return await cur.fetchone()  # type: ignore[return-value]
        finally:
            await pool.close()

    assert asyncio.run(run()) == ("force_generic_plan", "7s")


def test_a_long_statement_is_parsed_once(db: str) -> None:
    """psycopg's placeholder parsing is cached for texts up to ``LONGEST_CACHED_STATEMENT``
    (the money statement of the review calendar is longer than psycopg's own 4,096)."""
    from psycopg import _queries

    assert _queries.MAX_CACHED_STATEMENT_LENGTH == pool_module.LONGEST_CACHED_STATEMENT
    query = "SELECT %(a)s::int" + " " * 6000 + "-- a long text"
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(query, {"a": 1})
        hits = _queries._query2pg.cache_info().hits
        assert conn.execute(query, {"a": 2}).fetchone() == (2,)
        assert _queries._query2pg.cache_info().hits == hits + 1
