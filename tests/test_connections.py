"""A request's pooled connection goes back to the pool when the request is over, however it
ends: answered, failed, left in a transaction, or cancelled mid-way (``kifu.kit.db``)."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from kifu.kit.db import Conn, ConnectionsMiddleware


def _app(pool: AsyncConnectionPool, started: asyncio.Event) -> FastAPI:
    app = FastAPI()
    app.state.pool = pool

    @app.get("/pid")
    async def pid(conn: Conn) -> dict[str, object]:
        cur = await conn.execute("SELECT pg_backend_pid(), now() = statement_timestamp()")
        backend, outside_tx = await cur.fetchone()  # type: ignore[misc]
        return {"pid": backend, "outside_tx": outside_tx}

    @app.get("/boom")
    async def boom(conn: Conn) -> None:
        await conn.execute("SELECT 1")
        raise RuntimeError("the route failed")

    @app.get("/open-tx")
    async def open_tx(conn: Conn) -> dict[str, bool]:
        await conn.execute("BEGIN")
        await conn.execute("CREATE TEMP TABLE left_behind (x int)")
        return {"ok": True}

    @app.get("/slow")
    async def slow(conn: Conn) -> None:
        started.set()
        await conn.execute("SELECT pg_sleep(30)")

    app.add_middleware(ConnectionsMiddleware)
    return app


def test_the_connection_comes_back_however_the_request_ends(db: str) -> None:
    async def run() -> None:
        pool = AsyncConnectionPool(
            db, min_size=1, max_size=1, timeout=3, open=False, kwargs={"autocommit": True}
        )
        await pool.open(wait=True)
        started = asyncio.Event()
        app = _app(pool, started)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                first = (await client.get("/pid")).json()
                assert (await client.get("/boom")).status_code == 500
                assert (await client.get("/open-tx")).json() == {"ok": True}
                # the one connection again, its transaction rolled back on the way in
                again = (await client.get("/pid")).json()
                assert again == {"pid": first["pid"], "outside_tx": True}

                slow = asyncio.create_task(client.get("/slow"))
                await asyncio.wait_for(started.wait(), 5)
                slow.cancel()
                await asyncio.gather(slow, return_exceptions=True)
                # within the pool's 3 s timeout: the cancelled request gave its connection back
                assert (await client.get("/pid")).status_code == 200
            stats = pool.get_stats()
            assert stats["pool_size"] - stats.get("pool_available", 0) == 0
        finally:
            await pool.close()

    asyncio.run(run())
