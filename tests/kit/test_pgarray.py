"""``kit.pgarray.literal`` read back by PostgreSQL: the values the list would have sent."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kifu.kit.pgarray import literal

_TEXT = st.text(st.characters(blacklist_characters="\0", blacklist_categories=["Cs"]))
_DECIMAL = st.decimals(allow_nan=False, allow_infinity=False)
# aware instants in zones of every offset (PostgreSQL's range, from year 1 on)
_INSTANT = st.datetimes(
    min_value=datetime(2, 1, 1),
    max_value=datetime(9998, 12, 31),
    timezones=st.timedeltas(timedelta(hours=-15), timedelta(hours=15)).map(
        lambda d: timezone(timedelta(minutes=d // timedelta(minutes=1)))
    ),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    texts=st.lists(st.one_of(st.none(), _TEXT), max_size=8),
    numbers=st.lists(st.one_of(st.none(), _DECIMAL), max_size=8),
    ints=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=8),
    ids=st.lists(st.uuids(), max_size=4),
    times=st.lists(_INSTANT, max_size=4),
)
def test_postgresql_reads_back_every_value(
    db: str, texts: list, numbers: list, ints: list, ids: list, times: list
) -> None:
    with psycopg.connect(db) as conn:
        row = conn.execute(
            "SELECT %s::text[], %s::numeric[], %s::int8[], %s::uuid[], %s::timestamptz[]",
            (literal(texts), literal(numbers), literal(ints), literal(ids), literal(times)),
        ).fetchone()
    assert row is not None
    assert row[0] == texts and row[2] == ints and row[3] == ids and row[4] == times
    # numeric keeps the value; ``1E+2`` comes back as ``100``
    assert [None if n is None else Decimal(n) for n in row[1]] == numbers


def test_texts_that_look_like_syntax_stay_texts(db: str) -> None:
    tricky = ["", "NULL", "null", "a,b", "{x}", ' "q" ', "back\\slash", "tab\there", "ünï"]
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT %s::text[]", (literal(tricky),)).fetchone()
    assert row == (tricky,)
    assert literal([]) == "{}"
    assert literal([uuid.UUID(int=1), 7, Decimal("1E+2"), None]) == (
        "{00000000-0000-0000-0000-000000000001,7,1E+2,NULL}"
    )
    at = datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=timezone(timedelta(hours=9)))
    assert literal([at]) == "{2026-01-02T03:04:05.000600+09:00}"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (Decimal("NaN"), ValueError),
        (Decimal("-Infinity"), ValueError),
        ("nul\0", ValueError),
        (datetime(2026, 1, 2, 3, 4, 5), ValueError),
        (True, TypeError),
        (1.5, TypeError),
        (b"bytes", TypeError),
    ],
)
def test_refuses_what_it_cannot_write(value: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        literal([value])
