"""The async connection pool the API uses, one per process."""

from __future__ import annotations

import logging
import time

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

# A connection checked this recently is handed out without another round trip.
CHECK_EVERY = 1.0

# The pool logs every checkout at INFO; `kifu serve` logs at INFO, so that was a log record per
# request. Its warnings (failed connections, a full pool) still show.
logging.getLogger("psycopg.pool").setLevel(logging.WARNING)


async def check_if_idle(conn: AsyncConnection) -> None:
    """The pool's checkout check: a round trip (``AsyncConnectionPool.check_connection``) only
    for a connection not checked in the last ``CHECK_EVERY`` seconds. Under load a connection
    goes out many times a second, and checking each time doubled the round trips of a small
    read; a connection that sat idle (where a restart or a dropped socket shows) is still
    checked. One the server dropped within that second fails its request and is discarded when
    it comes back to the pool."""
    now = time.monotonic()
    if now - getattr(conn, "_kifu_checked_at", float("-inf")) < CHECK_EVERY:
        return
    await AsyncConnectionPool.check_connection(conn)
    conn._kifu_checked_at = now  # type: ignore[attr-defined]


def make_pool(conninfo: str, max_size: int = 10) -> AsyncConnectionPool:
    """A pool that is opened by the app's lifespan; connections idle for a second are checked
    on checkout (``check_if_idle``)."""
    return AsyncConnectionPool(
        conninfo,
        min_size=1,
        max_size=max_size,
        open=False,
        check=check_if_idle,
        timeout=10,
        kwargs={"autocommit": True},
    )
