"""Pure account rules: emails, tiers and quotas, watch-list symbols, quota months, rate windows.

No I/O here; everything is exhaustively unit-tested.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kifu.kit.errors import DomainError
from kifu.kit.timeutil import TIMEFRAME_SECONDS

# -- emails ------------------------------------------------------------------------------------

MAX_EMAIL_LENGTH = 254
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def normalize_email(email: str) -> str:
    """How emails are stored and compared: trimmed and lower-cased."""
    return email.strip().lower()


def is_well_formed_email(email: str) -> bool:
    """``local@domain.tld`` as a user would expect: one ``@``, a dot-atom local part without
    leading, trailing or doubled dots, and a domain of at least two DNS labels whose last one
    is alphabetic. Quoted local parts and IP-literal domains are refused on purpose."""
    if len(email) > MAX_EMAIL_LENGTH or email.count("@") != 1:
        return False
    local, domain = email.split("@")
    if not _LOCAL.fullmatch(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        return False
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return False
    return labels[-1].isalpha() and len(labels[-1]) >= 2


# -- tiers and quotas --------------------------------------------------------------------------

TIER_QUOTAS: dict[str, int] = {"free": 20, "silver": 200, "gold": 1000, "vip": 5000}
TIERS = tuple(TIER_QUOTAS)
DEFAULT_TIER = "free"


def quota_for(tier: str) -> int:
    """The monthly AI quota of ``tier``; ``ValueError`` for an unknown tier."""
    try:
        return TIER_QUOTAS[tier]
    except KeyError:
        raise ValueError(f"unknown tier {tier!r}; expected one of {', '.join(TIERS)}") from None


def remaining_after_tier_change(old_limit: int, old_remaining: int, new_limit: int) -> int:
    """Credits left after moving to a tier with ``new_limit``: what was used this month stays
    used, so an upgrade adds the difference and a downgrade never goes below zero."""
    used = max(0, old_limit - old_remaining)
    return max(0, new_limit - used)


def month_start(at: datetime) -> datetime:
    """The first instant of ``at``'s calendar month in UTC."""
    if at.tzinfo is None:
        raise ValueError("naive datetime")
    u = at.astimezone(UTC)
    return datetime(u.year, u.month, 1, tzinfo=UTC)


def needs_monthly_reset(last_reset_at: datetime, now: datetime) -> bool:
    """True when the UTC calendar month of ``last_reset_at`` is before ``now``'s month."""
    return month_start(last_reset_at) < month_start(now)


def is_expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and expires_at < now


# -- watch-list symbols ------------------------------------------------------------------------

SYMBOL_PATTERN = re.compile(r"^[A-Z0-9-]{3,20}$")
TIMEFRAMES = tuple(TIMEFRAME_SECONDS)
DEFAULT_TIMEFRAME = "1h"
DEFAULT_SYMBOL = "BTCUSDT"
MAX_SYMBOLS = 100


@dataclass(frozen=True)
class WatchSymbol:
    symbol: str
    timeframe_default: str


class SymbolError(DomainError, ValueError):
    """A watch-list entry is invalid; ``code`` is the API error code, the message names it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


def normalize_symbols(entries: list[tuple[str, str | None]]) -> list[WatchSymbol]:
    """The reference's rules for ``PUT /users/me/symbols``: symbols upper-cased and matching
    ``^[A-Z0-9-]{3,20}$``; timeframes lower-cased, default ``1h``, one of ``TIMEFRAMES``; an
    empty list means ``[BTCUSDT/1h]``. A repeated symbol is refused (the reference hit the
    unique index and answered 500)."""
    if len(entries) > MAX_SYMBOLS:
        raise SymbolError("INVALID_REQUEST", f"symbols: at most {MAX_SYMBOLS} entries")
    if not entries:
        return [WatchSymbol(DEFAULT_SYMBOL, DEFAULT_TIMEFRAME)]
    out: list[WatchSymbol] = []
    seen: dict[str, int] = {}
    for i, (raw_symbol, raw_tf) in enumerate(entries):
        symbol = raw_symbol.strip().upper()
        if not SYMBOL_PATTERN.fullmatch(symbol):
            raise SymbolError(
                "INVALID_SYMBOL",
                f"symbols[{i}].symbol: {raw_symbol!r} must be 3-20 characters of A-Z, 0-9 or -",
            )
        tf = (raw_tf or "").strip().lower() or DEFAULT_TIMEFRAME
        if tf not in TIMEFRAMES:
            raise SymbolError(
                "INVALID_TIMEFRAME",
                f"symbols[{i}].timeframe_default: {raw_tf!r} must be one of "
                + ", ".join(TIMEFRAMES),
            )
        if symbol in seen:
            raise SymbolError(
                "INVALID_SYMBOL",
                f"symbols[{i}].symbol: duplicate symbol {symbol} (also at symbols[{seen[symbol]}])",
            )
        seen[symbol] = i
        out.append(WatchSymbol(symbol, tf))
    return out


# -- login rate limit windows ------------------------------------------------------------------


def window_start(now: datetime, window: timedelta) -> datetime:
    """The start of the fixed window (aligned to the Unix epoch) that contains ``now``."""
    seconds = int(window.total_seconds())
    if seconds <= 0:
        raise ValueError("window must be positive")
    ts = math.floor(now.timestamp())
    return datetime.fromtimestamp(ts - ts % seconds, tz=UTC)


def retry_after_seconds(now: datetime, window: timedelta) -> int:
    """Whole seconds (at least 1) until the window containing ``now`` ends."""
    end = window_start(now, window) + window
    return max(1, math.ceil((end - now).total_seconds()))
