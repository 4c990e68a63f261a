"""Curve segments compose: any cut of a PnL sequence folds to the segment of the whole."""

from __future__ import annotations

import asyncio
import itertools
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
from hypothesis import given
from hypothesis import strategies as st

from kifu.kit.money import dec_str
from kifu.ledger import curve, pnl
from kifu.packs import rules
from tests.helpers import ApiUser

pnls_st = st.lists(st.decimals(min_value=-50, max_value=50, places=2), max_size=30)


@given(pnls=pnls_st, cuts=st.lists(st.integers(min_value=0, max_value=30), max_size=5))
def test_folding_any_cut_equals_the_whole(pnls: list[Decimal], cuts: list[int]) -> None:
    bounds = sorted({0, len(pnls), *(c for c in cuts if c <= len(pnls))})
    pieces = [curve.of(pnls[a:b]) for a, b in itertools.pairwise(bounds)]
    whole = curve.of(pnls)
    assert curve.fold(pieces) == whole
    assert whole.total == sum(pnls, Decimal(0))
    assert whole.fall == rules.max_drawdown(pnls)


@given(a=pnls_st, b=pnls_st, c=pnls_st)
def test_then_is_associative(a, b, c) -> None:
    x, y, z = curve.of(a), curve.of(b), curve.of(c)
    assert x.then(y).then(z) == x.then(y.then(z))
    assert curve.EMPTY.then(x) == x == x.then(curve.EMPTY)


def test_a_fall_across_two_segments() -> None:
    up, down = curve.of([Decimal(5), Decimal(-1)]), curve.of([Decimal(-6), Decimal(2)])
    assert up.then(down) == curve.Segment(Decimal(0), Decimal(5), Decimal(-2), Decimal(7))


def test_long_decimals_are_not_rounded() -> None:
    """NUMERIC sums can hold more digits than Python's default 28; nothing may round them."""
    big = Decimal("12345678901234567890.1234567890123456789")
    tiny = Decimal("0.0000000000000000000000000000001")
    seg = curve.of([big, tiny, Decimal("-12345678901234567890.1234567890123456789")])
    assert seg.total == tiny  # (unary minus and + would round these under the default context)
    assert seg.peak == Decimal("12345678901234567890.1234567890123456789000000000001")
    assert curve.of([big]).then(curve.of([tiny])).total == Decimal(
        "12345678901234567890.1234567890123456789000000000001"
    )
    assert dec_str(Decimal("123456789012345678901234567890.123456789")) == (
        "123456789012345678901234567890.123456789"
    )


def test_postgresql_folds_the_hours_as_curve_fold(db: str, user: ApiUser) -> None:
    """``pnl.folded_hours`` (the fold in SQL) equals ``curve.fold`` of ``pnl.hour_segments``,
    for random hours of two quotes and every window over them."""
    rnd = random.Random(17)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    with psycopg.connect(db, autocommit=True) as conn:
        for quote in ("USDT", "KRW"):
            for h in rnd.sample(range(48), 30):
                pnls = [
                    Decimal(rnd.randint(-5000, 5000)).scaleb(-rnd.randint(0, 12))
                    for _ in range(rnd.randint(1, 6))
                ]
                seg = curve.of(pnls)
                conn.execute(
                    "INSERT INTO ledger_pnl_hours (user_id, quote, hour, fills, pnl, peak,"
                    " trough, fall) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        user.id,
                        quote,
                        start + timedelta(hours=h),
                        len(pnls),
                        seg.total,
                        seg.peak,
                        seg.trough,
                        seg.fall,
                    ),
                )

    async def check() -> None:
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
            windows = [(None, start + timedelta(days=9))] + [
                (start + timedelta(hours=a), start + timedelta(hours=b))
                for a, b in ((0, 48), (3, 4), (5, 30), (20, 21), (47, 60), (60, 70))
            ]
            for first, stop in windows:
                want: dict[str, list[curve.Segment]] = {}
                for quote, _hour, seg in await pnl.hour_segments(conn, user.id, first, stop):
                    want.setdefault(quote, []).append(seg)
                got = await pnl.folded_hours(conn, user.id, first, stop)
                assert got == {q: curve.fold(s) for q, s in want.items()}, (first, stop)

    asyncio.run(check())
