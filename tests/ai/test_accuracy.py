"""The accuracy job (once per (opinion, outcome) on any number of workers, no look-ahead,
revisits) and the accuracy endpoints and export on a planted history whose answers are known."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from fastapi.testclient import TestClient

from kifu.worker.queue import TASK_MODULES, queue
from tests.ai.helpers import NOW, plant_bubble, plant_opinion, score
from tests.helpers import TEST_ENC_KEY, TEST_JWT_SECRET, ApiUser


def _rows(db: str) -> list[tuple]:
    with psycopg.connect(db) as conn:
        return conn.execute(
            "SELECT o.response, a.period, a.predicted_direction, a.actual_direction,"
            " a.is_correct, a.verdict_correct FROM ai_opinion_accuracies a"
            " JOIN ai_opinions o ON o.id = a.opinion_id ORDER BY o.response, a.period"
        ).fetchall()


def test_no_look_ahead_and_revisits(db: str, user: ApiUser) -> None:
    t = NOW - timedelta(days=3)
    bid = plant_bubble(db, user, t, {"1h": "1.2", "4h": "-0.9", "1d": "0.1"})
    plant_opinion(db, bid, "openai", "a: bullish, buy", t + timedelta(minutes=30), ("BUY", "0.8"))
    plant_opinion(db, bid, "claude", "b: bearish, sell", t + timedelta(hours=2))
    plant_opinion(db, bid, "gemini", "c: hold", t + timedelta(days=2))  # after every outcome
    assert asyncio.run(score(db)) == 5
    assert _rows(db) == [
        ("a: bullish, buy", "1d", "BUY", "NEUTRAL", False, False),
        ("a: bullish, buy", "1h", "BUY", "UP", True, True),
        ("a: bullish, buy", "4h", "BUY", "DOWN", False, False),
        ("b: bearish, sell", "1d", "SELL", "NEUTRAL", False, None),
        ("b: bearish, sell", "4h", "SELL", "DOWN", True, None),
    ]
    assert asyncio.run(score(db)) == 0
    # A verdict written only in the text (an opinion stored by another system) is read too.
    plant_opinion(db, bid, "local", 'g: {"direction": "SELL", "probability": 0.3}', t)
    assert asyncio.run(score(db)) == 3
    with psycopg.connect(db) as conn:
        got = conn.execute(
            "SELECT period, verdict_direction, verdict_probability, verdict_correct"
            " FROM ai_opinion_accuracies WHERE provider = 'local' ORDER BY period"
        ).fetchall()
    assert got == [
        ("1d", "SELL", Decimal("0.3"), False),
        ("1h", "SELL", Decimal("0.3"), False),
        ("4h", "SELL", Decimal("0.3"), True),
    ]
    # An opinion added after the outcomes were scored is scored too (the reference never did).
    plant_opinion(db, bid, "claude", "d: wait and see", t + timedelta(minutes=5))
    assert asyncio.run(score(db)) == 3
    assert asyncio.run(score(db)) == 0
    # Exactly at the outcome time is still in time; a minute later is not.
    late = plant_bubble(db, user, t, {"1h": "2"})
    plant_opinion(db, late, "openai", "e: buy", t + timedelta(hours=1))
    plant_opinion(db, late, "openai", "f: buy", t + timedelta(hours=1, minutes=1))
    assert asyncio.run(score(db)) == 1


def test_two_workers_score_each_pair_once(db: str, user: ApiUser) -> None:
    t = NOW - timedelta(days=2)
    for i in range(20):
        bid = plant_bubble(db, user, t, {"1h": "1", "4h": "-1", "1d": "0"})
        plant_opinion(db, bid, "openai", f"{i} buy", t)
        plant_opinion(db, bid, "claude", f"{i} sell", t)

    async def both() -> list[int]:
        return list(await asyncio.gather(score(db, batch=7), score(db, batch=7)))

    written = asyncio.run(both())
    assert sum(written) == 120
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM ai_opinion_accuracies").fetchone() == (120,)
    assert asyncio.run(score(db)) == 0


def test_scoring_task_is_registered() -> None:
    import kifu.ai.tasks  # noqa: F401  (what `kifu worker` does through TASK_MODULES)

    assert "kifu.ai.tasks" in TASK_MODULES
    assert "ai.score_opinions" in queue.tasks
    assert any(k[0] == "ai.score_opinions" for k in queue.periodic_registry.periodic_tasks)


# -- a planted history whose answers are known ----------------------------------------------------


@pytest.fixture
def history(db: str, user: ApiUser) -> dict[str, object]:
    """10 recent bubbles: 9 went UP, 1 DOWN (1h). openai says BUY at 0.9 (right 9 times);
    claude says SELL at 0.6 (right once); the last candle before each rose (momentum BUY).
    Plus one old bubble (40 days) where openai was right, outside the 30-day window."""
    t = NOW - timedelta(days=2)
    bubbles = []
    for i in range(10):
        pnl = "2" if i < 9 else "-2"
        bid = plant_bubble(db, user, t + timedelta(minutes=i), {"1h": pnl})
        created = t + timedelta(minutes=i + 1)
        plant_opinion(db, bid, "openai", "Bullish, buy.", created, ("BUY", "0.9"), "BUY", "gpt-x")
        plant_opinion(db, bid, "claude", "Bearish. 매도.", created, ("SELL", "0.6"), "BUY", "c-1")
        bubbles.append(bid)
    old = plant_bubble(db, user, NOW - timedelta(days=40), {"1h": "3"})
    plant_opinion(
        db, old, "openai", "buy", NOW - timedelta(days=40), ("BUY", "0.9"), "BUY", "gpt-x"
    )
    stock = plant_bubble(db, user, t, {"1h": "0.1"}, symbol="AAPL", asset_class="stock")
    plant_opinion(db, stock, "openai", "hold", t, ("HOLD", "0.5"), None, "gpt-x")
    assert asyncio.run(score(db)) == 22
    return {"bubbles": bubbles}


def test_review_accuracy_on_planted_history(
    client: TestClient, user: ApiUser, history: dict
) -> None:
    r = client.get(
        "/api/v1/review/accuracy",
        params={"period": "30d", "outcome_period": "1h", "asset_class": "crypto"},
        headers=user.headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["period"] == "30d" and body["outcome_period"] == "1h"
    assert body["total_opinions"] == 20 and body["evaluated_opinions"] == 20
    assert body["ranking"] == [
        {"provider": "openai", "accuracy": 90.0, "rank": 1},
        {"provider": "claude", "accuracy": 10.0, "rank": 2},
    ]
    oa = body["by_provider"]["openai"]
    assert (oa["total"], oa["evaluated"], oa["correct"], oa["accuracy"]) == (10, 10, 9, 90.0)
    assert oa["by_direction"]["BUY"] == {"predicted": 10, "correct": 9, "accuracy": 90.0}
    assert oa["by_direction"]["HOLD"] == {"predicted": 0, "correct": 0, "accuracy": 0.0}
    v = oa["verdicts"]
    assert v["evaluated"] == 10 and v["correct"] == 9 and v["with_probability"] == 10
    assert v["brier"] == pytest.approx(0.09)  # (9 × 0.1² + 0.9²) / 10
    assert v["brier_skill"] == pytest.approx(1 - 0.09 / 0.25)
    top = v["calibration"][9]
    assert top["count"] == 10 and top["mean_probability"] == pytest.approx(0.9)
    assert top["hit_rate"] == pytest.approx(0.9)
    assert sum(b["count"] for b in v["calibration"]) == 10
    cv = body["by_provider"]["claude"]["verdicts"]
    assert cv["brier"] == pytest.approx(0.34)  # (9 × 0.6² + 0.4²) / 10
    assert cv["brier_skill"] < 0  # worse than a coin flip
    assert cv["calibration"][6]["hit_rate"] == pytest.approx(0.1)
    base = body["baselines"]
    assert base["always_hold"] == {"evaluated": 10, "correct": 0, "accuracy": 0.0}
    assert base["momentum"] == {"evaluated": 10, "correct": 9, "accuracy": 90.0}
    assert base["coin_flip_brier"] == 0.25
    models = {(m["provider"], m["model"]): m for m in body["by_model"]}
    assert models[("openai", "gpt-x")]["accuracy"] == 90.0
    assert models[("claude", "c-1")]["verdicts"]["accuracy"] == 10.0

    assert set(body["by_outcome_period"]) == {"1h", "4h", "1d"}
    hour = body["by_outcome_period"]["1h"]
    assert hour["evaluated"] == 20 and hour["baselines"] == base
    assert [(m["provider"], m["model"], m["accuracy"]) for m in hour["by_model"]] == [
        ("claude", "c-1", 10.0),
        ("openai", "gpt-x", 90.0),
    ]
    assert hour["by_model"][1]["brier"] == pytest.approx(0.09)
    assert body["by_outcome_period"]["4h"] == {
        "evaluated": 0,
        "by_model": [],
        "baselines": {
            "always_hold": {"evaluated": 0, "correct": 0, "accuracy": 0.0},
            "momentum": {"evaluated": 0, "correct": 0, "accuracy": 0.0},
            "coin_flip_brier": 0.25,
        },
    }

    everything = client.get(
        "/api/v1/review/accuracy", params={"period": "all"}, headers=user.headers
    ).json()
    assert everything["total_opinions"] == 22 and everything["evaluated_opinions"] == 22
    assert everything["by_provider"]["openai"]["evaluated"] == 12
    none = client.get(
        "/api/v1/review/accuracy", params={"outcome_period": "4h"}, headers=user.headers
    ).json()
    assert none["by_provider"] == {} and none["ranking"] == [] and none["evaluated_opinions"] == 0
    bad = client.get(
        "/api/v1/review/accuracy", params={"outcome_period": "2h"}, headers=user.headers
    )
    assert bad.status_code == 400


def test_bubble_accuracy_owner_only(
    client: TestClient, user: ApiUser, make_user, history: dict
) -> None:
    bid = history["bubbles"][9]
    r = client.get(f"/api/v1/bubbles/{bid}/accuracy", headers=user.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["bubble_id"] == str(bid) and len(body["accuracies"]) == 2
    by = {a["provider"]: a for a in body["accuracies"]}
    assert by["claude"]["is_correct"] is True and by["claude"]["actual_direction"] == "DOWN"
    assert by["openai"]["predicted_direction"] == "BUY" and by["openai"]["pnl_percent"] == "-2"
    assert by["openai"]["verdict"] == {"direction": "BUY", "probability": 0.9}
    other = make_user()
    assert client.get(f"/api/v1/bubbles/{bid}/accuracy", headers=other.headers).status_code == 404


def test_export_accuracy(client: TestClient, user: ApiUser, history: dict) -> None:
    r = client.get("/api/v1/export/accuracy", params={"period": "30d"}, headers=user.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "kifu_ai_accuracy_" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:10] == [
        "Provider",
        "Total Predictions",
        "Correct Predictions",
        "Accuracy %",
        "BUY Predictions",
        "BUY Correct",
        "BUY Accuracy",
        "SELL Predictions",
        "SELL Correct",
        "SELL Accuracy",
    ]
    table = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert list(table) == ["claude", "openai"]
    oa = table["openai"]
    assert (oa["Total Predictions"], oa["Correct Predictions"], oa["Accuracy %"]) == (
        "11",
        "10",
        "90.91",
    )
    # With the stock bubble's right HOLD at 0.5: (9 × 0.01 + 0.81 + 0.25) / 11.
    assert oa["Brier Score"] == "0.1045"
    assert table["claude"]["SELL Accuracy"] == "10.00"
    assert table["claude"]["Momentum Accuracy"] == "90.00"


def test_two_burst_workers_score_planted_history(db: str, user: ApiUser) -> None:
    t = NOW - timedelta(days=2)
    for i in range(5):
        bid = plant_bubble(db, user, t, {"1h": "1", "4h": "-1", "1d": "0"})
        plant_opinion(db, bid, "openai", f"{i} buy", t, ("BUY", "0.7"))
    env = {
        **os.environ,
        "DATABASE_URL": db,
        "JWT_SECRET": TEST_JWT_SECRET,
        "KIFU_ENC_KEY": TEST_ENC_KEY,
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "kifu", "worker", "--burst", "--name", f"ai{i}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for i in range(2)
    ]
    for p in procs:
        output, _ = p.communicate(timeout=120)
        assert p.returncode == 0, output.decode()
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT period, count(*), count(*) FILTER (WHERE is_correct) FROM ai_opinion_accuracies"
            " GROUP BY period ORDER BY period"
        ).fetchall()
    assert rows == [("1d", 5, 0), ("1h", 5, 5), ("4h", 5, 0)]
