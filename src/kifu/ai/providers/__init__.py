"""The AI providers kifu can ask, one module each behind ``base.Provider``.

``openai``, ``claude`` and ``gemini`` take a personal key or the service key from the environment
and read their model from ``ai_providers``; ``local`` is the operator's own OpenAI-compatible
server, enabled by ``KIFU_LOCAL_AI_URL`` with its model from ``KIFU_LOCAL_AI_MODEL``.
"""

from __future__ import annotations

from kifu.ai.providers.base import Completion, Limits, Provider, ProviderError
from kifu.ai.providers.claude import Claude
from kifu.ai.providers.gemini import Gemini
from kifu.ai.providers.local import Local
from kifu.ai.providers.openai import OpenAI
from kifu.config import Settings

KEYED = ("openai", "claude", "gemini")  # in the reference's order
LOCAL = "local"
ALL = (*KEYED, LOCAL)

__all__ = [
    "ALL",
    "KEYED",
    "LOCAL",
    "Completion",
    "Limits",
    "Provider",
    "ProviderError",
    "build",
    "local_enabled",
    "service_key",
]


def build(name: str, settings: Settings) -> Provider:
    if name == "openai":
        return OpenAI(settings.openai_url)
    if name == "claude":
        return Claude(settings.anthropic_url)
    if name == "gemini":
        return Gemini(settings.gemini_url)
    if name == LOCAL and settings.local_ai_url:
        return Local(settings.local_ai_url)
    raise KeyError(name)


def service_key(name: str, settings: Settings) -> str | None:
    """The operator's key for ``name`` from the environment, if set."""
    secret = {
        "openai": settings.openai_api_key,
        "claude": settings.anthropic_api_key,
        "gemini": settings.gemini_api_key,
        LOCAL: settings.local_ai_key,
    }.get(name)
    value = secret.get_secret_value().strip() if secret is not None else ""
    return value or None


def local_enabled(settings: Settings) -> bool:
    return bool(settings.local_ai_url and settings.local_ai_url.strip())
