"""Every venue kifu knows, in one table, and the few lookups the capabilities make in it.

Pure data (no I/O, nothing from the project), so ``ledger/rules`` may read it. A venue that is
not listed here is still accepted where free text is (a CSV's ``venue``): the ledger then
derives what it needs from the code itself (see ``ledger.rules``).

Fields:

* ``code`` — the canonical venue code stored in ``venues.code`` and ``trade_events``.
* ``display_name`` — ``venues.display_name``.
* ``venue_type`` — ``cex``, ``dex`` or ``broker``.
* ``asset_class`` — what it trades: ``crypto`` or ``stock``.
* ``event_type`` — the default event type of its fills: ``perp_trade``, ``spot_trade`` or
  ``dex_swap``.
* ``market_data`` — the market-data source (``kifu.market``) that serves its candles and prices,
  or None when kifu has no prices for it.
* ``base_url_setting`` / ``base_url_env`` — the ``kifu.config.Settings`` field and environment
  variable that point kifu at the venue's API (None for venues kifu does not call).
* ``connectable`` — kifu connects to it with an API key and syncs it (``POST /exchanges``); these
  are also the only values of the legacy ``trades.exchange``.
* ``krw_quoted`` — a symbol written without its quote (``BTC``) is quoted in KRW.
* ``aliases`` — other spellings that mean this venue (ccxt ids).
* ``by_event_type`` — for an umbrella name (``binance``): the venue a fill of each event type
  belongs to; event types not listed keep the umbrella code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Venue:
    code: str
    display_name: str
    venue_type: str
    asset_class: str
    event_type: str
    market_data: str | None = None
    base_url_setting: str | None = None
    base_url_env: str | None = None
    connectable: bool = False
    krw_quoted: bool = False
    aliases: tuple[str, ...] = ()
    by_event_type: tuple[tuple[str | None, str], ...] = ()


BINANCE_FUTURES = "binance_futures"
BINANCE_SPOT = "binance_spot"
UPBIT = "upbit"

VENUES: tuple[Venue, ...] = (
    Venue(
        "binance",
        "Binance",
        "cex",
        "crypto",
        "spot_trade",
        market_data=BINANCE_FUTURES,  # futures first, spot for pairs only spot lists
        # A fill without an event type is a spot fill, as the ledger defaults it.
        by_event_type=(
            ("perp_trade", BINANCE_FUTURES),
            ("spot_trade", BINANCE_SPOT),
            (None, BINANCE_SPOT),
        ),
    ),
    Venue(
        BINANCE_FUTURES,
        "Binance Futures",
        "cex",
        "crypto",
        "perp_trade",
        market_data=BINANCE_FUTURES,
        base_url_setting="binance_futures_url",
        base_url_env="KIFU_BINANCE_FUTURES_URL",
        connectable=True,
        aliases=("binanceusdm", "binance_usdm"),
    ),
    Venue(
        BINANCE_SPOT,
        "Binance Spot",
        "cex",
        "crypto",
        "spot_trade",
        market_data=BINANCE_SPOT,
        base_url_setting="binance_spot_url",
        base_url_env="KIFU_BINANCE_SPOT_URL",
        connectable=True,
    ),
    Venue(
        UPBIT,
        "Upbit",
        "cex",
        "crypto",
        "spot_trade",
        market_data=UPBIT,
        base_url_setting="upbit_url",
        base_url_env="KIFU_UPBIT_URL",
        connectable=True,
        krw_quoted=True,
    ),
    Venue("bybit", "Bybit", "cex", "crypto", "spot_trade"),
    Venue("bithumb", "Bithumb", "cex", "crypto", "spot_trade", krw_quoted=True),
    Venue("kis", "Korea Investment & Securities", "broker", "stock", "spot_trade", krw_quoted=True),
    Venue("hyperliquid", "Hyperliquid", "dex", "crypto", "dex_swap"),
    Venue("jupiter", "Jupiter", "dex", "crypto", "dex_swap"),
    Venue("uniswap", "Uniswap", "dex", "crypto", "dex_swap"),
)

BY_CODE: dict[str, Venue] = {v.code: v for v in VENUES}
ALIASES: dict[str, str] = {alias: v.code for v in VENUES for alias in v.aliases}

# Venues kifu connects to with an API key (exchange sync), in the order error messages list them.
EXCHANGE_CODES: tuple[str, ...] = tuple(v.code for v in VENUES if v.connectable)
# Venues whose candles kifu can serve (``GET /market/klines?exchange=``).
MARKET_CODES: tuple[str, ...] = tuple(v.code for v in VENUES if v.market_data)
# The market-data sources themselves: venues whose own API serves the candles.
MARKET_SOURCES: tuple[Venue, ...] = tuple(v for v in VENUES if v.market_data == v.code)
KRW_QUOTED: frozenset[str] = frozenset(v.code for v in VENUES if v.krw_quoted)


def get(code: str) -> Venue | None:
    """The venue with exactly this canonical code (aliases are not resolved here)."""
    return BY_CODE.get(code)


def split_by_event_type(code: str, event_type: str | None) -> str:
    """The venue a fill of ``event_type`` on ``code`` belongs to: ``binance`` + ``perp_trade`` is
    ``binance_futures``; any other code stays as it is."""
    venue = BY_CODE.get(code)
    if venue is None or not venue.by_event_type:
        return code
    return dict(venue.by_event_type).get(event_type, code)


def market_source(code: str) -> str | None:
    """The market-data source serving ``code``'s candles; None when kifu has none for it."""
    venue = BY_CODE.get(code)
    return venue.market_data if venue else None


def filter_codes(names: list[str] | tuple[str, ...]) -> list[str]:
    """Every venue code a filter by ``names`` means, so a filter can stay ``code = ANY(...)``:
    each name as given, the venue an alias names (``binanceusdm`` → ``binance_futures``), and the
    venues an umbrella name's fills are stored under (``binance`` → ``binance_spot`` and
    ``binance_futures``, besides ``binance`` itself)."""
    out: list[str] = []
    for name in names:
        raw = name.strip().lower()
        code = raw.replace("-", "_").replace(" ", "_")
        code = ALIASES.get(code, code)
        venue = BY_CODE.get(code)
        split = [target for _, target in venue.by_event_type] if venue else []
        for c in (raw, code, *split):
            if c and c not in out:
                out.append(c)
    return out
