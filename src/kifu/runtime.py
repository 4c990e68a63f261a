"""Resolve what a kifu process needs before it starts: its database and its secrets.

With ``DATABASE_URL`` kifu uses that server and starts nothing, and every secret must be
configured. Without it kifu owns an embedded cluster in ``KIFU_HOME`` and generates missing
secrets once, keeping them beside the cluster, so that a first run just works.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kifu.config import Settings
from kifu.db.embedded import EmbeddedPostgres

SECRET_FIELDS = {"jwt_secret": "JWT_SECRET", "enc_key": "KIFU_ENC_KEY"}


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message names the variable."""


def _generate(field: str) -> str:
    if field == "enc_key":
        # AES-256-GCM key: 32 random bytes, base64.
        return base64.b64encode(secrets.token_bytes(32)).decode()
    return secrets.token_urlsafe(48)


def _load_or_create_secrets(home: Path) -> dict[str, str]:
    path = home / "secrets.json"
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text())
    missing = [f for f in SECRET_FIELDS if not stored.get(f)]
    if missing:
        for f in missing:
            stored[f] = _generate(f)
        home.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(stored, fh, indent=2)
        os.replace(tmp, path)
    return stored


def with_secrets(settings: Settings) -> Settings:
    """``settings`` with every secret set: generated in embedded mode, else required."""
    unset = [f for f in SECRET_FIELDS if not getattr(settings, f)]
    if not unset:
        return settings
    if not settings.embedded:
        names = ", ".join(SECRET_FIELDS[f] for f in unset)
        raise ConfigError(
            f"{names} must be set when DATABASE_URL is set (kifu generates secrets only for its "
            "embedded database)"
        )
    stored = _load_or_create_secrets(settings.home)
    return settings.model_copy(update={f: stored[f] for f in unset})


@contextmanager
def database(settings: Settings, api_port: int | None = None) -> Iterator[str]:
    """The conninfo to use; starts the embedded cluster (and stops it after) when needed.

    The embedded server never takes the API's port (``api_port`` or the configured one).
    """
    if settings.database_url:
        yield settings.database_url
        return
    avoid = frozenset({api_port or settings.port})
    with EmbeddedPostgres(settings.home, avoid_ports=avoid) as pg:
        yield pg.conninfo()
