"""AES-256-GCM for secrets at rest (exchange API keys, AI keys).

Stored form (reference §6, so databases written by the reference stay readable):
``v1:<base64 12-byte nonce>:<base64 ciphertext+tag>`` with standard base64 and no associated
data. The key is ``KIFU_ENC_KEY``: base64 of exactly 32 bytes. Decryption errors never include
the plaintext or the key.
"""

from __future__ import annotations

import base64
import binascii
import os

PREFIX = "v1"


class CryptoError(ValueError):
    """A bad key or a value that cannot be decrypted with it."""


def load_key(b64: str | None) -> bytes:
    """The 32 raw key bytes of a base64 ``KIFU_ENC_KEY``."""
    if not b64:
        raise CryptoError("KIFU_ENC_KEY is not set")
    try:
        raw = base64.b64decode(b64.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CryptoError("KIFU_ENC_KEY is not valid base64") from exc
    if len(raw) != 32:
        raise CryptoError(f"KIFU_ENC_KEY must decode to 32 bytes, not {len(raw)}")
    return raw


def new_key() -> str:
    """A fresh random key in the configuration's form (base64 of 32 bytes)."""
    return base64.b64encode(os.urandom(32)).decode()


# ``cryptography`` is imported where it is used: 9 MB that an API process which never handles a
# stored secret does not load (bench/api.py's target is 100 MB a process).


def encrypt(key: bytes, plaintext: str) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), None)
    return f"{PREFIX}:{base64.b64encode(nonce).decode()}:{base64.b64encode(sealed).decode()}"


def decrypt(key: bytes, stored: str) -> str:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    parts = stored.split(":")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise CryptoError("unknown encrypted value format")
    try:
        nonce = base64.b64decode(parts[1], validate=True)
        sealed = base64.b64decode(parts[2], validate=True)
        return AESGCM(key).decrypt(nonce, sealed, None).decode("utf-8")
    except (binascii.Error, ValueError, InvalidTag) as exc:
        raise CryptoError("value cannot be decrypted with this key") from exc
