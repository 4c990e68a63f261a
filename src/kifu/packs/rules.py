"""Pure summary-pack rules: ranges, totals helpers, status thresholds, canonical JSON and hash.

No I/O here. The SQL that gathers the figures lives in ``store.py``; this module decides what
they mean.

**Ranges.** ``7d`` and ``30d`` are the last 7 / 30 *calendar days in the request's time zone*
ending at the pack's anchor: ``start`` = local midnight of (anchor's local date − (N − 1) days),
``end`` = the anchor (the source run's ``finished_at``, else ``started_at``). ``all`` has no start.
Anchoring on the run (not on "now") is what makes a pack reproducible.

**Sign conventions** (exchange sync stores Binance income history as ``trade_events`` with
``event_type = 'fee'`` and ``metadata.income_type``):

* ``fee`` column: a cost paid is positive, an amount received is negative.
* ``funding_total[asset]`` = Σ of Binance's signed ``metadata.income`` for ``FUNDING_FEE`` events
  (positive = received, negative = paid); when ``income`` is absent, ``−fee`` is used.
* ``fees_total[asset]`` = Σ ``fee`` of fills in range (asset = ``fee_asset``, else the fill's
  quote asset) + Σ ``fee`` of ``fee`` events *without* an ``income_type`` (CSV fee rows).
  ``COMMISSION`` income is not added (the fills already carry their commission), ``REALIZED_PNL``
  income is evidence for reconciliation only, other income types are not fees.

**Realized PnL** is FIFO, gross of fees, per account and instrument, over the user's whole history
up to the range end; the realized PnL of a fill counts in the range when the fill does. It is
summed per quote currency (never across currencies).

**Status thresholds.** ``error`` when any suspect has severity ``error`` (a fill timed after it was
recorded, or before 2009-01-03) or when missing + duplicate suspects ≥ ``ERROR_SUSPECTS``;
``warning`` when there is any suspect or normalisation warning; otherwise ``ok``.

**Canonical serialisation** (hash input): JSON, keys sorted, no whitespace (``","`` and ``":"``),
UTF-8 without ``\\u`` escaping of non-ASCII, decimals as plain strings (no exponent, no trailing
zeros, ``"0"`` for zero), times RFC 3339 in UTC with ``Z``, floats refused. The hash is SHA-256 hex
of that text, computed over the payload *without* ``pack_id``, ``content_hash`` and
``evidence_index.evidence_pack_ref`` (the fields that name the stored row), so it covers the
content only; the same value is stored in the payload and in the ``content_hash`` column.
"""

from __future__ import annotations

import hashlib
import json
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kifu.kit.money import dec_str
from kifu.kit.timeutil import rfc3339

SCHEMA_VERSION = "summary_pack_v1"
CALC_VERSION = "kifu_ledger_calc_2.1.0"
RANGES = ("7d", "30d", "all")
RANGE_DAYS = {"7d": 7, "30d": 30}
DEFAULT_RANGE = "30d"

# A whole run of missing or duplicated data is not a "warning" any more.
ERROR_SUSPECTS = 10
# Suspects listed in the payload (counts are always complete).
MAX_LISTED_SUSPECTS = 100
# Row ids named per suspect / normalisation warning.
MAX_EVIDENCE_IDS = 10
# A fill recorded this long before it was executed is timed in the future.
FUTURE_TOLERANCE = timedelta(minutes=5)
# Nothing crypto traded before the first Bitcoin block.
EARLIEST_PLAUSIBLE = datetime(2009, 1, 3, tzinfo=UTC)

RUN_TYPES_FOR_LATEST = ("exchange_sync", "trade_csv_import", "portfolio_csv_import")
CSV_RUN_TYPES = frozenset({"trade_csv_import", "portfolio_csv_import"})

# Suspect kinds: (category, severity).
SUSPECT_KINDS: dict[str, tuple[str, str]] = {
    "realized_pnl_mismatch": ("missing", "warning"),
    "spot_position_negative": ("missing", "warning"),
    "order_fill_shortfall": ("missing", "warning"),
    "order_fill_excess": ("duplicate", "warning"),
    "sync_cursor_gap": ("missing", "warning"),
    "duplicate_external_id": ("duplicate", "warning"),
    "cross_source_duplicate": ("duplicate", "warning"),
    "future_fill": ("time", "error"),
    "implausible_time": ("time", "error"),
}


