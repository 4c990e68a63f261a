"""The one small interface every AI provider client implements, and what they share.

A provider knows its endpoint, headers, request body and where the answer's text and token count
are; ``post_json`` does the HTTP (timeouts, status codes, JSON) the same way for all of them.
Errors carry a message that is safe to show and log: never the key, never a URL (a key may sit in
a configured URL), only a short, key-redacted excerpt of the provider's own error text.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import httpx

RETRYABLE = frozenset({502, 503, 504})


@dataclass(frozen=True)
class Limits:
    """Reference §4.7: 20 s, temperature 0.2, 260 output tokens."""

    timeout: float = 20.0
    temperature: float = 0.2
    max_output_tokens: int = 260


@dataclass(frozen=True)
class Completion:
    text: str
    tokens_used: int | None


class ProviderError(Exception):
    """The provider could not answer: down, slow, rate-limited, refusing or answering garbage."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE


class Provider(ABC):
    """One AI provider behind one call: a prompt in, text (and tokens used) out."""

    name: str

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    @abstractmethod
    async def complete(
        self,
        http: httpx.AsyncClient,
        *,
        api_key: str | None,
        model: str,
        prompt: str,
        limits: Limits,
    ) -> Completion:
        """Ask once; raise ``ProviderError`` on any failure."""

    def endpoint(self, version: str, path: str) -> str:
        """``base/<version>/<path>``, accepting a base that already ends with the version."""
        base = self.base_url
        if base.endswith(f"/{version}/{path}"):  # the full endpoint was configured
            return base
        if base.endswith("/" + version):
            return f"{base}/{path}"
        return f"{base}/{version}/{path}"


def _redact(text: str, secret: str | None) -> str:
    if secret and len(secret) >= 4:
        text = text.replace(secret, "****")
    return text


def _upstream_message(body: str) -> str:
    """The provider's own error message when its body has one, else a short excerpt."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:200]
    if isinstance(data, list) and data:
        data = data[0]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"][:200]
        if isinstance(err, str):
            return err[:200]
    return body.strip()[:200]


async def post_json(
    http: httpx.AsyncClient,
    provider: str,
    url: str,
    *,
    headers: dict[str, str],
    body: dict[str, Any],
    timeout: float,
    secret: str | None,
) -> dict[str, Any]:
    """POST ``body`` and return the JSON object answered with a 2xx; ``ProviderError`` else."""
    try:
        response = await http.post(url, json=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException:
        raise ProviderError(f"{provider}: no answer within {timeout:g} s", status=504) from None
    except httpx.HTTPError as exc:
        raise ProviderError(
            f"{provider}: request failed ({exc.__class__.__name__})", status=502
        ) from None
    status = response.status_code
    if status == 429:
        wait = response.headers.get("retry-after")
        hint = f"; retry after {wait} s" if wait and wait.strip().isdigit() else ""
        detail = _redact(_upstream_message(response.text), secret)
        raise ProviderError(f"{provider}: rate limited (HTTP 429{hint}): {detail}", status=429)
    if not 200 <= status < 300:
        detail = _redact(_upstream_message(response.text), secret)
        raise ProviderError(f"{provider}: HTTP {status}: {detail}", status=status)
    try:
        data = response.json()
    except ValueError:
        raise ProviderError(f"{provider}: the answer is not JSON", status=502) from None
    if not isinstance(data, dict):
        raise ProviderError(f"{provider}: unexpected answer shape", status=502)
    return data


def tokens(value: object) -> int | None:
    """A positive token count, or None (0 and garbage mean unknown)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value


def require_text(provider: str, text: str, why: str = "") -> str:
    if not text.strip():
        reason = f" ({why})" if why else ""
        raise ProviderError(f"{provider}: the answer has no text{reason}", status=502)
    return text
