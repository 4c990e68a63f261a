"""Review tests bring fills in through the real unified importer and bubbles through the API."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

GENERIC_HEADER = "executed_at,symbol,side,qty,price,fee,fee_asset,trade_id\n"


@pytest.fixture
def sql(db: str) -> Callable[..., list[tuple]]:
    """Run one statement on the test database and return its rows."""

    def run(query: str, *params: object) -> list[tuple]:
        with psycopg.connect(db) as conn:
            cur = conn.execute(query, params or None)
            return cur.fetchall() if cur.description else []

    return run


@pytest.fixture
def upload(client, user):
    """POST CSV text to the unified import as ``user`` (form fields as keyword arguments)."""

    def post(text: str, who=None, **form):
        r = client.post(
            "/api/v1/imports/trades",
            headers=(who or user).headers,
            files={"file": ("trades.csv", text.encode(), "text/csv")},
            data=form,
        )
        assert r.status_code == 200, r.text
        return r.json()

    return post


def fills_csv(rows: list[tuple[str, str, str, str, str, str]]) -> str:
    """Generic CSV of (executed_at, symbol, side, qty, price, fee) rows, each with a trade id."""
    lines = [GENERIC_HEADER]
    for n, (at, symbol, side, qty, price, fee) in enumerate(rows, 1):
        quote = symbol.split("/")[1]
        lines.append(f"{at},{symbol},{side},{qty},{price},{fee},{quote},T{n}-{at}\n")
    return "".join(lines)
