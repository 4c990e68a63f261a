"""Pure AI-review rules: direction words, the verdict line, correctness, Brier score, calibration.

Nothing here does I/O or imports the project beyond ``kit``; every rule is unit-tested with
pinned vectors (the reference's English and Korean phrases) and property tests.

Direction extraction (reference §4.7): the text is lowercased and the matches of three pattern
groups are counted. BUY wins only when its count is strictly the greatest, SELL likewise;
everything else (no match, a BUY/SELL tie, HOLD greatest) is HOLD. One deliberate difference:
"short-term" / "long-term" are time spans, not positions, so they do not count as SELL/BUY (the
reference's own prompt asks for a "short-term outlook", which tilted every English answer to SELL).

Correctness: the move from the bubble's price to the outcome price is UP above +0.5 %, DOWN below
−0.5 %, NEUTRAL in between (both ends included); BUY↔UP, SELL↔DOWN and HOLD↔NEUTRAL are right.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

BUY, SELL, HOLD = "BUY", "SELL", "HOLD"
UP, DOWN, NEUTRAL = "UP", "DOWN", "NEUTRAL"
DIRECTIONS = (BUY, SELL, HOLD)
BAND = Decimal("0.5")  # percent
COIN_FLIP_BRIER = 0.25  # the Brier score of always saying 50 %
BUCKETS = 10

_S = r"[^.\n!?。]*?"  # within one sentence
_NOT_TERM = r"(?![\s-]*term)"

_BUY = [
    r"\bbuy\b",
    rf"\blong\b{_NOT_TERM}",
    r"\bbullish\b",
    r"\buptrend\b",
    r"\bupward\b",
    r"\brally\b",
    r"\bpump\b",
    r"\bgo long\b",
    r"\benter long\b",
    r"\blong position\b",
    r"\bbuying opportunity\b",
    rf"\bprice\b{_S}\b(?:increase|rise)",
    rf"\bexpect\w*\b{_S}\bup\b",
    rf"\blikely\b{_S}\bup\b",
    r"\bpositive outlook\b",
    r"\boptimistic\b",
    r"\bfavorable\b",
    "매수",
    "롱",
    "상승",
    "불리시",
    "긍정적",
    "올라",
    "오를",
    "상방",
    "강세",
    rf"진입{_S}롱",
    rf"롱{_S}진입",
    rf"매수{_S}추천",
    rf"추천{_S}매수",
    rf"상승{_S}(?:예상|전망)",
    rf"오를{_S}것",
]
_SELL = [
    r"\bsell\b",
    rf"\bshort\b{_NOT_TERM}",
    r"\bbearish\b",
    r"\bdowntrend\b",
    r"\bdownward\b",
    r"\bdump\b",
    r"\bcrash\b",
    r"\bgo short\b",
    r"\benter short\b",
    r"\bshort position\b",
    r"\bselling opportunity\b",
    rf"\bprice\b{_S}\b(?:decrease|drop|fall)",
    rf"\bexpect\w*\b{_S}\bdown\b",
    rf"\blikely\b{_S}\bdown\b",
    r"\bnegative outlook\b",
    r"\bpessimistic\b",
    r"\bunfavorable\b",
    "매도",
    "숏",
    "하락",
    "베어리시",
    "부정적",
    "내려",
    "내릴",
    "하방",
    "약세",
    rf"진입{_S}숏",
    rf"숏{_S}진입",
    rf"매도{_S}추천",
    rf"추천{_S}매도",
    rf"하락{_S}(?:예상|전망)",
    rf"내릴{_S}것",
]
_HOLD = [
    r"\bhold\b",
    r"\bwait\b",
    r"\bneutral\b",
    r"\bsideways\b",
    r"\bconsolidation\b",
    r"\brange\b",
    r"\bno clear direction\b",
    r"\bunclear\b",
    r"\buncertain\b",
    r"\bwait and see\b",
    r"\bdifficult to predict\b",
    r"\bhard to say\b",
    r"\bmixed signals\b",
    "관망",
    "횡보",
    "중립",
    "대기",
    "지켜보",
    "기다려",
    rf"명확하지{_S}않",
    "불확실",
    rf"판단{_S}어려",
    "애매",
    rf"방향{_S}불분명",
    rf"추세{_S}없",
    "박스권",
]
_GROUPS = {
    group: [re.compile(p) for p in pats]
    for group, pats in ((BUY, _BUY), (SELL, _SELL), (HOLD, _HOLD))
}


def direction_scores(text: str) -> dict[str, int]:
    """How many times each group's patterns match the lowercased text."""
    low = (text or "").lower()
    return {g: sum(len(p.findall(low)) for p in pats) for g, pats in _GROUPS.items()}


def extract_direction(text: str) -> str:
    """BUY, SELL or HOLD from an opinion's text (the reference's decision rule)."""
    s = direction_scores(text)
    buy, sell, hold = s[BUY], s[SELL], s[HOLD]
    if buy > sell and buy > hold:
        return BUY
    if sell > buy and sell > hold:
        return SELL
    return HOLD


