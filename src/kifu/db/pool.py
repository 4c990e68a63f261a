"""The async connection pool the API uses, one per process."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool


def make_pool(conninfo: str, max_size: int = 10) -> AsyncConnectionPool:
    """A pool that is opened by the app's lifespan; connections check health on checkout."""
    return AsyncConnectionPool(
        conninfo,
        min_size=1,
        max_size=max_size,
        open=False,
        check=AsyncConnectionPool.check_connection,
        timeout=10,
        kwargs={"autocommit": True},
    )
