"""Review use cases: statistics, calendar and trend; the guided daily review and its streak; the
daily safety quick-check. Reads of bubbles and outcomes go through ``kifu.journal.queries``,
reads of fills through ``kifu.ledger.queries``; the SQL of review's own tables is in
``store.py`` and what the figures mean in ``rules.py``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Hashable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from psycopg import AsyncConnection, errors
from pydantic import BaseModel

from kifu.journal import queries as journal
from kifu.kit import jsonsql
from kifu.kit.answers import Asked, Computed
from kifu.kit.errors import BadRequest, NotFound
from kifu.kit.money import EXACT, dec_str
from kifu.kit.probes import Probe
from kifu.kit.timeutil import rfc3339
from kifu.ledger import money
from kifu.ledger import queries as ledger
from kifu.review import rules, store
from kifu.review.schemas import (
    GuidedTodayResponse,
    SafetyTodayResponse,
    StatsResponse,
    StreakOut,
    TrendResponse,
)

# -- the ledger figures in the user's days --------------------------------------------------------


# Zones the database server has answered for: a server never forgets a zone while it runs, so
# each process asks once per zone (a round trip less per read); unknown ones are asked again.
_KNOWN_ZONES: set[str] = set()


async def _zone_known(conn: AsyncConnection, zone: ZoneInfo) -> None:
    """Local days are cut in SQL (``AT TIME ZONE``): a zone Python's tz database has and the
    server's lacks is the caller's bad value (400), not a server error."""
    if zone.key in _KNOWN_ZONES:
        return
    if not await store.zone_known(conn, zone.key):
        raise BadRequest(
            "INVALID_TIMEZONE", f"timezone: {zone.key!r} is not known to the database server"
        )
    _KNOWN_ZONES.add(zone.key)


async def _money_by_bucket(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    zone: ZoneInfo,
    start: datetime | None,
    end: datetime | None,
    unit: str,
    boundaries: list[datetime],
) -> dict[datetime | None, money.MoneyByCcy]:
    """Realized PnL, fees, funding and fill counts per local ``unit`` (``day`` or ``none``).
    The caller ran ``ledger.fresh``."""
    raw_hours = rules.straddled_hours(boundaries)
    args: dict[str, Any] = {
        "start": start,
        "end": end,
        "zone": zone.key,
        "unit": unit,
        "raw_hours": raw_hours,
        "raw_all": False,
    }
    out: dict[datetime | None, money.MoneyByCcy] = {}
    for quote, bucket, pnl in await ledger.realized_pnl_buckets(
        conn, user_id, **args, caught_up=True
    ):
        out.setdefault(bucket, money.MoneyByCcy()).add_pnl(quote, pnl)
    for g in await ledger.fee_buckets(conn, user_id, **args):
        money.add_fee_group(out.setdefault(g["bucket"], money.MoneyByCcy()), g)
    return out


async def _trading(
    conn: AsyncConnection, user_id: uuid.UUID, zone: ZoneInfo, period: str, now: datetime
) -> dict[str, Any]:
    """The ``trading`` block of ``/review/stats``: the last 7 / 30 local days (or all)."""
    first_day, last_day = rules.period_days(period, rules.today_in(zone, now))
    start = rules.day_start(first_day, zone) if first_day else None
    end = rules.day_start(last_day + timedelta(days=1), zone)
    edges = [t for t in (start, end) if t is not None]
    await ledger.fresh(conn, user_id)
    # Weekday and hour of day: whole-hour zones bucket the hourly rollups; others read fills.
    aligned = rules.hour_aligned(zone, [*edges, now])
    straddled = rules.straddled_hours(edges)
    week_hours = await ledger.realized_pnl_week_hours(
        conn,
        user_id,
        start=start,
        end=end,
        zone=zone.key,
        raw_hours=straddled if aligned else [],
        raw_all=not aligned,
        caught_up=True,
    )
    by_weekday, by_hour, pnl_totals = rules.weekday_hour_sums(week_hours)
    if aligned:
        # Those rows are the ones a single bucket reads: their per-quote sum is the total.
        totals = money.MoneyByCcy(realized_pnl=pnl_totals)
        for g in await ledger.fee_buckets(
            conn,
            user_id,
            start=start,
            end=end,
            zone=zone.key,
            unit="none",
            raw_hours=straddled,
            raw_all=False,
        ):
            money.add_fee_group(totals, g)
    else:
        totals = (await _money_by_bucket(conn, user_id, zone, start, end, "none", edges)).get(
            None, money.MoneyByCcy()
        )
    trips: dict[str, list[Decimal]] = {}
    for quote, _at, pnl in await ledger.closed_trips(conn, user_id, start, end, caught_up=True):
        trips.setdefault(quote, []).append(pnl)
    curves = await ledger.realized_curve(conn, user_id, start, end, caught_up=True)
    quotes = sorted(set(trips) | set(curves) | set(by_hour) | set(totals.realized_pnl))
    by_currency = {}
    for q in quotes:
        seg = curves.get(q)
        by_currency[q] = {
            "realized_pnl": dec_str(totals.realized_pnl.get(q, Decimal(0))),
            **rules.trip_stats(trips.get(q, [])).as_json(),
            "max_drawdown": dec_str(seg.fall if seg else Decimal(0)),
            "by_weekday": {k: dec_str(v) for k, v in sorted(by_weekday.get(q, {}).items())},
            "by_hour": {
                k: dec_str(v)
                for k, v in sorted(by_hour.get(q, {}).items(), key=lambda x: int(x[0]))
            },
        }
    return {
        "from_": first_day.isoformat() if first_day else None,
        "to": last_day.isoformat(),
        "timezone": zone.key,
        **totals.as_json(),
        "by_currency": by_currency,
    }


# -- statistics, calendar, trend ------------------------------------------------------------------


def _agg(row: journal.OutcomeRow | None) -> rules.OutcomeAgg:
    return rules.OutcomeAgg(*row) if row else rules.OutcomeAgg()


async def _stats(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    zone: ZoneInfo,
    p: str,
    scope: journal.BubbleScope,
    now: datetime,
) -> tuple[dict[str, Any], datetime | None]:
    """Outcome statistics of the user's bubbles (reference §4.8: candle_time within the last 7
    / 30 days, or all) and the ledger's ``trading`` figures for the same number of local days;
    and when time alone changes them: when the first of the scoped bubbles leaves the period's
    window (its candle time + the period; the local days of ``trading`` move with today, which
    the caller keys by)."""
    s = await journal.outcome_stats(conn, user_id, scope)
    await _zone_known(conn, zone)
    trading = await _trading(conn, user_id, zone, p, now)
    days = rules.PERIOD_DAYS[p]
    expires = None if days is None or s.earliest is None else s.earliest + timedelta(days=days)
    return {
        "period": p,
        "timezone": zone.key,
        "total_bubbles": s.total_bubbles,
        "bubbles_with_outcome": s.bubbles_with_outcome,
        "overall": rules.overall(_agg(s.by_period.get("1h"))),
        "by_period": {k: rules.outcome_group(_agg(v)) for k, v in sorted(s.by_period.items())},
        "by_tag": {k: rules.outcome_group(_agg(v)) for k, v in sorted(s.by_tag.items())},
        "by_symbol": {k: rules.outcome_group(_agg(v)) for k, v in sorted(s.by_symbol.items())},
        "trading": trading,
    }, expires


def _day_edges(zone: ZoneInfo, first: date, last: date) -> list[datetime]:
    """The UTC starts of the local days ``first..last`` and of the day after."""
    days = rules.days_between(first, last)
    return [rules.day_start(d, zone) for d in [*days, last + timedelta(days=1)]]


async def _outcomes_by_day(
    conn: AsyncConnection, user_id: uuid.UUID, zone: ZoneInfo, start: datetime, end: datetime
) -> dict[date, rules.DayOutcomes]:
    return {
        r.day: rules.DayOutcomes(r.bubbles, r.wins, r.losses, r.with_outcome, r.total)
        for r in await journal.outcomes_by_day(conn, user_id, start, end, zone.key)
    }


async def _days(
    conn: AsyncConnection, user_id: uuid.UUID, zone: ZoneInfo, first: date, last: date
) -> tuple[dict[date, rules.DayOutcomes], dict[date, money.MoneyByCcy]]:
    """Bubble outcomes and ledger money per local day of ``first..last``."""
    edges = _day_edges(zone, first, last)
    start, end = edges[0], edges[-1]
    outcomes = await _outcomes_by_day(conn, user_id, zone, start, end)
    await ledger.fresh(conn, user_id)
    by_day = await _money_by_bucket(conn, user_id, zone, start, end, "day", edges)
    return outcomes, {k.date(): v for k, v in by_day.items() if k is not None}


def _members(value: dict[str, Any]) -> str:
    """The members of a JSON object, without its braces (compact, as PostgreSQL writes them)."""
    return json.dumps(value, separators=(",", ":"))[1:-1]


_NO_MONEY = _members(money.MoneyByCcy().as_json())


async def _calendar(
    conn: AsyncConnection, user_id: uuid.UUID, zone: ZoneInfo, first: date, last: date
) -> bytes:
    """Per local day of ``first..last`` with bubbles or fills: the reference's bubble counts and
    1h outcome sum, and the day's realized PnL, fees and funding per currency
    (``schemas.CalendarResponse`` as JSON text). The money is written by PostgreSQL
    (``ledger.money_by_day_json``), or folded here when an asset is not ASCII."""
    await _zone_known(conn, zone)
    edges = _day_edges(zone, first, last)
    start, end = edges[0], edges[-1]
    outcomes = await _outcomes_by_day(conn, user_id, zone, start, end)
    raw_hours = rules.straddled_hours(edges)
    by_day = await ledger.money_by_day_json(
        conn, user_id, start=start, end=end, zone=zone.key, raw_hours=raw_hours
    )
    if by_day is None:  # caught up by money_by_day_json
        folded = await _money_by_bucket(conn, user_id, zone, start, end, "day", edges)
        by_day = {k.date(): _members(v.as_json()) for k, v in folded.items() if k is not None}
    days = ",".join(
        f'"{d.isoformat()}":{{{_members(rules.calendar_outcomes(outcomes.get(d)))},'
        f"{by_day.get(d, _NO_MONEY)}}}"
        for d in sorted(set(outcomes) | set(by_day))
    )
    return jsonsql.document(
        **{
            "from": first.isoformat(),
            "to": last.isoformat(),
            "timezone": zone.key,
            "days": jsonsql.Raw("{" + days + "}"),
        }
    )


async def _trend(
    conn: AsyncConnection, user_id: uuid.UUID, zone: ZoneInfo, p: str, today: date
) -> dict[str, Any]:
    """One point per local day from today − N days to today (N = 7, 30, or 365 for ``all``)."""
    n = rules.PERIOD_DAYS[p] or rules.TREND_ALL_DAYS
    first = today - timedelta(days=n)
    await _zone_known(conn, zone)
    outcomes, by_day = await _days(conn, user_id, zone, first, today)
    days = rules.days_between(first, today)
    points = rules.trend_points(days, outcomes)
    cum: dict[str, Decimal] = {}
    for d, point in zip(days, points, strict=True):
        m = by_day.get(d, money.MoneyByCcy())
        for q, v in m.realized_pnl.items():
            cum[q] = EXACT.add(cum.get(q, Decimal(0)), v)
        point["realized_pnl"] = {k: dec_str(v) for k, v in sorted(m.realized_pnl.items())}
        point["cumulative_realized_pnl"] = {k: dec_str(v) for k, v in sorted(cum.items())}
    return {"period": p, "timezone": zone.key, "data": points}


# -- kept answers (kit.answers): statistics, calendar and trend served again until they change -----


def _json(model: type[BaseModel], figures: dict[str, Any]) -> bytes:
    """``figures`` as the route's response model serialises them (aliases on the wire)."""
    return model.model_validate(figures).model_dump_json(by_alias=True).encode()


