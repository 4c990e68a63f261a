"""Request field types that carry the reference's error codes.

Declare ``symbol: BubbleSymbol`` in a request model instead of checking the value by hand: a
value the type refuses fails request validation with the type's code as the pydantic error type,
and ``kit.errors`` answers it as ``{"code": "INVALID_SYMBOL", "message": "symbol: <reason>"}``
(400), naming the field. Built on the small factories below so that each capability declares its
own types (patterns, limits) from the constants of its ``rules``.

Text types keep the value as text (trimmed and case-normalised where the rule says so): what the
route hands to its service is the wire form, already checked. ``Body`` and ``QueryModel`` are the
base models for request bodies and query strings; they make an absent required coded field fail
with its own code (``symbol`` missing is ``INVALID_SYMBOL``, as in the reference), not with a
generic "field required".
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar

from fastapi import Path
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    SerializerFunctionWrapHandler,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_serializer,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from kifu.kit.numbers import EXACT, size_problem

INVALID_REQUEST = "INVALID_REQUEST"
_CODE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")


def is_error_code(kind: str) -> bool:
    """True for an API error code (``INVALID_SYMBOL``); pydantic's own error types are lower
    case (``string_type``, ``missing``), so the two never collide."""
    return _CODE.fullmatch(kind) is not None


class Refused(ValueError):
    """Raised by a check: the value is refused for ``reason`` (said without the field name).
    ``code`` overrides the type's code for this refusal (a blank value that is a plain
    ``INVALID_REQUEST`` where a wrong one is ``INVALID_EXCHANGE``)."""

    def __init__(self, reason: str, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


def invalid(code: str, reason: str) -> PydanticCustomError:
    # The reason travels as context so that braces in user input are never read as a template.
    return PydanticCustomError(code, "{reason}", {"reason": reason})


@dataclass(frozen=True)
class ErrorCode:
    """``Annotated`` marker: the code a field answers with (also when a required one is absent)."""

    code: str


def coded(
    code: str,
    check: Callable[[Any], Any],
    *,
    base: Any = str,
    nullable: bool = False,
    description: str | None = None,
    json_schema: dict[str, Any] | None = None,
) -> Any:
    """``Annotated[base, …]`` whose raw value goes through ``check`` first. ``check`` returns the
    value to keep or raises ``Refused(reason)``, which fails validation with ``code``. It also
    gets ``None`` for an absent required field of a ``Body``/``QueryModel``. ``nullable``: the
    check may turn a value (an empty string) into ``None``."""

    def validate(raw: Any, inner: ValidatorFunctionWrapHandler) -> Any:
        try:
            value = check(raw)
        except Refused as exc:
            raise invalid(exc.code or code, exc.reason) from None
        # None (an empty value read as absent) skips the base type; anything else is checked
        # against it too. The schema stays the base type's.
        return None if value is None and nullable else inner(value)

    # The code also goes into the JSON schema, where kit.openapi lists it under the route's 400.
    extra = {**(json_schema or {}), "x-error-code": code}

    def schema(js: dict[str, Any]) -> None:
        for key, value in extra.items():  # None drops what the base type says (a format)
            if value is None:
                js.pop(key, None)
            else:
                js[key] = value

    field = Field(description=description, json_schema_extra=schema)
    return Annotated[base, WrapValidator(validate), field, ErrorCode(code)]


def _blank(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


# -- factories -------------------------------------------------------------------------------------


def pattern_text(
    code: str,
    pattern: re.Pattern[str],
    reason: str,
    *,
    case: str | None = None,
    description: str | None = None,
    blank_is_none: bool = False,
    required_reason: str | None = None,
) -> Any:
    """Text trimmed (and upper/lower-cased with ``case``) that must match ``pattern``."""

    def check(raw: Any) -> str | None:
        if blank_is_none and _blank(raw):
            return None
        if raw is None and required_reason:
            raise Refused(required_reason)
        if not isinstance(raw, str):
            raise Refused(reason)
        text = raw.strip()
        text = text.upper() if case == "upper" else text.lower() if case == "lower" else text
        if not pattern.fullmatch(text):
            raise Refused(reason)
        return text

    return coded(code, check, nullable=blank_is_none, description=description)


def choice(
    code: str,
    choices: Iterable[str],
    *,
    case: str | None = "lower",
    blank_is_none: bool = False,
    required_reason: str | None = None,
    reason: str | None = None,
    description: str | None = None,
) -> Any:
    """One of ``choices`` after trimming and case folding (``case`` "lower", "upper" or None)."""
    allowed = tuple(choices)
    why = reason or f"must be one of {', '.join(allowed)}"

    def check(raw: Any) -> str | None:
        if _blank(raw):
            if blank_is_none:
                return None
            raise Refused(required_reason or why)
        if not isinstance(raw, str):
            raise Refused(why)
        text = raw.strip()
        text = text.upper() if case == "upper" else text.lower() if case == "lower" else text
        if text not in allowed:
            raise Refused(why)
        return text

    schema = {"enum": list(allowed)}
    return coded(code, check, nullable=blank_is_none, description=description, json_schema=schema)


def instant_text(
    code: str = INVALID_REQUEST,
    *,
    blank_is_none: bool = False,
    required_reason: str = "required, an RFC 3339 time with a zone",
    description: str | None = None,
) -> Any:
    """An RFC 3339 time with a zone (``Z`` or ``±hh:mm``), kept as the text sent."""

    def check(raw: Any) -> str | None:
        if blank_is_none and (raw is None or raw == ""):
            return None
        if _blank(raw):
            raise Refused(required_reason)
        if not isinstance(raw, str):
            raise Refused("must be an RFC 3339 time")
        parse_rfc3339(raw)
        return raw

    schema = {"format": "date-time"}
    return coded(code, check, nullable=blank_is_none, description=description, json_schema=schema)


def parse_rfc3339(text: str) -> datetime:
    """``text`` as an aware UTC datetime; ``Refused`` when it is not RFC 3339 or has no zone."""
    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise Refused(f"{text!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise Refused(f"{text!r} has no time zone")
    return _utc(parsed, text)


def _utc(at: datetime, text: str, step: timedelta | None = None) -> datetime:
    """``at`` in UTC (plus ``step``); ``Refused`` at the ends of the calendar, where year 1 in a
    western zone or 9999 in an eastern one has no UTC instant."""
    try:
        utc = at.astimezone(UTC)
        return utc + step if step else utc
    except OverflowError:
        raise Refused(f"{text[:40]!r} is out of range") from None


def query_time(*, end: bool = False, description: str | None = None) -> Any:
    """A query bound: RFC 3339 (any fraction, with a zone) or ``YYYY-MM-DD`` (UTC), as an aware
    datetime. With ``end`` the bound is exclusive: a date covers that whole day, a full time is
    inclusive (one microsecond is added)."""

    def check(raw: Any) -> datetime | None:
        if _blank(raw):
            return None
        if not isinstance(raw, str):
            raise Refused("must be an RFC 3339 time or a date")
        text = raw.strip()
        if len(text) == 10:
            try:
                day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
            except ValueError:
                raise Refused(f"{raw!r} is not a date") from None
            return _utc(day, raw, timedelta(days=1)) if end else day
        try:
            at = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise Refused(f"{raw!r} is not an RFC 3339 time") from None
        if at.tzinfo is None:
            raise Refused(f"{raw!r} has no time zone")
        return _utc(at, raw, timedelta(microseconds=1) if end else None)

    schema = {"format": None, "examples": ["2026-01-02T03:04:05Z", "2026-01-02"]}
    return coded(
        INVALID_REQUEST,
        check,
        base=datetime,
        nullable=True,
        description=description,
        json_schema=schema,
    )


def decimal_text(
    code: str = INVALID_REQUEST,
    *,
    positive: bool = False,
    non_negative: bool = False,
    whole_digits: int | None = None,
    scale: int | None = None,
    blank_is_none: bool = False,
    description: str | None = None,
) -> Any:
    """An exact decimal sent as a string (or a whole number), kept as text. Floats are refused:
    they are not exact. ``whole_digits``/``scale`` are the column's limits."""

    def check(raw: Any) -> str | None:
        if _blank(raw):
            if blank_is_none:
                return None
            raise Refused("required")
        if isinstance(raw, bool | float):
            raise Refused("send numbers as decimal strings")
        if isinstance(raw, int):
            raw = str(raw)
        if not isinstance(raw, str):
            raise Refused("must be a decimal number")
        if problem := size_problem(raw.strip()):
            raise Refused(problem)
        try:
            value = Decimal(raw.strip())
        except InvalidOperation:
            raise Refused(f"{raw[:40]!r} is not a number") from None
        if not value.is_finite():
            raise Refused("must be finite")
        if problem := size_problem(value=value):
            raise Refused(problem)
        if positive and value <= 0:
            raise Refused("must be greater than 0")
        if whole_digits is not None and abs(value) >= Decimal(10) ** whole_digits:
            raise Refused(f"must be below 10^{whole_digits}")
        if scale is not None and value != value.quantize(Decimal(1).scaleb(-scale), context=EXACT):
            raise Refused(f"at most {scale} decimal places")
        if non_negative and value < 0:
            raise Refused("must not be negative")
        return raw

    schema = {"examples": ["42000.5"]}
    description = description or "exact decimal, as a string"
    return coded(code, check, nullable=blank_is_none, description=description, json_schema=schema)


