"""Pure review rules: days in the user's zone, the reference's outcome statistics, the trader's
own numbers from the ledger, guided-review bundles and streaks, safety-check grouping.

No I/O here (imports only ``kifu.kit``); ``store.py`` and the capabilities' read APIs gather the
rows, this module decides what they mean. Money stays ``Decimal`` (``kit.money.EXACT``: nothing
rounds) and is printed canonically; only the reference's rates and percentages are floats.

**Days.** A day is a calendar day in the request's IANA time zone: ``[local 00:00, next local
00:00)`` converted to UTC (23 or 25 hours long on a daylight-saving change). The reference used
the database session's zone (effectively UTC).

**Bubble outcomes (reference §4.8).** Win = ``pnl_percent > 0``; loss = ``pnl_percent < 0``;
breakeven (``= 0``) is neither and is counted on its own (the reference counted it as a loss,
§7.2 #10). ``win_rate = wins / outcomes × 100`` (0 when none), so the rate itself is the
reference's, and the same as the stats CSV export. Averages and sums are printed with 4 places
(half up), as the reference's ``%.4f``.

**The trader's own numbers** (extra keys; per quote currency, never added across currencies):

* *realized PnL* — FIFO, gross of fees, per account and instrument (``kifu.ledger.pnl``); a
  fill's realized PnL counts on the day (hour, weekday) it was executed.
* *fees* and *funding* ``[asset]``, and the number of fills — the rules of ``kifu.ledger.money``
  (fees of trade fills and of CSV fee rows; the signed income of ``FUNDING_FEE`` events).
* *round trip* — the fills of one book (account, venue, instrument) from the fill after a flat
  point (bought = sold) through the fill that makes it flat again; its PnL is the Σ of their
  realized PnL and it counts where it closes. A book still open has no closed trip; a flip
  through zero without a flat fill continues the trip.
* ``win_rate = wins / trips × 100``; win = PnL > 0, loss = PnL < 0, breakeven = 0 (neither).
* ``avg_win = Σ wins / wins``; ``avg_loss = Σ losses / losses`` (≤ 0); null when there are none.
* ``profit_factor = Σ wins / |Σ losses|``, null when there is no loss.
* ``expectancy = Σ trip PnL / trips`` (the average trip; equals
  ``p_win · avg_win + p_loss · avg_loss``).
* ``largest_win`` = max trip PnL if > 0 else null; ``largest_loss`` = min trip PnL if < 0 else
  null.
* ``max_drawdown`` — the largest fall of the cumulative realized-PnL curve from a running peak
  within the window (the curve starts at 0 at the window's start), over fills in execution order.
* ``longest_win_streak`` / ``longest_loss_streak`` — the most consecutive winning / losing trips
  in closing order; a breakeven trip ends both.
* ``by_weekday`` (``0`` = Monday … ``6`` = Sunday) and ``by_hour`` (``0`` … ``23``): realized PnL
  summed by the local weekday and hour of day of each fill's execution.

``/review/stats`` keeps the reference's rolling window for bubbles (candle time ≥ now − 7 / 30
days) and reports the ledger figures for whole local days (the last 7 / 30 calendar days including
today, or all), named in ``trading.from`` / ``trading.to``; the bubble filters (symbol, tag,
asset class, venue) apply to bubbles only.

Ratios (profit factor) are printed with 8 places, averages with 10 (half up); sums are exact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from kifu.kit.errors import BadRequest, InvalidInput
from kifu.kit.money import EXACT, dec_str
from kifu.kit.pagination import parse_positive_int
from kifu.kit.timeutil import find_zone

ZERO = Decimal(0)
FOUR = Decimal("0.0001")
TEN = Decimal("0.0000000001")
EIGHT = Decimal("0.00000001")

# -- request values ------------------------------------------------------------------------------

PERIOD_DAYS: dict[str, int | None] = {"7d": 7, "30d": 30, "all": None}
DEFAULT_PERIOD = "30d"
TREND_ALL_DAYS = 365  # the reference's trend treats "all" as the last 365 days
MAX_RANGE_DAYS = 366  # a calendar asks for at most a year (a leap year's 366 days)
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Days kifu accepts: wide enough for any trade, narrow enough that a day ± 1 and its UTC bounds
# always exist.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2999, 12, 31)


def check_timezone(value: str | None, default: str) -> ZoneInfo:
    """The IANA zone named (or the default); 400 ``INVALID_TIMEZONE`` for anything else."""
    name = (value if value is not None and value.strip() else default).strip()
    zone = find_zone(name)
    if zone is None:
        shown = repr(name[:40]) + ("…" if len(name) > 40 else "")
        raise BadRequest(
            "INVALID_TIMEZONE", f"timezone: unknown time zone {shown} (use an IANA name)"
        )
    return zone


def check_period(value: str | None) -> str:
    """``7d``, ``30d`` (default) or ``all``; like the reference, any other value means all
    time (the client's charts may send other labels, and must not break on them)."""
    p = (value or "").strip().lower() or DEFAULT_PERIOD
    return p if p in PERIOD_DAYS else "all"


def parse_day(value: str | None, field: str) -> date | None:
    """``YYYY-MM-DD`` or None when absent; 400 ``INVALID_DATE`` naming the field otherwise."""
    if value is None or value == "":
        return None
    text = value.strip()
    try:
        if not DATE_RE.fullmatch(text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError as exc:
        raise BadRequest("INVALID_DATE", f"{field}: {value!r} is not a date (YYYY-MM-DD)") from exc
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadRequest(
            "INVALID_DATE", f"{field}: {text} is outside {FIRST_DAY.year}–{LAST_DAY.year}"
        )
    return day


def no_nul(value: str | None, field: str) -> str | None:
    """PostgreSQL text cannot hold NUL: refuse it here rather than fail in the database."""
    if value is not None and "\x00" in value:
        raise BadRequest("INVALID_REQUEST", f"{field}: contains a NUL character")
    return value


def today_in(zone: ZoneInfo, now: datetime) -> date:
    return now.astimezone(zone).date()


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant of local midnight opening ``day`` (a skipped midnight resolves forward)."""
    local = datetime.combine(day, time(0), tzinfo=zone)
    # A zone that skips midnight (e.g. America/Santiago) names a wall time that does not exist;
    # round-tripping through UTC lands on the first instant that does.
    return local.astimezone(UTC).astimezone(zone).astimezone(UTC)


def day_window(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """``[start, end)`` in UTC of one local day."""
    return day_start(day, zone), day_start(day + timedelta(days=1), zone)


def calendar_range(
    raw_from: str | None, raw_to: str | None, zone: ZoneInfo, now: datetime
) -> tuple[date, date]:
    """The calendar's days: defaults ``to`` = today, ``from`` = the same day a month earlier;
    400 ``INVALID_RANGE`` when ``from`` is after ``to`` or the range is longer than a year."""
    to = parse_day(raw_to, "to") or today_in(zone, now)
    start = parse_day(raw_from, "from") or month_before(to)
    if start > to:
        raise BadRequest("INVALID_RANGE", f"from ({start}) is after to ({to})")
    if (to - start).days + 1 > MAX_RANGE_DAYS:
        raise BadRequest("INVALID_RANGE", f"from..to spans more than {MAX_RANGE_DAYS} days")
    return start, to


def month_before(day: date) -> date:
    """The same day one month earlier (clamped to the month's last day)."""
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def period_days(period: str, today: date) -> tuple[date | None, date]:
    """The local days the ledger figures of ``/review/stats`` cover: the last 7 / 30 calendar
    days including today, or everything (``None``) for ``all``."""
    n = PERIOD_DAYS[period]
    return (None if n is None else today - timedelta(days=n - 1)), today


# -- where rollup hours are exact ----------------------------------------------------------------


def hour_aligned(zone: ZoneInfo, instants: Iterable[datetime]) -> bool:
    """True when the zone's offset is a whole number of hours at every one of ``instants``: then
    each UTC hour lies inside one local hour (and one local day), and hourly rollups bucket
    exactly."""
    return all(
        (t.astimezone(zone).utcoffset() or timedelta(0)).total_seconds() % 3600 == 0
        for t in instants
    )


def straddled_hours(boundaries: Iterable[datetime]) -> list[datetime]:
    """The UTC hours that contain one of ``boundaries`` (local day starts) other than at their
    start: an hourly rollup row of such an hour belongs to two local days, so its fills are read
    one by one."""
    out = set()
    for b in boundaries:
        b = b.astimezone(UTC)
        if b.minute or b.second or b.microsecond:
            out.add(b.replace(minute=0, second=0, microsecond=0))
    return sorted(out)


# -- formatting ----------------------------------------------------------------------------------


def four(value: Decimal | None) -> str:
    return str((value if value is not None else ZERO).quantize(FOUR, ROUND_HALF_UP))


def calendar_outcomes(o: DayOutcomes | None) -> dict[str, Any]:
    """A calendar day's bubble figures (reference §2.9): counts, and the Σ of 1h outcomes."""
    return {
        "bubble_count": o.bubbles if o else 0,
        "win_count": o.wins if o else 0,
        "loss_count": o.losses if o else 0,
        "breakeven_count": (o.with_outcome - o.wins - o.losses) if o else 0,
        "outcome_count": o.with_outcome if o else 0,
        "total_pnl": four(o.total if o else None),
    }


def rate(wins: int, count: int) -> float:
    return round(wins * 100 / count, 10) if count else 0.0


def money(value: Decimal | None) -> str | None:
    return dec_str(value)


def quantized(value: Decimal | None, places: Decimal) -> str | None:
    if value is None:
        return None
    return dec_str(value.quantize(places, ROUND_HALF_UP))


# -- bubble outcome statistics (reference §4.8) -----------------------------------------------


@dataclass(frozen=True)
class OutcomeAgg:
    """What SQL folds per group of outcomes: count, wins, losses, Σ, max, min."""

    count: int = 0
    wins: int = 0
    losses: int = 0
    total: Decimal | None = None
    best: Decimal | None = None
    worst: Decimal | None = None

    @property
    def breakeven(self) -> int:
        return self.count - self.wins - self.losses

    @property
    def avg(self) -> Decimal | None:
        return None if not self.count or self.total is None else self.total / self.count

    @property
    def win_rate(self) -> float:
        return rate(self.wins, self.count)


def outcome_group(a: OutcomeAgg) -> dict[str, Any]:
    """``{count, win_rate, avg_pnl}`` of by_period / by_tag / by_symbol, plus win/loss counts."""
    return {
        "count": a.count,
        "win_rate": a.win_rate,
        "avg_pnl": four(a.avg),
        "wins": a.wins,
        "losses": a.losses,
        "breakeven": a.breakeven,
    }


def overall(a: OutcomeAgg) -> dict[str, Any]:
    return {
        "win_rate": a.win_rate,
        "avg_pnl": four(a.avg),
        "total_pnl": four(a.total),
        "max_gain": four(a.best),
        "max_loss": four(a.worst),
        "count": a.count,
        "wins": a.wins,
        "losses": a.losses,
        "breakeven": a.breakeven,
    }


@dataclass(frozen=True)
class DayOutcomes:
    """One local day of bubbles: distinct bubbles and their 1h outcomes."""

    bubbles: int
    wins: int
    losses: int
    with_outcome: int
    total: Decimal


def trend_points(days: Sequence[date], by_day: dict[date, DayOutcomes]) -> list[dict[str, Any]]:
    """One point per day: ``pnl`` = Σ 1h outcome pnl_percent of the day's bubbles (by candle
    time in the user's zone, not creation time, and parsed whole, not chopped: §7.2 #9),
    ``cumulative_pnl`` the running sum, ``win_rate`` = wins / bubbles × 100 (the reference's
    denominator: every bubble of the day). Numbers, as the client's chart reads them."""
    out, cum = [], ZERO
    for d in days:
        x = by_day.get(d)
        pnl = x.total if x else ZERO
        cum = EXACT.add(cum, pnl)
        out.append(
            {
                "date": d.isoformat(),
                "pnl": float(pnl),
                "cumulative_pnl": float(cum),
                "win_rate": rate(x.wins, x.bubbles) if x else 0.0,
                "bubble_count": x.bubbles if x else 0,
                "outcome_count": x.with_outcome if x else 0,
            }
        )
    return out


# -- the trader's own numbers ---------------------------------------------------------------------


def _add(m: dict[str, Decimal], key: str, value: Decimal) -> None:
    m[key] = EXACT.add(m.get(key, ZERO), value)


@dataclass(frozen=True)
class TripStats:
    trips: int
    wins: int
    losses: int
    breakeven: int
    win_rate: float
    gross_profit: Decimal
    gross_loss: Decimal
    avg_win: Decimal | None
    avg_loss: Decimal | None
    profit_factor: Decimal | None
    expectancy: Decimal | None
    largest_win: Decimal | None
    largest_loss: Decimal | None
    longest_win_streak: int
    longest_loss_streak: int

    def as_json(self) -> dict[str, Any]:
        return {
            "closed_trips": self.trips,
            "wins": self.wins,
            "losses": self.losses,
            "breakeven": self.breakeven,
            "win_rate": self.win_rate,
            "gross_profit": dec_str(self.gross_profit),
            "gross_loss": dec_str(self.gross_loss),
            "avg_win": quantized(self.avg_win, TEN),
            "avg_loss": quantized(self.avg_loss, TEN),
            "profit_factor": quantized(self.profit_factor, EIGHT),
            "expectancy": quantized(self.expectancy, TEN),
            "largest_win": dec_str(self.largest_win),
            "largest_loss": dec_str(self.largest_loss),
            "longest_win_streak": self.longest_win_streak,
            "longest_loss_streak": self.longest_loss_streak,
        }


def trip_stats(pnls: Sequence[Decimal]) -> TripStats:
    """Figures of closed round trips of one currency, given in closing order (docstring)."""
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    gp = sum(wins, ZERO)
    gl = sum(losses, ZERO)
    streak_w = streak_l = best_w = best_l = 0
    for p in pnls:
        streak_w = streak_w + 1 if p > 0 else 0
        streak_l = streak_l + 1 if p < 0 else 0
        best_w, best_l = max(best_w, streak_w), max(best_l, streak_l)
    n = len(pnls)
    return TripStats(
        trips=n,
        wins=len(wins),
        losses=len(losses),
        breakeven=n - len(wins) - len(losses),
        win_rate=rate(len(wins), n),
        gross_profit=gp,
        gross_loss=gl,
        avg_win=gp / len(wins) if wins else None,
        avg_loss=gl / len(losses) if losses else None,
        profit_factor=gp / -gl if losses else None,
        expectancy=EXACT.add(gp, gl) / n if n else None,
        largest_win=max(wins) if wins else None,
        largest_loss=min(losses) if losses else None,
        longest_win_streak=best_w,
        longest_loss_streak=best_l,
    )


def max_drawdown(pnls: Iterable[Decimal]) -> Decimal:
    """Largest fall from a running peak of the cumulative sum (the curve starts at 0)."""
    cum = peak = worst = ZERO
    for p in pnls:
        cum = EXACT.add(cum, p)
        peak = max(peak, cum)
        worst = max(worst, EXACT.subtract(peak, cum))
    return worst


def weekday_hour(
    buckets: Iterable[tuple[str, datetime, Decimal]],
) -> tuple[dict[str, dict[str, Decimal]], dict[str, dict[str, Decimal]]]:
    """(quote, local hour start, PnL) rows → PnL per quote by weekday (``"0"`` = Monday) and by
    hour of day (``"0"``–``"23"``)."""
    by_weekday: dict[str, dict[str, Decimal]] = {}
    by_hour: dict[str, dict[str, Decimal]] = {}
    for quote, local, pnl in buckets:
        _add(by_weekday.setdefault(quote, {}), str(local.weekday()), pnl)
        _add(by_hour.setdefault(quote, {}), str(local.hour), pnl)
    return by_weekday, by_hour


def weekday_hour_sums(
    rows: Iterable[tuple[str, int | None, int | None, Decimal]],
) -> tuple[dict[str, dict[str, Decimal]], dict[str, dict[str, Decimal]], dict[str, Decimal]]:
    """(quote, weekday, hour, PnL) rows summed by the database (weekday 0 = Monday; a row with
    both None is the quote's total) → PnL per quote by weekday, by hour of day (the keys of
    ``weekday_hour``) and in all."""
    by_weekday: dict[str, dict[str, Decimal]] = {}
    by_hour: dict[str, dict[str, Decimal]] = {}
    totals: dict[str, Decimal] = {}
    for quote, weekday, hour, pnl in rows:
        if weekday is not None:
            _add(by_weekday.setdefault(quote, {}), str(weekday), pnl)
        elif hour is not None:
            _add(by_hour.setdefault(quote, {}), str(hour), pnl)
        else:
            _add(totals, quote, pnl)
    return by_weekday, by_hour, totals


# -- guided review (reference §4.13) ----------------------------------------------------------

BUNDLE_GAP = timedelta(seconds=90)
NO_TRADE_SYMBOL = "__NO_TRADE__"
SUPPLEMENT_BASE = 1000
ROLLOVER_BASE = 2000

INTENTS = frozenset({"technical_signal", "news_event", "emotional", "planned_regular", "other"})
NO_TRADE_INTENTS = frozenset(
    {
        "no_trade_wait_setup",
        "no_trade_risk_off",
        "no_trade_schedule",
        "no_trade_emotion_control",
        "no_trade_other",
    }
)
EMOTIONS = frozenset(
    {
        "confident",
        "half_doubtful",
        "anxious",
        "excited",
        "calm",
        "nervous",
        "fomo",
        "revenge_trade",
        "as_planned",
    }
)
PATTERNS = frozenset(
    {"same_decision", "adjust_timing", "reduce_size", "would_not_trade", "change_sl_tp"}
)
NO_TRADE_PATTERNS = frozenset(
    {"watch_key_level", "wait_confirmation", "size_down_first", "stay_no_trade", "rebuild_plan"}
)
MAX_MEMO = 200
MAX_EMOTIONS = len(EMOTIONS)


@dataclass(frozen=True)
class Fill:
    """A fill as guided review and the safety check see it."""

    symbol: str
    side: str  # BUY / SELL
    at: datetime
    pnl: Decimal


@dataclass(frozen=True)
class Bundle:
    symbol: str
    side: str | None
    pnl: Decimal
    trade_count: int


def bundle(fills: Iterable[Fill]) -> list[Bundle]:
    """Per symbol: fills of one side less than 90 s apart (gap to the previous fill of the same
    symbol and side) are one decision; ``trade_count`` = decisions over both sides, ``pnl`` = Σ
    realized PnL, ``side`` = ``SELL`` if any sell (the reference's MAX). Most decisions first,
    then by symbol."""
    by_key: dict[tuple[str, str], list[datetime]] = {}
    pnl: dict[str, Decimal] = {}
    sides: dict[str, str] = {}
    for f in fills:
        by_key.setdefault((f.symbol, f.side), []).append(f.at)
        _add(pnl, f.symbol, f.pnl)
        sides[f.symbol] = max(sides.get(f.symbol, f.side), f.side)
    counts: dict[str, int] = {}
    for (symbol, _side), times in by_key.items():
        times.sort()
        n = 1
        for prev, cur in pairwise(times):
            if cur - prev > BUNDLE_GAP:
                n += 1
        counts[symbol] = counts.get(symbol, 0) + n
    out = [Bundle(s, sides[s], pnl[s], counts[s]) for s in counts]
    out.sort(key=lambda b: (-b.trade_count, b.symbol))
    return out


def subtract(late: list[Bundle], captured: dict[str, tuple[int, Decimal]]) -> list[Bundle]:
    """Late bundles less what supplements already captured; only positive counts remain."""
    out = []
    for b in late:
        n, p = captured.get(b.symbol, (0, ZERO))
        if b.trade_count - n > 0:
            out.append(Bundle(b.symbol, b.side, EXACT.subtract(b.pnl, p), b.trade_count - n))
    return out


def day_key(symbol: str, day: date) -> str:
    return f"{symbol}:{day.isoformat()}"


def no_trade_key(day: date) -> str:
    return f"NO_TRADE:{day.isoformat()}"


def rollover_key(yesterday: date, symbol: str) -> str:
    return f"ROLLOVER:{yesterday.isoformat()}:{symbol}"


def supplement_prefix(day: date, symbol: str) -> str:
    return f"SUPPLEMENT:{day.isoformat()}:{symbol}:"


def supplement_symbol(bundle_key: str | None) -> str | None:
    """The symbol of a ``SUPPLEMENT:<date>:<SYMBOL>:<nanos>`` key, else None."""
    if not bundle_key or not bundle_key.startswith("SUPPLEMENT:"):
        return None
    parts = bundle_key.split(":")
    return ":".join(parts[2:-1]) if len(parts) >= 4 else None


@dataclass(frozen=True)
class Answer:
    intent: str
    emotions: list[str] | None
    pattern_match: str | None
    memo: str | None


def _blank_none(value: str | None) -> str | None:
    if value is None:
        return None
    v = value.strip()
    return v or None


def check_answer(
    intent: str | None,
    emotions: Sequence[str] | None,
    pattern_match: str | None,
    memo: str | None,
    *,
    no_trade: bool,
) -> Answer:
    """An answer in the item's vocabulary (the no-trade variants for the no-trade item); 400
    naming the bad value. Empty strings and an empty emotion list mean "no answer"."""
    intents, patterns = (NO_TRADE_INTENTS, NO_TRADE_PATTERNS) if no_trade else (INTENTS, PATTERNS)
    kind = "a no-trade day" if no_trade else "a trade"
    i = _blank_none(intent)
    if i is None:
        raise BadRequest("INVALID_INTENT", "intent: required")
    if i not in intents:
        raise BadRequest(
            "INVALID_INTENT",
            f"intent: {i!r} is not an intent for {kind} (one of {', '.join(sorted(intents))})",
        )
    chosen: list[str] = []
    for e in emotions or []:
        e2 = e.strip()
        if e2 not in EMOTIONS:
            raise BadRequest(
                "INVALID_EMOTION",
                f"emotions: {e!r} is not an emotion (one of {', '.join(sorted(EMOTIONS))})",
            )
        if e2 not in chosen:
            chosen.append(e2)
    p = _blank_none(pattern_match)
    if p is not None and p not in patterns:
        raise BadRequest(
            "INVALID_PATTERN",
            f"pattern_match: {p!r} is not a pattern for {kind}"
            f" (one of {', '.join(sorted(patterns))})",
        )
    m = _blank_none(no_nul(memo, "memo"))
    if m is not None and len(m) > MAX_MEMO:
        raise BadRequest("INVALID_MEMO", f"memo: at most {MAX_MEMO} characters")
    return Answer(i, chosen or None, p, m)


@dataclass(frozen=True)
class Streak:
    current: int
    longest: int
    last: date | None


def next_streak(prev: Streak | None, day: date) -> Streak:
    """The streak after completing the review of ``day``: the first completion starts at 1;
    the same day again changes nothing; the day after the last one adds 1; a later day after a
    gap restarts at 1. Completing an earlier day than the last one changes nothing (the
    reference restarted at 1 and moved the last day backwards)."""
    if prev is None or prev.last is None:
        return Streak(1, max(1, prev.longest if prev else 0), day)
    if day <= prev.last:
        return prev
    current = prev.current + 1 if (day - prev.last).days == 1 else 1
    return Streak(current, max(prev.longest, current), day)


# -- safety quick-check (reference §4.9) ------------------------------------------------------

VERDICTS = ("intended", "mistake", "unsure")
TARGET_TYPES = ("trade", "trade_event")
SAFETY_GAP = timedelta(seconds=90)
SAFETY_DEFAULT_LIMIT = 20
SAFETY_MAX_LIMIT = 200
MAX_NOTE = 300
ASSET_CLASSES = ("crypto", "stock")
TRUTHY = frozenset({"1", "true", "yes", "y", "on"})


def check_verdict(value: str) -> str:
    v = value.strip().lower()
    if v not in VERDICTS:
        raise BadRequest(
            "INVALID_VERDICT", f"verdict: {value!r} is not one of {', '.join(VERDICTS)}"
        )
    return v


def check_target_type(value: str) -> str:
    v = value.strip().lower()
    if v not in TARGET_TYPES:
        raise BadRequest(
            "INVALID_TARGET_TYPE", f"target_type: {value!r} is not one of trade, trade_event"
        )
    return v


def clean_note(note: str | None) -> str | None:
    """Trimmed, empty → None, at most 300 characters."""
    n = (no_nul(note, "note") or "").strip()
    return n[:MAX_NOTE] or None


def check_asset_class(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    v = value.strip().lower()
    if v not in ASSET_CLASSES:
        raise BadRequest("INVALID_ASSET_CLASS", f"asset_class: {value!r} is not crypto or stock")
    return v


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in TRUTHY


def check_limit(value: str | None) -> int:
    if value is None or value.strip() == "":
        return SAFETY_DEFAULT_LIMIT
    try:
        limit = parse_positive_int(value, "limit", SAFETY_DEFAULT_LIMIT)
    except InvalidInput as exc:
        raise BadRequest("INVALID_REQUEST", exc.detail) from exc
    return min(limit, SAFETY_MAX_LIMIT)


@dataclass
class SafetyItem:
    """One candidate fill (a group of one), or a group of split fills after ``group_fills``."""

    target_type: str
    target_id: str
    executed_at: datetime
    asset_class: str
    venue: str
    venue_name: str
    symbol: str
    side: str
    qty: Decimal | None
    price: Decimal | None
    source: str
    verdict: str | None = None
    note: str | None = None
    reviewed_at: datetime | None = None
    members: list[dict[str, Any]] = field(default_factory=list)

    @property
    def reviewed(self) -> bool:
        return all(m["reviewed"] for m in self.members)

    @property
    def group_verdict(self) -> str | None:
        verdicts = {m["verdict"] for m in self.members}
        if self.reviewed and len(verdicts) == 1:
            return next(iter(verdicts))
        return None


def group_fills(items: Sequence[SafetyItem]) -> list[SafetyItem]:
    """Split fills: in time order, a fill joins the latest group of the same venue, symbol and
    side (case-insensitive) when it is within 90 s of that group's latest fill (the reference
    only looked at the group just before, so a fill of another symbol in between split an
    order). A group's time is its latest fill's; qty is the Σ, price the quantity-weighted
    average (10 places), when every member has both; else the first member's. Newest first."""
    groups: list[SafetyItem] = []
    open_groups: dict[tuple[str, str, str], SafetyItem] = {}
    for it in sorted(items, key=lambda i: (i.executed_at, i.target_id)):
        member = {
            "target_type": it.target_type,
            "target_id": it.target_id,
            "reviewed": it.verdict is not None,
            "verdict": it.verdict,
        }
        key = (it.venue.lower(), it.symbol.lower(), it.side.lower())
        g = open_groups.get(key)
        if g is not None and it.executed_at - g.executed_at <= SAFETY_GAP:
            g.members.append(member)
            g.executed_at = max(g.executed_at, it.executed_at)
            if None not in (g.qty, g.price, it.qty, it.price) and EXACT.add(g.qty, it.qty) != 0:
                q = EXACT.add(g.qty, it.qty)  # type: ignore[arg-type]
                notional = EXACT.add(
                    EXACT.multiply(g.qty, g.price),  # type: ignore[arg-type]
                    EXACT.multiply(it.qty, it.price),  # type: ignore[arg-type]
                )
                g.qty, g.price = q, (notional / q).quantize(TEN, ROUND_HALF_UP)
            if it.reviewed_at and (g.reviewed_at is None or it.reviewed_at > g.reviewed_at):
                g.reviewed_at = it.reviewed_at
            g.note = g.note or it.note
            continue
        g = SafetyItem(**{**it.__dict__, "members": [member]})
        groups.append(g)
        open_groups[key] = g
    groups.sort(key=lambda x: (x.executed_at, x.target_id), reverse=True)
    return groups
