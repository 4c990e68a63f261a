"""Accuracy reports: ``/review/accuracy``, ``/bubbles/:id/accuracy`` and the CSV export.

Reference statistics (§4.7): per provider and predicted direction, ``predicted``, ``correct`` and
``accuracy`` (percent); ``total_opinions`` counts opinions on the scoped bubbles, and
``evaluated_opinions`` those scored for the outcome period; ``ranking`` orders providers by
accuracy. Added next to them: the verdicts' accuracy, Brier score and calibration buckets per
provider and per model, and the no-AI baselines (always HOLD; the last candle's direction) scored
on exactly the same outcomes, so a trader sees whether a model beats doing nothing clever.
"""

from __future__ import annotations

import io
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from kifu.ai import rules, store
from kifu.ai.schemas import AccuracyReport
from kifu.ai.service import own_bubble, verdict_json
from kifu.kit.answers import Asked, Computed
from kifu.kit.csvout import SafeWriter
from kifu.kit.errors import BadRequest
from kifu.kit.timeutil import utc_now

PERIOD_DAYS = {"7d": 7, "30d": 30}
OUTCOME_PERIODS = ("1h", "4h", "1d")

CSV_HEADER = [
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
    # kifu's additions
    "HOLD Predictions",
    "HOLD Correct",
    "HOLD Accuracy",
    "Verdicts",
    "Verdict Accuracy",
    "Brier Score",
    "Brier Skill vs Coin Flip",
    "Always HOLD Accuracy",
    "Momentum Accuracy",
    "Outcome Period",
]


def parse_scope(
    user_id: uuid.UUID,
    period: str | None,
    outcome_period: str | None,
    asset_class: str | None,
    venue: str | None,
    now: datetime,
) -> tuple[str, str, store.Scope]:
    """``period`` 7d/30d (default 30d), anything else all time, as in the reference;
    ``outcome_period`` 1h (default), 4h or 1d."""
    p = (period or "30d").strip().lower()
    days = PERIOD_DAYS.get(p)
    op = (outcome_period or "1h").strip().lower()
    if op not in OUTCOME_PERIODS:
        raise BadRequest("INVALID_REQUEST", "outcome_period: must be 1h, 4h or 1d")
    scope = store.Scope(
        user_id,
        now - timedelta(days=days) if days else None,
        (asset_class or "").strip().lower() or None,
        (venue or "").strip().lower() or None,
    )
    return p, op, scope


def _verdict_stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    given = [r for r in rows if r["verdict_direction"]]
    correct = sum(1 for r in given if r["verdict_correct"])
    pairs = [
        (float(r["verdict_probability"]), bool(r["verdict_correct"]))
        for r in given
        if r["verdict_probability"] is not None
    ]
    score = rules.brier(pairs)
    return {
        "evaluated": len(given),
        "correct": correct,
        "accuracy": rules.rate(correct, len(given)),
        "with_probability": len(pairs),
        "brier": None if score is None else round(score, 6),
        "brier_skill": None if score is None else round(1 - score / rules.COIN_FLIP_BRIER, 6),
        "calibration": [b.__dict__ for b in rules.calibration(pairs)],
    }


