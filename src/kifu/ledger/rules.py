"""Pure ledger rules: venue, symbol, number and time normalisation, and the dedupe key.

The dedupe key identifies one fill for one user (unique index ``(user_id, dedupe_key)``). Every
path that writes ``trade_events`` (unified CSV, legacy CSV, backfill from ``trades``, exchange
sync) builds it with these functions, so the same fill is stored once whichever way it arrives.

Canonical serialisation (version ``kifu.fill.v1``), fields joined with ``|``, UTF-8, SHA-256,
lowercase hex:

* **id key** — when the source carries the venue's own trade id::

      kifu.fill.v1|id|<venue>|<asset_class>|<INSTRUMENT>|<external_id>

* **content key** — otherwise (and stored for every event as ``content_key``)::

      kifu.fill.v1|content|<venue>|<asset_class>|<INSTRUMENT>|<event_type>|<side>|<qty>|<price>|<second>|<n>

where ``venue`` is the canonical venue code (``binance`` + perp → ``binance_futures``, + spot →
``binance_spot``), ``INSTRUMENT`` is ``BASE/QUOTE`` upper case (``BTCUSDT``, ``BTC/USDT``,
``BTC-USDT``, ``BTC_USDT``, ``KRW-BTC`` and ccxt's ``BTC/USDT:USDT`` are all ``BTC/USDT`` or
``BTC/KRW``), ``side`` is ``buy``/``sell`` or empty, ``qty`` and ``price`` are plain decimals
without exponent or trailing zeros (``1.50`` → ``1.5``, ``1E+2`` → ``100``; empty price stays
empty), ``second`` is the execution time in UTC truncated to whole seconds
(``2026-02-10T04:44:34Z``; exports print seconds, APIs milliseconds), and ``n`` is the occurrence
index of that exact content within one source batch (0 for the first, 1 for the second identical
fill, …): two identical rows in one file are two fills, and a later file with those two and one
more adds exactly one. Fees are not part of the identity (the legacy CSV has no fee column).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from kifu.kit import venues
from kifu.kit.money import dec_str, size_problem

KEY_VERSION = "kifu.fill.v1"

ASSET_CLASSES = frozenset({"crypto", "stock"})
VENUE_TYPES = frozenset({"cex", "dex", "broker"})
EVENT_TYPES = frozenset(
    {"spot_trade", "perp_trade", "dex_swap", "lp_add", "lp_remove", "transfer", "fee"}
)
TRADE_LIKE = frozenset({"spot_trade", "perp_trade", "dex_swap"})

# Quote assets, highest priority first: in "A-B" the higher-priority asset is the quote, so
# Upbit's KRW-BTC and Binance's BTC-USDT both come out right.
QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "USD", "KRW", "EUR", "TRY", "BTC", "ETH", "BNB")
_QUOTE_RANK = {q: i for i, q in enumerate(QUOTES)}
# Suffix stripping tries longer codes first (USDT before USD).
_SUFFIXES = tuple(sorted(QUOTES, key=len, reverse=True))
_ASSET_RE = re.compile(r"^[A-Z0-9][A-Z0-9.]{0,19}$")


class RuleError(ValueError):
    """A value that cannot be normalised; the message is the row's issue reason."""


def canonical_venue(venue: str, event_type: str | None = None) -> str:
    """The venue code of ``kifu.kit.venues`` (aliases resolved, ``binance`` split by event
    type); a venue kifu does not know keeps its code, lower case with ``_`` separators."""
    code = venue.strip().lower().replace("-", "_").replace(" ", "_")
    code = venues.ALIASES.get(code, code)
    return venues.split_by_event_type(code, event_type)


def venue_type_for(code: str) -> str:
    known = venues.get(code)
    return known.venue_type if known else "cex"


def venue_display_name(code: str) -> str:
    known = venues.get(code)
    return known.display_name if known else code.replace("_", " ").title()


def default_event_type(venue: str, venue_type: str) -> str:
    known = venues.get(venue)
    if known is not None and known.venue_type == venue_type:
        return known.event_type
    # A venue kifu does not know, or one the caller typed otherwise: judged by its name and type.
    if "futures" in venue or "perp" in venue:
        return "perp_trade"
    if venue_type == "dex":
        return "dex_swap"
    return "spot_trade"


def quote_of(exchange: str | None, symbol: str) -> str:
    """The quote currency of a ``trades`` row from its exchange and symbol (``BTCUSDT`` →
    ``USDT``, Upbit's ``KRW-BTC`` → ``KRW``, a bare ``BTC`` on a KRW venue → ``KRW``); ``"?"``
    when the symbol cannot be read, so its amounts are never added to a known currency."""
    try:
        return split_symbol(symbol, venue=(exchange or "").lower())[1]
    except RuleError:
        return "?"


