"""Account use cases: register, log in, rotate and revoke refresh tokens, profile, watch-list,
the monthly quota reset, and the operator's user administration."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection
from psycopg.errors import ForeignKeyViolation, UniqueViolation

from kifu.accounts import passwords, ratelimit, store, tokens
from kifu.accounts.rules import (
    DEFAULT_SYMBOL,
    DEFAULT_TIER,
    DEFAULT_TIMEFRAME,
    WatchSymbol,
    normalize_email,
    quota_for,
    remaining_after_tier_change,
)
from kifu.kit.auth import issue_access_token
from kifu.kit.errors import Conflict, Forbidden, NotFound, Unauthorized
from kifu.kit.timeutil import utc_now


@dataclass(frozen=True)
class Pair:
    access_token: str
    refresh_token: str


# -- registration and login --------------------------------------------------------------------


async def register(
    conn: AsyncConnection,
    email: str,
    password: str,
    name: str,
    *,
    tier: str = DEFAULT_TIER,
    allowlisted: bool = False,
    now: datetime | None = None,
    address: str | None = None,
    limits: ratelimit.LoginLimits | None = None,
) -> uuid.UUID:
    """Create the user and its subscription in one transaction; 409 ``EMAIL_EXISTS`` for an
    email already taken in any letter case. ``email`` must already be validated. With
    ``address`` and ``limits`` (the API), registrations are rate limited per client address
    like logins (429 ``RATE_LIMITED``)."""
    email = normalize_email(email)
    if address is not None and limits is not None:
        await ratelimit.check_register_attempt(conn, address, limits, now or utc_now())
    quota = quota_for(tier)
    password_hash = await passwords.hash_password_async(password)
    now = now or utc_now()
    try:
        async with conn.transaction():
            if await store.email_taken(conn, email):
                raise Conflict("EMAIL_EXISTS", "an account with this email already exists")
            user_id = await store.insert_user(
                conn, email, password_hash, name, allowlisted=allowlisted
            )
            await store.insert_subscription(conn, user_id, tier, quota, now)
    except UniqueViolation as exc:  # a concurrent registration of the same email won
        raise Conflict("EMAIL_EXISTS", "an account with this email already exists") from exc
    return user_id


async def _issue_pair(
    conn: AsyncConnection, user_id: uuid.UUID, secret: str, now: datetime
) -> tuple[Pair, uuid.UUID]:
    refresh = tokens.new_refresh_token()
    token_id = await store.insert_refresh_token(
        conn, user_id, tokens.hash_refresh_token(refresh), now + tokens.REFRESH_TOKEN_TTL
    )
    return Pair(issue_access_token(user_id, secret, now=now), refresh), token_id


async def login(
    conn: AsyncConnection,
    email: str,
    password: str,
    *,
    address: str,
    secret: str,
    limits: ratelimit.LoginLimits,
    now: datetime | None = None,
) -> Pair:
    """Check the password (argon2id, or bcrypt from the reference, upgraded on success) and
    open a session. A wrong password and an unknown email get the same 401 after the same
    amount of hashing work."""
    now = now or utc_now()
    email = normalize_email(email)
    await ratelimit.check_login_attempt(conn, email, address, limits, now)
    user = None
    upgrade = False
    candidates = await store.users_by_email(conn, email)
    if not candidates:
        # One verification's worth of work, as for a registered email with a wrong password
        # (which verifies once, below): the timing does not tell the two apart.
        await passwords.burn_verification_async(password)
    for candidate in candidates:
        result = await passwords.verify_password_async(candidate.password_hash, password)
        if result.ok:
            user, upgrade = candidate, result.needs_rehash
            break
    if user is None:
        raise Unauthorized(message="invalid credentials")
    new_hash = await passwords.hash_password_async(password) if upgrade else None
    async with conn.transaction():
        if new_hash is not None:
            await store.set_password_hash(conn, user.id, new_hash)
        pair, _ = await _issue_pair(conn, user.id, secret, now)
    await ratelimit.clear_email(conn, email)
    return pair


async def refresh(
    conn: AsyncConnection, refresh_token: str, *, secret: str, now: datetime | None = None
) -> Pair:
    """Rotate: the presented token is retired and replaced. Presenting a token that was already
    rotated or revoked is treated as theft and ends every session of its user."""
    now = now or utc_now()
    token_hash = tokens.hash_refresh_token(refresh_token)
    reuse = False
    async with conn.transaction():
        row = await store.refresh_token_by_hash(conn, token_hash, for_update=True)
        if row is None:
            raise Unauthorized(message="invalid token")
        if row.revoked_at is not None or row.replaced_by is not None:
            await store.revoke_user_tokens(conn, row.user_id, "reuse_detected", now)
            reuse = True
        elif row.expires_at <= now:
            raise Unauthorized(message="token expired")
        else:
            pair, new_id = await _issue_pair(conn, row.user_id, secret, now)
            await store.mark_rotated(conn, row.id, new_id, now)
    if reuse:  # raised after the commit, so the revocation sticks
        raise Unauthorized(message="token reuse detected")
    return pair


async def logout(conn: AsyncConnection, refresh_token: str, *, now: datetime | None = None) -> None:
    """Revoke one refresh token. Logging out twice is harmless; an unknown token is 401."""
    now = now or utc_now()
    row = await store.refresh_token_by_hash(conn, tokens.hash_refresh_token(refresh_token))
    if row is None:
        raise Unauthorized(message="invalid token")
    await store.revoke_token(conn, row.id, "logout", now)


async def revoke_sessions(
    conn: AsyncConnection, user_id: uuid.UUID, *, now: datetime | None = None
) -> int:
    """End every session (refresh token) of a user; access tokens lapse within 15 minutes."""
    return await store.revoke_user_tokens(conn, user_id, "revoked_by_operator", now or utc_now())


# -- profile -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    user: store.UserRow
    subscription: store.SubscriptionRow | None


async def change_stamp(conn: AsyncConnection, user_id: uuid.UUID) -> int | None:
    """What a kept profile is checked against (``kit.answers``): the accounts change stamp."""
    return await store.change_stamp(conn, user_id)


async def profile(conn: AsyncConnection, user_id: uuid.UUID) -> Profile:
    found = await store.profile_of(conn, user_id)
    if found is None:
        raise NotFound("USER_NOT_FOUND", "user not found")
    return Profile(*found)


async def rename(conn: AsyncConnection, user_id: uuid.UUID, name: str) -> Profile:
    if not await store.rename_user(conn, user_id, name):
        raise NotFound("USER_NOT_FOUND", "user not found")
    return await profile(conn, user_id)


async def subscription(conn: AsyncConnection, user_id: uuid.UUID) -> store.SubscriptionRow:
    sub = await store.subscription_of(conn, user_id)
    if sub is None:
        raise NotFound("SUBSCRIPTION_NOT_FOUND", "no subscription for this user")
    return sub


# -- watch-list --------------------------------------------------------------------------------


async def watch_list(conn: AsyncConnection, user_id: uuid.UUID) -> list[WatchSymbol]:
    """The user's symbols in the order given; an empty list becomes ``[BTCUSDT/1h]``."""
    symbols = await store.symbols_of(conn, user_id)
    if symbols:
        return symbols
    default = WatchSymbol(DEFAULT_SYMBOL, DEFAULT_TIMEFRAME)
    try:
        await store.add_symbol_if_missing(conn, user_id, default)
    except ForeignKeyViolation as exc:  # the token outlived its deleted user
        raise NotFound("USER_NOT_FOUND", "user not found") from exc
    return await store.symbols_of(conn, user_id)


