"""Pure account rules: emails, quotas, symbols, months, rate windows, hashes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kifu.accounts import passwords, rules, tokens


@pytest.mark.parametrize(
    "email",
    ["a@example.com", "first.last+tag@sub.example.co.uk", "x_y-z@a-b.io", "0@0.de"],
)
def test_good_emails(email: str) -> None:
    assert rules.is_well_formed_email(email)


@pytest.mark.parametrize(
    "email",
    [
        "",
        "plain",
        "@example.com",
        "a@",
        "a@b",
        "a@b.c",
        "a@@b.com",
        "a b@c.com",
        ".a@b.com",
        "a.@b.com",
        "a..b@c.com",
        "a@-b.com",
        "a@b-.com",
        "a@b..com",
        "a@b.c0m",
        "a@[1.2.3.4]",
        "x" * 65 + "@b.com",
        "a@" + "b" * 250 + ".com",
    ],
)
def test_bad_emails(email: str) -> None:
    assert not rules.is_well_formed_email(email)


@given(st.emails())
def test_generated_ascii_emails_are_accepted_when_dot_atoms(email: str) -> None:
    local, domain = email.rsplit("@", 1)
    plain = (
        email.isascii()
        and '"' not in local
        and ".." not in local
        and not local.startswith(".")
        and not local.endswith(".")
        and domain.split(".")[-1].isalpha()
        and len(email) <= 254
    )
    if plain:
        assert rules.is_well_formed_email(email)


@given(st.text())
def test_email_check_never_crashes_and_normalizing_is_idempotent(text: str) -> None:
    rules.is_well_formed_email(text)
    once = rules.normalize_email(text)
    assert rules.normalize_email(once) == once


def test_tier_quotas() -> None:
    assert rules.TIER_QUOTAS == {"free": 20, "silver": 200, "gold": 1000, "vip": 5000}
    with pytest.raises(ValueError, match="unknown tier"):
        rules.quota_for("platinum")


@given(
    st.integers(0, 5000), st.integers(0, 5000), st.sampled_from(sorted(rules.TIER_QUOTAS.values()))
)
def test_tier_change_never_negative_and_keeps_usage(old_limit: int, old_rem: int, new: int) -> None:
    remaining = rules.remaining_after_tier_change(old_limit, old_rem, new)
    assert 0 <= remaining <= new
    used = max(0, old_limit - old_rem)
    assert remaining == max(0, new - used)


aware = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(aware, aware)
def test_monthly_reset_rule(last: datetime, now: datetime) -> None:
    expected = (last.year, last.month) < (now.year, now.month)
    assert rules.needs_monthly_reset(last, now) is expected


def test_month_is_the_utc_month() -> None:
    from zoneinfo import ZoneInfo

    tokyo_feb = datetime(2026, 2, 1, 8, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # still Jan 31 in UTC
    assert not rules.needs_monthly_reset(tokyo_feb, datetime(2026, 1, 31, 23, tzinfo=UTC))
    assert rules.needs_monthly_reset(tokyo_feb, datetime(2026, 2, 1, tzinfo=UTC))
    with pytest.raises(ValueError):
        rules.month_start(datetime(2026, 1, 1))


def test_symbol_rules() -> None:
    assert rules.normalize_symbols([]) == [rules.WatchSymbol("BTCUSDT", "1h")]
    assert rules.normalize_symbols([(" eth-usdt ", " 15M ")]) == [
        rules.WatchSymbol("ETH-USDT", "15m")
    ]
    with pytest.raises(rules.SymbolError) as info:
        rules.normalize_symbols([("BTCUSDT", None), ("ETHUSDT", None), ("btcusdt", "1d")])
    assert info.value.code == "INVALID_SYMBOL"
    assert "symbols[2].symbol" in info.value.message and "BTCUSDT" in info.value.message


@given(
    st.lists(st.tuples(st.text(max_size=25), st.one_of(st.none(), st.text(max_size=5))), max_size=8)
)
def test_symbol_rules_accept_only_valid_unique_lists(entries) -> None:
    try:
        out = rules.normalize_symbols(entries)
    except rules.SymbolError as exc:
        assert exc.code in {"INVALID_SYMBOL", "INVALID_TIMEFRAME"}
        return
    assert len({s.symbol for s in out}) == len(out) >= 1
    for s in out:
        assert rules.SYMBOL_PATTERN.match(s.symbol)
        assert s.timeframe_default in rules.TIMEFRAMES


@given(aware, st.integers(1, 86400))
def test_rate_windows(now: datetime, seconds: int) -> None:
    window = timedelta(seconds=seconds)
    start = rules.window_start(now, window)
    assert start <= now < start + window
    assert 1 <= rules.retry_after_seconds(now, window) <= seconds


def test_refresh_token_encoding_matches_the_reference() -> None:
    token = tokens.new_refresh_token()
    assert len(token) == 44 and token.endswith("=")
    # base64url(SHA-256("abc")), padded, as the reference stored it.
    assert tokens.hash_refresh_token("abc") == "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0="


def test_password_hashes() -> None:
    h = passwords.hash_password("correct horse")
    assert h.startswith("$argon2id$")
    assert passwords.verify_password(h, "correct horse") == passwords.Verification(True, False)
    assert not passwords.verify_password(h, "wrong").ok
    import bcrypt

    legacy = bcrypt.hashpw(b"correct horse", bcrypt.gensalt(4)).decode()
    assert passwords.verify_password(legacy, "correct horse") == passwords.Verification(True, True)
    assert not passwords.verify_password(legacy, "x" * 100).ok  # over bcrypt's 72 bytes
    assert not passwords.verify_password("!unusable", "anything").ok
    assert not passwords.verify_password("$argon2id$garbage", "anything").ok
