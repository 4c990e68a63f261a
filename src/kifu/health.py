"""``GET /health``: is the service able to answer, and is its database reachable.

The answer comes from database checks that this process makes in the background every
``INTERVAL`` seconds on a connection of their own (``DbCheck``), started with the app: a load
balancer polling many times a second costs the database a few round trips per second per
process, no request waits for the database, and a pool busy with requests never makes a
healthy database look down. Healthy means the last check's ``SELECT 1`` succeeded and started
at most ``MAX_AGE`` seconds ago. A database that refuses or drops connections fails the next
check, so it is reported 503 within ``INTERVAL`` plus a round trip; one that stops answering
altogether is reported 503 once the last good check is ``MAX_AGE`` old.

Opening the check's connection may take up to ``CONNECT_TIMEOUT``: on a machine whose cores are
busy serving, a new backend (fork, authentication) took over a second now and then, and a check
that counted it against ``MAX_AGE`` reported a healthy database down (bench/api.py: 159 and
1,011 answers 503 to ``/health`` with two API processes). While a connection is being opened
the last good check ages, so a lost database is still reported within ``MAX_AGE``.
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

MAX_AGE = 1.0  # seconds: the oldest check a healthy answer may rest on
INTERVAL = 0.25  # seconds between the starts of two checks
CONNECT_TIMEOUT = 5.0  # seconds the check's connection may take to open


class DbCheck:
    """The database checks of this process, made in the background once asked for."""

    def __init__(
        self,
        conninfo: str,
        *,
        max_age: float = MAX_AGE,
        interval: float = INTERVAL,
        connect_timeout: float = CONNECT_TIMEOUT,
    ):
        self.conninfo = conninfo
        self.max_age = max_age
        self.interval = interval
        self.connect_timeout = connect_timeout
        self.checks = 0  # round trips made (tests read it)
        self._conn: psycopg.AsyncConnection | None = None
        self._ok_at = float("-inf")  # when the last successful check started
        self._error: str | None = None  # why the last check failed, if it did
        self._answered = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        """Check in the background from now on (the app's start-up; ``error`` starts the
        checks too if they are not running)."""
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    async def error(self) -> str | None:
        """``None`` when the last check succeeded and started at most ``max_age`` ago, else
        why not. A call before the first check answered waits for it (at most ``max_age``)."""
        self.start()
        if not self._answered.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._answered.wait(), self.max_age)
        if self._error is not None:
            return self._error
        if time.monotonic() - self._ok_at > self.max_age:
            return "no database check answered in the last second"
        return None

    async def _run(self) -> None:
        while not self._stopping:
            started = time.monotonic()
            try:
                self._ok_at, self._error = await self._round_trip(), None
            except Exception as exc:  # any failure to reach the database means unhealthy
                self._error = f"database unreachable: {type(exc).__name__}"
                await self._drop()
            self._answered.set()
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    async def _round_trip(self) -> float:
        """When the ``SELECT 1`` the database answered started; on a new connection when
        there is none or the server dropped it (a restart)."""
        self.checks += 1
        if self._conn is not None:
            try:
                return await self._select(self._conn)
            except psycopg.Error:  # a connection the server dropped (restart): try a new one
                await self._drop()
        # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
        async with asyncio.timeout(self.connect_timeout):
            self._conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
        return await self._select(self._conn)

    async def _select(self, conn: psycopg.AsyncConnection) -> float:
        started = time.monotonic()
        async with asyncio.timeout(self.max_age):
            await conn.execute("SELECT 1")
        return started

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # a broken connection: nothing left to do
                await conn.close()

    async def close(self) -> None:
        """Stop checking (the app is shutting down)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=self.max_age)
            self._task = None
        await self._drop()
        # A later start (another event loop, in tests) begins afresh.
        self._ok_at, self._error, self._answered = float("-inf"), None, asyncio.Event()
        self._stopping = False


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
    The database check behind a healthy answer is at most a second old."""
    error = await request.app.state.db_check.error()
    if error is not None:
        return JSONResponse(
            {"status": "unhealthy", "code": "DATABASE_UNAVAILABLE", "message": error},
            status_code=503,
        )
    return {"status": "healthy"}
