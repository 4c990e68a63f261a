"""Assemble the FastAPI app from the feature routers."""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from kifu import __version__, health
from kifu.accounts import routes as accounts_routes
from kifu.ai import routes as ai_routes
from kifu.alerts import routes as alerts_routes
from kifu.config import Settings, get_settings
from kifu.db.pool import make_pool
from kifu.demo import routes as demo_routes
from kifu.exchanges import routes as exchanges_routes
from kifu.ingest import routes as ingest_routes
from kifu.journal import routes as journal_routes
from kifu.kit.accesslog import AccessLog, AccessLogMiddleware, write_fd
from kifu.kit.answers import Answers, KeptAnswersMiddleware
from kifu.kit.auth import AuthGateMiddleware, CurrentUser
from kifu.kit.db import ConnectionsMiddleware
from kifu.kit.errors import install_error_handlers
from kifu.kit.middleware import (
    BodyLimitMiddleware,
    InputGuardMiddleware,
    RequestIdMiddleware,
    TrailingSlashMiddleware,
    UnexpectedErrorMiddleware,
)
from kifu.kit.openapi import install as install_openapi
from kifu.kit.probes import SharedProbes
from kifu.kit.routing import include_guarded
from kifu.ledger import routes as ledger_routes
from kifu.market import routes as market_routes
from kifu.notify import routes as notify_routes
from kifu.packs import routes as packs_routes
from kifu.review import routes as review_routes


def _routers() -> list[APIRouter]:
    """Every capability's router. Each capability adds its one line here."""
    return [
        health.router,
        journal_routes.router,
        market_routes.router,
        accounts_routes.router,
        ledger_routes.router,
        ingest_routes.router,
        packs_routes.router,
        exchanges_routes.router,
        exchanges_routes.connections,
        review_routes.router,
        ai_routes.router,
        alerts_routes.router,
        notify_routes.router,
        demo_routes.router,
    ]


FLOOR_PATH = "/api/v1/_floor"


async def _floor(user_id: CurrentUser) -> dict[str, bool]:
    """The benchmarks' floor (``KIFU_FLOOR_ROUTE``): an authenticated route that answers a
    constant, through the same middleware, auth and JSON as every other route."""
    return {"ok": True}


SWITCH_INTERVAL = 0.001


def _nothing() -> None:
    return None


def create_app_from_env() -> FastAPI:
    """The app of ``kifu serve``'s worker processes (uvicorn's app factory): the database and
    secrets come from the environment, which ``kifu serve`` sets for them (``DATABASE_URL``,
    ``JWT_SECRET``, ``KIFU_ENC_KEY``); each process builds its own app and pool."""
    settings = get_settings()
    if not settings.database_url:
        raise ValueError("DATABASE_URL is required to build the app from the environment")
    return create_app(settings, settings.database_url)


def create_app(settings: Settings, conninfo: str) -> FastAPI:
    """The API for one database. ``conninfo`` is resolved by the caller (embedded or given);
    ``settings`` must carry the secrets (see ``runtime.with_secrets``)."""
    if not settings.jwt_secret:
        raise ValueError("settings.jwt_secret is required to build the app")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A request's blocking work (an import's reading and parsing) runs in worker threads;
        # the event loop waits for the GIL each time it wakes, up to the switch interval
        # (5 ms by default): 1 ms keeps that wait small for every other request.
        sys.setswitchinterval(SWITCH_INTERVAL)
        # The first upload would otherwise import anyio's thread backend on the event loop.
        await anyio.to_thread.run_sync(_nothing)
        # wait=False: the API starts even when the database is down; /health reports it.
        await app.state.pool.open(wait=False)
        # /health's checks open their connection now, not under the first poll's load.
        app.state.db_check.start()
        # A full collection walks every object the process holds, with the GIL held (~80 ms
        # here, every few seconds while an import allocates): the app's own objects (modules,
        # routes, models) live as long as it does, so they are left out of every later one.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await app.state.db_check.close()
            await app.state.pool.close()
            if app.state.access_log is not None:
                app.state.access_log.flush()

    app = FastAPI(
        title="kifu",
        version=__version__,
        summary="Trading journal and AI review backend (KIFU API v1)",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.pool = make_pool(conninfo, settings.db_pool_size)
    app.state.db_check = health.DbCheck(conninfo)
    app.state.answers = Answers(settings.answer_cache_mb * 1024 * 1024)
    app.state.probes = SharedProbes()
    app.state.access_log = AccessLog(write_fd(1)) if settings.access_log else None
    install_error_handlers(app)

    for router in _routers():
        include_guarded(app, router)  # a request tries only the routers its path can be in
    if settings.floor_route:
        app.add_api_route(FLOOR_PATH, _floor, methods=["GET"], include_in_schema=False)
    # Error answers documented as kifu gives them (envelope, 400 not 422), for every route.
    install_openapi(app)

    # Added innermost first. From the outside: the access log, the trailing slash, the request
    # id, then CORS (so 401s and 413s carry CORS headers), then the body limit, then the auth
    # gate, then the input guard (NUL characters, the small JSON body limit).
    app.add_middleware(KeptAnswersMiddleware)  # innermost: the probe takes the request's Conn
    app.add_middleware(ConnectionsMiddleware)
    app.add_middleware(UnexpectedErrorMiddleware)
    app.add_middleware(InputGuardMiddleware, json_limit=settings.max_json_bytes)
    app.add_middleware(AuthGateMiddleware, secret=settings.jwt_secret)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Content-Type", "Authorization", "Origin", "Accept"],
        expose_headers=["Content-Disposition", "X-Request-ID", "Retry-After"],
        allow_credentials=True,
    )
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(TrailingSlashMiddleware)
    if app.state.access_log is not None:  # outermost: the request line as the client sent it
        app.add_middleware(AccessLogMiddleware, log=app.state.access_log)
    return app
