"""A lean HTTP/1.1 transport under httpx: kept-alive connections on asyncio streams, answers
parsed by httptools (llhttp, the parser that already reads kifu's own requests under uvicorn).

Why: httpx's own transport (httpcore on anyio and h11) cost 1.7–2.2 ms of CPU per candle
request here, against 0.24 ms for writing the request and reading the answer on a bare asyncio
stream. The outcome job makes hundreds of such requests, and its CPU is shared with PostgreSQL
on the same cores (``bench/outcomes.py``). On this transport a request costs 0.8–1.1 ms, the rest
being httpx's client (request building, cookies, content decoding). httpx stays the client:
timeouts, errors, decoding and every caller are unchanged.

What it speaks: any method with a body that fits in memory, over ``http`` and ``https`` (httpx's
certificate store), answers framed by length, by chunks or by the connection's end, and 1xx
interim answers skipped. Up to ``MAX_IDLE`` connections per origin are kept. A kept connection
that the server closed meanwhile is replaced, and an idempotent request sent again on a new one.
An answer is read whole and at most ``MAX_ANSWER`` bytes, headers included. Not spoken: HTTP/2,
proxies, upgrades. ``client()`` falls back to httpx's own transport when the environment names a
proxy.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httptools
import httpx

MAX_IDLE = 8  # kept connections per origin
MAX_ANSWER = 16 * 1024 * 1024  # bytes on the wire; a larger answer is refused, not read on
_READ = 256 * 1024
_PORTS = {b"http": 80, b"https": 443}
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})

Origin = tuple[bytes, bytes, int]


class _Stale(Exception):
    """The connection ended before any byte of the answer: the server closed it (``__cause__``
    holds the socket's error, if any)."""


class _Answer:
    """One answer, as httptools' callbacks report it."""

    def __init__(self, head_only: bool) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.head_only = head_only
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.headers_done = False
        self.keep_alive = False
        self.done = False
        self.trailing = False  # bytes after the answer: the connection is not reused

    def on_message_begin(self) -> None:
        if self.done:
            self.trailing = True

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.headers_done = True
        self.keep_alive = self.parser.should_keep_alive()  # known here, not after the body
        if self.head_only:
            self.done = True

    def on_body(self, data: bytes) -> None:
        if not self.head_only:
            self.body.append(data)

    def on_message_complete(self) -> None:
        if self.parser.get_status_code() < 200:  # 100 Continue, 103 Early Hints: not the answer
            self.headers.clear()
            self.headers_done = False
            return
        self.done = True

    def framed(self) -> bool:
        """Whether the answer says where it ends (else the connection's end does)."""
        names = {name.lower() for name, _ in self.headers}
        return b"content-length" in names or b"transfer-encoding" in names


_ERRORS: dict[type[httpx.TransportError], type[httpx.TransportError]] = {
    httpx.ConnectTimeout: httpx.ConnectError,
    httpx.WriteTimeout: httpx.WriteError,
    httpx.ReadTimeout: httpx.ReadError,
}


@asynccontextmanager
async def _bounded(
    seconds: float | None, on_timeout: type[httpx.TransportError], request: httpx.Request
) -> AsyncIterator[None]:
    """At most ``seconds`` (None: no limit). A timeout raises ``on_timeout``; a socket error
    the matching httpx error (``_ERRORS``)."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError as exc:  # caught before OSError: it is one
        raise on_timeout(f"timed out after {seconds} s", request=request) from exc
    except OSError as exc:
        raise _ERRORS[on_timeout](f"{exc.__class__.__name__}: {exc}", request=request) from exc


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def usable(self) -> bool:
        return not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()

    async def exchange(
        self, request: httpx.Request, head: bytes, body: bytes, timeouts: dict[str, Any]
    ) -> tuple[httpx.Response, bool]:
        """Send the request and read its answer whole. Returns the answer and whether the
        connection can carry another request. Raises ``_Stale`` if no byte of an answer came."""
        try:
            self.writer.write(head + body)
            async with _bounded(timeouts.get("write"), httpx.WriteTimeout, request):
                await self.writer.drain()
        except httpx.WriteError as exc:
            raise _Stale from exc
        answer = _Answer(request.method == "HEAD")
        received = 0
        while not answer.done:
            try:
                async with _bounded(timeouts.get("read"), httpx.ReadTimeout, request):
                    data = await self.reader.read(_READ)
            except httpx.ReadError as exc:
                if received:
                    raise
                raise _Stale from exc
            if not data:
                if not received:
                    raise _Stale
                if answer.headers_done and not answer.framed():
                    break  # an answer that ends where the connection does
                raise httpx.RemoteProtocolError("connection closed mid-answer", request=request)
            received += len(data)
            if received > MAX_ANSWER:
                raise httpx.RemoteProtocolError(
                    f"answer larger than {MAX_ANSWER} bytes", request=request
                )
            try:
                answer.parser.feed_data(data)
            except httptools.HttpParserError as exc:
                if not answer.done:
                    raise httpx.RemoteProtocolError(f"bad answer: {exc}", request=request) from None
                answer.trailing = True  # the answer is whole; what follows it is not kept
        keep = answer.done and answer.keep_alive and not answer.trailing and not answer.head_only
        response = httpx.Response(
            answer.parser.get_status_code(),
            headers=answer.headers,
            content=b"".join(answer.body),  # decoded (Content-Encoding) by httpx here
            request=request,
            extensions={"http_version": b"HTTP/" + answer.parser.get_http_version().encode()},
        )
        return response, keep


class Http1Transport(httpx.AsyncBaseTransport):
    """See the module's docstring. ``ssl_context``: the certificates to trust (default: httpx's,
    made on the first ``https`` request)."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl = ssl_context
        self._idle: dict[Origin, list[_Connection]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.raw_scheme not in _PORTS:
            raise httpx.UnsupportedProtocol(f"no {url.scheme} here", request=request)
        origin: Origin = (url.raw_scheme, url.raw_host, url.port or _PORTS[url.raw_scheme])
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        body = await request.aread()
        head = _head(request, body)
        while True:
            kept = self._take(origin)
            conn = kept or await self._open(origin, request, timeouts)
            try:
                response, keep = await conn.exchange(request, head, body, timeouts)
            except _Stale as exc:
                conn.close()
                if kept is not None and request.method in _IDEMPOTENT:
                    continue  # closed by the server while it was kept: again, on a new one
                cause = exc.__cause__
                if isinstance(cause, httpx.TransportError):
                    raise cause from None
                raise httpx.RemoteProtocolError(
                    "server closed the connection without answering", request=request
                ) from None
            except BaseException:  # an error, a timeout or a cancellation mid-answer
                conn.close()
                raise
            if keep:
                self._keep(origin, conn)
            else:
                conn.close()
            return response

    def _take(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if conn.usable():
                return conn
            conn.close()
        return None

    def _keep(self, origin: Origin, conn: _Connection) -> None:
        idle = self._idle.setdefault(origin, [])
        if len(idle) < MAX_IDLE:
            idle.append(conn)
        else:
            conn.close()

    async def _open(
        self, origin: Origin, request: httpx.Request, timeouts: dict[str, Any]
    ) -> _Connection:
        scheme, host, port = origin
        tls = None
        if scheme == b"https":
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()
            tls = self._ssl
        async with _bounded(timeouts.get("connect"), httpx.ConnectTimeout, request):
            reader, writer = await asyncio.open_connection(
                host.decode("ascii"), port, ssl=tls, limit=_READ
            )
        return _Connection(reader, writer)

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()


def _head(request: httpx.Request, body: bytes) -> bytes:
    """The request line and headers (httpx has set Host, and Content-Length for a body)."""
    lines = [request.method.encode("ascii") + b" " + request.url.raw_path + b" HTTP/1.1"]
    lines += [name + b": " + value for name, value in request.headers.raw]
    if body and "content-length" not in request.headers:
        lines.append(b"Content-Length: " + str(len(body)).encode("ascii"))
    return b"\r\n".join(lines) + b"\r\n\r\n"


def client(**kwargs: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` on ``Http1Transport``; on httpx's own transport when the
    environment names a proxy (``HTTPS_PROXY`` and the like), which this one does not speak."""
    if urllib.request.getproxies():
        return httpx.AsyncClient(**kwargs)
    return httpx.AsyncClient(transport=Http1Transport(), **kwargs)
