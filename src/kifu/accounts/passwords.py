"""Password hashing: argon2id for every new hash; bcrypt hashes of adopted reference users are
verified and then upgraded.

Verifying is CPU-bound (tens of milliseconds), so the async callers run it in a thread.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import cache

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# argon2-cffi's defaults are RFC 9106's low-memory profile, argon2id.
_hasher = PasswordHasher()
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")


@dataclass(frozen=True)
class Verification:
    ok: bool
    needs_rehash: bool = False


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def is_bcrypt(stored: str) -> bool:
    return stored.startswith(_BCRYPT_PREFIXES)


def verify_password(stored: str, password: str) -> Verification:
    """Check ``password`` against a stored argon2 or bcrypt hash. Anything else (including the
    ``!unusable`` marker of accounts without a password) never matches."""
    if stored.startswith("$argon2"):
        try:
            _hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verification(False)
        return Verification(True, _hasher.check_needs_rehash(stored))
    if is_bcrypt(stored):
        try:
            ok = bcrypt.checkpw(password.encode(), stored.encode())
        except ValueError:
            # bcrypt refuses passwords over 72 bytes (so did the reference's Go bcrypt) and
            # malformed hashes: neither can match.
            return Verification(False)
        return Verification(ok, ok)
    return Verification(False)


@cache
def _dummy_hash() -> str:
    return _hasher.hash("kifu-dummy-password-for-timing")


def burn_verification(password: str) -> None:
    """Spend the time of one real verification, so an unknown email answers no faster than a
    wrong password does."""
    verify_password(_dummy_hash(), password)


async def verify_password_async(stored: str, password: str) -> Verification:
    return await asyncio.to_thread(verify_password, stored, password)


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def burn_verification_async(password: str) -> None:
    await asyncio.to_thread(burn_verification, password)
