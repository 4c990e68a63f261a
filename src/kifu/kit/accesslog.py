"""The access log: one line per answered request, written in batches.

uvicorn's own access log goes through ``logging`` and a stream handler that writes and flushes
each record: 50 µs a line measured here, an eighth of the floor route's whole request, and a
write to the log's file or pipe on the event loop for every request. This middleware writes the
same facts (and the request id and time taken) into a buffer that reaches the stream once a
second, or when ``FLUSH_BYTES`` wait, and when the app shuts down: about 1 µs a line.

A line::

    2026-12-08T02:15:49Z 127.0.0.1:5555 "GET /api/v1/trades?limit=50 HTTP/1.1" 200 1.2ms 3f2a…

(time in UTC to the second, client, request line as the client sent it, status, time from the
request's arrival to its answer's last byte, the ``X-Request-ID`` the answer carried: error lines
name it too). A request whose answer never started (the client left) has no line, as with
uvicorn; an exception that escapes the app is logged as 500.

Several ``kifu serve`` processes share one stdout: a write of at most ``PIPE_BUF`` bytes to a pipe
is never interleaved with another's, so the buffer is written in pieces of whole lines up to that
size (a single longer line is written alone). Lines waiting when a process dies are lost (at most
a second's). A failed write (stdout closed) drops its lines; the server goes on.
"""

from __future__ import annotations

import asyncio
import os
import select
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kifu.kit.middleware import HttpMiddleware

FLUSH_SECONDS = 1.0
FLUSH_BYTES = 64 * 1024
PIECE_BYTES = getattr(select, "PIPE_BUF", 512)  # 4096 on Linux, 512 on macOS (POSIX's least)


def write_fd(fd: int) -> Callable[[bytes], None]:
    """A writer of whole byte strings to ``fd`` (a partial write is continued)."""

    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    return write


def pieces(lines: list[bytes], limit: int = PIECE_BYTES) -> list[bytes]:
    """``lines`` (each ending in a newline) joined into pieces of whole lines of at most
    ``limit`` bytes, in order; a line longer than ``limit`` is a piece alone."""
    out: list[bytes] = []
    part: list[bytes] = []
    size = 0
    for line in lines:
        if part and size + len(line) > limit:
            out.append(b"".join(part))
            part, size = [], 0
        part.append(line)
        size += len(line)
    if part:
        out.append(b"".join(part))
    return out


def _printable(text: str) -> str:
    """``text`` safe inside the log's quoted request line: no quote, no control character."""
    if '"' not in text and "\\" not in text and text.isprintable():
        return text
    return text.encode("unicode_escape").decode("ascii").replace('"', '\\"')


class AccessLog:
    """The lines waiting to be written, and when they will be."""

    def __init__(self, write: Callable[[bytes], None], flush_seconds: float = FLUSH_SECONDS):
        self._write = write
        self._flush_seconds = flush_seconds
        self._lines: list[bytes] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None
        self._second = -1
        self._stamp = ""

    def _now(self) -> str:
        """Now in UTC to the second, formatted once a second."""
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        return self._stamp

    def add(self, line: str) -> None:
        """Queue one line (without its newline), stamped with the time now."""
        data = f"{self._now()} {line}\n".encode()
        self._lines.append(data)
        self._size += len(data)
        if self._size >= FLUSH_BYTES:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._flush_seconds, self.flush)

    def flush(self) -> None:
        """Write every waiting line now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        lines, self._lines, self._size = self._lines, [], 0
        try:
            for piece in pieces(lines):
                self._write(piece)
        except OSError:
            pass  # stdout is gone: the lines are lost, the requests are not


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "-"


def _target(scope: Scope) -> str:
    raw = scope.get("raw_path") or scope.get("path", "").encode()
    query = scope.get("query_string") or b""
    target = raw + b"?" + query if query else raw
    return _printable(target.decode("latin-1"))


def _request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            return _printable(value.decode("latin-1"))
    return "-"


class AccessLogMiddleware(HttpMiddleware):
    """Add a line to ``log`` for each request whose answer started (outermost, so the request
    line is the client's and the status the one sent)."""

    def __init__(self, app: ASGIApp, log: AccessLog) -> None:
        super().__init__(app)
        self.log = log

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        began = time.perf_counter()
        status = 0
        request_id = "-"

        async def send_seen(message: Message) -> None:
            nonlocal status, request_id
            if message["type"] == "http.response.start":
                status = message["status"]
                request_id = _request_id(message.get("headers") or [])
            await send(message)

        try:
            await self.app(scope, receive, send_seen)
        except Exception:
            status = status or 500
            raise
        finally:
            if status:
                took = (time.perf_counter() - began) * 1000
                self.log.add(
                    f'{_client(scope)} "{scope["method"]} {_target(scope)}'
                    f' HTTP/{scope.get("http_version", "1.1")}" {status} {took:.1f}ms {request_id}'
                )
