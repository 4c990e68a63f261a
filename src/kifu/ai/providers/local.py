"""Any OpenAI-compatible server of the operator's own (Ollama, LM Studio, vLLM, llama.cpp):
``POST <KIFU_LOCAL_AI_URL>/v1/chat/completions`` (a URL ending in ``/v1`` is used as is), with a
bearer key only when ``KIFU_LOCAL_AI_KEY`` is set. Text = ``choices[0].message.content``;
tokens = ``usage.total_tokens``.
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


class Local(Provider):
    name = "local"

    async def complete(
        self,
        http: httpx.AsyncClient,
        *,
        api_key: str | None,
        model: str,
        prompt: str,
        limits: Limits,
    ) -> Completion:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        data = await post_json(
            http,
            self.name,
            self.endpoint("v1", "chat/completions"),
            headers=headers,
            body={
                "model": model,
                "messages": [{"role": "user", "content": prompt}],
                "temperature": limits.temperature,
                "max_tokens": limits.max_output_tokens,
                "stream": False,
            },
            timeout=limits.timeout,
            secret=api_key,
        )
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ProviderError(f"{self.name}: the answer has no choices", status=502)
        message = choices[0].get("message") if isinstance(choices[0].get("message"), dict) else {}
        content = message.get("content")
        text = content if isinstance(content, str) else ""
        require_text(self.name, text, "refused" if message.get("refusal") else "")
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return Completion(text, tokens(usage.get("total_tokens")))
