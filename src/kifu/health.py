"""``GET /health``: is the service able to answer, and is its database reachable.

The answer comes from a database check at most ``MAX_AGE`` seconds old (``DbCheck``): a load
balancer polling every process many times a second costs the database one round trip per
second per process, not one per poll. The check has its own connection, so a pool busy with
requests never makes a healthy database look down, and it gives up after ``TIMEOUT`` seconds,
so a database that stops answering is reported 503 within ``MAX_AGE`` + ``TIMEOUT`` seconds of
the last good check (and every check started after the loss fails).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from kifu.kit.openapi import errors

router = APIRouter(tags=["health"])

MAX_AGE = 1.0  # seconds a check's answer is reused
TIMEOUT = 0.5  # seconds a check may take before the database counts as unreachable


class DbCheck:
    """The latest database check of this process, renewed when older than ``max_age``."""

    def __init__(self, conninfo: str, *, max_age: float = MAX_AGE, timeout: float = TIMEOUT):
        self.conninfo = conninfo
        self.max_age = max_age
        self.timeout = timeout
        self.checks = 0  # round trips made (tests read it)
        self._conn: psycopg.AsyncConnection | None = None
        self._started = float("-inf")  # when the check that ``_error`` describes started
        self._error: str | None = "not checked yet"
        self._task: asyncio.Task[None] | None = None

    async def error(self) -> str | None:
        """``None`` when the database answered a check started at most ``max_age`` ago, else
        why not. Concurrent callers share one check."""
        if time.monotonic() - self._started <= self.max_age:
            return self._error
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._check(time.monotonic()))
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self.timeout)
        except TimeoutError:
            return "database check timed out"
        return self._error

    async def _check(self, started: float) -> None:
        try:
            await asyncio.wait_for(self._round_trip(), self.timeout)
            error = None
        except Exception as exc:  # any failure to reach the database means unhealthy
            error = f"database unreachable: {type(exc).__name__}"
            await self.close()
        self._started, self._error = started, error

    async def _round_trip(self) -> None:
        self.checks += 1
        if self._conn is not None:
            try:
                await self._conn.execute("SELECT 1")
                return
            except psycopg.Error:  # a connection the server dropped (restart): try a new one
                await self.close()
        self._conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
        await self._conn.execute("SELECT 1")

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # a broken connection: nothing left to do
                await conn.close()


class Health(BaseModel):
    status: str = Field(description="`healthy`; the 503 answer says `unhealthy` and why")


@router.get(
    "/health",
    summary="Liveness and database reachability",
    response_model=Health,
    responses=errors((503, "DATABASE_UNAVAILABLE")),
)
async def health(request: Request) -> Any:
    """``{"status": "healthy"}``, or 503 with the reason when the database does not answer.
    The database check behind the answer is at most a second old."""
    error = await request.app.state.db_check.error()
    if error is not None:
        return JSONResponse(
            {"status": "unhealthy", "code": "DATABASE_UNAVAILABLE", "message": error},
            status_code=503,
        )
    return {"status": "healthy"}
