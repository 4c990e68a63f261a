"""Personal AI keys: stored with AES-256-GCM under ``KIFU_ENC_KEY`` (like exchange secrets, and
re-encrypted by ``kifu keys rotate``), shown only as ``****`` + the last 4 characters, never
logged; and which key a call uses (the user's own, else the operator's service key)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from kifu.ai import providers, store
from kifu.ai.schemas import KeysUpdate
from kifu.config import Settings
from kifu.kit import crypto
from kifu.kit.errors import BadRequest, NotFound

log = logging.getLogger("kifu.ai")

MAX_API_KEY = 512


def _keyed_provider(raw: object, field: str = "provider") -> str:
    name = raw.strip().lower() if isinstance(raw, str) else None
    if not name or name not in providers.KEYED:
        raise BadRequest(
            "INVALID_REQUEST",
            f"{field}: unsupported provider {raw!r} (one of {', '.join(providers.KEYED)})",
        )
    return name


def _enc_key(settings: Settings) -> bytes:
    return crypto.load_key(settings.enc_key)


async def list_keys(conn: AsyncConnection, user_id: uuid.UUID) -> dict[str, Any]:
    """``{keys: [{provider, masked}]}`` for openai, claude, gemini in that order."""
    stored = await store.keys_of(conn, user_id)
    return {
        "keys": [
            {"provider": p, "masked": f"****{stored[p][1]}" if p in stored else None}
            for p in providers.KEYED
        ]
    }


async def put_keys(
    conn: AsyncConnection, user_id: uuid.UUID, body: KeysUpdate, settings: Settings
) -> dict[str, Any]:
    """Upsert every given key (all or none); answers like ``list_keys``."""
    if not body.keys:
        raise BadRequest("INVALID_REQUEST", "keys: keys are required")
    parsed: dict[str, str] = {}
    for i, item in enumerate(body.keys):
        name = _keyed_provider(item.provider, f"keys.{i}.provider")
        key = item.api_key.strip() if isinstance(item.api_key, str) else ""
        if not key:
            raise BadRequest("INVALID_REQUEST", f"keys.{i}.api_key: api_key is required")
        if len(key) > MAX_API_KEY or any(ch.isspace() for ch in key):
            raise BadRequest(
                "INVALID_REQUEST",
                f"keys.{i}.api_key: must be one word of at most {MAX_API_KEY} characters",
            )
        parsed[name] = key
    enc = _enc_key(settings)
    async with conn.transaction():
        for name, key in parsed.items():
            await store.upsert_key(conn, user_id, name, crypto.encrypt(enc, key), key[-4:])
    return await list_keys(conn, user_id)


async def delete_key(conn: AsyncConnection, user_id: uuid.UUID, raw: str) -> None:
    name = _keyed_provider(raw)
    if not await store.delete_key(conn, user_id, name):
        raise NotFound("AI_KEY_NOT_FOUND", f"no {name} key is stored")


@dataclass(frozen=True)
class KeyChoice:
    key: str | None
    service: bool  # the operator's key: metered by the quota

    def __repr__(self) -> str:  # never print the key, even in a traceback's locals
        return f"KeyChoice(service={self.service})"


async def key_for(
    conn: AsyncConnection, user_id: uuid.UUID, provider: str, settings: Settings
) -> KeyChoice:
    """The user's own key if stored, else the service key; the local server's key is never
    metered (the operator runs it)."""
    env = providers.service_key(provider, settings)
    if provider == providers.LOCAL:
        return KeyChoice(env, False)
    stored = (await store.keys_of(conn, user_id)).get(provider)
    if stored is not None:
        try:
            own = crypto.decrypt(_enc_key(settings), stored[0])
        except crypto.CryptoError:
            log.warning("the stored %s key of a user cannot be decrypted; ignoring it", provider)
        else:
            # A personal key equal to the service key is the service key (reference §4.7).
            return KeyChoice(own, own == env)
    return KeyChoice(env, env is not None)
