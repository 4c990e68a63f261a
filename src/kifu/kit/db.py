"""The request's database connection, from the app's pool.

``Conn`` takes a pooled connection when a route (or a dependency) first asks for one;
``ConnectionsMiddleware`` gives it back when the request is over, after the answer is sent, also
when the route raised or the request was cancelled. A plain dependency and one ``finally``, not
a ``yield`` dependency: FastAPI runs the exit of those in an exit stack under a shielded anyio
cancel scope, about an eighth of the Python time of a small read (``bench/api.py``).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Request
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from starlette.types import Receive, Scope, Send

from kifu.kit.middleware import HttpMiddleware

_HELD = "kifu.connections"  # the scope's list of the connections the request took


async def connection(scope: Scope) -> AsyncConnection:
    """The request's pooled connection: the one it took already, else one from the pool, given
    back by ``ConnectionsMiddleware`` when the request is over."""
    held: list[AsyncConnection] = scope[_HELD]
    if not held:
        held.append(await scope["app"].state.pool.getconn())
    return held[0]


async def db_connection(request: Request) -> AsyncConnection:
    """A pooled connection in autocommit mode; use ``conn.transaction()`` for atomic work. One
    per request: a connection a middleware took for the request already is that one."""
    return await connection(request.scope)


Conn = Annotated[AsyncConnection, Depends(db_connection)]


class ConnectionsMiddleware(HttpMiddleware):
    """Gives the connections a request took (``Conn``) back to the pool when it is over. The
    return is shielded: a request cancelled mid-way still gives its connection back (a
    connection never returned would shrink the pool for good)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        held: list[AsyncConnection] = []
        scope[_HELD] = held
        try:
            await self.app(scope, receive, send)
        finally:
            if held:
                await asyncio.shield(_give_back(scope["app"].state.pool, held))


async def _give_back(pool: AsyncConnectionPool, held: list[AsyncConnection]) -> None:
    for conn in held:
        await pool.putconn(conn)