def split_symbol(
    raw: str,
    *,
    venue: str = "",
    asset_class: str = "crypto",
    base: str | None = None,
    quote: str | None = None,
) -> tuple[str, str]:
    """``(BASE, QUOTE)`` of a symbol written any of the usual ways; ``RuleError`` if unusable."""
    if base and quote:
        b, q = base.strip().upper(), quote.strip().upper()
    else:
        s = raw.strip().upper().replace(" ", "")
        if not s:
            raise RuleError("symbol is required")
        if ":" in s:  # ccxt perpetual "BTC/USDT:USDT": the settle asset is not part of the pair
            s = s.split(":", 1)[0]
        if "/" in s:
            parts = s.split("/")
            if len(parts) != 2:
                raise RuleError("invalid symbol format")
            b, q = parts
        elif "-" in s or "_" in s:
            parts = re.split(r"[-_]", s)
            if len(parts) != 2:
                raise RuleError("invalid symbol format")
            a, c = parts
            ra, rc = _QUOTE_RANK.get(a, 99), _QUOTE_RANK.get(c, 99)
            b, q = (c, a) if ra < rc else (a, c)
        else:
            b, q = s, ""
            for suffix in _SUFFIXES:
                if len(s) > len(suffix) and s.endswith(suffix):
                    b, q = s[: -len(suffix)], suffix
                    break
            if not q:
                q = "KRW" if asset_class == "stock" or venue in venues.KRW_QUOTED else "USDT"
    if not _ASSET_RE.fullmatch(b) or not _ASSET_RE.fullmatch(q) or b == q:
        raise RuleError("invalid symbol format")
    return b, q


def instrument_symbol(base: str, quote: str) -> str:
    return f"{base}/{quote}"


def parse_number(text: str | None) -> Decimal | None:
    """A finite decimal from a cell (thousands commas allowed); None when empty; RuleError."""
    if text is None:
        return None
    t = text.strip().replace(",", "")
    if not t or t == "-":
        return None
    # Bounded before Decimal() and long before dec_str expands it (1e1000000000).
    if problem := size_problem(t):
        raise RuleError(problem)
    try:
        d = Decimal(t)
    except InvalidOperation as exc:
        raise RuleError(f"not a number: {text.strip()[:40]!r}") from exc
    if not d.is_finite():
        raise RuleError(f"not a number: {text.strip()[:40]!r}")
    if problem := size_problem(value=d):
        raise RuleError(problem)
    return d + 0 if d == 0 else d


_AMOUNT_RE = re.compile(
    r"^\s*([-+]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
    r"\s*([A-Za-z][A-Za-z0-9]*)?\s*$"
)


def split_amount(text: str | None) -> tuple[Decimal | None, str | None]:
    """``"0.0123 USDT"`` → ``(0.0123, "USDT")``; ``"1,234.5 KRW"`` → ``(1234.5, "KRW")``;
    ``"0.001BTC"`` → ``(0.001, "BTC")``; ``"5"`` → ``(5, None)``; empty → ``(None, None)``."""
    if text is None:
        return None, None
    t = text.strip()
    if not t or t == "-":
        return None, None
    if t[-1].isdigit() and "," not in t:  # fast path: a bare number
        return parse_number(t), None
    m = _AMOUNT_RE.fullmatch(t)
    if not m:
        return parse_number(t), None
    number, asset = m.groups()
    return parse_number(number), asset.upper() if asset else None


def canonical_decimal(value: Decimal | None) -> str:
    """Plain notation, no exponent, no trailing zeros; ``""`` for None (``1.50`` → ``1.5``)."""
    return dec_str(value) or ""


def key_second(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("naive datetime")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_base(
    *,
    venue: str,
    asset_class: str,
    instrument: str,
    event_type: str,
    side: str | None,
    qty: Decimal | None,
    price: Decimal | None,
    executed_at: datetime,
) -> str:
    """The content serialisation without the occurrence index (see the module docstring)."""
    return "|".join(
        (
            KEY_VERSION,
            "content",
            venue,
            asset_class,
            instrument,
            event_type,
            side or "",
            canonical_decimal(qty),
            canonical_decimal(price),
            key_second(executed_at),
        )
    )


def content_key(base: str, occurrence: int) -> str:
    return _sha(f"{base}|{occurrence}")


def id_key(*, venue: str, asset_class: str, instrument: str, external_id: str) -> str:
    return _sha("|".join((KEY_VERSION, "id", venue, asset_class, instrument, external_id.strip())))


def dedupe_key(base: str, occurrence: int, id_part: str | None) -> str:
    """The stored key: the id key when the source gave a trade id, else the content key."""
    return id_part or content_key(base, occurrence)


def legacy_trade_id(content_key_hex: str) -> int:
    """A negative BIGINT for ``trades.binance_trade_id`` of a CSV-imported trade (real Binance ids
    are positive, so backfill can tell them apart): −(first 62 bits of the content key) − 1."""
    return -(int(content_key_hex[:16], 16) >> 2) - 1
