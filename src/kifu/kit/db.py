"""The request's database connection, from the app's pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from psycopg import AsyncConnection


async def db_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """A pooled connection in autocommit mode; use ``conn.transaction()`` for atomic work."""
    async with request.app.state.pool.connection() as conn:
        yield conn


Conn = Annotated[AsyncConnection, Depends(db_connection)]
