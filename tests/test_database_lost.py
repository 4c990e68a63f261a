"""An API request while the database cannot be reached is answered 503 ``DATABASE_UNAVAILABLE``
with ``Retry-After`` (as ``/health`` says), in one log line: not a 500 with a traceback."""

from __future__ import annotations

import logging
import time

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import PoolTimeout

from kifu.app import create_app
from kifu.config import Settings
from kifu.kit.middleware import database_unavailable
from tests.helpers import TEST_JWT_SECRET, ApiUser

READ = "/api/v1/trades?limit=5"


def _unavailable(r, request_id: str) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code == 503, r.text
    assert r.json() == {
        "code": "DATABASE_UNAVAILABLE",
        "message": f"the database is unavailable; try again shortly (request id {request_id})",
    }
    assert r.headers["retry-after"] == "1"


def test_a_lost_database_is_503_not_500(
    db: str, user: ApiUser, pg_server, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(Settings(database_url=db, jwt_secret=TEST_JWT_SECRET), db)
    with TestClient(app) as c:
        assert c.get(READ, headers=user.headers).status_code == 200
        pg_server.drop(conninfo_to_dict(db)["dbname"])  # WITH (FORCE): pooled connections cut
        caplog.clear()
        # The pooled connection was checked within the second: its statement finds it cut.
        headers = {**user.headers, "X-Request-ID": "cut-1"}
        _unavailable(c.get(READ, headers=headers), "cut-1")
        # No connection can be made any more: the pool gives up after its timeout.
        app.state.pool.timeout = 0.5
        started = time.monotonic()
        headers = {**user.headers, "X-Request-ID": "gone-2"}
        _unavailable(c.get(READ, headers=headers), "gone-2")
        assert time.monotonic() - started < 3
        assert c.get("/health").status_code in (200, 503)  # the process lives on
    lines = [r for r in caplog.records if r.name == "kifu.errors"]
    assert len(lines) == 2 and all(r.levelno == logging.WARNING for r in lines)
    assert all(r.exc_info is None and "database unavailable on GET" in r.message for r in lines)


@pytest.mark.parametrize(
    ("exc", "unavailable"),
    [
        (PoolTimeout("couldn't get a connection after 10.00 sec"), True),
        (psycopg.OperationalError("consuming input failed: server closed the connection"), True),
        (pg_errors.AdminShutdown("terminating connection due to administrator command"), True),
        (pg_errors.CannotConnectNow("the database system is starting up"), True),
        (pg_errors.ConnectionFailure("connection failure"), True),
        # a statement's own failures are the request's, not the database's absence
        (pg_errors.QueryCanceled("canceling statement due to statement timeout"), False),
        (pg_errors.LockNotAvailable("could not obtain lock"), False),
        (pg_errors.UniqueViolation("duplicate key"), False),
        (RuntimeError("boom"), False),
    ],
)
def test_which_errors_mean_the_database_is_unavailable(
    exc: BaseException, unavailable: bool
) -> None:
    assert database_unavailable(exc) is unavailable