async def _kept(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    kept: Asked,
    key: Hashable,
    zone: ZoneInfo,
    now: datetime,
    compute: Callable[[], Awaitable[Computed]],
    probe: Probe = store.change_stamps,
) -> bytes:
    """``kept.serve`` under the stamps ``probe`` reads first (the user's ledger and journal
    change stamps unless told); an answer read while changes to the fills wait to be caught up
    (``ledger.behind``: the ledger lock was taken) is not kept. The request means ``key``
    until the next local midnight (the keys carry today, or a range of days that defaults to
    today's month)."""

    async def computed() -> Computed:
        body, expires = await compute()
        return body, (now if await ledger.behind(conn, user_id) else expires)

    _, midnight = rules.day_window(rules.today_in(zone, now), zone)
    return await kept.serve(conn, user_id, key, probe, now, computed, key_until=midnight)


async def stats(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    kept: Asked,
    *,
    period: str | None,
    symbol: str | None,
    tag: str | None,
    asset_class: str | None,
    venue: str | None,
    timezone: str | None,
    default_tz: str,
    now: datetime,
) -> bytes:
    """``_stats`` as ``schemas.StatsResponse`` JSON, kept per scope and local today."""
    zone = rules.check_timezone(timezone, default_tz)
    p = rules.check_period(period)
    days = rules.PERIOD_DAYS[p]
    for name, value in (("symbol", symbol), ("tag", tag), ("asset_class", asset_class)):
        rules.no_nul(value, name)
    rules.no_nul(venue, "venue")
    scope = journal.BubbleScope(
        since=None if days is None else now - timedelta(days=days),
        symbol=symbol or None,
        tag=(tag or "").strip().lower() or None,
        asset_class=(asset_class or "").strip().lower() or None,
        venue=(venue or "").strip().lower() or None,
    )
    today = rules.today_in(zone, now)
    key = ("stats", p, scope.symbol, scope.tag, scope.asset_class, scope.venue, zone.key, today)

    async def compute() -> Computed:
        figures, expires = await _stats(conn, user_id, zone, p, scope, now)
        return _json(StatsResponse, figures), expires

    return await _kept(conn, user_id, kept, key, zone, now, compute)


