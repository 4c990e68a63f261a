"""``kifu.ledger.money``: the fold of fees, funding and fills, and its SQL twin
``queries.money_by_day_json`` (what the review calendar answers) against it on random events,
in zones whose midnight cuts an hourly rollup row, with every asset rule's corner: an empty or
missing asset, lower case, a group whose fees cancel, fee events with and without an income
type; changes waiting for a catch-up; an asset that is not ASCII (left to Python)."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
import pytest

from kifu.ledger import money, queries
from kifu.review import rules as review_rules
from tests.packs.ledger_rows import ANCHOR, Ledger

D = Decimal


def test_fees_and_funding_fold_like_the_pack() -> None:
    m = money.MoneyByCcy()
    base = {"income_type": None, "fee_asset": None, "meta_asset": None, "quote": "USDT"}
    money.add_fee_group(
        m, {**base, "event_type": "perp_trade", "n": 3, "fee_sum": D("0.3"), "funding": D(0)}
    )
    money.add_fee_group(
        m,
        {
            **base,
            "event_type": "spot_trade",
            "n": 1,
            "fee_sum": D("0.01"),
            "funding": D(0),
            "fee_asset": "bnb",
        },
    )
    money.add_fee_group(
        m,
        {
            **base,
            "event_type": "fee",
            "n": 1,
            "fee_sum": D("-2"),
            "funding": D("2"),
            "income_type": "FUNDING_FEE",
            "quote": None,
            "meta_asset": "USDT",
        },
    )
    money.add_fee_group(
        m,
        {
            **base,
            "event_type": "fee",
            "n": 1,
            "fee_sum": D("0.5"),
            "funding": D(0),
            "income_type": "COMMISSION",
            "quote": None,
            "fee_asset": "USDT",
        },
    )
    assert m.fills == 4
    assert m.fees == {"USDT": D("0.3"), "BNB": D("0.01")}
    assert m.funding == {"USDT": D("2")}


def test_a_zero_fee_group_adds_no_currency_and_an_empty_asset_none() -> None:
    m = money.MoneyByCcy()
    base = {"income_type": None, "meta_asset": None, "quote": "USDT", "funding": D(0), "n": 1}
    money.add_fee_group(m, {**base, "event_type": "spot_trade", "fee_sum": D(0), "fee_asset": "X"})
    money.add_fee_group(m, {**base, "event_type": "spot_trade", "fee_sum": D(1), "fee_asset": ""})
    money.add_fee_group(
        m,
        {**base, "event_type": "fee", "income_type": "FUNDING_FEE", "fee_sum": D(1),
         "fee_asset": None, "meta_asset": "", "funding": D(5)},
    )  # fmt: skip
    assert (m.fees, m.funding, m.fills) == ({}, {}, 2)


def _edges(zone: ZoneInfo, first: date, last: date) -> list[datetime]:
    days = review_rules.days_between(first, last)
    return [review_rules.day_start(d, zone) for d in [*days, last + timedelta(days=1)]]


def _members(value: dict) -> str:
    return json.dumps(value, separators=(",", ":"))[1:-1]


async def _both(
    conninfo: str, user_id: uuid.UUID, zone: ZoneInfo, first: date, last: date
) -> tuple[dict[date, str] | None, dict[date, str]]:
    """The days as PostgreSQL writes them, and as the Python fold prints them."""
    edges = _edges(zone, first, last)
    window = {
        "start": edges[0],
        "end": edges[-1],
        "zone": zone.key,
        "raw_hours": review_rules.straddled_hours(edges),
    }
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        written = await queries.money_by_day_json(conn, user_id, **window)
        folded: dict[datetime, money.MoneyByCcy] = {}
        for quote, bucket, pnl in await queries.realized_pnl_buckets(
            conn, user_id, **window, unit="day", raw_all=False
        ):
            folded.setdefault(bucket, money.MoneyByCcy()).add_pnl(quote, pnl)
        for g in await queries.fee_buckets(conn, user_id, **window, unit="day", raw_all=False):
            money.add_fee_group(folded.setdefault(g["bucket"], money.MoneyByCcy()), g)
    return written, {k.date(): _members(v.as_json()) for k, v in folded.items()}


ASSETS = [None, "", "USDT", "usdt", "Bnb", "KRW"]
INCOME = [None, "FUNDING_FEE", "COMMISSION", "REALIZED_PNL"]
SYMBOLS = ["X/USDT", "Y/KRW", "Z/usdt"]


def _random_events(ledger: Ledger, rnd: random.Random, n: int) -> None:
    for _ in range(n):
        at = ANCHOR + timedelta(
            minutes=rnd.randint(-4 * 1440, 4 * 1440), seconds=rnd.randint(0, 59)
        )
        kind = rnd.random()
        fee = rnd.choice([None, "0", "0.1", "-0.1", "1.2300", "0.000000001"])
        if kind < 0.6:
            symbol = rnd.choice(SYMBOLS)
            ledger.fill(
                "upbit" if symbol == "Y/KRW" else rnd.choice(["binance_futures", "binance_spot"]),
                symbol,
                rnd.choice(["buy", "sell"]),
                str(D(rnd.randint(1, 400)) / 100),
                str(D(rnd.randint(9000, 11000)) / 100),
                at,
                fee=fee,
                fee_asset=rnd.choice(ASSETS),
            )
        else:
            income = rnd.choice(INCOME)
            meta = {"asset": rnd.choice(ASSETS), "income": str(rnd.randint(-300, 300) / 100)}
            if income:
                meta["income_type"] = income
            ledger.fill(
                "binance_futures",
                rnd.choice([None, "X/USDT"]),
                None,
                "0",
                "0",
                at,
                fee=fee,
                fee_asset=rnd.choice(ASSETS),
                event_type="fee",
                metadata=meta,
            )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_sql_days_are_the_python_fold(db, make_user, seed) -> None:
    rnd = random.Random(seed)
    ledger, other = Ledger(db, make_user().id), Ledger(db, make_user().id)
    _random_events(ledger, rnd, 160)
    _random_events(other, rnd, 20)
    with psycopg.connect(db) as conn:  # hand-made: the first read must catch up
        waiting = conn.execute(
            "SELECT count(*) FROM ledger_pnl_dirty WHERE user_id = %s", (ledger.user_id,)
        ).fetchone()
    assert waiting and waiting[0] > 0
    first, last = ANCHOR.date() - timedelta(days=3), ANCHOR.date() + timedelta(days=3)
    for name in ("UTC", "Asia/Seoul", "Asia/Kolkata", "America/St_Johns", "Pacific/Chatham"):
        written, folded = asyncio.run(_both(db, ledger.user_id, ZoneInfo(name), first, last))
        assert written == folded, name
        assert written, name
    assert any('"realized_pnl":{"' in v for v in written.values())
    assert any('"funding":{"' in v for v in written.values())


def test_an_asset_that_is_not_ascii_is_left_to_python(db, make_user, client) -> None:
    user = make_user()
    ledger = Ledger(db, user.id)
    ledger.fill("binance_spot", "X/USDT", "buy", "1", "10", ANCHOR, fee="0.1", fee_asset="ﬀ")
    written, folded = asyncio.run(
        _both(db, ledger.user_id, ZoneInfo("UTC"), ANCHOR.date(), ANCHOR.date())
    )
    assert written is None
    assert folded == {ANCHOR.date(): '"realized_pnl":{},"fees":{"FF":"0.1"},"funding":{},"fills":1'}
    day = ANCHOR.date().isoformat()
    r = client.get(f"/api/v1/review/calendar?from={day}&to={day}", headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.json()["days"][day]["fees"] == {"FF": "0.1"}
