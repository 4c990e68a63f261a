"""Coded field types: the value they keep, the code and reason they refuse with, and the error
code the API answers a validation failure with."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from kifu.kit.errors import describe_validation_errors, validation_code
from kifu.kit.fields import (
    Body,
    OmitNull,
    QueryModel,
    Refused,
    choice,
    coded,
    decimal_text,
    id_text,
    instant_text,
    is_error_code,
    pattern_text,
    positive_int,
    query_time,
    tag_list,
    uuid_value,
)

Symbol = pattern_text("INVALID_SYMBOL", re.compile(r"[A-Z0-9]{3,12}"), "3-12 letters", case="upper")
Tags = tag_list("INVALID_TAGS", max_items=3, max_len=5, pattern=re.compile(r"[a-z]+"), lower=True)


class Thing(Body):
    symbol: Symbol
    tags: Tags | None = None
    price: decimal_text(positive=True) | None = None
    at: instant_text(blank_is_none=True) | None = None
    ref: id_text(blank_is_none=True) | None = None


def refusal(model: type[BaseModel], data: Any) -> tuple[str, str]:
    """(the API's code, its message) for ``data``."""
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    errors = info.value.errors()
    return validation_code(errors), describe_validation_errors(errors)


def test_codes_are_upper_snake_and_never_pydantic_types() -> None:
    assert is_error_code("INVALID_SYMBOL") and is_error_code("NOT_FOUND")
    for kind in ("string_type", "missing", "value_error", "Invalid", "INVALID_", "_X"):
        assert not is_error_code(kind)


def test_values_are_kept_normalised() -> None:
    t = Thing.model_validate(
        {"symbol": " btcusdt ", "tags": ["A", " a ", "b"], "price": 5, "at": "", "ref": ""}
    )
    assert (t.symbol, t.tags, t.price, t.at, t.ref) == ("BTCUSDT", ["a", "b"], "5", None, None)
    assert Thing.model_validate({"symbol": "ETHUSDT", "price": " 1.50 "}).price == " 1.50 "


@pytest.mark.parametrize(
    ("data", "code", "message"),
    [
        ({}, "INVALID_SYMBOL", "symbol: 3-12 letters"),  # absent: its own code, not "required"
        ({"symbol": None}, "INVALID_SYMBOL", "symbol: 3-12 letters"),
        ({"symbol": 12345}, "INVALID_SYMBOL", "symbol: 3-12 letters"),
        ({"symbol": "BTC-USDT"}, "INVALID_SYMBOL", "symbol: 3-12 letters"),
        ({"symbol": "BTCUSDT", "tags": ["a", "", "b", "c"]}, "INVALID_TAGS", "cannot exceed 3"),
        ({"symbol": "BTCUSDT", "tags": ["abcdef"]}, "INVALID_TAGS", "is longer than 5"),
        ({"symbol": "BTCUSDT", "tags": ["a b"]}, "INVALID_TAGS", "may only use"),
        ({"symbol": "BTCUSDT", "tags": "a"}, "INVALID_TAGS", "must be a list"),
        ({"symbol": "BTCUSDT", "price": 1.5}, "INVALID_REQUEST", "price: send numbers as"),
        ({"symbol": "BTCUSDT", "price": "0"}, "INVALID_REQUEST", "price: must be greater than 0"),
        ({"symbol": "BTCUSDT", "price": "{x}"}, "INVALID_REQUEST", "price: '{x}' is not a number"),
        ({"symbol": "BTCUSDT", "at": "2026-01-02T03:00"}, "INVALID_REQUEST", "has no time zone"),
        ({"symbol": "BTCUSDT", "ref": "x"}, "INVALID_REQUEST", "ref: not a valid id"),
        ({"symbol": "BTCUSDT", "colour": 1}, "INVALID_REQUEST", "colour: unknown field"),
    ],
)
def test_refusals_carry_the_code_and_name_the_field(data: dict, code: str, message: str) -> None:
    got_code, got_message = refusal(Thing, data)
    assert got_code == code and message in got_message, (got_code, got_message)


def test_first_coded_error_gives_the_code_and_every_error_is_named() -> None:
    code, message = refusal(Thing, {"symbol": "x", "tags": ["a b"], "colour": 1})
    assert code == "INVALID_SYMBOL"
    assert "symbol:" in message and "tags:" in message and "colour:" in message


def test_a_refusal_may_carry_its_own_code() -> None:
    def check(raw: Any) -> str:
        if not raw:
            raise Refused("required", code="INVALID_REQUEST")
        if raw != "upbit":
            raise Refused("unknown venue")
        return raw

    class Venue(Body):
        venue: coded("INVALID_EXCHANGE", check)

    assert refusal(Venue, {"venue": ""}) == ("INVALID_REQUEST", "venue: required")
    assert refusal(Venue, {"venue": "kraken"}) == ("INVALID_EXCHANGE", "venue: unknown venue")
    assert refusal(Venue, {}) == ("INVALID_REQUEST", "venue: required")


def test_query_types() -> None:
    class Q(QueryModel):
        side: choice("INVALID_REQUEST", ("BUY", "SELL"), case="upper", blank_is_none=True) = None
        start: query_time() = None
        end: query_time(end=True) = None
        limit: positive_int(at_most=10) | None = None
        pack: uuid_value() | None = None

    pack = uuid.uuid4()
    q = Q.model_validate(
        {
            "side": "buy",
            "start": "2026-01-02",
            "end": "2026-01-02",
            "limit": "99",
            "pack": str(pack),
            "other": "ignored",
        }
    )
    assert q.side == "BUY" and q.limit == 10 and q.pack == pack
    assert q.start == datetime(2026, 1, 2, tzinfo=UTC)
    assert q.end == datetime(2026, 1, 3, tzinfo=UTC)  # a whole day, exclusive end
    exact = Q.model_validate({"end": "2026-01-02T00:00:00+09:00"}).end
    assert exact == datetime(2026, 1, 1, 15, 0, 0, 1, tzinfo=UTC)  # a full time is inclusive
    assert Q.model_validate({"side": ""}).side is None
    assert refusal(Q, {"side": "hold"})[1] == "side: must be one of BUY, SELL"
    assert refusal(Q, {"limit": "0"})[1] == "limit: must be a positive whole number"
    assert refusal(Q, {"start": "yesterday"})[1] == "start: 'yesterday' is not an RFC 3339 time"
    assert refusal(Q, {"pack": "x"})[1] == "pack: not a valid id"


def test_schemas_say_the_code_and_the_base_type() -> None:
    props = Thing.model_json_schema()["properties"]
    assert props["symbol"]["type"] == "string"
    assert props["symbol"]["x-error-code"] == "INVALID_SYMBOL"
    assert props["tags"]["anyOf"][0]["type"] == "array"
    assert props["at"]["anyOf"][0]["format"] == "date-time"
    assert Thing.model_json_schema()["required"] == ["symbol"]


def test_omitted_fields_are_left_out_when_null_and_documented_so() -> None:
    class Item(OmitNull):
        omit_when_null = frozenset({"memo"})
        name: str
        memo: str | None
        other: str | None

    class Page(BaseModel):
        items: list[Item]

    page = Page(items=[Item(name="a", memo=None, other=None), Item(name="b", memo="m", other="o")])
    assert page.model_dump(mode="json") == {
        "items": [{"name": "a", "other": None}, {"name": "b", "memo": "m", "other": "o"}]
    }
    schema = Item.model_json_schema(mode="serialization")
    assert schema["required"] == ["name", "other"]
    assert schema["properties"]["memo"]["type"] == "string"  # absent, never null
    assert "anyOf" in schema["properties"]["other"]


def test_an_omit_null_model_reads_what_it_writes() -> None:
    # the answers PostgreSQL writes (kit.jsonsql) leave those fields out and are read back
    class Item(OmitNull):
        omit_when_null = frozenset({"memo"})
        name: str
        memo: str | None
        other: str | None

    item = Item.model_validate_json('{"name": "a", "other": null}')
    assert item.memo is None and item.model_dump(mode="json") == {"name": "a", "other": None}
    with pytest.raises(ValidationError):  # a field not left out when null is still required
        Item.model_validate({"name": "a", "memo": "m"})