async def calendar(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    kept: Asked,
    *,
    from_: str | None,
    to: str | None,
    timezone: str | None,
    default_tz: str,
    now: datetime,
) -> bytes:
    """``_calendar``, kept per range of days (time alone never changes a given range)."""
    zone = rules.check_timezone(timezone, default_tz)
    first, last = rules.calendar_range(from_, to, zone, now)

    async def compute() -> Computed:
        return await _calendar(conn, user_id, zone, first, last), None

    key = ("calendar", first, last, zone.key)
    return await _kept(conn, user_id, kept, key, zone, now, compute)


async def trend(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    kept: Asked,
    *,
    period: str | None,
    timezone: str | None,
    default_tz: str,
    now: datetime,
) -> bytes:
    """``_trend`` as ``schemas.TrendResponse`` JSON, kept per period and local today."""
    zone = rules.check_timezone(timezone, default_tz)
    p = rules.check_period(period)
    today = rules.today_in(zone, now)

    async def compute() -> Computed:
        return _json(TrendResponse, await _trend(conn, user_id, zone, p, today)), None

    return await _kept(conn, user_id, kept, ("trend", p, zone.key, today), zone, now, compute)


# -- guided review ---------------------------------------------------------------------------------


def _uuid(raw: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise NotFound("NOT_FOUND", f"{what} not found") from exc


def review_json(r: dict) -> dict[str, Any]:
    return {
        "id": str(r["id"]),
        "user_id": str(r["user_id"]),
        "review_date": r["review_date"].isoformat(),
        "status": r["status"],
        "completed_at": rfc3339(r["completed_at"]),
        "created_at": rfc3339(r["created_at"]),
    }


def item_json(i: dict) -> dict[str, Any]:
    return {
        "id": str(i["id"]),
        "review_id": str(i["review_id"]),
        "trade_id": str(i["trade_id"]) if i["trade_id"] else None,
        "bundle_key": i["bundle_key"],
        "symbol": i["symbol"],
        "side": i["side"],
        "pnl": float(i["pnl"]) if i["pnl"] is not None else None,
        "trade_count": i["trade_count"],
        "intent": i["intent"],
        "emotions": [e for e in (i["emotions"] or []) if isinstance(e, str)],
        "pattern_match": i["pattern_match"],
        "memo": i["memo"],
        "order_index": i["order_index"],
        "created_at": rfc3339(i["created_at"]),
    }


def _fills(trades: list[ledger.DayTrade]) -> list[rules.Fill]:
    return [rules.Fill(t.symbol, t.side, t.at, t.pnl) for t in trades]


async def _build_items(
    conn: AsyncConnection, user_id: uuid.UUID, review: dict, zone: ZoneInfo
) -> None:
    day = review["review_date"]
    start, end = rules.day_window(day, zone)
    bundles = rules.bundle(_fills(await ledger.trades_between(conn, user_id, start, end)))
    if not bundles:
        items = [
            {
                "bundle_key": rules.no_trade_key(day),
                "symbol": rules.NO_TRADE_SYMBOL,
                "side": None,
                "pnl": None,
                "trade_count": 0,
                "order_index": 0,
            }
        ]
    else:
        items = [
            {
                "bundle_key": rules.day_key(b.symbol, day),
                "symbol": b.symbol,
                "side": b.side,
                "pnl": b.pnl,
                "trade_count": b.trade_count,
                "order_index": i,
            }
            for i, b in enumerate(bundles)
        ]
    await store.insert_items(conn, review["id"], items)


def _captured(items: list[dict], keep: Any, answered_only: bool) -> dict[str, tuple[int, Decimal]]:
    """Trade counts and PnL already in the items ``keep(bundle_key)`` selects, per symbol."""
    out: dict[str, tuple[int, Decimal]] = {}
    for i in items:
        if not keep(i["bundle_key"] or ""):
            continue
        if answered_only and i["intent"] is None:
            continue
        n, p = out.get(i["symbol"], (0, Decimal(0)))
        out[i["symbol"]] = (n + i["trade_count"], EXACT.add(p, i["pnl"] or Decimal(0)))
    return out


def _merge(*parts: dict[str, tuple[int, Decimal]]) -> dict[str, tuple[int, Decimal]]:
    out: dict[str, tuple[int, Decimal]] = {}
    for part in parts:
        for sym, (n, p) in part.items():
            on, op = out.get(sym, (0, Decimal(0)))
            out[sym] = (on + n, EXACT.add(op, p))
    return out


def _day_item(day: date) -> Any:
    """Selects the ``<SYMBOL>:<date>`` items of ``day``."""
    suffix = f":{day.isoformat()}"
    return lambda key: (
        key.endswith(suffix) and not key.startswith(("SUPPLEMENT:", "ROLLOVER:", "NO_TRADE:"))
    )


def _prefixed(prefix: str) -> Any:
    return lambda key: key.startswith(prefix)


def _next_index(items: list[dict], base: int) -> int:
    taken = [i["order_index"] for i in items if base <= i["order_index"] < base + 1000]
    return max(taken, default=base - 1) + 1


async def _put_late(
    conn: AsyncConnection,
    review_id: uuid.UUID,
    items: list[dict],
    late: list[rules.Bundle],
    key_of: Any,
    base: int,
) -> None:
    """Make one unanswered item per late bundle: update the symbol's unanswered item (its key
    starts with ``key_of(symbol)``), dropping extra ones, or insert a new one."""
    index = _next_index(items, base)
    for b in late:
        prefix = key_of(b.symbol)
        open_items = [
            i
            for i in items
            if i["intent"] is None
            and (
                i["bundle_key"] == prefix
                or (prefix.endswith(":") and (i["bundle_key"] or "").startswith(prefix))
            )
        ]
        if open_items:
            keep, *extra = open_items
            await store.update_item_counts(conn, keep["id"], b.side, b.pnl, b.trade_count)
            await store.delete_items(conn, [i["id"] for i in extra])
            continue
        key = prefix if not prefix.endswith(":") else f"{prefix}{_nanos()}"
        item = {
            "bundle_key": key,
            "symbol": b.symbol,
            "side": b.side,
            "pnl": b.pnl,
            "trade_count": b.trade_count,
            "order_index": index,
        }
        await store.insert_items(conn, review_id, [item])
        index += 1


def _nanos() -> int:
    now = datetime.now(UTC)
    return int(now.timestamp()) * 1_000_000_000 + now.microsecond * 1000


async def _day_bundles(
    conn: AsyncConnection, user_id: uuid.UUID, day: date, zone: ZoneInfo
) -> list[rules.Bundle]:
    start, end = rules.day_window(day, zone)
    return rules.bundle(_fills(await ledger.trades_between(conn, user_id, start, end)))


async def _refresh_open(
    conn: AsyncConnection, user_id: uuid.UUID, review: dict, zone: ZoneInfo
) -> None:
    """Until a review is completed, trades that arrive for its day (made later, or imported
    later) join it: an unanswered ``<SYMBOL>:<date>`` item takes the day's current figures, a
    new symbol gets its item, and an unanswered no-trade item goes once there are trades.
    Answered items keep what was answered."""
    if review["status"] == "completed":
        return
    day = review["review_date"]
    bundles = await _day_bundles(conn, user_id, day, zone)
    if not bundles:
        return
    items = await store.items_of(conn, review["id"])
    is_day = _day_item(day)
    current = {i["symbol"]: i for i in items if is_day(i["bundle_key"] or "")}
    index = _next_index(items, 0)
    for b in bundles:
        item = current.get(b.symbol)
        if item is None:
            row = {
                "bundle_key": rules.day_key(b.symbol, day),
                "symbol": b.symbol,
                "side": b.side,
                "pnl": b.pnl,
                "trade_count": b.trade_count,
                "order_index": index,
            }
            await store.insert_items(conn, review["id"], [row])
            index += 1
        elif item["intent"] is None and (item["trade_count"], item["pnl"], item["side"]) != (
            b.trade_count,
            b.pnl,
            b.side,
        ):
            await store.update_item_counts(conn, item["id"], b.side, b.pnl, b.trade_count)
    await store.delete_items(
        conn,
        [
            i["id"]
            for i in items
            if i["bundle_key"] == rules.no_trade_key(day) and i["intent"] is None
        ],
    )


async def _supplement(
    conn: AsyncConnection, user_id: uuid.UUID, review: dict, zone: ZoneInfo
) -> None:
    """After completion, the day's decisions its items do not hold (trades made or imported
    after it was completed) become ``SUPPLEMENT:<date>:<SYMBOL>:<nanos>`` items (order from
    1000): per symbol, the day's bundles less those counted by its ``<SYMBOL>:<date>`` item and
    by answered supplements. An answered supplement stays as answered; only the rest is open."""
    if review["status"] != "completed":
        return
    day = review["review_date"]
    bundles = await _day_bundles(conn, user_id, day, zone)
    if not bundles:
        return
    items = await store.items_of(conn, review["id"])
    captured = _merge(
        _captured(items, _day_item(day), False),
        _captured(items, _prefixed(f"SUPPLEMENT:{day.isoformat()}:"), True),
    )
    await _put_late(
        conn,
        review["id"],
        items,
        rules.subtract(bundles, captured),
        lambda s: rules.supplement_prefix(day, s),
        rules.SUPPLEMENT_BASE,
    )


async def _rollover(
    conn: AsyncConnection, user_id: uuid.UUID, review: dict, zone: ZoneInfo
) -> None:
    """When the previous day's review is completed, its decisions that neither its items nor
    its supplements hold (late trades nobody opened that review for) become
    ``ROLLOVER:<yesterday>:<SYMBOL>`` items of this review (order from 2000); answered rollovers
    stay."""
    yesterday = review["review_date"] - timedelta(days=1)
    prev = await store.review_of_day(conn, user_id, yesterday)
    if prev is None or prev["status"] != "completed":
        return
    bundles = await _day_bundles(conn, user_id, yesterday, zone)
    if not bundles:
        return
    prev_items = await store.items_of(conn, prev["id"])
    items = await store.items_of(conn, review["id"])
    captured = _merge(
        _captured(prev_items, _day_item(yesterday), False),
        _captured(prev_items, _prefixed(f"SUPPLEMENT:{yesterday.isoformat()}:"), False),
        _captured(items, _prefixed(f"ROLLOVER:{yesterday.isoformat()}:"), True),
    )
    await _put_late(
        conn,
        review["id"],
        items,
        rules.subtract(bundles, captured),
        lambda s: rules.rollover_key(yesterday, s),
        rules.ROLLOVER_BASE,
    )


async def guided_today(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    *,
    timezone: str | None,
    day: str | None,
    default_tz: str,
    now: datetime,
) -> dict[str, Any]:
    """``_guided_day`` of the day asked (today in the zone by default)."""
    zone = rules.check_timezone(timezone, default_tz)
    d = rules.parse_day(day, "date") or rules.today_in(zone, now)
    return await _guided_day(conn, user_id, d, zone)


async def guided_today_answer(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    kept: Asked,
    *,
    timezone: str | None,
    day: str | None,
    default_tz: str,
    now: datetime,
) -> bytes:
    """``guided_today`` as ``schemas.GuidedTodayResponse`` JSON, kept per day and zone under
    the user's ledger and review stamps. Computing it again while neither moved writes nothing
    (the review and its items already hold the day's fills), so serving the kept answer skips
    no write; the first computation's own writes move the review stamp, so the next request
    computes once more."""
    zone = rules.check_timezone(timezone, default_tz)
    d = rules.parse_day(day, "date") or rules.today_in(zone, now)

    async def compute() -> Computed:
        return _json(GuidedTodayResponse, await _guided_day(conn, user_id, d, zone)), None

    return await _kept(
        conn, user_id, kept, ("guided", d, zone.key), zone, now, compute, store.day_stamps
    )


async def _guided_day(
    conn: AsyncConnection, user_id: uuid.UUID, d: date, zone: ZoneInfo
) -> dict[str, Any]:
    """The review of day ``d``, created with its items from the day's trades on first sight and
    kept current while open; after completion late trades are supplemented, and those of a
    completed yesterday nobody saw are rolled over. One transaction under the user's
    guided-review lock, so two requests at once create one review."""
    async with conn.transaction():
        await store.lock_guided(conn, user_id)
        try:
            review, created = await store.get_or_create_review(conn, user_id, d)
        except errors.ForeignKeyViolation as exc:  # the token outlived its deleted user
            raise NotFound("USER_NOT_FOUND", "user not found") from exc
        if created or not await store.items_of(conn, review["id"]):
            await _build_items(conn, user_id, review, zone)
        else:
            await _refresh_open(conn, user_id, review, zone)
        await _supplement(conn, user_id, review, zone)
        await _rollover(conn, user_id, review, zone)
        items = await store.items_of(conn, review["id"])
    return {"review": review_json(review), "items": [item_json(i) for i in items]}


async def submit(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    raw_item_id: str,
    *,
    intent: str | None,
    emotions: list[str] | None,
    pattern_match: str | None,
    memo: str | None,
) -> None:
    """Answer an item (overwrites); a pending review becomes in progress, a completed one stays
    completed."""
    item_id = _uuid(raw_item_id, "item")
    async with conn.transaction():
        item = await store.item_for_update(conn, user_id, item_id)
        if item is None:
            raise NotFound("NOT_FOUND", "item not found")
        a = rules.check_answer(
            intent,
            emotions,
            pattern_match,
            memo,
            no_trade=item["symbol"] == rules.NO_TRADE_SYMBOL,
        )
        await store.answer_item(conn, item_id, a.intent, a.emotions, a.pattern_match, a.memo)
        await store.start_review(conn, item["review_id"])


def streak_json(user_id: uuid.UUID, row: dict | None, now: datetime) -> dict[str, Any]:
    if row is None:
        return {
            "user_id": str(user_id),
            "current_streak": 0,
            "longest_streak": 0,
            "last_review_date": None,
            "updated_at": rfc3339(now),
        }
    return {
        "user_id": str(row["user_id"]),
        "current_streak": row["current_streak"],
        "longest_streak": row["longest_streak"],
        "last_review_date": row["last_review_date"].isoformat()
        if row["last_review_date"]
        else None,
        "updated_at": rfc3339(row["updated_at"]),
    }


async def complete(
    conn: AsyncConnection, user_id: uuid.UUID, raw_review_id: str, now: datetime
) -> dict[str, Any]:
    """Complete the review (again is fine) and count its day in the streak, atomically."""
    review_id = _uuid(raw_review_id, "review")
    async with conn.transaction():
        await store.lock_guided(conn, user_id)
        review = await store.review_for_update(conn, user_id, review_id)
        if review is None:
            raise NotFound("NOT_FOUND", "review not found")
        await store.complete_review(conn, review_id)
        row = await store.streak_of(conn, user_id)
        prev = (
            rules.Streak(row["current_streak"], row["longest_streak"], row["last_review_date"])
            if row
            else None
        )
        nxt = rules.next_streak(prev, review["review_date"])
        if nxt != prev:
            row = await store.put_streak(conn, user_id, nxt.current, nxt.longest, nxt.last)
    return {"ok": True, "streak": streak_json(user_id, row, now)}


async def streak(conn: AsyncConnection, user_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    return streak_json(user_id, await store.streak_of(conn, user_id), now)


async def streak_answer(
    conn: AsyncConnection, user_id: uuid.UUID, kept: Asked, now: datetime
) -> bytes:
    """``schemas.StreakOut`` JSON of the user's streak, kept under their review stamp. Before
    the first completed review there is no row and ``updated_at`` is now: never kept."""

    async def compute() -> Computed:
        row = await store.streak_of(conn, user_id)
        return _json(StreakOut, streak_json(user_id, row, now)), (None if row else now)

    return await kept.serve(conn, user_id, ("streak",), store.review_stamp, now, compute)


# -- safety quick-check ---------------------------------------------------------------------------


def _safety_item(f: ledger.CheckFill, review: dict | None) -> rules.SafetyItem:
    target_type, target_id = (
        ("trade_event", f.event_id) if f.event_id is not None else ("trade", f.trade_id)
    )
    return rules.SafetyItem(
        target_type=target_type,
        target_id=str(target_id),
        executed_at=f.executed_at,
        asset_class=f.asset_class,
        venue=f.venue,
        venue_name=f.venue_name,
        symbol=f.symbol,
        side=f.side,
        qty=f.qty,
        price=f.price,
        source=f.source,
        verdict=review["verdict"] if review else None,
        note=review["note"] if review else None,
        reviewed_at=review["updated_at"] if review else None,
    )


def _group_json(g: rules.SafetyItem) -> dict[str, Any]:
    return {
        "target_type": g.target_type,
        "target_id": g.target_id,
        "executed_at": rfc3339(g.executed_at),
        "asset_class": g.asset_class,
        "venue": g.venue,
        "venue_name": g.venue_name,
        "symbol": g.symbol,
        "side": g.side,
        "qty": dec_str(g.qty),
        "price": dec_str(g.price),
        "source": g.source,
        "reviewed": g.reviewed,
        "verdict": g.group_verdict,
        "note": g.note,
        "reviewed_at": rfc3339(g.reviewed_at),
        "group_size": len(g.members),
        "member_targets": g.members,
    }


class SafetyScope(NamedTuple):
    """What a safety check asks, checked: the day and zone, the filters and the limit."""

    day: date
    zone: ZoneInfo
    asset_class: str | None
    venue: str | None
    limit: int
    pending_only: bool


def safety_scope(
    *,
    timezone: str | None,
    day: str | None,
    default_tz: str,
    now: datetime,
    asset_class: str | None = None,
    venue: str | None = None,
    only_pending: str | None = None,
    limit: str | None = None,
) -> SafetyScope:
    """The safety check's parameters as sent, checked (today in the zone by default)."""
    zone = rules.check_timezone(timezone, default_tz)
    rules.no_nul(venue, "venue")
    return SafetyScope(
        rules.parse_day(day, "date") or rules.today_in(zone, now),
        zone,
        rules.check_asset_class(asset_class),
        (venue or "").strip() or None,
        rules.check_limit(limit),
        rules.truthy(only_pending),
    )


async def safety_today_answer(
    conn: AsyncConnection, user_id: uuid.UUID, kept: Asked, scope: SafetyScope, now: datetime
) -> bytes:
    """``safety_today`` as ``schemas.SafetyTodayResponse`` JSON, kept per scope under the
    user's ledger and review stamps."""

    async def compute() -> Computed:
        return _json(SafetyTodayResponse, await safety_today(conn, user_id, scope)), None

    key = (
        "safety",
        scope.day,
        scope.zone.key,
        scope.asset_class,
        scope.venue,
        scope.limit,
        scope.pending_only,
    )
    return await _kept(conn, user_id, kept, key, scope.zone, now, compute, store.day_stamps)


async def safety_today(
    conn: AsyncConnection, user_id: uuid.UUID, scope: SafetyScope
) -> dict[str, Any]:
    """The fills of the scope's day (each once: an event with its trades row, or a legacy
    trades row), newest first, at most its limit (pending only when asked), grouped into split
    fills."""
    d, zone, n, pending_only = scope.day, scope.zone, scope.limit, scope.pending_only
    start, end = rules.day_window(d, zone)
    picked: list[rules.SafetyItem] = []
    after: tuple[datetime, str, uuid.UUID] | None = None
    page_size = n if not pending_only else max(n, 100)
    while len(picked) < n:
        page = await ledger.fills_to_check(
            conn,
            user_id,
            start,
            end,
            asset_class=scope.asset_class,
            venue=scope.venue,
            after=after,
            limit=page_size,
        )
        by_event, by_trade = await store.safety_reviews_of(
            conn,
            user_id,
            [f.event_id for f in page if f.event_id],
            [f.trade_id for f in page if f.trade_id],
        )
        for f in page:
            review = (by_event.get(f.event_id) if f.event_id else None) or (
                by_trade.get(f.trade_id) if f.trade_id else None
            )
            if pending_only and review is not None:
                continue
            picked.append(_safety_item(f, review))
        if len(page) < page_size:
            break
        last = page[-1]
        after = (last.executed_at, last.symbol, last.event_id or last.trade_id)  # type: ignore[assignment]
    groups = rules.group_fills(picked[:n])
    reviewed = sum(1 for g in groups if g.reviewed)
    return {
        "date": d.isoformat(),
        "timezone": zone.key,
        "total": len(groups),
        "reviewed": reviewed,
        "pending": len(groups) - reviewed,
        "items": [_group_json(g) for g in groups],
    }


async def upsert_safety_review(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    *,
    target_type: str,
    target_id: str,
    verdict: str,
    note: str | None,
) -> dict[str, Any]:
    """Label one fill of the user (404 when it is not theirs); one review per target."""
    tt = rules.check_target_type(target_type)
    v = rules.check_verdict(verdict)
    try:
        tid = uuid.UUID(target_id.strip())
    except ValueError as exc:
        raise BadRequest("INVALID_REQUEST", f"target_id: {target_id!r} is not a UUID") from exc
    if not await ledger.owned_fill(conn, user_id, tt, tid):
        raise NotFound("NOT_FOUND", "trade target not found")
    row = await store.upsert_safety_review(conn, user_id, tt, tid, v, rules.clean_note(note))
    return {
        "id": str(row["id"]),
        "target_type": tt,
        "target_id": str(tid),
        "verdict": row["verdict"],
        "note": row["note"],
        "created_at": rfc3339(row["created_at"]),
        "updated_at": rfc3339(row["updated_at"]),
    }
