"""Pure pack rules: ranges, time zones, ratio, drawdown, status thresholds, canonical hash."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kifu.packs import rules


def test_ranges_and_errors() -> None:
    assert rules.check_range(None) == "30d"
    assert rules.check_range(" 7d ") == "7d"
    with pytest.raises(rules.RuleError) as exc:
        rules.check_range("90d")
    assert "7d, 30d, all" in exc.value.message


@pytest.mark.parametrize("name", ["Mars/Base", "", "../etc/passwd", "/etc/localtime", "UTC+9"])
def test_unknown_time_zones_are_refused(name: str) -> None:
    with pytest.raises(rules.RuleError):
        rules.check_timezone(name if name else " ", "UTC")


def test_window_follows_the_time_zone() -> None:
    anchor = datetime(2026, 3, 10, 16, 30, tzinfo=UTC)  # 01:30 on 11 March in Seoul
    utc = rules.range_window("7d", ZoneInfo("UTC"), anchor)
    seoul = rules.range_window("7d", ZoneInfo("Asia/Seoul"), anchor)
    assert utc.start == datetime(2026, 3, 4, tzinfo=UTC)
    assert seoul.start == datetime(2026, 3, 4, 15, tzinfo=UTC)  # 5 March 00:00 KST
    assert utc.end == seoul.end == anchor
    assert rules.range_window("all", ZoneInfo("UTC"), anchor).start is None
    assert rules.range_window("30d", ZoneInfo("UTC"), anchor).start == datetime(
        2026, 2, 9, tzinfo=UTC
    )


def test_ratio_like_the_reference() -> None:
    assert rules.ratio(2, 3) == Decimal("0.66666667")
    assert rules.ratio(3, 0) is None and rules.ratio(0, 3) is None
    assert rules.dec(rules.ratio(4, 2)) == "2"


def test_drawdown() -> None:
    d = [Decimal(x) for x in ("5", "-3", "4", "-10", "2")]
    assert rules.max_drawdown(d) == Decimal("10")  # peak 6 → trough -4
    assert rules.max_drawdown([Decimal("-2"), Decimal("1")]) == Decimal("2")
    assert rules.max_drawdown([]) == 0


@given(st.lists(st.decimals(min_value=-1000, max_value=1000, places=4), max_size=30))
def test_drawdown_is_the_worst_fall_between_two_points(xs: list[Decimal]) -> None:
    cum = [Decimal(0)]
    for x in xs:
        cum.append(cum[-1] + x)
    brute = max((cum[i] - cum[j] for i in range(len(cum)) for j in range(i, len(cum))), default=0)
    assert rules.max_drawdown(xs) == brute


def _s(kind: str) -> dict:
    return rules.suspect(kind, venue="binance_futures", symbol="BTC/USDT", key="k")


def test_status_thresholds() -> None:
    assert rules.reconciliation_status([], []) == "ok"
    assert rules.reconciliation_status([], ["missing_instrument"]) == "warning"
    assert rules.reconciliation_status([_s("duplicate_external_id")], []) == "warning"
    assert rules.reconciliation_status([_s("spot_position_negative")] * 9, []) == "warning"
    assert rules.reconciliation_status([_s("spot_position_negative")] * 10, []) == "error"
    assert rules.reconciliation_status([_s("future_fill")], []) == "error"


def test_decimals_are_exact_strings() -> None:
    assert rules.dec(Decimal("1.50E+3")) == "1500"
    assert rules.dec(Decimal("-0.000")) == "0"
    assert rules.dec(Decimal("0.10000000000000000001")) == "0.10000000000000000001"
    with pytest.raises(TypeError):
        rules.canonical_json({"x": 1.5})


PAYLOAD = {
    "pack_id": "11111111-1111-1111-1111-111111111111",
    "schema_version": "summary_pack_v1",
    "content_hash": "",
    "time_range": {"timezone": "Asia/Seoul", "end_ts": datetime(2026, 3, 1, tzinfo=UTC)},
    "pnl_summary": {"realized_pnl_total": {"USDT": Decimal("12.50"), "KRW": Decimal("-3000")}},
    "reconciliation": {"normalization_warnings": [], "note": "한국어"},
    "evidence_index": {
        "exchange_trade_ids_sample": ["1"],
        "evidence_pack_ref": "evidence_pack://x",
    },
}


def test_canonical_text_pinned() -> None:
    content = rules.hashed_content(PAYLOAD)
    assert rules.canonical_json(content) == (
        '{"evidence_index":{"exchange_trade_ids_sample":["1"]},'
        '"pnl_summary":{"realized_pnl_total":{"KRW":"-3000","USDT":"12.5"}},'
        '"reconciliation":{"normalization_warnings":[],"note":"한국어"},'
        '"schema_version":"summary_pack_v1",'
        '"time_range":{"end_ts":"2026-03-01T00:00:00Z","timezone":"Asia/Seoul"}}'
    )


def test_hash_vector_pinned_and_ignores_identity_fields() -> None:
    h = rules.content_hash(PAYLOAD)
    assert h == "563418d9c266a8a69cf73d5aa10539d16f46e2c995df2b28ef4f7d8dab2eb715"
    assert (
        h
        == hashlib.sha256(rules.canonical_json(rules.hashed_content(PAYLOAD)).encode()).hexdigest()
    )
    other = {**PAYLOAD, "pack_id": "22222222-2222-2222-2222-222222222222", "content_hash": h}
    other["evidence_index"] = {
        **PAYLOAD["evidence_index"],
        "evidence_pack_ref": "evidence_pack://y",
    }
    assert rules.content_hash(other) == h
    changed = {**PAYLOAD, "schema_version": "summary_pack_v2"}
    assert rules.content_hash(changed) != h
    assert rules.content_hash({}) == (
        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    )


# -- hour cuts ------------------------------------------------------------------------------------


def _covers(cut: rules.HourCut, start, end, probes) -> None:
    """Every probe instant is in exactly one piece iff it is in [start, end]."""
    for t in probes:
        in_hours = (cut.first is None or t >= cut.first) and t < cut.stop
        in_spans = sum(
            1
            for lo, hi, inclusive in cut.spans
            if (lo is None or t >= lo) and (t <= hi if inclusive else t < hi)
        )
        inside = (start is None or t >= start) and t <= end
        assert in_hours + in_spans == (1 if inside else 0), t


def test_hour_cut_pieces_cover_the_range_once() -> None:
    base = datetime(2026, 3, 1, tzinfo=UTC)
    minutes = [0, 1, 29, 30, 59, 60, 61, 90, 119, 120, 121, 180, 600]
    probes = [base + timedelta(minutes=m, seconds=s) for m in range(-70, 700, 7) for s in (0, 31)]
    probes += [base + timedelta(minutes=m) for m in minutes]
    for s in [None, *minutes]:
        for e in minutes:
            start = None if s is None else base + timedelta(minutes=s)
            end = base + timedelta(minutes=e)
            if start is not None and start > end:
                continue
            _covers(rules.hour_cut(start, end), start, end, probes)


def test_hour_cut_of_whole_hours_reads_only_the_last_instant() -> None:
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)
    cut = rules.hour_cut(start, end)
    assert (cut.first, cut.stop, cut.spans) == (start, end, ((end, end, True),))
    inside = rules.hour_cut(start + timedelta(minutes=10), start + timedelta(minutes=20))
    assert inside.spans == ((start + timedelta(minutes=10), start + timedelta(minutes=20), True),)
    assert inside.first == inside.stop
