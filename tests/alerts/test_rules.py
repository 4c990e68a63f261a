"""The pure alert rules: config validation, the four evaluators, cooldown, crossing state."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kifu.alerts import rules
from kifu.alerts.rules import CandleRange, ConfigError
from kifu.kit import money

D = Decimal
NOW = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)

MA = {"ma_period": 5, "ma_timeframe": "1h", "direction": "above"}
PC = {"direction": "both", "threshold_type": "percent", "threshold_value": "5", "reference": "1h"}


# -- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule_type", "config", "canonical"),
    [
        (
            "price_change",
            {"direction": "drop", "threshold_type": "absolute", "threshold_value": 100},
            {
                "direction": "drop",
                "threshold_type": "absolute",
                "threshold_value": "100",
                "reference": "24h",
            },
        ),
        (
            "price_level",
            {"price": "65000.50", "direction": "above"},
            {"price": "65000.5", "direction": "above"},
        ),
        (
            "ma_cross",
            {"ma_period": 20, "ma_timeframe": "1h", "direction": "below"},
            {"ma_period": 20, "ma_timeframe": "1h", "direction": "below"},
        ),
        ("volatility_spike", {"multiplier": 2.5}, {"timeframe": "1h", "multiplier": "2.5"}),
    ],
)
def test_valid_configs_are_made_canonical(
    rule_type: str, config: dict[str, Any], canonical: dict[str, Any]
) -> None:
    assert rules.validate_config(rule_type, config) == canonical


@pytest.mark.parametrize(
    ("rule_type", "config", "field", "words"),
    [
        ("price_jump", {}, "rule_type", "price_change, price_level, ma_cross, volatility_spike"),
        ("price_level", [], "config", "JSON object"),
        ("price_level", {"direction": "above"}, "config.price", "required"),
        ("price_level", {"price": "0", "direction": "above"}, "config.price", "positive"),
        ("price_level", {"price": "-5", "direction": "above"}, "config.price", "positive"),
        ("price_level", {"price": "abc", "direction": "above"}, "config.price", "not a decimal"),
        ("price_level", {"price": "NaN", "direction": "above"}, "config.price", "positive"),
        ("price_level", {"price": True, "direction": "above"}, "config.price", "decimal"),
        ("price_level", {"price": "1", "direction": "up"}, "config.direction", "above, below"),
        ("price_level", {"price": "1"}, "config.direction", "required"),
        ("price_level", {"price": "1", "direction": "gte", "x": 1}, "config.x", "unknown"),
        ("price_change", {**PC, "direction": "sideways"}, "config.direction", "drop, rise, both"),
        ("price_change", {**PC, "threshold_type": "ratio"}, "config.threshold_type", "absolute"),
        ("price_change", {**PC, "threshold_value": "0"}, "config.threshold_value", "positive"),
        ("price_change", {**PC, "reference": "2h"}, "config.reference", "1h, 4h, 24h"),
        ("ma_cross", {**MA, "ma_period": 1}, "config.ma_period", "2 to 200"),
        ("ma_cross", {**MA, "ma_period": 201}, "config.ma_period", "2 to 200"),
        ("ma_cross", {**MA, "ma_period": 2.5}, "config.ma_period", "whole"),
        ("ma_cross", {**MA, "ma_timeframe": "2h"}, "config.ma_timeframe", "1m, 15m, 1h, 4h, 1d"),
        ("ma_cross", {**MA, "direction": "gte"}, "config.direction", "above, below"),
        ("volatility_spike", {}, "config.multiplier", "required"),
        ("volatility_spike", {"multiplier": "-1"}, "config.multiplier", "positive"),
        ("volatility_spike", {"multiplier": "2", "timeframe": "5m"}, "config.timeframe", "1m, 15m"),
    ],
)  # fmt: skip
def test_bad_configs_name_the_field_and_the_allowed_values(
    rule_type: str, config: Any, field: str, words: str
) -> None:
    with pytest.raises(ConfigError) as err:
        rules.validate_config(rule_type, config)
    assert err.value.field == field
    assert words in err.value.message


@pytest.mark.parametrize("value", [0, -1, 10081, "60", True, 1.5])
def test_cooldown_bounds(value: Any) -> None:
    with pytest.raises(ConfigError):
        rules.validate_cooldown(value)
    assert rules.validate_cooldown(1) == 1
    assert rules.validate_cooldown(10080) == 10080


@given(st.decimals(min_value="0.00000001", max_value="1e12", places=8, allow_nan=False))
def test_any_positive_decimal_threshold_round_trips(value: Decimal) -> None:
    cfg = rules.validate_config("price_level", {"price": str(value), "direction": "gte"})
    assert D(cfg["price"]) == value
    assert rules.validate_config("price_level", cfg) == cfg  # canonical is a fixed point


# -- cooldown ------------------------------------------------------------------------------------


def test_cooldown_includes_its_last_instant() -> None:
    last = NOW
    assert rules.in_cooldown(last, 60, NOW + timedelta(minutes=60))
    assert not rules.in_cooldown(last, 60, NOW + timedelta(minutes=60, microseconds=1))
    assert not rules.in_cooldown(None, 60, NOW)


@given(st.integers(1, 10080), st.integers(0, 20000))
def test_cooldown_is_exactly_the_window(cooldown: int, minutes_later: int) -> None:
    assert rules.in_cooldown(NOW, cooldown, NOW + timedelta(minutes=minutes_later)) == (
        minutes_later <= cooldown
    )


# -- price_change ---------------------------------------------------------------------------------


def _pc(**over: str) -> dict[str, Any]:
    return rules.validate_config("price_change", {**PC, **over})


def test_price_change_percent_both_ways() -> None:
    up = rules.evaluate("price_change", "BTCUSDT", _pc(), None, D("105"), reference=D("100"))
    assert up.triggered and up.severity == "urgent"
    assert up.reason == "BTCUSDT 상승 $5.00 (1h 대비 5.00%)"
    down = rules.evaluate("price_change", "BTCUSDT", _pc(), None, D("96"), reference=D("100"))
    assert not down.triggered and down.state is None
    drop = rules.evaluate(
        "price_change", "BTCUSDT", _pc(threshold_value="3"), None, D("96"), reference=D("100")
    )
    assert drop.triggered and drop.severity == "normal"
    assert drop.reason == "BTCUSDT 하락 $4.00 (1h 대비 -4.00%)"


def test_price_change_direction_and_absolute() -> None:
    cfg = _pc(direction="rise", threshold_type="absolute", threshold_value="10")
    assert not rules.evaluate("price_change", "X", cfg, None, D("80"), reference=D("100")).triggered
    assert rules.evaluate("price_change", "X", cfg, None, D("110"), reference=D("100")).triggered
    drop = _pc(direction="drop", threshold_type="absolute", threshold_value="10")
    assert not rules.evaluate(
        "price_change", "X", drop, None, D("110"), reference=D("100")
    ).triggered
    assert rules.evaluate("price_change", "X", drop, None, D("90"), reference=D("100")).triggered


def test_price_change_without_reference_is_not_evaluated() -> None:
    assert rules.evaluate("price_change", "X", _pc(), None, D("1"), reference=None) == (
        rules.NOT_EVALUATED
    )


@given(
    st.decimals(min_value="0.01", max_value="100000", places=2),
    st.decimals(min_value="0.01", max_value="100000", places=2),
    st.decimals(min_value="0.01", max_value="50", places=2),
)
def test_price_change_fires_iff_the_move_reaches_the_threshold(
    ref: Decimal, cur: Decimal, pct: Decimal
) -> None:
    cfg = _pc(threshold_value=str(pct))
    got = rules.evaluate("price_change", "X", cfg, None, cur, reference=ref)
    assert got.triggered == (abs(cur - ref) * 100 >= ref * pct)


# -- price_level ----------------------------------------------------------------------------------


def _pl(direction: str, price: str = "100") -> dict[str, Any]:
    return rules.validate_config("price_level", {"price": price, "direction": direction})


def test_level_rules_fire_whenever_on_their_side() -> None:
    assert rules.evaluate("price_level", "X", _pl("gte"), None, D("100"), reference=None).triggered
    assert not rules.evaluate("price_level", "X", _pl("gte"), None, D("99.99")).triggered
    assert rules.evaluate("price_level", "X", _pl("lte"), None, D("99.99")).triggered
    assert not rules.evaluate("price_level", "X", _pl("lte"), None, D("100")).triggered
    got = rules.evaluate("price_level", "BTCUSDT", _pl("gte", "65000"), None, D("65100.456"))
    assert got.reason == "BTCUSDT $65000.00 이상 도달 (현재 $65100.46)"


def test_crossing_first_evaluation_records_only() -> None:
    got = rules.evaluate("price_level", "X", _pl("above"), None, D("150"))
    assert not got.triggered and got.state == {"last_price": "150", "was_above_level": True}
    got = rules.evaluate("price_level", "X", _pl("below"), None, D("50"))
    assert not got.triggered and got.state is not None and got.state["was_above_level"] is False


def test_crossing_fires_on_the_change_of_side_only() -> None:
    below = {"was_above_level": False}
    above = {"was_above_level": True}
    fired = rules.evaluate("price_level", "X", _pl("above"), below, D("100"))
    assert fired.triggered and "돌파" in fired.reason
    assert not rules.evaluate("price_level", "X", _pl("above"), above, D("120")).triggered
    assert not rules.evaluate("price_level", "X", _pl("above"), below, D("99")).triggered
    down = rules.evaluate("price_level", "X", _pl("below"), above, D("99"))
    assert down.triggered and "이탈" in down.reason
    assert not rules.evaluate("price_level", "X", _pl("below"), below, D("98")).triggered


@given(st.lists(st.integers(1, 200), min_size=1, max_size=40))
def test_crossing_fires_once_per_upward_cross(path: list[int]) -> None:
    """Replaying a price path through the stored state fires once per move from below the
    level to at or above it (none on the first tick)."""
    cfg = _pl("above")
    state: dict[str, Any] | None = None
    fired = 0
    for p in path:
        got = rules.evaluate("price_level", "X", cfg, state, D(p))
        fired += got.triggered
        state = got.state
    expected = sum(1 for a, b in itertools.pairwise(path) if a < 100 <= b)
    assert fired == expected


# -- ma_cross -------------------------------------------------------------------------------------


def _candles(closes: list[str]) -> list[CandleRange]:
    return [CandleRange(D(c), D(c), D(c)) for c in closes]


def test_ma_cross() -> None:
    cfg = rules.validate_config(
        "ma_cross", {"ma_period": 5, "ma_timeframe": "1h", "direction": "above"}
    )
    history = ["100", "100", "100", "100"]
    first = rules.evaluate("ma_cross", "X", cfg, None, D("90"), candles=_candles([*history, "90"]))
    assert not first.triggered and first.state == {"last_price": "90", "was_above_ma": False}
    cross = rules.evaluate(
        "ma_cross", "BTCUSDT", cfg, first.state, D("120"), candles=_candles([*history, "120"])
    )
    assert cross.triggered and cross.severity == "urgent"
    assert cross.reason == "BTCUSDT 5일 이평선 상향 돌파 (MA: $104.00, 현재: $120.00)"
    short = rules.evaluate("ma_cross", "X", cfg, first.state, D("120"), candles=_candles(["1"]))
    assert short == rules.NOT_EVALUATED


# -- volatility_spike ----------------------------------------------------------------------------


def test_volatility_spike_against_mean_plus_k_sigma() -> None:
    cfg = rules.validate_config("volatility_spike", {"multiplier": "2"})
    base = [CandleRange(D(10 + i % 2 * 2), D(10), D(11)) for i in range(20)]  # ranges 0 and 2
    # mean 1, population sigma 1: fires at a range >= 3
    calm = rules.evaluate(
        "volatility_spike",
        "X",
        cfg,
        None,
        D(1),
        candles=[*base, CandleRange(D(12.9), D(10), D(11))],
    )
    assert not calm.triggered
    spike = rules.evaluate(
        "volatility_spike",
        "BTCUSDT",
        cfg,
        None,
        D(11),
        candles=[*base, CandleRange(D(13), D(10), D(11))],
    )
    assert spike.triggered and spike.severity == "urgent"
    assert spike.reason == "BTCUSDT 변동성 급등 감지 (1h 기준, 현재 범위: $3.00, 평균: $1.00)"
    few = rules.evaluate("volatility_spike", "X", cfg, None, D(1), candles=base)
    assert few == rules.NOT_EVALUATED  # fmt: skip


@given(
    st.lists(st.integers(0, 1000), min_size=20, max_size=20),
    st.integers(0, 3000),
    st.integers(1, 5),
)
def test_volatility_rule_matches_the_square_root_form(
    ranges: list[int], latest: int, k: int
) -> None:
    n = len(ranges)
    mean = D(sum(ranges)) / n
    sigma = (sum((D(r) - mean) ** 2 for r in ranges) / n).sqrt()
    got = rules.volatility_spike([D(r) for r in ranges], D(latest), D(k))
    margin = abs(D(latest) - (mean + k * sigma))
    if margin > D("1e-9"):  # away from the boundary, both forms agree
        assert got == (D(latest) > mean and D(latest) >= mean + k * sigma)


# -- outcomes and lifecycle -----------------------------------------------------------------------


def test_outcome_target_and_pnl() -> None:
    decided = datetime(2026, 3, 1, 12, 0, 45, tzinfo=UTC)
    assert rules.outcome_target(decided, "1h") == datetime(2026, 3, 1, 13, 0, tzinfo=UTC)
    assert rules.outcome_target(decided, "1d") == datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert money.pnl_percent(D("100"), D("105")) == D("5.00000000")
    assert money.pnl_percent(D("3"), D("2")) == D("-33.33333333")


def test_expiry_is_for_open_alerts_older_than_a_day() -> None:
    old = NOW - timedelta(hours=24, seconds=1)
    assert rules.is_expired("pending", old, NOW)
    assert rules.is_expired("briefed", old, NOW)
    assert not rules.is_expired("decided", old, NOW)
    assert not rules.is_expired("pending", NOW - timedelta(hours=23), NOW)


def test_needs() -> None:
    assert rules.needs("price_change", _pc(), NOW).reference_minute == datetime(
        2026, 3, 1, 11, 0, tzinfo=UTC
    )
    ma = rules.validate_config(
        "ma_cross", {"ma_period": 7, "ma_timeframe": "4h", "direction": "above"}
    )
    assert rules.needs("ma_cross", ma, NOW).candles == ("4h", 7)
    vol = rules.validate_config("volatility_spike", {"multiplier": "3", "timeframe": "15m"})
    assert rules.needs("volatility_spike", vol, NOW).candles == ("15m", 21)
    assert rules.needs("price_level", _pl("gte"), NOW) == rules.Needs()  # fmt: skip
