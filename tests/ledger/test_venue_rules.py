"""The ledger's venue rules read the venue registry; a venue it does not list still works."""

from __future__ import annotations

import pytest

from kifu.kit import venues
from kifu.ledger import rules as r

# code: (display name, venue type, default event type)
KNOWN = {
    "binance": ("Binance", "cex", "spot_trade"),
    "binance_futures": ("Binance Futures", "cex", "perp_trade"),
    "binance_spot": ("Binance Spot", "cex", "spot_trade"),
    "upbit": ("Upbit", "cex", "spot_trade"),
    "bybit": ("Bybit", "cex", "spot_trade"),
    "bithumb": ("Bithumb", "cex", "spot_trade"),
    "kis": ("Korea Investment & Securities", "broker", "spot_trade"),
    "hyperliquid": ("Hyperliquid", "dex", "dex_swap"),
    "jupiter": ("Jupiter", "dex", "dex_swap"),
    "uniswap": ("Uniswap", "dex", "dex_swap"),
}


def test_every_registry_venue() -> None:
    assert set(KNOWN) == set(venues.BY_CODE)
    for code, (name, vtype, event) in KNOWN.items():
        assert r.venue_display_name(code) == name
        assert r.venue_type_for(code) == vtype
        assert r.default_event_type(code, vtype) == event


@pytest.mark.parametrize(
    ("raw", "event_type", "code"),
    [
        ("Binance", "perp_trade", "binance_futures"),
        ("binance", "spot_trade", "binance_spot"),
        ("binance", None, "binance_spot"),
        ("binance", "fee", "binance"),
        ("Binance-USDM", "spot_trade", "binance_futures"),
        ("Bybit", "perp_trade", "bybit"),
        ("My Dex", None, "my_dex"),
    ],
)
def test_canonical_venue(raw, event_type, code) -> None:
    assert r.canonical_venue(raw, event_type) == code


def test_unknown_or_retyped_venues_fall_back_to_name_and_type() -> None:
    assert r.venue_type_for("my_dex") == "cex"
    assert r.default_event_type("okx_perp", "cex") == "perp_trade"
    assert r.default_event_type("bybit_futures", "cex") == "perp_trade"
    assert r.default_event_type("my_dex", "dex") == "dex_swap"
    assert r.default_event_type("upbit", "dex") == "dex_swap"  # the caller's type wins
    assert r.default_event_type("hyperliquid", "cex") == "spot_trade"
    assert r.default_event_type("binance_futures", "dex") == "perp_trade"


def test_symbols_without_a_quote_on_krw_venues() -> None:
    assert r.split_symbol("BTC", venue="upbit") == ("BTC", "KRW")
    assert r.split_symbol("005930", venue="kis") == ("005930", "KRW")
    assert r.split_symbol("BTC", venue="bybit") == ("BTC", "USDT")
