"""Anthropic, Messages API: ``POST /v1/messages`` with ``x-api-key`` and ``anthropic-version``.

Text = the ``text`` blocks of ``content`` joined; tokens = input + output tokens. A
``stop_reason`` of ``refusal`` with no text is a refusal.
"""

from __future__ import annotations

import httpx

from kifu.ai.providers.base import (
    Completion,
    Limits,
    Provider,
    ProviderError,
    post_json,
    require_text,
    tokens,
)

ANTHROPIC_VERSION = "2023-06-01"


class Claude(Provider):
    name = "claude"

    async def complete(
        self,
        http: httpx.AsyncClient,
        *,
        api_key: str | None,
        model: str,
        prompt: str,
        limits: Limits,
    ) -> Completion:
        data = await post_json(
            http,
            self.name,
            self.endpoint("v1", "messages"),
            headers={"x-api-key": api_key or "", "anthropic-version": ANTHROPIC_VERSION},
            body={
                "model": model,
                "max_tokens": limits.max_output_tokens,
                "temperature": limits.temperature,
                "messages": [{"role": "user", "content": prompt}],
            },
            timeout=limits.timeout,
            secret=api_key,
        )
        content = data.get("content")
        if not isinstance(content, list):
            raise ProviderError(f"{self.name}: the answer has no content", status=502)
        text = "".join(
            block["text"]
            for block in content
            if isinstance(block, dict)
            and block.get("type") == "text"
            and isinstance(block.get("text"), str)
        )
        require_text(self.name, text, "refused" if data.get("stop_reason") == "refusal" else "")
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        used = [usage.get("input_tokens"), usage.get("output_tokens")]
        total = sum(u for u in used if isinstance(u, int) and not isinstance(u, bool))
        return Completion(text, tokens(total))
