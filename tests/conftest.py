"""Test harness: one real PostgreSQL per run, a migrated template, a fresh database per test.

The server is kifu's own embedded cluster in a temporary directory (or the server named by
``KIFU_TEST_DATABASE_URL``, which must allow CREATE DATABASE). Every test that needs data gets a
database cloned from a template migrated once per run, so a test costs a ``CREATE DATABASE``
instead of a migration.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from kifu.app import create_app
from kifu.config import Settings
from kifu.db import runner
from kifu.db.embedded import EmbeddedPostgres
from kifu.kit.auth import issue_access_token
from tests.helpers import TEST_ENC_KEY, TEST_JWT_SECRET, ApiUser

TEMPLATE = "kifu_test_template"
LAST_REFERENCE_FILE = "022_create_runs_and_summary_packs.sql"


class Server:
    """A PostgreSQL server the tests may create and drop databases on."""

    def __init__(self, admin_conninfo: str) -> None:
        self.admin_conninfo = admin_conninfo

    def conninfo(self, dbname: str) -> str:
        params = conninfo_to_dict(self.admin_conninfo)
        params["dbname"] = dbname
        return make_conninfo(**params)

    def create(self, template: str = "template0") -> str:
        name = f"kifu_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_conninfo, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        return name

    def drop(self, name: str) -> None:
        with psycopg.connect(self.admin_conninfo, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def pg_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kifu-home")


@pytest.fixture(scope="session")
def pg_server(pg_home: Path) -> Iterator[Server]:
    given = os.environ.get("KIFU_TEST_DATABASE_URL")
    if given:
        yield Server(given)
        return
    embedded = EmbeddedPostgres(pg_home)
    embedded.start()
    try:
        yield Server(embedded.conninfo("postgres"))
    finally:
        embedded.stop()


@pytest.fixture(scope="session")
def template_db(pg_server: Server) -> Iterator[str]:
    pg_server.drop(TEMPLATE)
    with psycopg.connect(pg_server.admin_conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
    runner.upgrade(pg_server.conninfo(TEMPLATE))
    yield TEMPLATE
    pg_server.drop(TEMPLATE)


def _fresh(pg_server: Server, template: str = "template0") -> Iterator[str]:
    name = pg_server.create(template)
    try:
        yield pg_server.conninfo(name)
    finally:
        pg_server.drop(name)


@pytest.fixture
def empty_db(pg_server: Server) -> Iterator[str]:
    """Conninfo of a new, empty database."""
    yield from _fresh(pg_server)


@pytest.fixture
def db(pg_server: Server, template_db: str) -> Iterator[str]:
    """Conninfo of a new database with every migration applied."""
    yield from _fresh(pg_server, template_db)


@pytest.fixture
def db_migrated(db: str) -> str:
    return db


@pytest.fixture(scope="module")
def db_at_022(pg_server: Server) -> Iterator[str]:
    """Conninfo of a database with the reference migrations 001–022 only (read-only use)."""
    for conninfo in _fresh(pg_server):
        runner.upgrade(conninfo, stop_after=LAST_REFERENCE_FILE)
        yield conninfo


# -- the API ------------------------------------------------------------------------------------


@pytest.fixture
def settings(db: str) -> Settings:
    return Settings(database_url=db, jwt_secret=TEST_JWT_SECRET, enc_key=TEST_ENC_KEY)


@pytest.fixture
def app(settings: Settings, db: str) -> FastAPI:
    return create_app(settings, db)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client of the real app on the test's database (lifespan run, pool open)."""
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(name="sql")
def sql_runner(db: str) -> Callable[..., list[tuple]]:
    """Run one statement on the test database and return its rows."""

    def run(query: str, *params: object) -> list[tuple]:
        with psycopg.connect(db) as conn:
            cur = conn.execute(query, params or None)
            return cur.fetchall() if cur.description else []

    return run


@pytest.fixture
def make_user(db: str) -> Callable[..., ApiUser]:
    """Create a user (and its free subscription) directly in the database, with a token."""

    def make(email: str | None = None, name: str = "Test Trader") -> ApiUser:
        email = email or f"trader-{uuid.uuid4().hex[:8]}@example.com"
        with psycopg.connect(db) as conn:
            row = conn.execute(
                "INSERT INTO users (email, password_hash, name) VALUES (%s, %s, %s) RETURNING id",
                (email, "!unusable", name),
            ).fetchone()
            assert row is not None
            conn.execute(
                "INSERT INTO subscriptions (user_id, tier, ai_quota_remaining, ai_quota_limit)"
                " VALUES (%s, 'free', 20, 20)",
                (row[0],),
            )
        return ApiUser(row[0], email, issue_access_token(row[0], TEST_JWT_SECRET))

    return make


@pytest.fixture
def user(make_user: Callable[..., ApiUser]) -> ApiUser:
    return make_user()
