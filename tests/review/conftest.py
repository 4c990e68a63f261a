"""Review tests bring fills in through the real unified importer and bubbles through the API."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

API = "/api/v1"
GENERIC_HEADER = "executed_at,symbol,side,qty,price,fee,fee_asset,trade_id\n"


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


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def bubble(client, user, sql):
    """Create a bubble through the API and give it outcomes (what the outcome job, fed by a
    candle stand-in, would store)."""

    def make(symbol: str, at: datetime, outcomes: dict[str, str], who=None, **extra: Any) -> str:
        body = {"symbol": symbol, "timeframe": "1h", "candle_time": iso(at), "price": "100"}
        r = client.post(f"{API}/bubbles", headers=(who or user).headers, json={**body, **extra})
        assert r.status_code in (200, 201), r.text
        bid = r.json()["id"]
        for period, pnl in outcomes.items():
            sql(
                "INSERT INTO outcomes (bubble_id, period, reference_price, outcome_price,"
                " pnl_percent) VALUES (%s, %s, 100, %s, %s)",
                bid,
                period,
                str(Decimal(100) + Decimal(pnl)),
                pnl,
            )
        return bid

    return make
