"""What the KIFU web client reads from the AI endpoints (Home, Review, Chart), with the JSON types
it expects: counts and rates are numbers, ``ranking`` is always an array, times are RFC 3339."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi.testclient import TestClient

from tests.ai.fake_providers import FakeProviders
from tests.ai.helpers import NOW, plant_bubble, plant_opinion, score
from tests.fixtures.contract_checks import INT, LIST, NUM, OBJ, STR, TIME, conforms
from tests.helpers import ApiUser

API = "/api/v1"


def test_review_accuracy_for_a_new_user(client: TestClient, user: ApiUser) -> None:
    for query in ("period=30d&outcome_period=1h", "period=30d", ""):
        r = client.get(f"{API}/review/accuracy?{query}", headers=user.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        conforms(
            body,
            {
                "total_opinions": INT,
                "evaluated_opinions": INT,
                "by_provider": OBJ,
                "ranking": LIST,
                "period": STR,
                "outcome_period": STR,
            },
            "review/accuracy",
        )
        assert body["ranking"] == [] and body["by_model"] == []


def test_one_shot_fields_the_chart_reads(
    client: TestClient, user: ApiUser, fake_ai: FakeProviders
) -> None:
    r = client.post(
        f"{API}/ai/one-shot",
        headers=user.headers,
        json={
            "provider": "openai",
            "prompt_type": "brief",
            "symbol": "BTCUSDT",
            "timeframe": "1h",
            "price": "50000",
            "evidence_text": "사용자 메모: 관망",
        },
    )
    assert r.status_code == 200, r.text
    conforms(
        r.json(),
        {"provider": STR, "model": STR, "response": STR, "created_at": TIME},
        "ai/one-shot",
    )


def test_accuracy_ranking_numbers_and_export(client: TestClient, user: ApiUser, db: str) -> None:

    bid = plant_bubble(db, user, NOW - timedelta(days=1), {"1h": "1"})
    plant_opinion(db, bid, "gemini", "buy", NOW - timedelta(days=1))
    asyncio.run(score(db))
    body = client.get(
        f"{API}/review/accuracy?period=30d&outcome_period=1h", headers=user.headers
    ).json()
    (rank,) = body["ranking"]
    conforms(rank, {"provider": STR, "accuracy": NUM, "rank": INT}, "ranking[]")
    conforms(
        body["by_provider"]["gemini"],
        {"evaluated": INT, "correct": INT, "accuracy": NUM},
        "by_provider",
    )
    r = client.get(f"{API}/export/accuracy?period=30d&outcome_period=1h", headers=user.headers)
    assert r.status_code == 200
    assert r.headers["content-disposition"].startswith("attachment; filename=kifu_ai_accuracy_")
    assert "; filename*=UTF-8''kifu_ai_accuracy_" in r.headers["content-disposition"]
    assert r.text.splitlines()[1].startswith("gemini,1,1,100.00,1,1,100.00,0,0,0.00")