def id_text(*, blank_is_none: bool = False, description: str | None = None) -> Any:
    """A UUID sent as text, kept as text (trimmed); ``not a valid id`` otherwise."""

    def check(raw: Any) -> str | None:
        if blank_is_none and (raw is None or raw == ""):
            return None
        if isinstance(raw, str):
            try:
                uuid.UUID(raw.strip())
                return raw.strip()
            except ValueError:
                pass
        raise Refused("not a valid id")

    schema = {"format": "uuid"}
    return coded(
        INVALID_REQUEST, check, nullable=blank_is_none, description=description, json_schema=schema
    )


def uuid_value(*, description: str | None = None) -> Any:
    """A UUID (path or body), as ``uuid.UUID``; ``not a valid id`` otherwise."""

    def check(raw: Any) -> uuid.UUID:
        if isinstance(raw, uuid.UUID):
            return raw
        if isinstance(raw, str):
            try:
                return uuid.UUID(raw.strip())
            except ValueError:
                pass
        raise Refused("not a valid id")

    return coded(INVALID_REQUEST, check, base=uuid.UUID, description=description)


def required_text(max_len: int | None = None, *, description: str | None = None) -> Any:
    """Text that must not be blank, kept as sent; at most ``max_len`` characters."""

    def check(raw: Any) -> str:
        if not isinstance(raw, str) or not raw.strip():
            raise Refused("required")
        if max_len is not None and len(raw) > max_len:
            raise Refused(f"at most {max_len} characters")
        return raw

    schema = {"minLength": 1, **({"maxLength": max_len} if max_len is not None else {})}
    return coded(INVALID_REQUEST, check, description=description, json_schema=schema)


