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
import re
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from kifu.kit.errors import DomainError
from kifu.kit.money import EXACT, dec_str
from kifu.kit.timeutil import find_zone, rfc3339, rfc3339_seconds

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


class RuleError(DomainError, ValueError):
    """Bad input to a rule; ``field`` names what was wrong, ``code`` says which rule."""

    def __init__(self, field: str, message: str, *, code: str = "INVALID_REQUEST") -> None:
        super().__init__(message, code=code, field=field)


def check_range(value: str | None) -> str:
    r = (value or DEFAULT_RANGE).strip()
    if r not in RANGES:
        raise RuleError(
            "range",
            f"unsupported value {r!r}; accepted values: {', '.join(RANGES)}",
            code="INVALID_RANGE",
        )
    return r


def check_timezone(value: str | None, default: str) -> ZoneInfo:
    name = (value or default).strip()
    zone = find_zone(name)
    if zone is None:
        shown = repr(name[:40]) + ("…" if len(name) > 40 else "")
        raise RuleError(
            "tz", f"unknown time zone {shown} (use an IANA name, e.g. UTC)", code="INVALID_TIMEZONE"
        )
    return zone


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
# The range's ends and the anchor are printed in whole seconds, as the reference printed them
# (RFC 3339 without a fraction); the range itself still ends at the exact anchor.
ts_seconds = rfc3339_seconds


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


# -- reading a range from hourly rollups ----------------------------------------------------------

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class HourCut:
    """A range split into whole UTC hours, read from the rollups, and the raw spans at its ends:
    hours ``first <= hour < stop`` (``first`` None = from the beginning) and ``spans`` of
    (start, stop, stop inclusive), read from the rows themselves, in time order."""

    first: datetime | None
    stop: datetime
    spans: tuple[tuple[datetime, datetime, bool], ...]


def _floor_hour(t: datetime) -> datetime:
    t = t.astimezone(UTC)
    return t.replace(minute=0, second=0, microsecond=0)


def hour_cut(start: datetime | None, end: datetime) -> HourCut:
    """Cut [start, end] (end inclusive) so that every instant is in exactly one piece."""
    stop = _floor_hour(end)
    if start is None:
        return HourCut(None, stop, ((stop, end, True),))
    first = _floor_hour(start)
    if first < start:
        first += HOUR
    if first > stop:  # the whole range lies inside one hour
        return HourCut(stop, stop, ((start, end, True),))
    lead = ((start, first, False),) if start < first else ()
    return HourCut(first, stop, (*lead, (stop, end, True)))


@dataclass
class Totals:
    """What a pack reports from the hourly event groups (see ``fold_groups``)."""

    counts: dict[str, int]
    notional: dict[str, Decimal]
    flow: dict[str, Decimal]
    fees: dict[str, Decimal]
    funding: dict[str, Decimal]
    trade_count: int
    buys: int
    sells: int
    venues: list[str]
    sources: list[str]
    income_types: list[str]
    normalisation: dict[str, int]  # code -> rows
    unmapped_instruments: list[Any]  # instrument ids whose symbol is not BASE/QUOTE


TRADE_EVENT_TYPES = ("spot_trade", "perp_trade", "dex_swap")
_CANONICAL_SYMBOL = re.compile(r"[A-Z0-9.]+/[A-Z0-9.]+")


def _up(value: str | None) -> str | None:
    return value.upper() if value is not None else None


def _coalesce(*values: str | None) -> str | None:
    """SQL's coalesce: the first value that is not None ('' counts as a value)."""
    return next((v for v in values if v is not None), None)


def fold_groups(groups: list[dict]) -> Totals:
    """Totals and normalisation counts of a range from its event groups (one per event type,
    side, source, venue, instrument, fee asset, metadata asset and income type, with the venue
    code, the instrument's quote and symbol joined in). Fee, funding and sign conventions are
    the module docstring's; a trade row gets the first normalisation code that applies, in the
    order missing_instrument, missing_venue, missing_side, invalid_qty, invalid_price,
    symbol_mapping_gap, fee_asset_assumed_quote."""
    t = Totals({}, {}, {}, {}, {}, 0, 0, 0, [], [], [], {}, [])
    venues: set[str] = set()
    sources: set[str] = set()
    income_types: set[str] = set()
    unmapped: set[Any] = set()

    def add(m: dict, k: Any, v: Any) -> None:
        m[k] = EXACT.add(m.get(k, 0), v)

    for g in groups:
        n = int(g["n"])
        if n == 0:
            continue
        trade = g["event_type"] in TRADE_EVENT_TYPES
        fee_event = g["event_type"] == "fee"
        quote, side = g["quote"], g["side"]
        if g["venue"] is not None:
            venues.add(g["venue"])
        sources.add(g["source"])
        income_type = g["income_type"] if fee_event else None
        if fee_event and income_type is not None:
            income_types.add(income_type)
        if trade:
            t.trade_count += n
            t.buys += n if side == "buy" else 0
            t.sells += n if side == "sell" else 0
            if quote is not None:
                t.counts[quote] = t.counts.get(quote, 0) + n
                add(t.notional, quote, g["notional"])
                add(t.flow, quote, EXACT.minus(g["notional"]) if side == "sell" else g["notional"])
            _normalisation(t.normalisation, unmapped, g, n)
        fee_ccy = _up(_coalesce(g["fee_asset"], quote, g["meta_asset"]))
        if g["fee_n"] and fee_ccy is not None and (trade or (fee_event and income_type is None)):
            add(t.fees, fee_ccy, g["fee_sum"])
        if fee_event and income_type == "FUNDING_FEE":
            ccy = _up(_coalesce(g["meta_asset"], g["fee_asset"], quote))
            if ccy is not None:
                add(t.funding, ccy, g["funding"])
    t.venues, t.sources, t.income_types = sorted(venues), sorted(sources), sorted(income_types)
    t.unmapped_instruments = sorted(unmapped, key=str)
    return t


def _normalisation(out: dict[str, int], unmapped: set, g: dict, n: int) -> None:
    def add(code: str, rows: int) -> None:
        if rows:
            out[code] = out.get(code, 0) + rows

    if g["instrument_id"] is None:
        add("missing_instrument", n)
    elif g["venue_id"] is None:
        add("missing_venue", n)
    elif g["side"] is None:
        add("missing_side", n)
    else:
        add("invalid_qty", int(g["bad_qty"]))
        add("invalid_price", int(g["bad_price"]))
        rest = n - int(g["bad_qty"]) - int(g["bad_price"])
        if not _CANONICAL_SYMBOL.fullmatch(g["symbol"] or ""):
            add("symbol_mapping_gap", rest)
            if rest:
                unmapped.add(g["instrument_id"])
        elif g["fee_asset"] is None:
            add("fee_asset_assumed_quote", int(g["fee_ok"]))
