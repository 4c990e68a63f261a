"""HTTP for accounts: ``/api/v1/auth/*`` and ``/api/v1/users/me*`` (reference §2.1)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request

from kifu.accounts import ratelimit, service, store
from kifu.accounts.rules import WatchSymbol, normalize_symbols
from kifu.accounts.schemas import (
    LoginRequest,
    MessageResponse,
    RefreshRequest,
    RegisterRequest,
    RegisterResponse,
    RenameRequest,
    SubscriptionOut,
    SymbolOut,
    SymbolsRequest,
    SymbolsResponse,
    TokenPair,
    UserOut,
)
from kifu.config import Settings
from kifu.kit import answers
from kifu.kit.answers import Computed
from kifu.kit.auth import CurrentUser
from kifu.kit.db import Conn
from kifu.kit.jsonsql import RawJSON
from kifu.kit.openapi import errors
from kifu.kit.timeutil import rfc3339, utc_now

router = APIRouter(prefix="/api/v1")


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _limits(settings: Settings) -> ratelimit.LoginLimits:
    return ratelimit.LoginLimits(
        per_email=settings.login_max_per_email,
        per_address=settings.login_max_per_address,
        window=timedelta(seconds=settings.login_window_seconds),
    )


def _subscription_out(sub: store.SubscriptionRow) -> SubscriptionOut:
    return SubscriptionOut(
        tier=sub.tier,
        ai_quota_remaining=sub.ai_quota_remaining,
        ai_quota_limit=sub.ai_quota_limit,
        last_reset_at=rfc3339(sub.last_reset_at) or "",
        expires_at=rfc3339(sub.expires_at),
    )


def _user_out(p: service.Profile) -> UserOut:
    # Optional fields are left out rather than sent as null, as the reference did: the routes
    # answer with ``response_model_exclude_none``.
    return UserOut(
        id=p.user.id,
        email=p.user.email,
        name=p.user.name,
        ai_allowlisted=p.user.ai_allowlisted,
        created_at=rfc3339(p.user.created_at) or "",
        subscription=_subscription_out(p.subscription) if p.subscription else None,
    )


def _symbols_out(symbols: list[WatchSymbol]) -> SymbolsResponse:
    return SymbolsResponse(
        symbols=[SymbolOut(symbol=s.symbol, timeframe_default=s.timeframe_default) for s in symbols]
    )


# -- auth --------------------------------------------------------------------------------------


@router.post(
    "/auth/register",
    response_model=RegisterResponse,
    responses=errors((409, "EMAIL_EXISTS"), (429, "RATE_LIMITED")),
    tags=["auth"],
)
async def register(body: RegisterRequest, request: Request, conn: Conn) -> RegisterResponse:
    """Create an account and its free subscription (20 AI credits a month). Rate limited per
    client address like login (429 ``RATE_LIMITED`` with Retry-After)."""
    settings = _settings(request)
    user_id = await service.register(
        conn,
        body.email,
        body.password,
        body.name,
        address=request.client.host if request.client else "unknown",
        limits=_limits(settings),
    )
    return RegisterResponse(user_id=user_id)


@router.post(
    "/auth/login",
    response_model=TokenPair,
    responses=errors(401, (429, "RATE_LIMITED")),
    tags=["auth"],
)
async def login(body: LoginRequest, request: Request, conn: Conn) -> TokenPair:
    """Exchange email and password for an access token (15 min) and a refresh token (30 days).
    Rate limited per email and per client address (429 ``RATE_LIMITED`` with Retry-After)."""
    settings = _settings(request)
    address = request.client.host if request.client else "unknown"
    pair = await service.login(
        conn,
        body.email,
        body.password,
        address=address,
        secret=settings.jwt_secret or "",
        limits=_limits(settings),
    )
    return TokenPair(access_token=pair.access_token, refresh_token=pair.refresh_token)


@router.post("/auth/refresh", response_model=TokenPair, responses=errors(401), tags=["auth"])
async def refresh(body: RefreshRequest, request: Request, conn: Conn) -> TokenPair:
    """Rotate a refresh token into a new pair. Re-using a retired token ends all sessions."""
    pair = await service.refresh(
        conn, body.refresh_token, secret=_settings(request).jwt_secret or ""
    )
    return TokenPair(access_token=pair.access_token, refresh_token=pair.refresh_token)


@router.post("/auth/logout", response_model=MessageResponse, responses=errors(401), tags=["auth"])
async def logout(body: RefreshRequest, conn: Conn) -> MessageResponse:
    """Revoke one refresh token."""
    await service.logout(conn, body.refresh_token)
    return MessageResponse(message="logged out")


# -- the signed-in user ------------------------------------------------------------------------


USER_404 = errors((404, "USER_NOT_FOUND"))


@router.get(
    "/users/me",
    response_model=UserOut,
    response_model_exclude_none=True,
    responses=USER_404,
    tags=["users"],
)
async def me(request: Request, user_id: CurrentUser, conn: Conn) -> RawJSON:
    """The caller's profile. Every screen asks for it: kept (``kit.answers``) and served again
    until the user row or subscription changes (their accounts change stamp)."""

    async def compute() -> Computed:
        profile = _user_out(await service.profile(conn, user_id))
        return profile.model_dump_json(exclude_none=True).encode(), None

    kept = answers.asked(request)
    return RawJSON(
        await kept.serve(conn, user_id, ("me",), service.change_stamp, utc_now(), compute)
    )


@router.put(
    "/users/me",
    response_model=UserOut,
    response_model_exclude_none=True,
    responses=USER_404,
    tags=["users"],
)
async def rename_me(body: RenameRequest, user_id: CurrentUser, conn: Conn) -> UserOut:
    return _user_out(await service.rename(conn, user_id, body.name))


@router.get(
    "/users/me/subscription",
    response_model=SubscriptionOut,
    response_model_exclude_none=True,
    responses=errors((404, "SUBSCRIPTION_NOT_FOUND")),
    tags=["users"],
)
async def my_subscription(user_id: CurrentUser, conn: Conn) -> SubscriptionOut:
    return _subscription_out(await service.subscription(conn, user_id))


@router.get("/users/me/symbols", response_model=SymbolsResponse, responses=USER_404, tags=["users"])
async def my_symbols(request: Request, user_id: CurrentUser, conn: Conn) -> RawJSON:
    """The watch-list in the order it was saved (at most 200); never empty. Kept and served
    again until it is saved anew (the accounts change stamp)."""

    async def compute() -> Computed:
        symbols = _symbols_out(await service.watch_list(conn, user_id))
        return symbols.model_dump_json().encode(), None

    kept = answers.asked(request)
    return RawJSON(
        await kept.serve(conn, user_id, ("symbols",), service.change_stamp, utc_now(), compute)
    )


@router.put(
    "/users/me/symbols",
    response_model=SymbolsResponse,
    responses=errors((400, "INVALID_SYMBOL", "INVALID_TIMEFRAME")),
    tags=["users"],
)
async def put_my_symbols(body: SymbolsRequest, user_id: CurrentUser, conn: Conn) -> SymbolsResponse:
    """Replace the watch-list (at most 100 entries); an empty list resets it to BTCUSDT/1h."""
    symbols = normalize_symbols([(s.symbol, s.timeframe_default) for s in body.symbols])
    return _symbols_out(await service.replace_watch_list(conn, user_id, symbols))
