"""HTTP: ``/api/v1/exchanges`` — connections, key test, sync now (reference §2.2)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Query, Request

from kifu.exchanges import service
from kifu.exchanges.schemas import (
    ConnectionAccepted,
    ConnectionBody,
    CredentialList,
    CredentialOut,
    Deleted,
    RegisterBody,
    SyncResult,
    TestResult,
)
from kifu.kit import answers
from kifu.kit.auth import CurrentUser
from kifu.kit.db import Conn
from kifu.kit.jsonsql import RawJSON
from kifu.kit.openapi import errors

router = APIRouter(prefix="/api/v1/exchanges", tags=["exchanges"])
connections = APIRouter(prefix="/api/v1/connections", tags=["exchanges"])

DENIED = (400, "EXCHANGE_PERMISSION_DENIED")
NOT_FOUND = (404, "EXCHANGE_NOT_FOUND")
RATE_LIMITED = (429, "RATE_LIMITED")


@router.post(
    "",
    response_model=CredentialOut,
    responses=errors(DENIED, RATE_LIMITED, (502, "EXCHANGE_PERMISSION_CHECK_FAILED")),
)
async def register(body: RegisterBody, request: Request, user: CurrentUser, conn: Conn) -> Any:
    """Register (or replace) the key for an exchange after checking its rights with the
    exchange: it must read history, and a key that can withdraw is refused."""
    return await service.register(conn, request.app.state.settings, user, body)


@router.get("", response_model=CredentialList)
async def list_connections(request: Request, user: CurrentUser, conn: Conn) -> RawJSON:
    """The user's connections (at most one per exchange), keys masked, with sync health. Kept
    and served again until a connection or its sync health changes."""
    return RawJSON(await service.connections_answer(conn, user, answers.asked(request)))


@router.delete("/{credential_id}", response_model=Deleted, responses=errors(NOT_FOUND))
async def delete(credential_id: uuid.UUID, user: CurrentUser, conn: Conn) -> Any:
    await service.delete(conn, user, credential_id)
    return {"deleted": True}


@router.post(
    "/{credential_id}/test",
    response_model=TestResult,
    response_model_exclude_none=True,
    responses=errors(DENIED, NOT_FOUND, RATE_LIMITED, (502, "EXCHANGE_PERMISSION_CHECK_FAILED")),
)
async def test(credential_id: uuid.UUID, request: Request, user: CurrentUser, conn: Conn) -> Any:
    """Re-run the permission check with the stored key."""
    return await service.test(conn, request.app.state.settings, user, credential_id)


@router.post(
    "/{credential_id}/sync",
    response_model=SyncResult,
    response_model_exclude_unset=True,
    responses=errors(
        (400, "EXCHANGE_PERMISSION_DENIED", "INVALID_EXCHANGE"),
        NOT_FOUND,
        RATE_LIMITED,
        (502, "EXCHANGE_SYNC_FAILED"),
    ),
)
async def sync(
    credential_id: uuid.UUID,
    request: Request,
    user: CurrentUser,
    conn: Conn,
    full_backfill: bool = Query(False, description="read the whole history again"),
    history_days: int | None = Query(None, description="days of history, 1 to 3650"),
) -> Any:
    """Sync now: new fills, fees and funding since the last sync (or the whole history with
    ``full_backfill``); the run's counts. Resumes where a failed sync stopped."""
    return await service.sync(
        conn,
        request.app.state.settings,
        user,
        credential_id,
        full_backfill=full_backfill,
        history_days=history_days,
    )


@connections.post("", status_code=202, response_model=ConnectionAccepted)
async def connect(body: ConnectionBody, user: CurrentUser) -> Any:
    """The reference's connection stub: 202 with what was asked, nothing stored (an API-key
    connection is ``POST /exchanges``, a file ``POST /imports/trades``; the message says which)."""
    return service.accept_connection(body)
