"""The login rate limit: fixed-window counters per email and per client address, kept in
PostgreSQL so that every API replica sees the same counts.

Each attempt is counted *before* the password is checked (one atomic upsert for both keys), so
parallel guesses cannot slip in between a check and an increment. A successful login clears its
email's counter; the address counter is left to expire, since one address may front many users.
The table stays bounded: only the current window's rows are live and older ones are purged.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg import AsyncConnection

from kifu.accounts import store
from kifu.accounts.rules import retry_after_seconds, window_start
from kifu.kit.errors import TooManyRequests

# A purge every ~100 logins keeps the table small even when no worker runs.
_PURGE_PROBABILITY = 0.01


@dataclass(frozen=True)
class LoginLimits:
    per_email: int
    per_address: int
    window: timedelta


def email_key(email: str) -> str:
    return hashlib.sha256(f"email:{email}".encode()).hexdigest()


def address_key(address: str) -> str:
    return hashlib.sha256(f"addr:{address}".encode()).hexdigest()


async def check_login_attempt(
    conn: AsyncConnection, email: str, address: str, limits: LoginLimits, now: datetime
) -> None:
    """Count this attempt; 429 ``RATE_LIMITED`` with ``Retry-After`` when over a limit."""
    start = window_start(now, limits.window)
    ekey, akey = email_key(email), address_key(address)
    counts = await store.count_attempts(conn, [ekey, akey], start)
    if random.random() < _PURGE_PROBABILITY:
        await purge_expired(conn, limits.window, now)
    if counts.get(ekey, 0) > limits.per_email or counts.get(akey, 0) > limits.per_address:
        wait = retry_after_seconds(now, limits.window)
        raise TooManyRequests(
            "RATE_LIMITED",
            f"too many login attempts; try again in {wait} seconds",
            headers={"Retry-After": str(wait)},
        )


def register_key(address: str) -> str:
    return hashlib.sha256(f"register:{address}".encode()).hexdigest()


async def check_register_attempt(
    conn: AsyncConnection, address: str, limits: LoginLimits, now: datetime
) -> None:
    """Count a registration from ``address`` (its own counter, with the per-address login
    limit); 429 ``RATE_LIMITED`` with ``Retry-After`` when over it."""
    start = window_start(now, limits.window)
    key = register_key(address)
    counts = await store.count_attempts(conn, [key], start)
    if counts.get(key, 0) > limits.per_address:
        wait = retry_after_seconds(now, limits.window)
        raise TooManyRequests(
            "RATE_LIMITED",
            f"too many registrations; try again in {wait} seconds",
            headers={"Retry-After": str(wait)},
        )


async def clear_email(conn: AsyncConnection, email: str) -> None:
    await store.clear_attempts(conn, email_key(email))


async def purge_expired(conn: AsyncConnection, window: timedelta, now: datetime) -> int:
    """Delete the counters of windows that have ended."""
    return await store.purge_attempts(conn, window_start(now, window))
