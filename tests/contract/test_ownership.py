"""Ownership sweep generated from the route table: user A owns one of everything; user B calls
every operation with an id in its path, with A's ids, and gets 404 every time; afterwards A's
things are all still there. A route added later is swept without anyone listing it; a path
parameter the seed cannot fill fails the sweep until the seed learns to make one."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi.testclient import TestClient

from kifu.app import create_app
from kifu.config import Settings
from tests.contract import sweeps
from tests.contract.seed import seed
from tests.helpers import TEST_JWT_SECRET, ApiUser

# Path parameters that are not ids of something a user owns.
NOT_OWNED = {"provider"}  # an AI provider name: DELETE /users/me/ai-keys/{provider}


def _doc() -> dict[str, Any]:
    settings = Settings(database_url="postgresql://unused", jwt_secret=TEST_JWT_SECRET)
    app = create_app(settings, "host=127.0.0.1 port=1 dbname=unused")
    return TestClient(app).get("/openapi.json").json()


def _seed_rows(db: str, owner: ApiUser, ids: dict[str, str]) -> None:
    """What the API cannot make without an outside service: a credential (its permission check
    calls the exchange), an alert (made by the monitor), a guided review with an item."""
    with psycopg.connect(db, autocommit=True) as conn:
        # Both may use AI, so the AI routes reach their ownership check.
        conn.execute("UPDATE users SET ai_allowlisted = true")
        ids["credential_id"] = str(
            conn.execute(
                "INSERT INTO exchange_credentials (user_id, exchange, api_key_enc, api_secret_enc,"
                " api_key_last4) VALUES (%s, 'upbit', 'x', 'x', 'abcd') RETURNING id",
                (owner.id,),
            ).fetchone()[0]  # type: ignore[index]
        )
        if "rule_id" in ids:
            ids["alert_id"] = str(
                conn.execute(
                    "INSERT INTO alerts (user_id, rule_id, symbol, trigger_price, trigger_reason)"
                    " VALUES (%s, %s, 'BTCUSDT', 50000, 'sweep') RETURNING id",
                    (owner.id, ids["rule_id"]),
                ).fetchone()[0]  # type: ignore[index]
            )
        if "review_id" not in ids:
            ids["review_id"] = str(
                conn.execute(
                    "INSERT INTO guided_reviews (user_id, review_date) VALUES (%s, '2026-01-02')"
                    " RETURNING id",
                    (owner.id,),
                ).fetchone()[0]  # type: ignore[index]
            )
        if "item_id" not in ids:
            ids["item_id"] = str(
                conn.execute(
                    "INSERT INTO guided_review_items (review_id, symbol) VALUES (%s, 'BTCUSDT')"
                    " RETURNING id",
                    (ids["review_id"],),
                ).fetchone()[0]  # type: ignore[index]
            )


def _counts(db: str, owner: ApiUser) -> dict[str, int]:
    tables = (
        "bubbles",
        "review_notes",
        "manual_positions",
        "alert_rules",
        "alerts",
        "exchange_credentials",
        "summary_packs",
        "trade_events",
    )
    with psycopg.connect(db) as conn:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t} WHERE user_id = %s", (owner.id,)).fetchone()[
                0
            ]  # type: ignore[index]
            for t in tables
        }


def test_every_route_with_an_id_answers_404_to_another_user(
    client: TestClient, db: str, make_user: Any
) -> None:
    owner, other = make_user(), make_user()
    doc = _doc()
    ids = seed(client, owner.headers)
    _seed_rows(db, owner, ids)
    before = _counts(db, owner)
    failures: list[str] = []
    swept = 0
    for op in sweeps.operations(doc):
        params = [p for p in op.path_params if p not in NOT_OWNED]
        if not params:
            continue
        missing = [p for p in params if p not in ids]
        if missing:
            failures.append(f"{op.label}: the seed makes no {', '.join(missing)}")
            continue
        body = sweeps.sample(doc, op.body_schema) if op.body_schema is not None else None
        kwargs: dict[str, Any] = {"headers": other.headers}
        if body is not None:
            kwargs["json"] = body
        r = client.request(op.method.upper(), sweeps.url(op, ids), **kwargs)
        swept += 1
        if r.status_code == 400:
            # The sample body was refused before any lookup: fine only if the owner gets the
            # same refusal (the answer does not depend on whose id it is).
            mine = client.request(
                op.method.upper(), sweeps.url(op, ids), **(kwargs | {"headers": owner.headers})
            )
            if mine.status_code == 400 and mine.json() == r.json():
                continue
        if r.status_code != 404:
            failures.append(f"{op.label} as another user -> {r.status_code} {r.text[:200]}")
        elif r.json().get("code") in (None, "NOT_FOUND") and "no route" in r.json()["message"]:
            failures.append(f"{op.label}: 404 for a missing route, not for the owner's id")
    assert not failures, "\n".join(failures)
    assert swept > 30
    assert _counts(db, owner) == before  # nothing of A's was changed or deleted by B
    # and A still reaches them
    assert (
        client.get(f"/api/v1/bubbles/{ids['bubble_id']}", headers=owner.headers).status_code == 200
    )