class RuleError(ValueError):
    """Bad input to a rule; ``field`` names what was wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def check_range(value: str | None) -> str:
    r = (value or DEFAULT_RANGE).strip()
    if r not in RANGES:
        raise RuleError("range", f"unsupported value {r!r}; accepted values: {', '.join(RANGES)}")
    return r


def check_timezone(value: str | None, default: str) -> ZoneInfo:
    name = (value or default).strip()
    try:
        if not name or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RuleError("tz", f"unknown time zone {name!r} (use an IANA name, e.g. UTC)") from exc


@dataclass(frozen=True)
class Window:
    range: str
    timezone: str
    start: datetime | None  # inclusive, UTC; None = unbounded
    end: datetime  # inclusive, UTC (the anchor)


def range_window(range_: str, zone: ZoneInfo, anchor: datetime) -> Window:
    """The instants a pack covers; see the module docstring."""
    if anchor.tzinfo is None:
        raise ValueError("naive anchor")
    end = anchor.astimezone(UTC)
    if range_ == "all":
        return Window(range_, zone.key, None, end)
    local_day: date = end.astimezone(zone).date() - timedelta(days=RANGE_DAYS[range_] - 1)
    start = datetime.combine(local_day, time(0), tzinfo=zone).astimezone(UTC)
    return Window(range_, zone.key, start, end)


def ratio(buy_count: int, sell_count: int) -> Decimal | None:
    """The reference's long/short ratio: buys ÷ sells to 8 decimals, None unless both > 0."""
    if buy_count <= 0 or sell_count <= 0:
        return None
    return (Decimal(buy_count) / Decimal(sell_count)).quantize(
        Decimal("0.00000001"), rounding=ROUND_HALF_UP
    )


def max_drawdown(pnls: list[Decimal]) -> Decimal:
    """Largest fall from a running peak of cumulative PnL (the curve starts at 0)."""
    cum = peak = worst = Decimal(0)
    for p in pnls:
        cum += p
        peak = max(peak, cum)
        worst = max(worst, peak - cum)
    return worst


def suspect(kind: str, *, venue: str | None, symbol: str | None, key: str, **evidence: Any) -> dict:
    category, severity = SUSPECT_KINDS[kind]
    return {
        "kind": kind,
        "category": category,
        "severity": severity,
        "venue": venue,
        "symbol": symbol,
        "key": key,
        "evidence": evidence,
    }


def reconciliation_status(suspects: list[dict], warnings: list[str]) -> str:
    counted = sum(1 for s in suspects if s["category"] in ("missing", "duplicate"))
    if any(s["severity"] == "error" for s in suspects) or counted >= ERROR_SUSPECTS:
        return "error"
    if suspects or warnings:
        return "warning"
    return "ok"


def sort_suspects(suspects: list[dict]) -> list[dict]:
    return sorted(
        suspects, key=lambda s: (s["kind"], s["venue"] or "", s["symbol"] or "", s["key"])
    )


# -- canonical serialisation -------------------------------------------------------------------


# Decimals and instants in the payload use kit's canonical texts (the hash depends on them).
dec = dec_str
ts = rfc3339


def _canonical(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_canonical(v) for v in obj]
    if isinstance(obj, Decimal):
        return dec(obj)
    if isinstance(obj, datetime):
        return ts(obj)
    if isinstance(obj, float):
        raise TypeError("floats are not allowed in a pack (use Decimal)")
    if obj is None or isinstance(obj, str | int | bool):
        return obj
    return str(obj)


def canonical_json(obj: Any) -> str:
    return json.dumps(
        _canonical(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def hashed_content(payload: dict) -> dict:
    """The payload without the fields that name the stored row."""
    content = deepcopy(payload)
    content.pop("pack_id", None)
    content.pop("content_hash", None)
    evidence = content.get("evidence_index")
    if isinstance(evidence, dict):
        evidence.pop("evidence_pack_ref", None)
    return content


def content_hash(payload: dict) -> str:
    return hashlib.sha256(canonical_json(hashed_content(payload)).encode("utf-8")).hexdigest()


def single_total(values: dict[str, Decimal]) -> str | None:
    """The reference's one-value total, which clients print as text: the total of the only
    currency, ``"0"`` when there is none, and ``None`` when there are several (KRW is never added
    to USDT; the per-currency map beside it holds every total)."""
    if not values:
        return "0"
    if len(values) > 1:
        return None
    (only,) = values.values()
    return dec(only) or "0"


def decimal_map(values: dict[str, Decimal]) -> dict[str, str]:
    """Per-currency totals as exact strings, currencies sorted, zero totals kept."""
    return {k: dec(values[k]) or "0" for k in sorted(values)}
