"""The one small interface every export format implements, and the cell parsers they share."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from kifu.ledger.rules import RuleError, parse_number, split_amount

KST = timezone(timedelta(hours=9), "KST")
# The instants an import takes: wide enough for any trade, narrow enough that every later step
# (candle floors, day windows in any zone, PostgreSQL) can add a day either side.
FIRST_YEAR = 1900
LAST_YEAR = 2999


@dataclass(slots=True)
class ImportContext:
    """What the caller said about the file (form fields or CLI options)."""

    venue: str | None  # as given; None when the format implies it
    asset_class: str = "crypto"
    venue_type: str | None = None


@dataclass(slots=True)
class ParsedRow:
    """One row in ledger terms, before instruments and keys are resolved."""

    executed_at: datetime
    symbol: str  # the venue's own symbol, as written
    base: str | None
    quote: str | None
    event_type: str | None  # None: the importer's default for the venue
    side: str | None
    qty: Decimal
    price: Decimal | None
    fee: Decimal | None
    fee_asset: str | None
    external_id: str | None
    metadata: str | None  # canonical JSON text
    zone_assumed: bool = False
    # the exchange's own realized PnL, when the format has it (also kept in ``metadata``)
    realized_pnl: Decimal | None = None


RowParser = Callable[[list[str]], ParsedRow]


class Format(ABC):
    """An export format: recognised by its (normalised) header, parses one row at a time."""

    name: str = ""
    venue: str | None = None  # the venue code the format implies, if any
    time_note: str | None = None  # how times without a zone are read, for the report

    @abstractmethod
    def matches(self, header: list[str]) -> bool:
        """True when ``header`` (normalised cells) is this format's header."""

    def missing(self, header: list[str]) -> list[str]:
        return []

    @abstractmethod
    def parser(self, header: list[str], ctx: ImportContext) -> RowParser:
        """A function from one row's cells to a ``ParsedRow`` (``RuleError`` names the problem)."""


def normalise_header(cell: str) -> str:
    h = cell.replace("\ufeff", "").strip().lower()
    for ch in " -.":
        h = h.replace(ch, "_")
    return h


def cell(cells: list[str], i: int | None) -> str:
    if i is None or i >= len(cells):
        return ""
    return cells[i].strip()


def parse_time(text: str, naive_zone: timezone = UTC) -> tuple[datetime, bool]:
    """``(instant in UTC, zone_assumed)``. Accepts RFC 3339 (any fraction), ``YYYY-MM-DD
    HH:MM[:SS]``, ``YYYY-MM-DD`` and ``YYYY.MM.DD`` / ``YYYY/MM/DD`` variants; a time without a
    zone is read in ``naive_zone`` and reported as assumed."""
    t = text.strip()
    if not t:
        raise RuleError("executed_at is required")
    if len(t) >= 10 and t[4] in "./" and t[7] == t[4]:
        t = t[:4] + "-" + t[5:7] + "-" + t[8:]
    try:
        at = datetime.fromisoformat(t.replace("z", "Z"))
    except ValueError as exc:
        raise RuleError(f"invalid executed_at: {text.strip()[:40]!r}") from exc
    assumed = at.tzinfo is None
    try:
        # Year 1 in a western zone or 9999 in an eastern one has no UTC instant in Python.
        at = (at.replace(tzinfo=naive_zone) if assumed else at).astimezone(UTC)
    except OverflowError as exc:
        raise RuleError(f"executed_at out of range: {text.strip()[:40]!r}") from exc
    if not FIRST_YEAR <= at.year <= LAST_YEAR:
        raise RuleError(f"executed_at out of range (years {FIRST_YEAR}-{LAST_YEAR}): {t[:40]!r}")
    return at, assumed


_SIDES = {
    "buy": "buy",
    "b": "buy",
    "long": "buy",
    "bid": "buy",
    "매수": "buy",
    "sell": "sell",
    "s": "sell",
    "short": "sell",
    "ask": "sell",
    "매도": "sell",
}


def parse_side(text: str) -> str | None:
    return _SIDES.get(text.strip().lower())


def canonical_json(text: str) -> str:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise RuleError("metadata must be valid JSON") from exc
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def number(text: str, field: str) -> Decimal | None:
    """``parse_number`` whose error names the field (``invalid qty: not a number 'x'``)."""
    try:
        return parse_number(text)
    except RuleError as exc:
        raise RuleError(f"invalid {field}: {exc}") from exc


def amount(text: str, field: str) -> tuple[Decimal | None, str | None]:
    try:
        return split_amount(text)
    except RuleError as exc:
        raise RuleError(f"invalid {field}: {exc}") from exc
