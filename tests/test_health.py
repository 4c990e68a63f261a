"""``/health`` answers from a database check at most a second old, and reports a lost
database (503) within a second or so of losing it."""

from __future__ import annotations

import socket
import threading
import time

from fastapi import FastAPI
from fastapi.testclient import TestClient

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


def test_floor_route_only_when_enabled(db: str, user: ApiUser) -> None:
    with TestClient(_app(db)) as c:
        assert c.get(FLOOR_PATH, headers=user.headers).status_code == 404
    with TestClient(_app(db, floor_route=True)) as c:
        assert c.get(FLOOR_PATH).status_code == 401
        assert c.get(FLOOR_PATH, headers=user.headers).json() == {"ok": True}
        assert FLOOR_PATH not in c.get("/openapi.json").json()["paths"]