def actual_direction(pnl_percent: Decimal | str | None) -> str:
    """UP above +0.5 %, DOWN below −0.5 %, otherwise (or unreadable) NEUTRAL."""
    try:
        pnl = Decimal(str(pnl_percent)) if pnl_percent is not None else None
    except (InvalidOperation, ValueError):
        pnl = None
    if pnl is None or not pnl.is_finite():
        return NEUTRAL
    if pnl > BAND:
        return UP
    if pnl < -BAND:
        return DOWN
    return NEUTRAL


_MATCH = {BUY: UP, SELL: DOWN, HOLD: NEUTRAL}


def is_correct(predicted: str, actual: str) -> bool:
    return _MATCH.get(predicted) == actual


# -- the verdict line -------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    direction: str
    probability: Decimal | None  # that the direction is right at the horizon, in [0, 1]


_SYNONYMS = {
    "buy": BUY,
    "long": BUY,
    "up": BUY,
    "bullish": BUY,
    "매수": BUY,
    "sell": SELL,
    "short": SELL,
    "down": SELL,
    "bearish": SELL,
    "매도": SELL,
    "hold": HOLD,
    "neutral": HOLD,
    "wait": HOLD,
    "관망": HOLD,
}
_JSON_OBJECT = re.compile(r"\{[^{}]{0,400}\}")
_DIR_FIELD = re.compile(
    r"(?:direction|방향)\W{0,6}(buy|sell|hold|long|short|up|down|neutral|wait|매수|매도|관망)",
    re.IGNORECASE,
)
_PROB_FIELD = re.compile(
    r"(?:probability|confidence|확률|신뢰도)\W{0,6}([0-9]+(?:\.[0-9]+)?)\s*(%?)", re.IGNORECASE
)


def _probability(raw: object, percent: bool = False) -> Decimal | None:
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        value = Decimal(str(raw).strip().rstrip("%"))
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite() or value < 0:
        return None
    if percent or str(raw).strip().endswith("%") or value > 1:
        value = value / 100
    if value > 1:
        return None
    return value.quantize(Decimal("0.00001"))


def _direction(raw: object) -> str | None:
    return _SYNONYMS.get(raw.strip().lower()) if isinstance(raw, str) else None


def parse_verdict(text: str) -> Verdict | None:
    """The machine-readable verdict in a provider's answer, if it gave one.

    Accepted, first match wins: a JSON object with ``direction`` and optionally ``probability``
    (or ``confidence``), e.g. ``VERDICT: {"direction": "BUY", "probability": 0.62}``; or
    ``direction: SELL`` / ``probability: 70%`` written as text. Probabilities above 1 (or with
    ``%``) are read as percentages. A verdict without a usable probability keeps its direction.
    """
    if not text:
        return None
    for match in _JSON_OBJECT.finditer(text):
        try:
            obj = json.loads(match.group(0))
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        lowered = {str(k).lower(): v for k, v in obj.items()}
        direction = _direction(lowered.get("direction"))
        if direction is None:
            continue
        prob = lowered.get("probability", lowered.get("confidence"))
        return Verdict(direction, _probability(prob))
    found = _DIR_FIELD.search(text)
    if found is None:
        return None
    direction = _SYNONYMS[found.group(1).lower()]
    prob_match = _PROB_FIELD.search(text)
    prob = _probability(prob_match.group(1), prob_match.group(2) == "%") if prob_match else None
    return Verdict(direction, prob)


# -- the no-AI baselines ------------------------------------------------------------------------


def momentum_direction(open_: Decimal, close: Decimal) -> str:
    """The last-candle momentum baseline: the direction the last closed candle moved."""
    if close > open_:
        return BUY
    if close < open_:
        return SELL
    return HOLD


# -- scores --------------------------------------------------------------------------------------


def brier(pairs: Iterable[tuple[float, bool]]) -> float | None:
    """Mean of (p − outcome)² over (probability, was right) pairs; None when there are none."""
    total, n = 0.0, 0
    for p, hit in pairs:
        total += (float(p) - (1.0 if hit else 0.0)) ** 2
        n += 1
    return None if n == 0 else total / n


def bucket_of(p: float, buckets: int = BUCKETS) -> int:
    """Index of the probability bucket [i/b, (i+1)/b); 1.0 falls in the last one."""
    return min(math.floor(float(p) * buckets), buckets - 1)


@dataclass(frozen=True)
class Bucket:
    lower: float
    upper: float
    count: int
    mean_probability: float | None
    hit_rate: float | None


def calibration(pairs: Sequence[tuple[float, bool]], buckets: int = BUCKETS) -> list[Bucket]:
    """Every bucket, in order: how many verdicts stated a probability in it, their mean stated
    probability and how often they were right (a calibrated model has the two close)."""
    sums = [0.0] * buckets
    hits = [0] * buckets
    counts = [0] * buckets
    for p, hit in pairs:
        i = bucket_of(p, buckets)
        sums[i] += float(p)
        hits[i] += 1 if hit else 0
        counts[i] += 1
    return [
        Bucket(
            round(i / buckets, 4),
            round((i + 1) / buckets, 4),
            counts[i],
            sums[i] / counts[i] if counts[i] else None,
            hits[i] / counts[i] if counts[i] else None,
        )
        for i in range(buckets)
    ]


def rate(correct: int, total: int) -> float:
    """Percent right, 0 when nothing was scored (the client calls toFixed on it)."""
    return round(correct * 100 / total, 4) if total else 0.0
