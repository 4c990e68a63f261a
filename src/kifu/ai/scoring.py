"""The accuracy job: score every AI opinion against its bubble's 1h/4h/1d outcomes.

Each (opinion, outcome) pair is written once into ``ai_opinion_accuracies`` (its unique key, with
ON CONFLICT DO NOTHING), so any number of workers may run this at the same time. Fixes over the
reference (§7.2 #20): pairs are found by what is missing, not by outcomes without any row, so an
opinion added after an outcome was scored is scored too, with no 48-hour window; and an opinion
asked after the outcome's time (it could have seen the answer) is never scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection

from kifu.ai import rules, store
from kifu.kit.timeutil import utc_now


@dataclass
class ScoreRun:
    examined: int = 0
    written: int = 0
    purged: int = 0


def score_pair(pair: dict) -> tuple:
    """The accuracy row of one (opinion, outcome) pair."""
    predicted = rules.extract_direction(pair["response"])
    actual = rules.actual_direction(pair["pnl_percent"])
    verdict, probability = pair["verdict_direction"], pair["verdict_probability"]
    if verdict is None:  # stored before verdicts were parsed, or written by another system
        parsed = rules.parse_verdict(pair["response"])
        if parsed is not None:
            verdict, probability = parsed.direction, parsed.probability
    return (
        pair["opinion_id"],
        pair["outcome_id"],
        pair["bubble_id"],
        pair["provider"],
        pair["period"],
        predicted,
        actual,
        rules.is_correct(predicted, actual),
        verdict,
        probability,
        rules.is_correct(verdict, actual) if verdict else None,
        pair["momentum_direction"],
        pair["model"],
    )


async def score_opinions(
    conn: AsyncConnection, now: datetime | None = None, *, batch: int = 500, max_rounds: int = 200
) -> ScoreRun:
    """Score what is due (up to ``batch × max_rounds`` pairs per call); ``conn`` in autocommit."""
    run = ScoreRun()
    for _ in range(max_rounds):
        pairs = await store.due_pairs(conn, batch)
        if not pairs:
            break
        run.examined += len(pairs)
        run.written += await store.insert_accuracies(conn, [score_pair(p) for p in pairs])
        if len(pairs) < batch:
            break
    run.purged = await store.purge_cache(conn, now or utc_now())
    return run
