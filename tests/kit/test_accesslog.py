"""kifu.kit.accesslog: a line per answered request, written in whole-line pieces, batched, and
flushed when the app stops."""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

import kifu.app
from kifu.config import Settings
from kifu.kit import accesslog
from kifu.kit.accesslog import AccessLog, AccessLogMiddleware
from tests.helpers import ApiUser

LINE = re.compile(
    r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (?P<client>\S+) "(?P<method>[A-Z]+) (?P<target>[^ ]+)'
    r' HTTP/(?P<version>[\d.]+)" (?P<status>\d{3}) (?P<ms>\d+\.\d)ms (?P<rid>\S+)$'
)


# -- pieces: whole lines, at most the limit, nothing lost or reordered ----------------------------


@pytest.mark.parametrize(
    ("sizes", "limit", "expected"),
    [
        ([], 10, []),
        ([3], 10, [[3]]),
        ([3, 3, 3], 10, [[3, 3, 3]]),
        ([5, 5], 10, [[5, 5]]),  # exactly the limit
        ([5, 6], 10, [[5], [6]]),
        ([12], 10, [[12]]),  # longer than the limit: alone
        ([2, 12, 2], 10, [[2], [12], [2]]),
        ([4, 4, 4, 4, 4], 10, [[4, 4], [4, 4], [4]]),
    ],
)
def test_pieces_are_whole_lines_up_to_the_limit(
    sizes: list[int], limit: int, expected: list[list[int]]
) -> None:
    lines = [bytes([65 + i]) * (n - 1) + b"\n" for i, n in enumerate(sizes)]
    out = accesslog.pieces(lines, limit)
    assert b"".join(out) == b"".join(lines)
    assert [[len(line) for line in piece.splitlines(keepends=True)] for piece in out] == expected


def test_the_default_piece_is_an_atomic_pipe_write() -> None:
    assert accesslog.PIECE_BYTES == 4096


# -- the request line stays one parseable line ---------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "logged"),
    [
        ("/api/v1/trades?limit=50", "/api/v1/trades?limit=50"),
        ('/a"b', '/a\\"b'),  # a quote cannot end the quoted request line
        ("/a\\b", "/a\\\\b"),  # nor a backslash pass for an escape
        ("/a\nINFO forged", "/a\\nINFO forged"),  # nor a newline start a line
        ("/a\x00\x7f", "/a\\x00\\x7f"),
        ("/\xed\x95\x9c", "/\\xed\\x95\\x9c"),  # UTF-8 bytes as sent, read as latin-1
    ],
)
def test_targets_are_escaped_printable(raw: str, logged: str) -> None:
    assert accesslog._printable(raw) == logged


# -- the buffer: batched, flushed by time, by size and on demand; failures lose only lines --------


def test_lines_wait_for_the_timer_then_are_written_together() -> None:
    written: list[bytes] = []

    async def go() -> None:
        log = AccessLog(written.append, flush_seconds=0.05)
        log.add("one")
        log.add("two")
        assert written == []
        await asyncio.sleep(0.15)
        assert len(written) == 1
        log.add("three")  # a new timer for the next batch
        await asyncio.sleep(0.15)

    asyncio.run(go())
    assert [p.count(b"\n") for p in written] == [2, 1]
    text = b"".join(written).decode()
    assert [line.split(" ", 1)[1] for line in text.splitlines()] == ["one", "two", "three"]
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", line) for line in text.splitlines())


