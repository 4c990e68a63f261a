"""JSON Web Tokens signed with HMAC (the JWS compact serialisation of RFC 7515, the claims of
RFC 7519): kifu's access tokens (HS256) and Upbit's request tokens (HS512).

Only the HMAC algorithms. ``verify`` accepts exactly the algorithm it is given, so a token cannot
choose its own (``none``, or a public key passed off as an HMAC secret), and anything that is not
a well-formed token signed with that secret is ``InvalidToken``, never another exception.

Written here rather than imported: the JWT library kifu used loaded ``cryptography`` for
algorithms kifu never signs with, 9 MB of every API process (``bench/api.py`` target: 100 MB).
``tests/kit/test_jws.py`` checks these tokens against that library and RFC 7515's example.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}

# Three base64url parts without padding (RFC 7515 §2 and §7.1): nothing else is a token.
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class InvalidToken(ValueError):
    """Not a token signed with this secret and algorithm, or claims that cannot be used."""


class ExpiredToken(InvalidToken):
    """A token signed with this secret whose ``exp`` has passed."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if len(text) % 4 == 1:  # no base64 text has this length
        raise InvalidToken("malformed token")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _object(part: str) -> dict[str, Any]:
    try:
        value = json.loads(_unb64(part))
    except (ValueError, RecursionError) as exc:  # bad UTF-8 and bad JSON are ValueErrors
        raise InvalidToken("malformed token") from exc
    if not isinstance(value, dict):
        raise InvalidToken("malformed token")
    return value


def _mac(secret: str | bytes, signing_input: str, alg: str) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(key, signing_input.encode("ascii"), HASHES[alg]).digest()


def sign(claims: Mapping[str, Any], secret: str | bytes, alg: str = "HS256") -> str:
    """The compact token of ``claims`` (a JSON object) signed with ``secret`` by ``alg``."""
    if alg not in HASHES:
        raise ValueError(f"not an HMAC algorithm: {alg!r}")
    signing_input = _b64(_json({"alg": alg, "typ": "JWT"})) + "." + _b64(_json(claims))
    return signing_input + "." + _b64(_mac(secret, signing_input, alg))


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if type(value) not in (int, float) or not math.isfinite(value):
        raise InvalidToken(f"{name} is not a number")
    return value


def verify(
    token: str,
    secret: str | bytes,
    alg: str,
    *,
    require: Iterable[str] = ("exp",),
    now: float | None = None,
) -> dict[str, Any]:
    """The claims of ``token`` when it is signed with ``secret`` by ``alg``, has every claim
    of ``require``, and its times allow it at ``now`` (seconds since the epoch): ``exp`` after
    it, ``nbf`` not after it. ``ExpiredToken`` past ``exp``, ``InvalidToken`` for anything
    else."""
    if alg not in HASHES:
        raise ValueError(f"not an HMAC algorithm: {alg!r}")
    if not isinstance(token, str) or not _COMPACT.fullmatch(token):
        raise InvalidToken("malformed token")
    head, body, signature = token.split(".")
    header = _object(head)
    if header.get("alg") != alg:
        raise InvalidToken("unexpected algorithm")
    if "crit" in header:  # RFC 7515 §4.1.11: extensions that must be understood; none are
        raise InvalidToken("unsupported header")
    if not hmac.compare_digest(_mac(secret, f"{head}.{body}", alg), _unb64(signature)):
        raise InvalidToken("bad signature")
    claims = _object(body)
    for name in require:
        if name not in claims:
            raise InvalidToken(f"{name} is missing")
    at = time.time() if now is None else now
    exp, nbf = _number(claims, "exp"), _number(claims, "nbf")
    _number(claims, "iat")
    if exp is not None and exp <= at:
        raise ExpiredToken("token expired")
    if nbf is not None and nbf > at:
        raise InvalidToken("token not valid yet")
    return claims
