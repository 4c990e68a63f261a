from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

FILES = Path(__file__).parent / "files"


@pytest.fixture
def sql(db: str) -> Callable[..., list[tuple]]:
    """Run one query on the test database and return its rows."""

    def run(query: str, *params: object) -> list[tuple]:
        with psycopg.connect(db) as conn:
            cur = conn.execute(query, params or None)
            return cur.fetchall() if cur.description else []

    return run


@pytest.fixture
def upload(client, user):
    """POST a file to the unified import as ``user``."""

    def post(data: bytes, name: str = "trades.csv", query: str = "", headers=None, **form):
        return client.post(
            "/api/v1/imports/trades" + query,
            headers=headers or user.headers,
            files={"file": (name, data, "text/csv")},
            data=form,
        )

    return post