def bounded_text(max_len: int | None = None, *, description: str | None = None) -> Any:
    """Optional free text, trimmed; empty is null; at most ``max_len`` characters."""

    def check(raw: Any) -> str | None:
        if raw is None:
            return None
        if not isinstance(raw, str):
            raise Refused("must be a string")
        text = raw.strip()
        if max_len is not None and len(text) > max_len:
            raise Refused(f"at most {max_len} characters")
        return text or None

    schema = {"maxLength": max_len} if max_len is not None else None
    return coded(INVALID_REQUEST, check, nullable=True, description=description, json_schema=schema)


def tag_list(
    code: str,
    *,
    max_items: int,
    max_len: int,
    pattern: re.Pattern[str] | None = None,
    lower: bool = False,
    description: str | None = None,
) -> Any:
    """A list of tags, each trimmed (and lower-cased), empties dropped, duplicates removed."""

    def check(raw: Any) -> list[str]:
        if not isinstance(raw, list):
            raise Refused("must be a list of strings")
        if len(raw) > max_items:
            raise Refused(f"tags cannot exceed {max_items}")
        tags: list[str] = []
        for item in raw:
            if not isinstance(item, str):
                raise Refused("every tag must be a string")
            tag = item.strip().lower() if lower else item.strip()
            if not tag:
                continue
            if len(tag) > max_len:
                shown = repr(tag[:40]) + ("…" if len(tag) > 40 else "")
                raise Refused(f"tag {shown} is longer than {max_len}")
            if pattern is not None and not pattern.fullmatch(tag):
                raise Refused(f"tag {tag!r} may only use a-z, 0-9, _ and -")
            if tag not in tags:
                tags.append(tag)
        return tags

    schema = {"maxItems": max_items, "items": {"type": "string", "maxLength": max_len}}
    return coded(code, check, base=list[str], description=description, json_schema=schema)


