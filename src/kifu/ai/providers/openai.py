"""OpenAI, Responses API: ``POST /v1/responses`` with a bearer key.

Text = every ``output[type=message].content[type=output_text].text`` joined; tokens =
``usage.total_tokens``. A ``refusal`` content part with no text is a refusal.
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


class OpenAI(Provider):
    name = "openai"

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
            self.endpoint("v1", "responses"),
            headers={"Authorization": f"Bearer {api_key}"},
            body={
                "model": model,
                "input": prompt,
                "temperature": limits.temperature,
                "max_output_tokens": limits.max_output_tokens,
            },
            timeout=limits.timeout,
            secret=api_key,
        )
        output = data.get("output")
        if not isinstance(output, list):
            raise ProviderError(f"{self.name}: the answer has no output", status=502)
        parts: list[str] = []
        refused = False
        for item in output:
            if not isinstance(item, dict) or item.get("type") != "message":
                continue
            for content in item.get("content") or []:
                if not isinstance(content, dict):
                    continue
                if content.get("type") == "output_text" and isinstance(content.get("text"), str):
                    parts.append(content["text"])
                elif content.get("type") == "refusal":
                    refused = True
        text = "".join(parts)
        if not parts and isinstance(data.get("output_text"), str):  # SDK-style convenience field
            text = data["output_text"]
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        require_text(self.name, text, "refused" if refused else "")
        return Completion(text, tokens(usage.get("total_tokens")))
