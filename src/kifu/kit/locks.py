"""PostgreSQL advisory locks under one naming scheme.

A lock is named ``<namespace>:<value>`` (``kifu.ledger:<user id>``, ``kifu.run:<run id>``…) and
its key is ``hashtextextended(name, 0)``: two kinds of lock can only share a key if their names
are equal, so no namespace has to keep a seed apart from the others. Transaction locks end with
the transaction; session locks end with ``unlock`` or with the connection.
"""

from __future__ import annotations

import re

from psycopg import AsyncConnection

_NAMESPACE = re.compile(r"^[a-z][a-z0-9_.]*$")


def key_sql(namespace: str, value_sql: str = "%s") -> str:
    """The SQL expression of a lock key; ``value_sql`` is a text placeholder or column."""
    if not _NAMESPACE.fullmatch(namespace):
        raise ValueError(f"bad lock namespace {namespace!r}")
    return f"hashtextextended('{namespace}:' || {value_sql}, 0)"


async def xact_lock(conn: AsyncConnection, namespace: str, value: object) -> None:
    """Wait for the lock and hold it until the current transaction ends."""
    await conn.execute(f"SELECT pg_advisory_xact_lock({key_sql(namespace)})", (str(value),))


async def try_xact_lock(conn: AsyncConnection, namespace: str, value: object) -> bool:
    """Take the transaction lock if it is free; False if another transaction holds it."""
    cur = await conn.execute(
        f"SELECT pg_try_advisory_xact_lock({key_sql(namespace)})", (str(value),)
    )
    return bool((await cur.fetchone())[0])  # type: ignore[index]


async def lock(conn: AsyncConnection, namespace: str, value: object) -> None:
    """Wait for the lock and hold it on this connection until ``unlock``."""
    await conn.execute(f"SELECT pg_advisory_lock({key_sql(namespace)})", (str(value),))


async def try_lock(conn: AsyncConnection, namespace: str, value: object) -> bool:
    """Take the session lock if it is free; False if another connection holds it."""
    cur = await conn.execute(f"SELECT pg_try_advisory_lock({key_sql(namespace)})", (str(value),))
    return bool((await cur.fetchone())[0])  # type: ignore[index]


async def unlock(conn: AsyncConnection, namespace: str, value: object) -> None:
    await conn.execute(f"SELECT pg_advisory_unlock({key_sql(namespace)})", (str(value),))