async def symbol_timeframes(conn: AsyncConnection, user_id: uuid.UUID) -> dict[str, str]:
    """The user's watch-list as symbol → chart timeframe, whole (for exchange sync, which
    fetches the watched symbols too, and the chart timeframe of its auto bubbles)."""
    return await store.symbol_timeframes(conn, user_id)


async def watch_traded_symbols(
    conn: AsyncConnection, user_id: uuid.UUID, symbols: list[str]
) -> None:
    """Put symbols the user traded on their watch-list (1h charts) unless already there; symbols
    longer than the column's 20 characters are left out."""
    fitting = sorted({s for s in symbols if len(s) <= 20})
    if fitting:
        await store.watch_symbols(conn, user_id, fitting, "1h")


async def replace_watch_list(
    conn: AsyncConnection, user_id: uuid.UUID, symbols: list[WatchSymbol]
) -> list[WatchSymbol]:
    async with conn.transaction():
        await store.replace_symbols(conn, user_id, symbols, utc_now())
    return symbols


# -- subscriptions: monthly reset and operator changes -----------------------------------------


@dataclass(frozen=True)
class ResetResult:
    downgraded: int
    reset: int


async def reset_quotas(conn: AsyncConnection, now: datetime | None = None) -> ResetResult:
    """Downgrade expired subscriptions to free, then reset every subscription whose last reset
    lies in an earlier UTC month. Safe to run any number of times, concurrently too."""
    now = now or utc_now()
    downgraded = await store.downgrade_expired(conn, now)
    reset = await store.reset_monthly_quotas(conn, now)
    return ResetResult(downgraded, reset)


