"""The async connection pool the API uses, one per process."""

from __future__ import annotations

import logging
import time

from psycopg import AsyncConnection
from psycopg import _queries as psycopg_queries
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool

# A connection checked this recently is handed out without another round trip.
CHECK_EVERY = 1.0

# The pool logs every checkout at INFO; `kifu serve` logs at INFO, so that was a log record per
# request. Its warnings (failed connections, a full pool) still show.
logging.getLogger("psycopg.pool").setLevel(logging.WARNING)

# psycopg turns a query's ``%(name)s`` placeholders into ``$n`` once per text (an LRU cache of
# 128), but only for texts of at most ``MAX_CACHED_STATEMENT_LENGTH`` (4,096) characters: a
# longer one is parsed again on every execution (a guard for ORM texts that vary with their
# rows). kifu's statements are constants or a few shapes each; the calendar's money statement
# is 5,154 characters, 80 us of parsing a request (py-spy: 4.7% of the API process). Not found
# in a later psycopg, this sets an unused name and the statements are parsed each time again;
# tests/test_pool.py notices.
LONGEST_CACHED_STATEMENT = 16_384
if getattr(psycopg_queries, "MAX_CACHED_STATEMENT_LENGTH", 0) < LONGEST_CACHED_STATEMENT:
    psycopg_queries.MAX_CACHED_STATEMENT_LENGTH = LONGEST_CACHED_STATEMENT


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


# psycopg prepares a statement on its fifth run; PostgreSQL then plans it for its parameters
# on every run while that custom plan looks cheaper than the generic one, which it does for the
# API's statements (constant-folded paging and filters): each request paid a new plan in its
# Bind, as long as the execution itself for the JSON lists (0.3-0.4 ms of 0.7 ms for
# /trades?limit=50, bench/api.py). The API's statements are per user and read a page through
# an index whatever the values, so they are planned once per connection.
PLANNING = "-c plan_cache_mode=force_generic_plan"


def api_options(conninfo: str) -> str:
    """The ``options`` of the API's connections: the caller's own, then ``PLANNING``."""
    given = conninfo_to_dict(conninfo).get("options")
    return f"{given} {PLANNING}" if given else PLANNING


def make_pool(conninfo: str, max_size: int = 10) -> AsyncConnectionPool:
    """A pool that is opened by the app's lifespan; connections idle for a second are checked
    on checkout (``check_if_idle``); statements planned once (``PLANNING``)."""
    return AsyncConnectionPool(
        conninfo,
        min_size=1,
        max_size=max_size,
        open=False,
        check=check_if_idle,
        timeout=10,
        kwargs={"autocommit": True, "options": api_options(conninfo)},
    )
