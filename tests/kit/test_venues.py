"""The venue registry is the one list: the settings, the exchange clients and the market-data
sources it names exist, and the lists derived from it are the ones the API has always used."""

from __future__ import annotations

import dataclasses

from kifu.config import Settings
from kifu.ingest.formats import FORMATS
from kifu.ingest.venues import clients
from kifu.kit import venues
from kifu.market import MarketUrls
from kifu.market.rules import MAX_BATCH


def test_codes_are_unique_and_aliases_name_no_venue() -> None:
    codes = [v.code for v in venues.VENUES]
    assert len(codes) == len(set(codes))
    assert not set(venues.ALIASES) & set(codes)
    for v in venues.VENUES:
        assert v.venue_type in {"cex", "dex", "broker"}
        assert v.asset_class in {"crypto", "stock"}
        assert v.event_type in {"perp_trade", "spot_trade", "dex_swap"}
        assert all(target in venues.BY_CODE for _, target in v.by_event_type)


def test_derived_lists_keep_the_api_values_and_order() -> None:
    assert venues.EXCHANGE_CODES == ("binance_futures", "binance_spot", "upbit")
    assert venues.MARKET_CODES == ("binance", "binance_futures", "binance_spot", "upbit")
    assert sorted(venues.KRW_QUOTED) == ["bithumb", "kis", "upbit"]
    assert venues.ALIASES == {"binanceusdm": "binance_futures", "binance_usdm": "binance_futures"}


def test_base_url_settings_exist_with_their_environment_variable() -> None:
    fields = Settings.model_fields
    for v in venues.VENUES:
        assert (v.base_url_setting is None) == (v.base_url_env is None), v.code
        if v.base_url_setting is None:
            continue
        assert fields[v.base_url_setting].validation_alias == v.base_url_env
        assert str(fields[v.base_url_setting].default).startswith("https://")


def test_every_connectable_venue_has_a_client_and_a_url() -> None:
    assert tuple(clients()) == venues.EXCHANGE_CODES
    for code in venues.EXCHANGE_CODES:
        assert venues.BY_CODE[code].base_url_setting is not None


def test_every_export_format_names_a_registry_venue() -> None:
    named = {fmt.venue for fmt in FORMATS if fmt.venue is not None}
    assert named == set(venues.EXCHANGE_CODES)


def test_every_market_data_source_is_served_by_the_market_client() -> None:
    sources = {v.market_data for v in venues.VENUES if v.market_data}
    assert sources == {v.code for v in venues.MARKET_SOURCES}
    assert sources == {f.name for f in dataclasses.fields(MarketUrls)} == set(MAX_BATCH)
    env = {v.base_url_env: f"http://{v.code}.test/" for v in venues.MARKET_SOURCES}
    urls = MarketUrls.from_settings(Settings(**env))
    for code in sources:
        assert getattr(urls, code) == f"http://{code}.test"
    assert venues.market_source("binance") == "binance_futures"
    assert venues.market_source("binanceusdm") is None  # exact codes only, as klines accepts
    assert venues.market_source("bybit") is None


def test_a_venue_filter_means_the_codes_its_name_stands_for() -> None:
    assert venues.filter_codes(["binance"]) == ["binance", "binance_futures", "binance_spot"]
    assert venues.filter_codes(["binanceusdm"]) == ["binanceusdm", "binance_futures"]
    assert venues.filter_codes(["Binance-Futures", "upbit"]) == [
        "binance-futures",
        "binance_futures",
        "upbit",
    ]
    assert venues.filter_codes(["my_dex"]) == ["my_dex"]