async def change_tier(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    tier: str,
    *,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> store.SubscriptionRow:
    """Move a user to ``tier``; credits used this month stay used (see
    ``rules.remaining_after_tier_change``). Creates the subscription if it is missing."""
    limit = quota_for(tier)
    if tier == DEFAULT_TIER:
        expires_at = None  # free never expires
    async with conn.transaction():
        if await store.user_by_id(conn, user_id) is None:
            raise NotFound("USER_NOT_FOUND", "user not found")
        sub = await store.subscription_of(conn, user_id, for_update=True)
        if sub is None:
            await store.insert_subscription(conn, user_id, tier, limit, now or utc_now())
            remaining = limit
        else:
            remaining = remaining_after_tier_change(
                sub.ai_quota_limit, sub.ai_quota_remaining, limit
            )
        await store.set_tier(conn, user_id, tier, limit, remaining, expires_at)
        result = await store.subscription_of(conn, user_id)
    assert result is not None
    return result


async def set_allowlisted(conn: AsyncConnection, user_id: uuid.UUID, allowlisted: bool) -> None:
    if not await store.set_allowlisted(conn, user_id, allowlisted):
        raise NotFound("USER_NOT_FOUND", "user not found")


async def set_admin(conn: AsyncConnection, user_id: uuid.UUID, is_admin: bool) -> None:
    if not await store.set_admin(conn, user_id, is_admin):
        raise NotFound("USER_NOT_FOUND", "user not found")


async def require_admin(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    """403 ``FORBIDDEN`` unless the user holds the admin role (read from the database on every
    call, so a revoked role takes effect at once, not when the token expires)."""
    if not await store.is_admin(conn, user_id):
        raise Forbidden("FORBIDDEN", "admin access required")


# -- sandbox users (kifu demo, the admin simulation report) ---------------------------------------


async def create_sandbox_user(
    conn: AsyncConnection, email: str, password: str, name: str
) -> uuid.UUID:
    """A user marked ``is_sandbox``: its journal is simulated and a demo run may reset it."""
    async with conn.transaction():
        user_id = await register(conn, email, password, name)
        await store.mark_sandbox(conn, user_id)
    return user_id


async def reset_sandbox_user(conn: AsyncConnection, email: str) -> bool:
    """Delete the sandbox user with this email (everything it owns cascades); False when there
    is none. 409 ``NOT_A_SANDBOX`` for a real user or an admin: a demo never deletes those."""
    found = await store.users_by_email(conn, normalize_email(email))
    if not found:
        return False
    for user in found:
        flags = await store.sandbox_flags(conn, user.id)
        if flags is None:
            continue
        sandbox, admin = flags
        if not sandbox or admin:
            raise Conflict(
                "NOT_A_SANDBOX",
                f"{user.email} is a real account, not a demo sandbox; choose another email",
            )
    async with conn.transaction():
        for user in found:
            await store.delete_user(conn, user.id)
    return True


async def is_sandbox(conn: AsyncConnection, user_id: uuid.UUID) -> bool:
    """Whether the user is a sandbox user (False when there is no such user)."""
    flags = await store.sandbox_flags(conn, user_id)
    return flags is not None and flags[0]


async def find_user(conn: AsyncConnection, ref: str) -> store.UserRow:
    """A user by id or (case-insensitive) email, for the operator's commands."""
    try:
        user = await store.user_by_id(conn, uuid.UUID(ref))
    except ValueError:
        found = await store.users_by_email(conn, normalize_email(ref))
        user = found[0] if len(found) == 1 else None
        if len(found) > 1:
            raise Conflict(
                "AMBIGUOUS_EMAIL",
                f"{len(found)} users have this email in different letter case; use the id",
            ) from None
    if user is None:
        raise NotFound("USER_NOT_FOUND", f"no user {ref!r}")
    return user
