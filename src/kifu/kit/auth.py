"""Access tokens and the app-wide auth gate.

Access tokens are JWT (HS256) with ``sub`` = user id, ``typ`` = ``access``, 15 minutes. The gate
guards every ``/api/v1`` path except the public ones of the reference (auth, Telegram webhook,
klines); routes read the caller with the ``CurrentUser`` dependency.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

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


def verify_access_token(token: str, secret: str) -> uuid.UUID:
    """The user id of a valid access token; ``Unauthorized`` for anything else."""
    try:
        claims = jws.verify(token, secret, ALGORITHM, require=("sub", "exp"))
    except jws.ExpiredToken as exc:
        raise Unauthorized(message="access token expired") from exc
    except jws.InvalidToken as exc:
        raise Unauthorized(message="invalid access token") from exc
    if claims.get("typ", "access") != "access":
        raise Unauthorized(message="not an access token")
    try:
        return uuid.UUID(str(claims["sub"]))
    except ValueError as exc:
        raise Unauthorized(message="invalid access token") from exc


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
        self.secret = secret

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
            user_id = verify_access_token(bearer_token(header), self.secret)
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
