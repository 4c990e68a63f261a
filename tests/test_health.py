"""``/health`` answers from a database check at most a second old, and reports a lost
database (503) within a second or so of losing it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from kifu import health
from kifu.app import FLOOR_PATH, create_app
from kifu.config import Settings
from tests.helpers import TEST_JWT_SECRET, ApiUser

# The longest a lost database may still be reported healthy: one interval to the next check,
# its round trip, and a little for the test's own polling.
WITHIN = health.INTERVAL + 0.5


def _app(conninfo: str, **kw: object) -> FastAPI:
    return create_app(Settings(database_url=conninfo, jwt_secret=TEST_JWT_SECRET, **kw), conninfo)


def test_health_answers_from_a_check_at_most_a_second_old(db: str) -> None:
    app = _app(db)
    with TestClient(app) as c:
        t = time.monotonic()
        for _ in range(100):
            assert c.get("/health").status_code == 200
            assert time.monotonic() - app.state.db_check._ok_at <= health.MAX_AGE
        elapsed = time.monotonic() - t
        # checks run on their own clock, not one per request
        assert app.state.db_check.checks <= elapsed / health.INTERVAL + 2


def test_checks_start_with_the_app_not_the_first_poll(db: str) -> None:
    """The first poll of a busy process must not be the one that opens the check's
    connection: the checks run before anyone asks."""
    app = _app(db)
    with TestClient(app):
        deadline = time.monotonic() + health.MAX_AGE + 1
        while app.state.db_check._ok_at == float("-inf"):
            assert time.monotonic() < deadline, "no check ran before the first poll"
            time.sleep(0.02)
        assert app.state.db_check.checks >= 1


def test_health_reports_a_lost_database_within_a_second(pg_server, template_db) -> None:
    name = pg_server.create(template_db)
    app = _app(pg_server.conninfo(name))
    try:
        with TestClient(app) as c:
            assert c.get("/health").status_code == 200
            lost = time.monotonic()
            pg_server.drop(name)  # WITH (FORCE): the check's connection is cut too
            seen = []
            while time.monotonic() - lost < WITHIN + 1:
                r = c.get("/health")
                seen.append((time.monotonic() - lost, r.status_code))
                time.sleep(0.02)
            first_503 = next(t for t, code in seen if code == 503)
            assert first_503 <= WITHIN, seen
            assert all(code == 503 for t, code in seen if t > WITHIN), seen
            assert c.get("/health").json()["code"] == "DATABASE_UNAVAILABLE"
    finally:
        pg_server.drop(name)


def test_health_gives_up_on_a_database_that_does_not_answer() -> None:
    silent = socket.socket()  # accepts connections and never says a word
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        silent.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(silent.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        app = _app(f"host=127.0.0.1 port={port} dbname=x user=x")
        with TestClient(app) as c:
            t = time.monotonic()
            r = c.get("/health")
            assert time.monotonic() - t < health.MAX_AGE + 0.5
            assert r.status_code == 503 and r.json()["status"] == "unhealthy"
    finally:
        stop.set()
        thread.join()
        for s in held:
            s.close()
        silent.close()


@contextmanager
def _slow_to_connect(conninfo: str, delay: float) -> Iterator[str]:
    """``conninfo`` through a local relay that holds each new connection ``delay`` seconds
    before passing it on (a backend slow to start on a busy machine)."""
    params = conninfo_to_dict(conninfo)
    upstream = (params.get("host", "127.0.0.1"), int(params.get("port", 5432)))
    relay = socket.socket()
    relay.bind(("127.0.0.1", 0))
    relay.listen(8)
    relay.settimeout(0.1)
    stop = threading.Event()
    sockets: list[socket.socket] = []

    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            dst.close()

    def serve(client: socket.socket) -> None:
        time.sleep(delay)
        try:
            server = socket.create_connection(upstream)
        except OSError:  # the server went away with the test
            client.close()
            return
        sockets.extend((client, server))
        for a, b in ((client, server), (server, client)):
            threading.Thread(target=pump, args=(a, b), daemon=True).start()

    def accept() -> None:
        while not stop.is_set():
            try:
                client = relay.accept()[0]
            except OSError:
                continue
            threading.Thread(target=serve, args=(client,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    params.update(host="127.0.0.1", port=str(relay.getsockname()[1]))
    try:
        yield make_conninfo(**params)
    finally:
        stop.set()
        for s in sockets:
            s.close()
        relay.close()


def test_a_connection_slow_to_open_does_not_make_a_healthy_database_look_down(db: str) -> None:
    """Opening the check's connection may take longer than ``MAX_AGE``: once it is open and
    answers, /health is healthy (a check that counted the connect against ``MAX_AGE`` failed
    every time and answered 503 for ever)."""
    with _slow_to_connect(db, delay=health.MAX_AGE + 0.3) as slow:
        app = _app(slow)
        with TestClient(app) as c:
            deadline = time.monotonic() + health.MAX_AGE + 3
            while c.get("/health").status_code != 200:
                assert time.monotonic() < deadline, c.get("/health").json()
                time.sleep(0.05)
            for _ in range(20):  # and stays healthy: the connection is kept
                assert c.get("/health").status_code == 200
                time.sleep(0.05)


def test_floor_route_only_when_enabled(db: str, user: ApiUser) -> None:
    with TestClient(_app(db)) as c:
        assert c.get(FLOOR_PATH, headers=user.headers).status_code == 404
    with TestClient(_app(db, floor_route=True)) as c:
        assert c.get(FLOOR_PATH).status_code == 401
        assert c.get(FLOOR_PATH, headers=user.headers).json() == {"ok": True}
        assert FLOOR_PATH not in c.get("/openapi.json").json()["paths"]
