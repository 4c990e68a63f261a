"""The pure review rules against hand computations and brute force (hypothesis)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kifu.kit.errors import BadRequest
from kifu.review import rules

D = Decimal
SEOUL = ZoneInfo("Asia/Seoul")


def code(exc: pytest.ExceptionInfo[BadRequest]) -> str:
    return exc.value.code


# -- request values -----------------------------------------------------------------------------


def test_time_zones_dates_and_periods() -> None:
    assert rules.check_timezone(None, "UTC").key == "UTC"
    assert rules.check_timezone("Asia/Seoul", "UTC").key == "Asia/Seoul"
    assert rules.check_timezone("  ", "Europe/Berlin").key == "Europe/Berlin"
    for bad in ("Mars/Olympus", "../etc/passwd", "/etc/localtime", "UTC+9"):
        with pytest.raises(BadRequest) as e:
            rules.check_timezone(bad, "UTC")
        assert code(e) == "INVALID_TIMEZONE" and "timezone" in e.value.message
    assert rules.parse_day("2026-02-28", "from") == date(2026, 2, 28)
    assert rules.parse_day(None, "from") is None
    for bad in ("2026-02-30", "2026-2-3", "yesterday", "2026-02-28T00:00:00Z"):
        with pytest.raises(BadRequest) as e:
            rules.parse_day(bad, "from")
        assert code(e) == "INVALID_DATE" and "from" in e.value.message
    assert rules.check_period(None) == "30d"
    assert rules.check_period("7D") == "7d"
    assert rules.check_period("90d") == "all"  # the reference's rule: anything else is all


def test_calendar_range_defaults_and_limits() -> None:
    now = datetime(2026, 3, 31, 16, 0, tzinfo=UTC)  # 2026-04-01 01:00 in Seoul
    assert rules.calendar_range(None, None, SEOUL, now) == (date(2026, 3, 1), date(2026, 4, 1))
    assert rules.calendar_range(None, "2026-03-31", SEOUL, now)[0] == date(2026, 2, 28)
    assert rules.calendar_range("2025-01-01", "2025-12-31", SEOUL, now)[1] == date(2025, 12, 31)
    with pytest.raises(BadRequest) as e:
        rules.calendar_range("2026-03-02", "2026-03-01", SEOUL, now)
    assert code(e) == "INVALID_RANGE"
    with pytest.raises(BadRequest) as e:
        rules.calendar_range("2024-01-01", "2025-01-01", SEOUL, now)  # 367 days
    assert code(e) == "INVALID_RANGE"
    assert rules.month_before(date(2026, 3, 31)) == date(2026, 2, 28)
    assert rules.month_before(date(2026, 1, 15)) == date(2025, 12, 15)


def test_local_days_are_the_zones() -> None:
    assert rules.day_window(date(2026, 3, 1), SEOUL) == (
        datetime(2026, 2, 28, 15, tzinfo=UTC),
        datetime(2026, 3, 1, 15, tzinfo=UTC),
    )
    berlin = ZoneInfo("Europe/Berlin")  # 2026-03-29 has 23 hours
    start, end = rules.day_window(date(2026, 3, 29), berlin)
    assert end - start == timedelta(hours=23)
    # Santiago skips midnight on 2026-09-06: the day starts at the first instant that exists
    start, _ = rules.day_window(date(2026, 9, 6), ZoneInfo("America/Santiago"))
    assert start == datetime(2026, 9, 6, 4, tzinfo=UTC)
    assert rules.period_days("7d", date(2026, 3, 10)) == (date(2026, 3, 4), date(2026, 3, 10))
    assert rules.period_days("all", date(2026, 3, 10)) == (None, date(2026, 3, 10))


def test_rollup_hours_cut_by_a_day_boundary() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")
    edges = [rules.day_start(date(2026, 3, d), kolkata) for d in (1, 2)]
    assert rules.straddled_hours(edges) == [
        datetime(2026, 2, 28, 18, tzinfo=UTC),
        datetime(2026, 3, 1, 18, tzinfo=UTC),
    ]
    assert rules.straddled_hours([rules.day_start(date(2026, 3, 1), SEOUL)]) == []
    assert rules.hour_aligned(SEOUL, edges)
    assert not rules.hour_aligned(kolkata, edges)


# -- bubble outcomes ------------------------------------------------------------------------------


def test_outcome_figures_breakeven_is_neither() -> None:
    a = rules.OutcomeAgg(4, 2, 1, D("3.00005"), D("2.5"), D("-1"))
    assert a.breakeven == 1
    assert a.win_rate == 50.0
    o = rules.overall(a)
    assert o["avg_pnl"] == "0.7500"  # 3.00005 / 4 = 0.7500125
    assert o["total_pnl"] == "3.0001"  # half up
    assert (o["max_gain"], o["max_loss"]) == ("2.5000", "-1.0000")
    assert rules.overall(rules.OutcomeAgg())["win_rate"] == 0.0
    assert rules.overall(rules.OutcomeAgg())["avg_pnl"] == "0.0000"


def test_trend_points_run_and_do_not_chop() -> None:
    days = [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]
    by_day = {
        date(2026, 3, 1): rules.DayOutcomes(2, 1, 0, 1, D("1.23456789")),
        date(2026, 3, 3): rules.DayOutcomes(4, 1, 2, 3, D("5")),
    }
    pts = rules.trend_points(days, by_day)
    assert [p["pnl"] for p in pts] == [1.23456789, 0.0, 5.0]
    assert [p["cumulative_pnl"] for p in pts] == [1.23456789, 1.23456789, 6.23456789]
    assert [p["win_rate"] for p in pts] == [50.0, 0.0, 25.0]
    assert [p["bubble_count"] for p in pts] == [2, 0, 4]


# -- the trader's own numbers --------------------------------------------------------------------


def test_trip_figures_by_hand() -> None:
    s = rules.trip_stats([D(10), D(-5), D(0), D(20), D(-10), D(-3)])
    assert (s.trips, s.wins, s.losses, s.breakeven) == (6, 2, 3, 1)
    assert s.win_rate == pytest.approx(100 * 2 / 6)
    assert (s.gross_profit, s.gross_loss) == (D(30), D(-18))
    assert (s.avg_win, s.avg_loss) == (D(15), D(-6))
    j = s.as_json()
    assert j["profit_factor"] == "1.66666667"  # 30 / 18
    assert j["expectancy"] == "2"  # 12 / 6
    assert (j["largest_win"], j["largest_loss"]) == ("20", "-10")
    assert (s.longest_win_streak, s.longest_loss_streak) == (1, 2)  # 0 ends a streak
    none = rules.trip_stats([]).as_json()
    assert none["win_rate"] == 0.0
    assert none["avg_win"] is none["profit_factor"] is none["expectancy"] is None


pnl_lists = st.lists(
    st.decimals(min_value=-1000, max_value=1000, places=4, allow_nan=False), max_size=40
)


@given(pnl_lists)
def test_trip_identities(pnls: list[Decimal]) -> None:
    s = rules.trip_stats(pnls)
    assert s.wins + s.losses + s.breakeven == len(pnls)
    if pnls:
        # expectancy = p(win)·avg_win + p(loss)·avg_loss
        parts = D(0)
        if s.wins:
            parts += D(s.wins) / len(pnls) * s.avg_win  # type: ignore[operator]
        if s.losses:
            parts += D(s.losses) / len(pnls) * s.avg_loss  # type: ignore[operator]
        assert abs(parts - s.expectancy) < D("1e-20")  # type: ignore[operator]

    # longest streaks by brute force
    def longest(pred) -> int:
        best = 0
        for i in range(len(pnls)):
            j = i
            while j < len(pnls) and pred(pnls[j]):
                j += 1
            best = max(best, j - i)
        return best

    assert s.longest_win_streak == longest(lambda p: p > 0)
    assert s.longest_loss_streak == longest(lambda p: p < 0)


@given(pnl_lists)
def test_max_drawdown_is_the_largest_fall(pnls: list[Decimal]) -> None:
    cum = [D(0)]
    for p in pnls:
        cum.append(cum[-1] + p)
    brute = max((cum[i] - cum[j] for i in range(len(cum)) for j in range(i, len(cum))), default=0)
    assert rules.max_drawdown(pnls) == brute


def test_weekday_and_hour_buckets() -> None:
    rows = [
        ("USDT", datetime(2026, 3, 2, 9), D(5)),  # a Monday, 09:00 local
        ("USDT", datetime(2026, 3, 9, 9), D(-2)),
        ("KRW", datetime(2026, 3, 8, 23), D(100)),  # Sunday
    ]
    wd, hr = rules.weekday_hour(rows)
    assert wd == {"USDT": {"0": D(3)}, "KRW": {"6": D(100)}}
    assert hr == {"USDT": {"9": D(3)}, "KRW": {"23": D(100)}}


# -- guided review -------------------------------------------------------------------------------

T0 = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)


def fill(symbol: str, side: str, seconds: int, pnl: str = "0") -> rules.Fill:
    return rules.Fill(symbol, side, T0 + timedelta(seconds=seconds), D(pnl))


def test_bundles_split_on_gaps_per_side() -> None:
    b = rules.bundle(
        [
            fill("BTCUSDT", "BUY", 0),
            fill("BTCUSDT", "BUY", 90),  # exactly 90 s: same decision
            fill("BTCUSDT", "BUY", 181),  # 91 s later: a new one
            fill("BTCUSDT", "SELL", 100, "5"),
            fill("ETHUSDT", "BUY", 0, "-1.5"),
            fill("ETHUSDT", "BUY", 30, "0.5"),
            fill("ADAUSDT", "BUY", 0),
        ]
    )
    assert [(x.symbol, x.trade_count, x.side, x.pnl) for x in b] == [
        ("BTCUSDT", 3, "SELL", D(5)),
        ("ADAUSDT", 1, "BUY", D(0)),
        ("ETHUSDT", 1, "BUY", D(-1)),
    ]
    assert rules.bundle([]) == []


def test_late_bundles_less_what_was_captured() -> None:
    late = [rules.Bundle("SOLUSDT", "BUY", D(3), 2), rules.Bundle("ADAUSDT", "SELL", D(1), 1)]
    left = rules.subtract(late, {"SOLUSDT": (1, D(1)), "ADAUSDT": (1, D(1))})
    assert left == [rules.Bundle("SOLUSDT", "BUY", D(2), 1)]
    assert rules.supplement_symbol("SUPPLEMENT:2026-03-01:BTCUSDT:123") == "BTCUSDT"
    assert rules.supplement_symbol("BTCUSDT:2026-03-01") is None


def test_answers_are_checked_against_the_vocabularies() -> None:
    a = rules.check_answer("technical_signal", ["calm", "calm", "fomo"], "", "  ", no_trade=False)
    assert a == rules.Answer("technical_signal", ["calm", "fomo"], None, None)
    assert rules.check_answer("no_trade_risk_off", [], "stay_no_trade", "x", no_trade=True) == (
        rules.Answer("no_trade_risk_off", None, "stay_no_trade", "x")
    )
    cases = [
        (("", None, None, None, False), "INVALID_INTENT", "intent"),
        (("yolo", None, None, None, False), "INVALID_INTENT", "'yolo'"),
        (("no_trade_risk_off", None, None, None, False), "INVALID_INTENT", "no_trade_risk_off"),
        (("technical_signal", None, None, None, True), "INVALID_INTENT", "technical_signal"),
        (("other", ["happy"], None, None, False), "INVALID_EMOTION", "'happy'"),
        (("other", None, "stay_no_trade", None, False), "INVALID_PATTERN", "stay_no_trade"),
        (("other", None, None, "m" * 201, False), "INVALID_MEMO", "200"),
    ]
    for (i, e, p, m, nt), want, named in cases:
        with pytest.raises(BadRequest) as exc:
            rules.check_answer(i, e, p, m, no_trade=nt)
        assert code(exc) == want and named in exc.value.message


def test_streak_over_consecutive_and_broken_days() -> None:
    d = date(2026, 3, 1)
    s = rules.next_streak(None, d)
    assert s == rules.Streak(1, 1, d)
    s = rules.next_streak(s, d + timedelta(days=1))
    s = rules.next_streak(s, d + timedelta(days=2))
    assert s == rules.Streak(3, 3, d + timedelta(days=2))
    assert rules.next_streak(s, d + timedelta(days=2)) == s  # the same day again
    assert rules.next_streak(s, d) == s  # an earlier day changes nothing
    s = rules.next_streak(s, d + timedelta(days=4))  # a day missed
    assert s == rules.Streak(1, 3, d + timedelta(days=4))
    assert rules.next_streak(rules.Streak(0, 5, None), d) == rules.Streak(1, 5, d)


# -- safety ----------------------------------------------------------------------------------------


def item(n: int, seconds: int, qty: str | None = "1", price: str | None = "100", **kw):
    base = dict(
        target_type="trade_event",
        target_id=f"id{n}",
        executed_at=T0 + timedelta(seconds=seconds),
        asset_class="crypto",
        venue="binance_futures",
        venue_name="Binance Futures",
        symbol="BTC/USDT",
        side="BUY",
        qty=D(qty) if qty else None,
        price=D(price) if price else None,
        source="csv",
    )
    base.update(kw)
    return rules.SafetyItem(**base)  # type: ignore[arg-type]


def test_split_fills_group_within_90s_of_the_latest() -> None:
    groups = rules.group_fills(
        [
            item(1, 0, "1", "100", verdict="intended"),
            item(2, 60, "3", "104", verdict="intended"),
            item(3, 150, "1", "101"),  # 90 s after the group's latest fill
            item(4, 241),  # 91 s: a new group
            item(5, 10, side="SELL"),
            item(6, 20, symbol="ETH/USDT"),
        ]
    )
    sizes = [(g.target_id, len(g.members)) for g in groups]
    # the SELL and the ETH fill in between do not split the BTC buys
    assert sizes == [("id4", 1), ("id1", 3), ("id6", 1), ("id5", 1)]
    g = groups[1]
    assert g.qty == D(5)
    assert g.price == D("102.6")  # (1·100 + 3·104 + 1·101) / 5
    assert g.executed_at == T0 + timedelta(seconds=150)
    assert not g.reviewed and g.group_verdict is None


def test_group_verdicts() -> None:
    mixed = rules.group_fills([item(1, 0, verdict="intended"), item(2, 5, verdict="mistake")])[0]
    assert mixed.reviewed and mixed.group_verdict is None
    same = rules.group_fills([item(1, 0, verdict="unsure"), item(2, 5, verdict="unsure")])[0]
    assert same.reviewed and same.group_verdict == "unsure"
    partial = rules.group_fills([item(1, 0, qty=None), item(2, 5, "2", "50")])[0]
    assert (partial.qty, partial.price) == (None, D(100))  # first member's pair kept


def test_safety_values() -> None:
    assert rules.clean_note("  ok  ") == "ok"
    assert rules.clean_note("   ") is None
    assert rules.clean_note("x" * 400) == "x" * 300
    assert rules.check_verdict(" Mistake ") == "mistake"
    with pytest.raises(BadRequest) as e:
        rules.check_verdict("oops")
    assert code(e) == "INVALID_VERDICT" and "'oops'" in e.value.message
    with pytest.raises(BadRequest) as e:
        rules.check_asset_class("forex")
    assert code(e) == "INVALID_ASSET_CLASS"
    assert rules.check_limit(None) == 20 and rules.check_limit("500") == 200
    with pytest.raises(BadRequest):
        rules.check_limit("0")
    assert rules.truthy("Yes") and not rules.truthy("0")


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=600),
            st.sampled_from(["BTC/USDT", "ETH/USDT"]),
            st.sampled_from(["BUY", "SELL"]),
            st.integers(min_value=1, max_value=5),
        ),
        max_size=25,
    )
)
def test_groups_partition_the_fills(rows: list[tuple[int, str, str, int]]) -> None:
    items = [
        item(n, secs, str(qty), "10", symbol=sym, side=side)
        for n, (secs, sym, side, qty) in enumerate(rows)
    ]
    groups = rules.group_fills(items)
    ids = sorted(m["target_id"] for g in groups for m in g.members)
    assert ids == sorted(i.target_id for i in items)
    by_id = {i.target_id: i for i in items}
    for g in groups:
        members = [by_id[m["target_id"]] for m in g.members]
        assert {(m.symbol, m.side) for m in members} == {(g.symbol, g.side)}
        assert g.qty == sum((m.qty for m in members), D(0))  # type: ignore[misc]
        assert g.price == D(10)
        assert g.executed_at == max(m.executed_at for m in members)
        times = sorted(m.executed_at for m in members)
        assert all(b - a <= rules.SAFETY_GAP for a, b in itertools.pairwise(times))
    assert [g.executed_at for g in groups] == sorted((g.executed_at for g in groups), reverse=True)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["BTCUSDT", "ETHUSDT"]),
            st.sampled_from(["BUY", "SELL"]),
            st.integers(min_value=0, max_value=1000),
            st.integers(min_value=-50, max_value=50),
        ),
        max_size=30,
    )
)
def test_bundles_count_gaps_over_90s(rows: list[tuple[str, str, int, int]]) -> None:
    fills = [fill(sym, side, secs, str(p)) for sym, side, secs, p in rows]
    got = {b.symbol: b for b in rules.bundle(fills)}
    for sym in {r[0] for r in rows}:
        count = 0
        for side in ("BUY", "SELL"):
            times = sorted(s for s2, sd, s, _ in rows if s2 == sym and sd == side)
            if times:
                count += 1 + sum(1 for a, b in itertools.pairwise(times) if b - a > 90)
        assert got[sym].trade_count == count
        assert got[sym].pnl == sum(D(p) for s2, _, _, p in rows if s2 == sym)
        sides = {sd for s2, sd, _, _ in rows if s2 == sym}
        assert got[sym].side == ("SELL" if "SELL" in sides else "BUY")
