"""Statistics, calendar and trend against independent computations; a day boundary in Seoul;
the ledger figures against hand-computed FIFO round trips; bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.review.conftest import fills_csv, iso

API = "/api/v1"
D = Decimal


def q4(x: Decimal) -> str:
    return str(x.quantize(D("0.0001"), rounding="ROUND_HALF_UP"))


def expected_group(pnls: list[Decimal]) -> dict[str, Any]:
    wins = sum(1 for p in pnls if p > 0)
    return {
        "count": len(pnls),
        "win_rate": pytest.approx(wins * 100 / len(pnls)) if pnls else 0.0,
        "avg_pnl": q4(sum(pnls, D(0)) / len(pnls)) if pnls else "0.0000",
        "wins": wins,
        "losses": sum(1 for p in pnls if p < 0),
        "breakeven": sum(1 for p in pnls if p == 0),
    }


def test_stats_match_an_independent_computation(client, user, make_user, bubble) -> None:
    now = datetime.now(UTC)
    data = [  # symbol, tags, hours ago, outcomes, labels
        ("BTCUSDT", ["a"], 5, {"1h": "2.5", "4h": "-1"}, {"venue_name": "Binance"}),
        ("BTCUSDT", ["a", "b"], 10, {"1h": "-1.25"}, {}),
        ("ETHUSDT", ["b"], 20, {"1h": "0", "1d": "3.123456"}, {"asset_class": "crypto"}),
        ("ETHUSDT", [], 48, {}, {}),
        ("BTCUSDT", ["a"], 40 * 24, {"1h": "100"}, {}),  # outside 30d
    ]
    for sym, tags, hours, outcomes, labels in data:
        bubble(sym, now - timedelta(hours=hours), outcomes, tags=tags, **labels)
    bubble("BTCUSDT", now - timedelta(hours=1), {"1h": "50"}, who=make_user())  # someone else

    for period, horizon in (("30d", 30 * 24), ("all", 10**9), ("7d", 7 * 24)):
        r = client.get(f"{API}/review/stats?period={period}", headers=user.headers)
        assert r.status_code == 200, r.text
        s = r.json()
        rows = [d for d in data if d[2] < horizon]
        assert s["period"] == period
        assert s["total_bubbles"] == len(rows)
        assert s["bubbles_with_outcome"] == sum(1 for d in rows if d[3])
        one_h = [D(d[3]["1h"]) for d in rows if "1h" in d[3]]
        o = s["overall"]
        assert isinstance(o["win_rate"], float)
        assert o["win_rate"] == pytest.approx(100 * sum(1 for p in one_h if p > 0) / len(one_h))
        assert o["avg_pnl"] == q4(sum(one_h, D(0)) / len(one_h))
        assert o["total_pnl"] == q4(sum(one_h, D(0)))
        assert (o["max_gain"], o["max_loss"]) == (q4(max(one_h)), q4(min(one_h)))
        assert o["breakeven"] == 1 and o["losses"] == 1
        for p in ("1h", "4h", "1d"):
            pnls = [D(d[3][p]) for d in rows if p in d[3]]
            assert s["by_period"][p] == expected_group(pnls)
        for tag in ("a", "b"):
            pnls = [D(d[3]["1h"]) for d in rows if tag in d[1] and "1h" in d[3]]
            assert s["by_tag"][tag] == expected_group(pnls)
        for sym in ("BTCUSDT", "ETHUSDT"):
            pnls = [D(d[3]["1h"]) for d in rows if d[0] == sym and "1h" in d[3]]
            assert s["by_symbol"][sym] == expected_group(pnls)

    # filters: symbol (exact), tag, venue and asset class (case-insensitive)
    def total(q: str) -> int:
        r = client.get(f"{API}/review/stats?{q}", headers=user.headers)
        assert r.status_code == 200, r.text
        return r.json()["total_bubbles"]

    assert total("symbol=ETHUSDT") == 2
    assert total("tag=b") == 2
    assert total("venue=BINANCE") == 1
    assert total("asset_class=Crypto") == 1
    assert total("period=all&tag=a") == 3


def test_calendar_days_are_the_users_days(client, user, bubble, upload) -> None:
    bubble("BTCUSDT", datetime(2026, 3, 1, 14, 59, tzinfo=UTC), {"1h": "1.5"})  # Seoul 23:59
    bubble("BTCUSDT", datetime(2026, 3, 1, 15, 0, tzinfo=UTC), {"1h": "-0.5"})  # Seoul 00:00
    bubble("ETHUSDT", datetime(2026, 3, 1, 16, 0, tzinfo=UTC), {"1h": "0"})
    bubble("ETHUSDT", datetime(2026, 3, 1, 16, 30, tzinfo=UTC), {})
    upload(
        fills_csv(
            [
                ("2026-03-01T14:30:00Z", "BTC/USDT", "buy", "1", "100", "0.1"),
                ("2026-03-01T14:59:59Z", "BTC/USDT", "sell", "0.5", "120", "0.1"),  # +10, Mar 1
                ("2026-03-01T15:00:00Z", "BTC/USDT", "sell", "0.5", "90", "0.2"),  # -5, Mar 2
            ]
        ),
        venue="binance_futures",
    )
    seoul = client.get(
        f"{API}/review/calendar?from=2026-03-01&to=2026-03-02&timezone=Asia/Seoul",
        headers=user.headers,
    ).json()
    assert (seoul["from"], seoul["to"], seoul["timezone"]) == (
        "2026-03-01",
        "2026-03-02",
        "Asia/Seoul",
    )
    d1, d2 = seoul["days"]["2026-03-01"], seoul["days"]["2026-03-02"]
    assert (d1["bubble_count"], d1["win_count"], d1["loss_count"], d1["total_pnl"]) == (
        1,
        1,
        0,
        "1.5000",
    )
    assert (d2["bubble_count"], d2["win_count"], d2["loss_count"], d2["total_pnl"]) == (
        3,
        0,
        1,
        "-0.5000",
    )
    assert (d2["breakeven_count"], d2["outcome_count"]) == (1, 2)
    assert d1["realized_pnl"] == {"USDT": "10"} and d2["realized_pnl"] == {"USDT": "-5"}
    assert d1["fees"] == {"USDT": "0.2"} and d2["fees"] == {"USDT": "0.2"}
    assert (d1["fills"], d2["fills"]) == (2, 1)

    utc = client.get(
        f"{API}/review/calendar?from=2026-03-01&to=2026-03-02", headers=user.headers
    ).json()
    assert list(utc["days"]) == ["2026-03-01"]
    day = utc["days"]["2026-03-01"]
    assert (day["bubble_count"], day["total_pnl"], day["realized_pnl"]) == (
        4,
        "1.0000",
        {"USDT": "5"},
    )
    # a zone half an hour off the hour: 00:00 IST = 18:30 UTC, inside an hourly rollup row
    ist = client.get(
        f"{API}/review/calendar?from=2026-03-01&to=2026-03-02&timezone=Asia/Kolkata",
        headers=user.headers,
    ).json()
    assert ist["days"]["2026-03-01"]["realized_pnl"] == {"USDT": "5"}


def test_calendar_splits_a_rollup_hour_at_a_half_hour_midnight(client, user, upload) -> None:
    upload(
        fills_csv(
            [
                ("2026-03-01T18:00:00Z", "BTC/USDT", "buy", "2", "100", "0"),
                ("2026-03-01T18:29:59Z", "BTC/USDT", "sell", "1", "103", "0.3"),  # IST Mar 1
                ("2026-03-01T18:30:00Z", "BTC/USDT", "sell", "1", "99", "0.4"),  # IST Mar 2
            ]
        ),
        venue="binance_futures",
    )
    ist = client.get(
        f"{API}/review/calendar?from=2026-03-01&to=2026-03-02&timezone=Asia/Kolkata",
        headers=user.headers,
    ).json()["days"]
    assert ist["2026-03-01"]["realized_pnl"] == {"USDT": "3"}
    assert ist["2026-03-02"]["realized_pnl"] == {"USDT": "-1"}
    assert ist["2026-03-01"]["fees"] == {"USDT": "0.3"}
    assert ist["2026-03-02"]["fees"] == {"USDT": "0.4"}
    assert (ist["2026-03-01"]["fills"], ist["2026-03-02"]["fills"]) == (2, 1)


def test_trend_buckets_by_candle_day_and_keeps_every_digit(client, user, bubble) -> None:
    now = datetime.now(UTC)
    today = now.date()
    b1 = now - timedelta(days=1)
    b3 = now - timedelta(days=3)
    bubble("BTCUSDT", b1, {"1h": "1.23456789"})
    bubble("BTCUSDT", b1, {"1h": "-0.5"})
    bubble("ETHUSDT", b3, {"1h": "5"})
    bubble("ETHUSDT", now - timedelta(days=40), {"1h": "7"})  # outside 7d
    r = client.get(f"{API}/review/trend?period=7d", headers=user.headers)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert [p["date"] for p in data] == [
        (today - timedelta(days=7 - i)).isoformat() for i in range(8)
    ]
    by = {p["date"]: p for p in data}
    # every bubble was created today: the points follow candle days, not creation days
    p1, p3 = by[b1.date().isoformat()], by[b3.date().isoformat()]
    assert p1["pnl"] == pytest.approx(0.73456789) and p1["bubble_count"] == 2
    assert p1["win_rate"] == 50.0
    assert p3["pnl"] == 5.0 and p3["win_rate"] == 100.0
    assert data[-1]["cumulative_pnl"] == pytest.approx(5.73456789)
    assert by[today.isoformat()]["bubble_count"] == 0
    for p in data:
        for k in ("pnl", "cumulative_pnl", "win_rate"):
            assert isinstance(p[k], float)
        assert isinstance(p["bubble_count"], int)
    assert (
        len(client.get(f"{API}/review/trend?period=all", headers=user.headers).json()["data"])
        == 366
    )


# -- the trader's own numbers -------------------------------------------------------------------

# (time UTC, symbol, side, qty, price, fee): three USDT round trips and one KRW trip.
FILLS = [
    ("2026-03-02T01:00:00Z", "BTC/USDT", "buy", "1", "100", "0.1"),
    ("2026-03-02T02:00:00Z", "BTC/USDT", "sell", "1", "110", "0.1"),  # +10, trip closes
    ("2026-03-02T14:30:00Z", "BTC/USDT", "buy", "2", "100", "0.1"),
    ("2026-03-02T15:30:00Z", "BTC/USDT", "sell", "1", "95", "0.1"),  # -5
    ("2026-03-02T17:00:00Z", "BTC/USDT", "sell", "1", "90", "0.1"),  # -10, trip -15 closes
    ("2026-03-02T18:00:00Z", "ETH/USDT", "sell", "1", "50", "0.1"),  # short
    ("2026-03-02T19:00:00Z", "ETH/USDT", "buy", "1", "40", "0.1"),  # +10, trip closes
    ("2026-03-02T20:00:00Z", "ETH/USDT", "buy", "3", "40", "0.1"),  # open, no trip
]
KRW = [
    ("2026-03-02T03:00:00Z", "BTC/KRW", "buy", "1", "1000", "1"),
    ("2026-03-02T04:00:00Z", "BTC/KRW", "sell", "1", "1200", "1"),  # +200 KRW
]
# the fills that realize PnL, by hand
REALIZED = [
    ("2026-03-02T02:00:00Z", "USDT", D(10)),
    ("2026-03-02T15:30:00Z", "USDT", D(-5)),
    ("2026-03-02T17:00:00Z", "USDT", D(-10)),
    ("2026-03-02T19:00:00Z", "USDT", D(10)),
    ("2026-03-02T04:00:00Z", "KRW", D(200)),
]


def test_trading_figures_per_currency_by_hand(client, user, upload) -> None:
    upload(fills_csv(FILLS), venue="binance_futures")
    upload(fills_csv(KRW), venue="upbit")
    r = client.get(f"{API}/review/stats?period=all&timezone=Asia/Seoul", headers=user.headers)
    assert r.status_code == 200, r.text
    t = r.json()["trading"]
    assert (t["from"], t["timezone"]) == (None, "Asia/Seoul")
    assert t["realized_pnl"] == {"KRW": "200", "USDT": "5"}  # never added together
    assert t["fees"] == {"KRW": "2", "USDT": "0.8"}
    assert t["fills"] == 10
    usdt = t["by_currency"]["USDT"]
    assert usdt["closed_trips"] == 3  # +10, -15, +10 (the last ETH buy leaves a book open)
    assert (usdt["wins"], usdt["losses"], usdt["breakeven"]) == (2, 1, 0)
    assert usdt["win_rate"] == pytest.approx(200 / 3)
    assert (usdt["avg_win"], usdt["avg_loss"]) == ("10", "-15")
    assert usdt["profit_factor"] == "1.33333333"  # 20 / 15
    assert usdt["expectancy"] == "1.6666666667"  # 5 / 3
    assert (usdt["largest_win"], usdt["largest_loss"]) == ("10", "-15")
    assert (usdt["longest_win_streak"], usdt["longest_loss_streak"]) == (1, 1)
    # curve over fills: 10, 5, -5, 5 → largest fall 15
    assert usdt["max_drawdown"] == "15"
    seoul = ZoneInfo("Asia/Seoul")
    by_wd: dict[str, Decimal] = {}
    by_hr: dict[str, Decimal] = {}
    for at, ccy, pnl in REALIZED:
        if ccy != "USDT":
            continue
        local = datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(seoul)
        by_wd[str(local.weekday())] = by_wd.get(str(local.weekday()), D(0)) + pnl
        by_hr[str(local.hour)] = by_hr.get(str(local.hour), D(0)) + pnl
    assert {k: D(v) for k, v in usdt["by_weekday"].items()} == by_wd
    assert {k: D(v) for k, v in usdt["by_hour"].items()} == by_hr
    krw = t["by_currency"]["KRW"]
    assert (krw["closed_trips"], krw["realized_pnl"], krw["max_drawdown"]) == (1, "200", "0")
    assert krw["profit_factor"] is None

    # the Seoul calendar: 2026-03-02 ends at 15:00 UTC
    cal = client.get(
        f"{API}/review/calendar?from=2026-03-02&to=2026-03-03&timezone=Asia/Seoul",
        headers=user.headers,
    ).json()["days"]
    assert cal["2026-03-02"]["realized_pnl"] == {"KRW": "200", "USDT": "10"}
    assert cal["2026-03-03"]["realized_pnl"] == {"USDT": "-5"}


def test_bad_input_is_400_with_a_code(client, user) -> None:
    cases = [
        ("review/stats?timezone=Mars/Base", "INVALID_TIMEZONE"),
        ("review/trend?timezone=Nowhere", "INVALID_TIMEZONE"),
        ("review/calendar?from=2026-13-01", "INVALID_DATE"),
        ("review/calendar?to=tomorrow", "INVALID_DATE"),
        ("review/calendar?from=2026-03-02&to=2026-03-01", "INVALID_RANGE"),
        ("review/calendar?from=2025-01-01&to=2026-03-01", "INVALID_RANGE"),
        ("review/calendar?from=9999-12-30&to=9999-12-31", "INVALID_DATE"),
        ("review/calendar?from=0001-01-01&to=0001-01-02", "INVALID_DATE"),
        ("review/stats?tag=a%00b", "INVALID_REQUEST"),
        ("review/stats?timezone=Asia/Seoul%00", "INVALID_TIMEZONE"),
    ]
    for path, want in cases:
        r = client.get(f"{API}/{path}", headers=user.headers)
        assert r.status_code == 400, (path, r.text)
        assert r.json()["code"] == want and r.json()["message"]
    assert client.get(f"{API}/review/stats").status_code == 401
    odd = client.get(f"{API}/review/stats?period=90d", headers=user.headers)
    assert odd.status_code == 200 and odd.json()["period"] == "all"


def test_empty_user_gets_objects_not_nulls(client, user) -> None:
    s = client.get(f"{API}/review/stats", headers=user.headers).json()
    assert s["by_period"] == {} and s["by_tag"] == {} and s["by_symbol"] == {}
    assert s["trading"]["by_currency"] == {} and s["trading"]["realized_pnl"] == {}
    c = client.get(f"{API}/review/calendar", headers=user.headers).json()
    assert c["days"] == {}
    assert len(client.get(f"{API}/review/trend", headers=user.headers).json()["data"]) == 31


def test_a_zone_the_database_lacks_is_400(client, user, monkeypatch, bubble, upload) -> None:
    from datetime import tzinfo

    now = datetime.now(UTC)
    bubble("BTCUSDT", now - timedelta(hours=2), {"1h": "1"})
    upload(
        fills_csv([(iso(now - timedelta(hours=2)), "BTC/USDT", "buy", "1", "1", "0")]),
        venue="binance_futures",
    )

    from kifu.review import rules

    class Unknown(tzinfo):  # a zone Python's tz database would have and the server's lacks
        key = "Nowhere/Newtown"

        def utcoffset(self, dt):  # type: ignore[override]
            return timedelta(0)

        def dst(self, dt):  # type: ignore[override]
            return timedelta(0)

    monkeypatch.setattr(rules, "check_timezone", lambda value, default: Unknown())
    for path in ("review/calendar", "review/trend", "review/stats"):
        r = client.get(f"{API}/{path}", headers=user.headers)
        assert r.status_code == 400 and r.json()["code"] == "INVALID_TIMEZONE", r.text
