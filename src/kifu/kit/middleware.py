"""Pure ASGI middleware: request ids and the request body limit.

Written as plain ASGI (not ``BaseHTTPMiddleware``) so that streaming uploads are not buffered and
exceptions reach the error handlers unchanged.
"""

from __future__ import annotations

import json
import logging
import uuid
from abc import ABC, abstractmethod
from typing import Any
from urllib.parse import parse_qsl

import psycopg
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("kifu.errors")

# A database that cannot be reached is not a bug in the request: 503, as ``/health`` says too,
# and a client may try again.
DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
RETRY_AFTER = "1"  # seconds: ``/health`` checks the database every second


# SQLSTATEs of a connection that failed as a connection: class 08 (connection exception), and
# the server shutting down or not accepting connections yet (57P01-57P03).
_CONNECTION_LOST = ("08", "57P01", "57P02", "57P03")


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached: an operational error without a
    SQLSTATE (psycopg's own: a refused or cut connection, the pool's ``PoolTimeout``), or with
    one of ``_CONNECTION_LOST``. A statement's own operational errors (a timeout, a lock not
    available) are not."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    return exc.sqlstate is None or exc.sqlstate.startswith(_CONNECTION_LOST)


class HttpMiddleware(ABC):
    """A plain ASGI middleware of HTTP requests: every other scope (lifespan, websocket) goes
    to ``app`` untouched; a subclass handles the requests in ``http``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    @abstractmethod
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one HTTP request (call ``self.app`` to pass it on)."""


class RequestIdMiddleware(HttpMiddleware):
    """Give each request an id (or keep the caller's ``X-Request-ID``) and echo it back."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if 0 < len(given) <= 64 and given.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_id)


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware(HttpMiddleware):
    """Refuse request bodies over ``limit`` bytes with 413 ``PAYLOAD_TOO_LARGE``.

    Checks ``Content-Length`` up front and counts streamed chunks, so a chunked upload cannot
    slip past the limit.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        super().__init__(app)
        self.limit = limit

    async def _reject(self, send: Send) -> None:
        body: dict[str, Any] = {
            "code": "PAYLOAD_TOO_LARGE",
            "message": f"request body exceeds the limit of {self.limit} bytes",
        }
        data = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        for name, value in scope.get("headers") or []:
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._reject(send)
                return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(send)


def _nul_field(value: Any, path: str = "") -> str | None:
    """The dotted path of the first key or string holding a NUL character, else None."""
    if isinstance(value, str):
        return (path or "body") if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return here
            if found := _nul_field(item, here):
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            if found := _nul_field(item, f"{path}.{i}" if path else str(i)):
                return found
    return None


async def _answer(
    send: Send,
    status: int,
    code: str,
    message: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    data = json.dumps({"code": code, "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


# The code a NUL answers with, by parameter or field name, where the API has a specific one: a
# time zone that is not a zone is INVALID_TIMEZONE, whatever it holds.
NUL_CODES = {"tz": "INVALID_TIMEZONE", "timezone": "INVALID_TIMEZONE"}


def _nul_code(field: str) -> str:
    return NUL_CODES.get(field.rsplit(".", 1)[-1], "INVALID_REQUEST")


class InputGuardMiddleware(HttpMiddleware):
    """Checks every request before routing, so a route added later is covered too:

    * a NUL character in the path, a query parameter or anywhere in a JSON body is a 400 naming
      the parameter or field (PostgreSQL text cannot hold it; nothing should reach a store);
    * a body that is not a multipart upload (JSON, form, anything) is held to ``json_limit``
      bytes (413), far below the upload limit of ``BodyLimitMiddleware``: a 100 MB note is
      refused before it is read, not stored.

    A JSON body is read into memory (it is small by then) and handed on unchanged.
    """

    def __init__(self, app: ASGIApp, json_limit: int) -> None:
        super().__init__(app)
        self.json_limit = json_limit

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if "\x00" in scope.get("path", ""):
            await _answer(send, 400, "INVALID_REQUEST", "path: must not contain NUL characters")
            return
        query = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if "\x00" in name or "\x00" in value:
                    shown = name.replace("\x00", "\\0")[:40] or "query"
                    message = f"{shown}: must not contain NUL characters"
                    await _answer(send, 400, _nul_code(name), message)
                    return
        headers = dict(scope.get("headers") or [])
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if scope.get("method") in ("GET", "HEAD", "OPTIONS") or ctype == b"multipart/form-data":
            await self.app(scope, receive, send)
            return
        length = headers.get(b"content-length", b"")
        if length.isdigit() and len(length) < 20 and int(length) > self.json_limit:
            await self._too_large(send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.json_limit:
                await self._too_large(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if b"u0000" in body.lower() or b"\x00" in body:
            try:
                field = _nul_field(json.loads(body))
            except ValueError:
                field = None  # not JSON: FastAPI answers the parse error
            if field:
                message = f"{field}: must not contain NUL characters"
                await _answer(send, 400, _nul_code(field), message)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        await _answer(
            send,
            413,
            "PAYLOAD_TOO_LARGE",
            f"request body exceeds the limit of {self.json_limit} bytes for JSON requests",
        )


class UnexpectedErrorMiddleware(HttpMiddleware):
    """The innermost middleware: an exception no handler took is logged once, with its request
    id, and answered 500 ``INTERNAL_ERROR`` in the envelope, here. Left to Starlette, it would be
    answered and then re-raised, so the server logs a second traceback and drops the client's
    keep-alive connection. An unreachable database (``database_unavailable``) is answered 503
    ``DATABASE_UNAVAILABLE`` with ``Retry-After`` and logged in one line, not a traceback a
    request."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except BodyTooLarge:
            raise  # BodyLimitMiddleware answers it
        except Exception as exc:
            request_id = scope.get("state", {}).get("request_id") or uuid.uuid4().hex
            if database_unavailable(exc):
                log.warning(
                    "database unavailable on %s %s (request %s): %s",
                    scope.get("method"),
                    scope.get("path"),
                    request_id,
                    str(exc).strip() or type(exc).__name__,
                )
                if not started:
                    await _answer(
                        send,
                        503,
                        DATABASE_UNAVAILABLE,
                        f"the database is unavailable; try again shortly (request id {request_id})",
                        [(b"retry-after", RETRY_AFTER.encode())],
                    )
                return
            log.exception(
                "unexpected error on %s %s (request %s)",
                scope.get("method"),
                scope.get("path"),
                request_id,
            )
            if not started:
                await _answer(
                    send,
                    500,
                    "INTERNAL_ERROR",
                    f"an internal error occurred (request id {request_id})",
                )


class TrailingSlashMiddleware:
    """``/api/v1/trades/`` is served as ``/api/v1/trades``, as the reference served it, instead
    of a 307 redirect (which a client posting JSON would have to follow with its body)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/") or "/"}
            raw = scope.get("raw_path")
            if isinstance(raw, bytes):
                scope["raw_path"] = raw.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)
