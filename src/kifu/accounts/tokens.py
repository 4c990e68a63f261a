"""Refresh tokens: 32 random bytes, base64url; only their SHA-256 is stored.

The encoding matches the reference system's (padded base64url of the token, and padded base64url
of its SHA-256 in ``refresh_tokens.token_hash``), so sessions opened against the reference
backend keep working on a database kifu adopts.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import timedelta

REFRESH_TOKEN_TTL = timedelta(days=30)
MAX_REFRESH_TOKEN_LENGTH = 256


def new_refresh_token() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def hash_refresh_token(token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).decode()
