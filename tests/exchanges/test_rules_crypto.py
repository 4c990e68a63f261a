"""Pure rules: encryption format, key rotation, masking, backoff, position fields, fee split,
signatures, page cuts."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import jwt
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kifu.exchanges.cli import RotateError, rotate
from kifu.exchanges.rules import candle_time, mask, next_attempt
from kifu.ingest.venues import binance_common as bc
from kifu.ingest.venues import upbit
from kifu.ingest.venues.base import Credentials
from kifu.ingest.venues.binance_futures import position_fields
from kifu.kit import crypto
from tests.helpers import TEST_ENC_KEY

KEY = crypto.load_key(TEST_ENC_KEY)


@given(st.text(max_size=200))
def test_encrypt_roundtrip_and_format(plain: str) -> None:
    sealed = crypto.encrypt(KEY, plain)
    v, nonce, _ = sealed.split(":")
    assert v == "v1" and len(base64.b64decode(nonce)) == 12
    assert crypto.decrypt(KEY, sealed) == plain
    assert crypto.encrypt(KEY, plain) != sealed  # fresh nonce every time


def test_decrypt_refuses_other_keys_and_tampering() -> None:
    sealed = crypto.encrypt(KEY, "secret")
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt(crypto.load_key(crypto.new_key()), sealed)
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt(KEY, sealed[:-4] + "AAAA")
    for bad in ("", "not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(crypto.CryptoError):
            crypto.load_key(bad)


def test_reference_format_is_readable() -> None:
    # v1:<nonce>:<ciphertext+tag> as the reference's Go code writes it (AES-GCM, no AAD)
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = bytes(range(12))
    sealed = AESGCM(KEY).encrypt(nonce, b"api-key", None)
    stored = f"v1:{base64.b64encode(nonce).decode()}:{base64.b64encode(sealed).decode()}"
    assert crypto.decrypt(KEY, stored) == "api-key"


def test_rotate_reencrypts_everything_or_nothing(db: str, make_user) -> None:
    user = make_user()
    with psycopg.connect(db) as conn:
        conn.execute(
            "INSERT INTO exchange_credentials (user_id, exchange, api_key_enc, api_secret_enc,"
            " api_key_last4) VALUES (%s, 'upbit', %s, %s, 'abcd')",
            (user.id, crypto.encrypt(KEY, "key-1"), crypto.encrypt(KEY, "secret-1")),
        )
    new = crypto.new_key()
    counts = rotate(db, TEST_ENC_KEY, new)
    assert counts["exchange_credentials"] == 1
    with psycopg.connect(db) as conn:
        k, s = conn.execute(
            "SELECT api_key_enc, api_secret_enc FROM exchange_credentials"
        ).fetchone()
    nk = crypto.load_key(new)
    assert crypto.decrypt(nk, k) == "key-1" and crypto.decrypt(nk, s) == "secret-1"
    assert rotate(db, TEST_ENC_KEY, new)["exchange_credentials"] == 1  # rerun: already new
    with pytest.raises(RotateError):
        rotate(db, crypto.new_key(), crypto.new_key())  # neither key reads the rows
    with psycopg.connect(db) as conn:
        k2 = conn.execute("SELECT api_key_enc FROM exchange_credentials").fetchone()[0]
    assert crypto.decrypt(nk, k2) == "key-1"


def test_mask() -> None:
    assert mask("WXYZ") == "****WXYZ"


@given(st.integers(min_value=1, max_value=40), st.floats(min_value=0, max_value=1e5))
def test_backoff_grows_is_capped_and_honours_bans(failures: int, ban: float) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    interval = timedelta(minutes=5)
    at = next_attempt(now, failures, interval)
    assert at is not None and interval <= at - now <= timedelta(hours=6)
    if failures > 1:
        assert at >= next_attempt(now, failures - 1, interval)  # type: ignore[operator]
    banned = next_attempt(now, failures, interval, ban)
    assert banned is not None and banned - now >= timedelta(seconds=ban)
    assert next_attempt(now, 0, interval) is None


def test_position_fields() -> None:
    d = Decimal
    assert position_fields("buy", "LONG", d(0)) == ("LONG", "OPEN", False)
    assert position_fields("sell", "LONG", d(5)) == ("LONG", "CLOSE", True)
    assert position_fields("sell", "SHORT", d(0)) == ("SHORT", "OPEN", False)
    assert position_fields("buy", "SHORT", d("-2")) == ("SHORT", "CLOSE", True)
    assert position_fields("buy", "BOTH", d(0)) == (None, "OPEN", False)
    assert position_fields("sell", "BOTH", d("0.1")) == (None, "CLOSE", True)


@given(
    st.decimals(min_value=0, max_value=10**6, places=8),
    st.lists(st.decimals(min_value=0, max_value=10**9, places=4), min_size=1, max_size=20),
)
def test_upbit_fee_split_sums_exactly(total: Decimal, funds: list[Decimal]) -> None:
    shares = upbit.spread_fee(total, funds)
    assert len(shares) == len(funds) and sum(shares, Decimal(0)) == total


def test_signatures() -> None:
    creds = Credentials("k" * 10, "s" * 20)
    query, headers = bc.signed(creds, [("symbol", "BTCUSDT"), ("fromId", "0")])()
    payload, _, sig = query.rpartition("&signature=")
    assert sig == hmac.new(b"s" * 20, payload.encode(), hashlib.sha256).hexdigest()
    assert headers == {"X-MBX-APIKEY": "k" * 10} and "recvWindow=5000" in payload
    sent, hdr = upbit.authed(creds, [("states[]", "done"), ("limit", "1")])()
    assert sent == "states%5B%5D=done&limit=1"
    claims = jwt.decode(hdr["Authorization"][7:], "s" * 20, algorithms=["HS512"])
    assert claims["query_hash"] == hashlib.sha512(b"states[]=done&limit=1").hexdigest()
    assert claims["access_key"] == "k" * 10 and claims["query_hash_alg"] == "SHA512"
    assert "s" * 20 not in repr(creds)


def test_commit_cut_never_splits_a_second() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    times = [t0, t0 + timedelta(seconds=1), t0 + timedelta(seconds=1, milliseconds=5)]
    assert bc.commit_cut(times, page_full=True) == 1
    assert bc.commit_cut(times, page_full=False) == 3
    assert bc.commit_cut([t0, t0], page_full=True) == 2  # one second per page: written whole


def test_candle_time() -> None:
    at = datetime(2026, 3, 4, 13, 47, 12, tzinfo=UTC)
    assert candle_time(at, "4h") == datetime(2026, 3, 4, 12, tzinfo=UTC)
    assert candle_time(at, "15m") == datetime(2026, 3, 4, 13, 45, tzinfo=UTC)
    assert candle_time(at, "weird") == datetime(2026, 3, 4, 13, tzinfo=UTC)
