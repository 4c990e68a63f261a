"""``POST /connections``: the reference's stub (§2.2), answered 202 with nothing stored."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient

from tests.helpers import ApiUser

URL = "/api/v1/connections"


def _count(db: str) -> int:
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT count(*) FROM exchange_credentials").fetchone()
        assert row is not None
        return int(row[0])


def test_a_connection_is_accepted_and_nothing_is_stored(
    client: TestClient, user: ApiUser, db: str
) -> None:
    secret = "s3cr3t-value-never-echoed"
    r = client.post(
        URL,
        headers=user.headers,
        json={
            "venue": "Binance_Futures",
            "venue_type": "cex",
            "source": "api",
            "label": " main ",
            "api_key": "key-value-1234",
            "api_secret": secret,
            "wallet_address": "",
        },
    )
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "accepted"
    assert (body["venue"], body["source"], body["label"]) == ("binance_futures", "api", "main")
    assert body["message"].startswith("connection registered (stub)")
    assert "POST /api/v1/exchanges" in body["message"]
    assert secret not in r.text and "key-value-1234" not in r.text
    assert _count(db) == 0
    # a venue kifu does not sync, with only the venue given
    r = client.post(URL, headers=user.headers, json={"venue": "uniswap"})
    assert r.status_code == 202
    assert r.json()["source"] is None and r.json()["label"] is None
    assert "POST /api/v1/imports/trades" in r.json()["message"]


def test_bad_connections_are_refused_by_name(client: TestClient, user: ApiUser) -> None:
    for body, field in (
        ({}, "venue"),
        ({"venue": "x"}, "venue"),
        ({"venue": "upbit", "venue_type": "bank"}, "venue_type"),
        ({"venue": "upbit", "api_key": "k" * 600}, "api_key"),
        ({"venue": "upbit", "wallet_address": "0x 12"}, "wallet_address"),
        ({"venue": "upbit", "label": 5}, "label"),
        ({"venue": "upbit", "extra": 1}, "extra"),
    ):
        r = client.post(URL, headers=user.headers, json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["code"] == "INVALID_REQUEST" and field in r.json()["message"], r.text
    assert client.post(URL, json={"venue": "upbit"}).status_code == 401


def test_the_stub_is_documented(client: TestClient) -> None:
    op = client.get("/openapi.json").json()["paths"][URL]["post"]
    assert "202" in op["responses"] and "400" in op["responses"]
    assert "requestBody" in op