def positive_int(
    code: str = INVALID_REQUEST, *, at_most: int | None = None, description: str | None = None
) -> Any:
    """A positive whole number given as digits (a query value); over ``at_most`` is clamped."""

    def check(raw: Any) -> int:
        text = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
        # ASCII digits only ("²" passes str.isdigit), and few enough for int() to be cheap.
        if (
            not isinstance(text, str)
            or not (text.isascii() and text.isdigit())
            or len(text) > 9
            or int(text) == 0
        ):
            raise Refused("must be a positive whole number")
        return min(int(text), at_most) if at_most is not None else int(text)

    schema = {"minimum": 1}
    return coded(code, check, base=int, description=description, json_schema=schema)


# -- base models -------------------------------------------------------------------------------


class _CodedAbsence(BaseModel):
    """Absent required coded fields are validated as ``None`` so they answer with their code."""

    _coded_required: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._coded_required = tuple(
            info.alias or name
            for name, info in cls.model_fields.items()
            if info.is_required() and any(isinstance(m, ErrorCode) for m in info.metadata)
        )

    @model_validator(mode="before")
    @classmethod
    def _absent_coded_fields(cls, data: Any) -> Any:
        if isinstance(data, dict) and cls._coded_required:
            absent = [name for name in cls._coded_required if name not in data]
            if absent:
                data = {**data, **dict.fromkeys(absent)}
        return data


MAX_TEXT = 20_000
"""The longest string any request body field takes, whatever its own cap (a safety net for
fields declared without one)."""


class Body(_CodedAbsence):
    """A JSON request body: unknown fields are refused (400 naming them); no string is longer
    than ``MAX_TEXT``."""

    model_config = ConfigDict(extra="forbid", str_max_length=MAX_TEXT)


class QueryModel(_CodedAbsence):
    """The query string of a route; unknown parameters are ignored (cache busters, tracking)."""

    model_config = ConfigDict(extra="ignore")


# -- response fields -----------------------------------------------------------------------------
# Services print money and times themselves (kit.money, kit.timeutil), so responses carry them as
# text; these aliases say so in the schema without re-parsing anything.

DecimalText = Annotated[str, Field(json_schema_extra={"format": "decimal"}, examples=["42000.5"])]
"""An exact decimal as a string (money, prices, quantities)."""

Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
"""An RFC 3339 time in UTC (``2026-01-02T03:04:05Z``)."""

IdPath = Annotated[str, Path(description="UUID", json_schema_extra={"format": "uuid"})]
"""A path id, checked by the service (``id: not a valid id`` when it is not a UUID)."""


class OmitNull(BaseModel):
    """A response object whose optional fields named in ``omit_when_null`` are left out when
    they have no value, as the reference left them out (Go ``omitempty``): a client or an
    integration that tells an absent field from a ``null`` one sees what it saw before. The
    schema says so: those fields are not required and not nullable. Lists are never left out
    (the client reads them as arrays). The model reads what it writes: an absent one of those
    fields is validated as null (``tests/contract/test_raw_json.py`` reads answers back)."""

    omit_when_null: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _absent_is_null(cls, data: Any) -> Any:
        if isinstance(data, dict) and cls.omit_when_null:
            absent = [name for name in cls.omit_when_null if name not in data]
            if absent:
                data = {**data, **dict.fromkeys(absent)}
        return data

    # No return annotation: pydantic would take it as the serialised schema (``Any`` is `{}`);
    # without one the schema stays the model's own.
    @model_serializer(mode="wrap")
    def _omit_nulls(self, handler: SerializerFunctionWrapHandler):
        data = handler(self)
        if isinstance(data, dict):
            for name in self.omit_when_null:
                if name in data and data[name] is None:
                    del data[name]
        return data

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core_schema))
        props = schema.get("properties", {})
        for name in cls.omit_when_null:
            prop = props.get(name)
            if prop is None:
                continue
            kinds = [k for k in prop.get("anyOf", []) if k.get("type") != "null"]
            if len(kinds) == 1:
                del prop["anyOf"]
                prop.update(kinds[0])
            prop["description"] = (prop.get("description", "") + " (absent when not set)").strip()
        if "required" in schema:
            schema["required"] = [n for n in schema["required"] if n not in cls.omit_when_null]
            if not schema["required"]:
                del schema["required"]
        return schema