def test_a_full_buffer_is_written_at_once_in_pipe_sized_pieces() -> None:
    written: list[bytes] = []

    async def go() -> None:
        log = AccessLog(written.append, flush_seconds=3600)
        line = "x" * 99  # 121 bytes with the stamp and newline
        for _ in range(accesslog.FLUSH_BYTES // 121 + 1):
            log.add(line)
        assert written, "a full buffer waits for no timer"
        assert log._timer is None

    asyncio.run(go())
    assert all(len(p) <= accesslog.PIECE_BYTES and p.endswith(b"\n") for p in written)
    assert sum(p.count(b"\n") for p in written) == accesslog.FLUSH_BYTES // 121 + 1


def test_a_failed_write_drops_its_lines_and_the_log_goes_on() -> None:
    calls: list[bytes] = []

    def write(data: bytes) -> None:
        calls.append(data)
        if len(calls) == 1:
            raise BrokenPipeError

    async def go() -> None:
        log = AccessLog(write)
        log.add("lost")
        log.flush()
        log.add("kept")
        log.flush()

    asyncio.run(go())
    assert calls[1].endswith(b" kept\n")


def test_write_fd_continues_a_partial_write(monkeypatch: pytest.MonkeyPatch) -> None:
    got: list[bytes] = []

    def short_write(fd: int, data: Any) -> int:
        got.append(bytes(data[:3]))
        return min(3, len(data))

    monkeypatch.setattr(accesslog.os, "write", short_write)
    accesslog.write_fd(1)(b"abcdefgh")
    assert b"".join(got) == b"abcdefgh"


# -- the middleware -----------------------------------------------------------------------------


def _run(app: Callable[..., Any], log: AccessLog) -> None:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/x",
        "raw_path": b"/x",
        "query_string": b"",
        "client": ("10.0.0.1", 4000),
        "http_version": "1.1",
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        pass

    async def go() -> None:
        try:
            await AccessLogMiddleware(app, log)(scope, receive, send)
        finally:
            log.flush()

    asyncio.run(go())


def test_an_escaped_exception_is_a_500_line() -> None:
    written: list[bytes] = []

    async def boom(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        _run(boom, AccessLog(written.append))
    m = LINE.match(b"".join(written).decode().strip())
    assert m and m["status"] == "500" and m["client"] == "10.0.0.1:4000" and m["rid"] == "-"


def test_a_request_whose_answer_never_started_has_no_line() -> None:
    written: list[bytes] = []

    async def left(scope: Scope, receive: Receive, send: Send) -> None:
        raise asyncio.CancelledError  # the client went away before any answer

    with pytest.raises(asyncio.CancelledError):
        _run(left, AccessLog(written.append))
    assert written == []


def test_an_answer_that_failed_midway_keeps_its_status() -> None:
    written: list[bytes] = []

    async def half(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("stream broke")

    with pytest.raises(RuntimeError):
        _run(half, AccessLog(written.append))
    m = LINE.match(b"".join(written).decode().strip())
    assert m and m["status"] == "200" and m["method"] == "POST"


# -- through the app ----------------------------------------------------------------------------


def _lines_of(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, db: str, ask: Callable[[TestClient], None]
) -> list[re.Match[str]]:
    written: list[bytes] = []
    monkeypatch.setattr(kifu.app, "write_fd", lambda fd: written.append)
    # no timer within the test, however slow the machine: only the shutdown can write the lines
    monkeypatch.setattr(kifu.app, "AccessLog", functools.partial(AccessLog, flush_seconds=3600))
    with TestClient(kifu.app.create_app(settings, db), raise_server_exceptions=False) as c:
        ask(c)
        assert written == [], "lines wait for the batch"
    # the app's shutdown wrote them
    lines = b"".join(written).decode().splitlines()
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    return [m for m in matches if m]


def test_each_answer_is_logged_as_sent(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, db: str, user: ApiUser
) -> None:
    answers = []

    def ask(c: TestClient) -> None:
        auth = {"Authorization": f"Bearer {user.token}"}
        answers.append(c.get("/health"))
        answers.append(c.get("/api/v1/trades/?limit=5&sort=desc", headers=auth))
        answers.append(c.get("/api/v1/trades"))
        answers.append(c.get("/nope", headers={"X-Request-ID": "caller-id-1"}))

    lines = _lines_of(monkeypatch, settings, db, ask)
    assert [(m["method"], m["target"], m["status"]) for m in lines] == [
        ("GET", "/health", "200"),
        ("GET", "/api/v1/trades/?limit=5&sort=desc", "200"),  # as the client sent it
        ("GET", "/api/v1/trades", "401"),
        ("GET", "/nope", "404"),
    ]
    assert [m["rid"] for m in lines] == [a.headers["x-request-id"] for a in answers]
    assert lines[3]["rid"] == "caller-id-1"
    assert {m["client"] for m in lines} == {"testclient:50000"}


def test_the_log_can_be_turned_off(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, db: str
) -> None:
    off = settings.model_copy(update={"access_log": False})
    assert _lines_of(monkeypatch, off, db, lambda c: c.get("/health").raise_for_status()) == []