def _baselines(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The baselines on the distinct outcomes behind ``rows`` (one call per outcome)."""
    outcomes: dict[Any, tuple[str, str | None]] = {}
    for r in rows:
        actual, momentum = r["actual_direction"], r["momentum_direction"]
        prev = outcomes.get(r["outcome_id"])
        outcomes[r["outcome_id"]] = (actual, momentum or (prev[1] if prev else None))
    hold_ok = sum(1 for actual, _ in outcomes.values() if actual == rules.NEUTRAL)
    with_momentum = [(a, m) for a, m in outcomes.values() if m]
    mom_ok = sum(1 for a, m in with_momentum if rules.is_correct(m, a))
    return {
        "always_hold": {
            "evaluated": len(outcomes),
            "correct": hold_ok,
            "accuracy": rules.rate(hold_ok, len(outcomes)),
        },
        "momentum": {
            "evaluated": len(with_momentum),
            "correct": mom_ok,
            "accuracy": rules.rate(mom_ok, len(with_momentum)),
        },
        "coin_flip_brier": rules.COIN_FLIP_BRIER,
    }


def _provider_stats(provider: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_direction = {}
    for d in rules.DIRECTIONS:
        mine = [r for r in rows if r["predicted_direction"] == d]
        ok = sum(1 for r in mine if r["is_correct"])
        by_direction[d] = {
            "predicted": len(mine),
            "correct": ok,
            "accuracy": rules.rate(ok, len(mine)),
        }
    correct = sum(1 for r in rows if r["is_correct"])
    return {
        "provider": provider,
        "total": len(rows),
        "evaluated": len(rows),
        "correct": correct,
        "accuracy": rules.rate(correct, len(rows)),
        "by_direction": by_direction,
        "verdicts": _verdict_stats(rows),
        "baselines": _baselines(rows),
    }


async def report(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    period: str | None,
    outcome_period: str | None,
    asset_class: str | None = None,
    venue: str | None = None,
) -> dict[str, Any]:
    p, op, scope = parse_scope(user_id, period, outcome_period, asset_class, venue, utc_now())
    figures, _ = await _report(conn, p, op, scope)
    return figures


async def report_answer(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    kept: Asked,
    period: str | None,
    outcome_period: str | None,
    asset_class: str | None,
    venue: str | None,
    now: datetime,
) -> bytes:
    """``report`` as ``schemas.AccuracyReport`` JSON, kept per period, outcome period and
    filter under the user's AI and journal stamps, and until the earliest bubble it counts
    leaves a 7d or 30d period."""
    p, op, scope = parse_scope(user_id, period, outcome_period, asset_class, venue, now)
    days = PERIOD_DAYS.get(p)

    async def compute() -> Computed:
        figures, earliest = await _report(conn, p, op, scope)
        expires = earliest + timedelta(days=days) if days and earliest else None
        body = AccuracyReport.model_validate(figures).model_dump_json(by_alias=True).encode()
        return body, expires

    key = ("accuracy", p, op, scope.asset_class, scope.venue)
    return await kept.serve(conn, user_id, key, store.change_stamps, now, compute)


async def _report(
    conn: AsyncConnection, p: str, op: str, scope: store.Scope
) -> tuple[dict[str, Any], datetime | None]:
    """The report of ``scope``, and the earliest candle time of the bubbles it counts. The
    scored rows are read last and folded with no await after them: requests computing at once
    then hold one request's rows at a time, not each its own (bench/api.py's 32 at once: 97 MB
    a process after the load before, 90 MB after)."""
    total, earliest = await store.total_opinions(conn, scope)
    every = await store.scored_rows(conn, scope, None)
    rows = [r for r in every if r["period"] == op]
    by_provider_rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_model_rows: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_provider_rows[r["provider"]].append(r)
        by_model_rows[(r["provider"], r["model"])].append(r)
    by_provider = {name: _provider_stats(name, rs) for name, rs in sorted(by_provider_rows.items())}
    ordered = sorted(by_provider.values(), key=lambda s: (-s["accuracy"], s["provider"]))
    by_model = []
    for (provider, model), rs in sorted(by_model_rows.items()):
        correct = sum(1 for r in rs if r["is_correct"])
        by_model.append(
            {
                "provider": provider,
                "model": model,
                "evaluated": len(rs),
                "correct": correct,
                "accuracy": rules.rate(correct, len(rs)),
                "verdicts": _verdict_stats(rs),
                "baselines": _baselines(rs),
            }
        )
    figures = {
        "period": p,
        "outcome_period": op,
        "total_opinions": total,
        "evaluated_opinions": len({r["opinion_id"] for r in rows}),
        "by_provider": by_provider,
        "ranking": [
            {"provider": s["provider"], "accuracy": s["accuracy"], "rank": i}
            for i, s in enumerate(ordered, start=1)
        ],
        "by_model": by_model,
        "baselines": _baselines(rows),
        "by_outcome_period": {per: _period_summary(every, per) for per in OUTCOME_PERIODS},
    }
    return figures, earliest


def _period_summary(every: list[dict[str, Any]], period: str) -> dict[str, Any]:
    """Each provider and model against the baselines on one outcome period, in brief."""
    rows = [r for r in every if r["period"] == period]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["provider"], r["model"])].append(r)
    models = []
    for (provider, model), rs in sorted(groups.items()):
        correct = sum(1 for r in rs if r["is_correct"])
        v = _verdict_stats(rs)
        models.append(
            {
                "provider": provider,
                "model": model,
                "evaluated": len(rs),
                "accuracy": rules.rate(correct, len(rs)),
                "verdict_accuracy": v["accuracy"],
                "brier": v["brier"],
                "brier_skill": v["brier_skill"],
            }
        )
    return {"evaluated": len(rows), "by_model": models, "baselines": _baselines(rows)}


async def bubble_accuracy(
    conn: AsyncConnection, user_id: uuid.UUID, raw_bubble_id: str
) -> dict[str, Any]:
    """The bubble's scored pairs, newest first; only its owner may see them (the reference
    answered anyone, §7.2 #12)."""
    bubble = await own_bubble(conn, user_id, raw_bubble_id)
    rows = await store.accuracies_of_bubble(conn, bubble["id"])
    return {
        "bubble_id": str(bubble["id"]),
        "accuracies": [
            {
                "opinion_id": str(r["opinion_id"]),
                "provider": r["provider"],
                "model": r["model"],
                "period": r["period"],
                "predicted_direction": r["predicted_direction"],
                "actual_direction": r["actual_direction"],
                "is_correct": r["is_correct"],
                "pnl_percent": None if r["pnl_percent"] is None else format(r["pnl_percent"], "f"),
                "verdict": verdict_json(r["verdict_direction"], r["verdict_probability"]),
                "verdict_correct": r["verdict_correct"],
            }
            for r in rows
        ],
    }


def _pct(value: float) -> str:
    return f"{value:.2f}"


def _opt(value: float | None, places: int = 4) -> str:
    return "" if value is None else f"{value:.{places}f}"


async def export_csv(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    period: str | None,
    outcome_period: str | None,
) -> str:
    """One row per provider: the reference's columns, then kifu's (HOLD, verdicts, Brier,
    baselines); accuracies with two decimals; providers in name order."""
    data = await report(conn, user_id, period, outcome_period)
    buf = io.StringIO()
    out = SafeWriter(buf, lineterminator="\r\n")
    out.writerow(CSV_HEADER)
    for name, s in data["by_provider"].items():
        d = s["by_direction"]
        v = s["verdicts"]
        b = s["baselines"]
        out.writerow(
            [
                name,
                s["evaluated"],
                s["correct"],
                _pct(s["accuracy"]),
                d["BUY"]["predicted"],
                d["BUY"]["correct"],
                _pct(d["BUY"]["accuracy"]),
                d["SELL"]["predicted"],
                d["SELL"]["correct"],
                _pct(d["SELL"]["accuracy"]),
                d["HOLD"]["predicted"],
                d["HOLD"]["correct"],
                _pct(d["HOLD"]["accuracy"]),
                v["evaluated"],
                _pct(v["accuracy"]),
                _opt(v["brier"]),
                _opt(v["brier_skill"]),
                _pct(b["always_hold"]["accuracy"]),
                _pct(b["momentum"]["accuracy"]),
                data["outcome_period"],
            ]
        )
    return buf.getvalue()
