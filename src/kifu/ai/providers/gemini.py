"""Google Gemini: ``POST /v1beta/models/<model>:generateContent``.

The key goes in the ``x-goog-api-key`` header, never in the URL (the reference put it in the
query string, where proxies and logs keep it). Text = the first candidate's parts joined; tokens =
``usageMetadata.totalTokenCount``. A blocked prompt or a candidate stopped for safety with no text
is a refusal.
"""

from __future__ import annotations

from urllib.parse import quote

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


class Gemini(Provider):
    name = "gemini"

    def url(self, model: str) -> str:
        path = f"models/{quote(model, safe='.-_')}:generateContent"
        if self.base_url.endswith("/v1"):
            return f"{self.base_url}/{path}"
        return self.endpoint("v1beta", path)

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
            self.url(model),
            headers={"x-goog-api-key": api_key or ""},
            body={
                "contents": [{"role": "user", "parts": [{"text": prompt}]}],
                "generationConfig": {
                    "temperature": limits.temperature,
                    "maxOutputTokens": limits.max_output_tokens,
                },
            },
            timeout=limits.timeout,
            secret=api_key,
        )
        feedback = data.get("promptFeedback")
        blocked = isinstance(feedback, dict) and feedback.get("blockReason")
        candidates = data.get("candidates")
        if not isinstance(candidates, list) or not candidates:
            why = f"blocked: {blocked}" if blocked else "no candidates"
            raise ProviderError(f"{self.name}: the answer has no text ({why})", status=502)
        first = candidates[0] if isinstance(candidates[0], dict) else {}
        content = first.get("content") if isinstance(first.get("content"), dict) else {}
        text = "".join(
            part["text"]
            for part in content.get("parts") or []
            if isinstance(part, dict)
            and isinstance(part.get("text"), str)
            and not part.get("thought")  # a thinking model's reasoning is not its answer
        )
        require_text(self.name, text, str(first.get("finishReason") or blocked or ""))
        usage = data.get("usageMetadata") if isinstance(data.get("usageMetadata"), dict) else {}
        return Completion(text, tokens(usage.get("totalTokenCount")))
