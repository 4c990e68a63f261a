"""Access tokens and the app-wide auth gate.

Access tokens are JWT (HS256) with ``sub`` = user id, ``typ`` = ``access``, 15 minutes. The gate
guards every ``/api/v1`` path except the public ones of the reference (auth, Telegram webhook,
klines); routes read the caller with the ``CurrentUser`` dependency.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from kifu.kit import jws
from kifu.kit.errors import Unauthorized

ACCESS_TOKEN_TTL = timedelta(minutes=15)
ALGORITHM = "HS256"
API_PREFIX = "/api/v1"
PUBLIC_PREFIXES = ("/api/v1/auth/",)
PUBLIC_PATHS = frozenset({"/api/v1/webhook/telegram", "/api/v1/market/klines"})


def issue_access_token(user_id: uuid.UUID, secret: str, *, now: datetime | None = None) -> str:
    issued = now or datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "typ": "access",
        "iat": int(issued.timestamp()),
        "exp": int((issued + ACCESS_TOKEN_TTL).timestamp()),
        # Unique per token, so two tokens issued in the same second still differ.
        "jti": uuid.uuid4().hex,
    }
    return jws.sign(claims, secret, ALGORITHM)


def _access_claims(token: str, secret: str) -> tuple[uuid.UUID, dict[str, Any]]:
    """The user id and claims of a valid access token; ``Unauthorized`` for anything else."""
    try:
        claims = jws.verify(token, secret, ALGORITHM, require=("sub", "exp"))
    except jws.ExpiredToken as exc:
        raise Unauthorized(message="access token expired") from exc
    except jws.InvalidToken as exc:
        raise Unauthorized(message="invalid access token") from exc
    if claims.get("typ", "access") != "access":
        raise Unauthorized(message="not an access token")
    try:
        return uuid.UUID(str(claims["sub"])), claims
    except ValueError as exc:
        raise Unauthorized(message="invalid access token") from exc


class VerifiedTokens:
    """Access tokens this process verified, and until when each holds.

    Whether a token holds depends on the secret and the time only: once its signature and
    claims passed, only its ``exp`` can make it fail (a token with ``nbf`` is not remembered). A
    client sends the same token for its 15 minutes, so the gate verifies it once (19 µs of
    base64, JSON and HMAC each time before) and then compares its ``exp`` with the clock. At
    most ``size`` are remembered (about 2 MB with their strings), the oldest forgotten first;
    a refused token never is."""

    def __init__(self, secret: str, size: int = 4096) -> None:
        self.secret = secret
        self.size = size
        self._held: dict[str, tuple[uuid.UUID, float]] = {}

    def user_of(self, token: str) -> uuid.UUID:
        """The user id of a valid access token (``Unauthorized`` for anything else)."""
        held = self._held.get(token)
        if held is not None:
            if time.time() < held[1]:
                return held[0]
            del self._held[token]  # expired: verified again, to refuse it as expired
        user_id, claims = _access_claims(token, self.secret)
        if claims.get("nbf") is None:
            if len(self._held) >= self.size:
                del self._held[next(iter(self._held))]
            self._held[token] = (user_id, claims["exp"])
        return user_id


def is_public(path: str) -> bool:
    if not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
        return True
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def bearer_token(header: str | None) -> str:
    parts = (header or "").split(" ")
    if len(parts) != 2 or parts[0].lower() != "bearer" or not parts[1]:
        raise Unauthorized(message="invalid or missing JWT")
    return parts[1]


class AuthGateMiddleware:
    """401 ``UNAUTHORIZED`` for guarded paths without a valid bearer access token."""

    def __init__(self, app: ASGIApp, secret: str) -> None:
        self.app = app
        self.tokens = VerifiedTokens(secret)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope.get("headers") or []:
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        try:
            user_id = self.tokens.user_of(bearer_token(header))
        except Unauthorized as exc:
            body = json.dumps({"code": exc.code, "message": exc.message}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"www-authenticate", b"Bearer"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        scope.setdefault("state", {})["user_id"] = user_id
        await self.app(scope, receive, send)


async def current_user_id(request: Request) -> uuid.UUID:
    user_id = getattr(request.state, "user_id", None)
    if user_id is None:  # a public route asked for a user: treat as unauthenticated
        raise Unauthorized(message="invalid or missing JWT")
    return user_id


CurrentUser = Annotated[uuid.UUID, Depends(current_user_id)]
