"""What several benchmarks share."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from kifu.db.embedded import EmbeddedPostgres


def fresh_database(admin: str) -> str:
    """Create an empty database on the server of ``admin`` and return its conninfo."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo_to_dict(admin)
    params["dbname"] = name
    return make_conninfo(**params)


@contextmanager
def server(database_url: str | None) -> Iterator[tuple[str, Path]]:
    """A temporary working directory and the admin conninfo of the server to bench on:
    ``database_url``, or else a throw-away embedded PostgreSQL in that directory, stopped
    afterwards."""
    with tempfile.TemporaryDirectory(prefix="kifu-bench-") as tmp:
        workdir = Path(tmp)
        if database_url:
            yield database_url, workdir
            return
        pg = EmbeddedPostgres(workdir / "pg")
        pg.start()
        try:
            yield pg.conninfo("postgres"), workdir
        finally:
            pg.stop()
