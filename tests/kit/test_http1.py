"""kifu.kit.http1: httpx on the lean HTTP/1.1 transport, against local servers that answer
byte for byte what each test scripts (framing, kept connections, a server closing them, errors,
TLS). The market tests run the same transport against the exchange stand-ins."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import ipaddress
import json
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kifu.kit import http1

# A scripted answer: given the request (head and body) and its number on the connection,
# what to do on the connection.
Script = Callable[[bytes, bytes, int, asyncio.StreamWriter], Awaitable[None]]


def ok(body: bytes = b"hello", *extra: str) -> bytes:
    head = [
        "HTTP/1.1 200 OK",
        f"Content-Length: {len(body)}",
        "Content-Type: text/plain",
        *extra,
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class Server:
    """A TCP server that reads HTTP/1.1 requests and answers as ``script`` says."""

    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.connections = 0
        self.closed_by_client = 0
        self.requests: list[tuple[bytes, bytes]] = []

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    def url(self, path: str = "/x", scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = 0
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    self.closed_by_client += 1
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                await self.script(head, body, number, writer)
                number += 1
                if writer.is_closing():
                    return
                await writer.drain()
        finally:
            writer.close()


def in_turn(*answers: bytes) -> Script:
    """Answer the server's n-th request, whatever its connection, with ``answers[n]`` (the last
    one after)."""
    count = 0

    async def script(head: bytes, body: bytes, n: int, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        writer.write(answers[min(count, len(answers) - 1)])
        count += 1

    return script


def answering(*answers: bytes) -> Script:
    """Answer the n-th request on each connection with ``answers[n]`` (the last one after)."""

    async def script(head: bytes, body: bytes, n: int, writer: asyncio.StreamWriter) -> None:
        writer.write(answers[min(n, len(answers) - 1)])

    return script


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def test_requests_share_one_kept_connection() -> None:
    async def test() -> None:
        async with (
            Server(answering(ok(b"one"), ok(b"two"), ok(b"more"))) as server,
            http1.client() as http,
        ):
            answers = [
                await http.get(server.url("/k/v1"), params={"a": "1 2", "b": "ü"}) for _ in range(5)
            ]
        assert [a.text for a in answers] == ["one", "two", "more", "more", "more"]
        assert all(a.status_code == 200 and a.http_version == "HTTP/1.1" for a in answers)
        assert server.connections == 1
        assert server.requests[0][0].startswith(b"GET /k/v1?a=1+2&b=%C3%BC HTTP/1.1\r\n")
        assert b"\r\nHost: 127.0.0.1:" in server.requests[0][0]

    run(test)


def test_chunked_gzip_answer_is_decoded() -> None:
    packed = gzip.compress(b'{"candles": [1, 2, 3]}')
    chunks = b"".join(
        f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (packed[:7], packed[7:])
    )
    answer = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n"
        b"Content-Type: application/json\r\n\r\n" + chunks + b"0\r\n\r\n"
    )

    async def test() -> None:
        async with Server(answering(answer)) as server, http1.client() as http:
            first = await http.get(server.url())
            second = await http.get(server.url())
        assert first.json() == second.json() == {"candles": [1, 2, 3]}
        assert server.connections == 1

    run(test)


def test_answer_ended_by_the_connection_is_whole_and_not_kept() -> None:
    async def script(head: bytes, body: bytes, n: int, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
        await writer.drain()
        writer.close()

    async def test() -> None:
        async with Server(script) as server, http1.client() as http:
            texts = [(await http.get(server.url())).text for _ in range(2)]
        assert texts == ["until the end"] * 2
        assert server.connections == 2

    run(test)


def test_connection_close_answer_is_not_kept() -> None:
    async def test() -> None:
        async with (
            Server(answering(ok(b"bye", "Connection: close"))) as server,
            http1.client() as http,
        ):
            for _ in range(3):
                assert (await http.get(server.url())).text == "bye"
        assert server.connections == 3

    run(test)


def test_interim_answers_are_skipped() -> None:
    early = b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"

    async def test() -> None:
        async with (
            Server(answering(early + ok(b"final", "X-Final: yes"))) as server,
            http1.client() as http,
        ):
            answer = await http.get(server.url())
        assert (answer.status_code, answer.text) == (200, "final")
        assert "link" not in answer.headers and answer.headers["x-final"] == "yes"

    run(test)


def test_error_status_is_an_answer() -> None:
    limited = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 2\r\n\r\n{}"

    async def test() -> None:
        async with Server(answering(limited, ok())) as server, http1.client() as http:
            first = await http.get(server.url())
            second = await http.get(server.url())
        assert (first.status_code, first.headers["retry-after"]) == (429, "7")
        assert second.text == "hello" and server.connections == 1

    run(test)


async def _closes_script(head: bytes, body: bytes, n: int, writer: asyncio.StreamWriter) -> None:
    """Answer the first request on a connection; take the second and close without answering
    (what a server does whose idle timeout strikes as the request arrives)."""
    if n == 0:
        writer.write(ok(b"first"))
    else:
        writer.close()


def test_kept_connection_closed_by_the_server_is_replaced_for_a_get() -> None:
    async def test() -> None:
        async with Server(_closes_script) as server, http1.client() as http:
            first = await http.get(server.url())
            second = await http.get(server.url())
        assert (first.text, second.text) == ("first", "first")
        assert server.connections == 2
        assert len(server.requests) == 3  # the second GET, sent twice: once unanswered

    run(test)


def test_kept_connection_closed_by_the_server_fails_a_post_once() -> None:
    async def test() -> None:
        async with Server(_closes_script) as server, http1.client() as http:
            await http.post(server.url(), content=b"one")
            with pytest.raises(httpx.RemoteProtocolError, match="without answering"):
                await http.post(server.url(), content=b"two")
            third = await http.post(server.url(), content=b"three")
        assert third.text == "first"
        assert [body for _, body in server.requests] == [b"one", b"two", b"three"]

    run(test)


def test_idle_connection_seen_closed_is_not_reused() -> None:
    async def script(head: bytes, body: bytes, n: int, writer: asyncio.StreamWriter) -> None:
        writer.write(ok(b"once"))
        await writer.drain()
        writer.close()  # without saying so in the answer

    async def test() -> None:
        async with Server(script) as server, http1.client() as http:
            await http.get(server.url())
            await asyncio.sleep(0.05)  # the close arrives while the connection is kept
            await http.post(server.url(), content=b"not sent twice")
        assert server.connections == 2 and len(server.requests) == 2

    run(test)


def test_new_connection_closed_without_answer_is_an_error_not_a_loop() -> None:
    async def script(head: bytes, body: bytes, n: int, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def test() -> None:
        async with Server(script) as server, http1.client() as http:
            with pytest.raises(httpx.RemoteProtocolError, match="without answering"):
                await http.get(server.url())
        assert server.connections == 1

    run(test)


def test_connection_closed_mid_answer() -> None:
    async def script(head: bytes, body: bytes, n: int, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
        await writer.drain()
        writer.close()

    async def test() -> None:
        async with Server(script) as server, http1.client() as http:
            with pytest.raises(httpx.RemoteProtocolError, match="mid-answer"):
                await http.get(server.url())

    run(test)


def test_malformed_answer() -> None:
    async def test() -> None:
        async with Server(answering(b"HTTP/1.1 abc\r\n\r\n")) as server, http1.client() as http:
            with pytest.raises(httpx.RemoteProtocolError, match="bad answer"):
                await http.get(server.url())

    run(test)


def test_bytes_after_the_answer_are_not_taken_for_the_next() -> None:
    async def test() -> None:
        async with (
            Server(answering(ok(b"mine") + b"HTTP/1.1 200 OK\r\n")) as server,
            http1.client() as http,
        ):
            texts = [(await http.get(server.url())).text for _ in range(2)]
        assert texts == ["mine", "mine"] and server.connections == 2

    run(test)


def test_oversized_answer_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http1, "MAX_ANSWER", 4096)

    async def test() -> None:
        async with (
            Server(in_turn(ok(b"x" * 5000), ok(b"small"))) as server,
            http1.client() as http,
        ):
            with pytest.raises(httpx.RemoteProtocolError, match="larger than 4096"):
                await http.get(server.url())
            assert (await http.get(server.url())).text == "small"
        assert server.connections == 2  # the refused answer's connection was closed

    run(test)


def test_read_timeout_closes_the_connection() -> None:
    calls = []

    async def script(head: bytes, body: bytes, n: int, writer: asyncio.StreamWriter) -> None:
        calls.append(head)
        if len(calls) == 1:
            await asyncio.sleep(1)
        writer.write(ok(b"in time"))

    async def test() -> None:
        async with Server(script) as server, http1.client(timeout=0.2) as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.get(server.url())
            assert (await http.get(server.url())).text == "in time"
        assert server.connections == 2

    run(test)


def test_cancelled_request_does_not_leave_its_connection_kept() -> None:
    calls = []

    async def script(head: bytes, body: bytes, n: int, writer: asyncio.StreamWriter) -> None:
        calls.append(head)
        if len(calls) == 1:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
            await writer.drain()
            await asyncio.sleep(0.5)
            writer.write(b"-late")
        else:
            writer.write(ok())

    async def test() -> None:
        async with Server(script) as server, http1.client() as http:
            task = asyncio.ensure_future(http.get(server.url()))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert (await http.get(server.url())).text == "hello"
            await asyncio.sleep(0.6)  # the first answer's script ends and reads on
            assert server.closed_by_client == 1  # the cancelled request's connection
        assert server.connections == 2

    run(test)


def test_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def test() -> None:
        async with http1.client() as http:
            with pytest.raises(httpx.ConnectError):
                await http.get(f"http://127.0.0.1:{port}/")

    run(test)


def test_post_sends_its_body() -> None:
    async def script(head: bytes, body: bytes, n: int, writer: asyncio.StreamWriter) -> None:
        writer.write(ok(body[::-1]))

    async def test() -> None:
        async with Server(script) as server, http1.client() as http:
            answer = await http.post(server.url(), json={"a": 1})
        head, body = server.requests[0]
        assert head.startswith(b"POST /x HTTP/1.1\r\n")
        assert f"Content-Length: {len(body)}\r\n".encode() in head
        assert json.loads(body) == {"a": 1}
        assert answer.content == body[::-1]

    run(test)


def test_head_answer_has_no_body_to_wait_for() -> None:
    async def test() -> None:
        async with Server(answering(ok(b"12345")[:-5])) as server, http1.client(timeout=2) as http:
            answer = await http.head(server.url())
        assert (answer.status_code, answer.content, answer.headers["content-length"]) == (
            200,
            b"",
            "5",
        )

    run(test)


def test_kept_connections_are_bounded_per_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http1, "MAX_IDLE", 2)

    async def script(head: bytes, body: bytes, n: int, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.05)
        writer.write(ok())

    async def test() -> None:
        async with Server(script) as server, http1.client() as http:
            await asyncio.gather(*(http.get(server.url()) for _ in range(5)))
            assert server.connections == 5
            await asyncio.gather(*(http.get(server.url()) for _ in range(2)))
            assert server.connections == 5  # two of the five were kept
            transport = http._transport
            assert isinstance(transport, http1.Http1Transport)
            assert sum(len(idle) for idle in transport._idle.values()) == 2
        assert transport._idle == {}  # closed with the client

    run(test)


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_https_checks_the_servers_certificate(tmp_path: Path) -> None:
    cert_file, key_file = _self_signed(tmp_path)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert_file, key_file)
    trusting = ssl.create_default_context(cafile=str(cert_file))

    async def test() -> None:
        async with Server(answering(ok(b"secret")), tls=served) as server:
            url = server.url(scheme="https", host="localhost")
            transport = http1.Http1Transport(ssl_context=trusting)
            async with httpx.AsyncClient(transport=transport) as http:
                answers = [(await http.get(url)).text for _ in range(3)]
            assert answers == ["secret"] * 3 and server.connections == 1
            async with http1.client() as http:  # httpx's certificate store: not trusted
                with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                    await http.get(url)

    run(test)


def test_unknown_scheme() -> None:
    async def test() -> None:
        transport = http1.Http1Transport()
        with pytest.raises(httpx.UnsupportedProtocol):
            await transport.handle_async_request(httpx.Request("GET", "ftp://127.0.0.1/x"))

    run(test)


def test_a_proxy_in_the_environment_keeps_httpx_own_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ALL_PROXY", raising=False)

    async def transport_of() -> httpx.AsyncBaseTransport:
        async with http1.client() as http:
            return http._transport

    assert isinstance(asyncio.run(transport_of()), http1.Http1Transport)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert isinstance(asyncio.run(transport_of()), httpx.AsyncHTTPTransport)
