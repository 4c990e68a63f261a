"""The provider clients on their own, against the stand-ins: URL forms, errors, no key leaks."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from kifu.ai.providers import Limits, ProviderError
from kifu.ai.providers.claude import Claude
from kifu.ai.providers.gemini import Gemini
from kifu.ai.providers.local import Local
from kifu.ai.providers.openai import OpenAI
from tests.ai.fake_providers import FakeProviders


async def _ask(client, key: str | None, model: str = "m") -> object:
    async with httpx.AsyncClient() as http:
        return await client.complete(http, api_key=key, model=model, prompt="hi", limits=Limits())


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/responses"])
def test_openai_base_url_forms(fake_ai: FakeProviders, suffix: str) -> None:
    done = asyncio.run(_ask(OpenAI(fake_ai.url + suffix), "sk-service-openai"))
    assert done.text == fake_ai.text["openai"] and done.tokens_used == 120
    assert fake_ai.seen[-1].path == "/v1/responses"


@pytest.mark.parametrize(
    ("client", "suffix", "path"),
    [
        (Claude, "", "/v1/messages"),
        (Gemini, "", "/v1beta/models/gemini-2.0-flash:generateContent"),
        (Gemini, "/v1beta", "/v1beta/models/gemini-2.0-flash:generateContent"),
        (Gemini, "/v1", "/v1/models/gemini-2.0-flash:generateContent"),
        (Local, "", "/v1/chat/completions"),
        (Local, "/v1", "/v1/chat/completions"),
    ],
)
def test_url_forms(fake_ai: FakeProviders, client: type, suffix: str, path: str) -> None:
    key = {"Claude": "sk-ant-service", "Gemini": "gm-service", "Local": None}[client.__name__]
    done = asyncio.run(_ask(client(fake_ai.url + suffix), key, "gemini-2.0-flash"))
    assert done.text
    assert fake_ai.seen[-1].path == path and fake_ai.seen[-1].query == {}


@pytest.mark.parametrize(
    ("client", "key"),
    [(OpenAI, "sk-wrong-key-abcdef"), (Claude, "sk-ant-wrong-1"), (Gemini, "gm-wrong-9")],
)
def test_rejected_key_is_an_error_without_the_key(
    fake_ai: FakeProviders, client: type, key: str
) -> None:
    with pytest.raises(ProviderError) as caught:
        asyncio.run(_ask(client(fake_ai.url), key))
    assert caught.value.status in (400, 401)
    assert key not in caught.value.message and fake_ai.url not in caught.value.message


def test_rate_limit_and_down(fake_ai: FakeProviders) -> None:
    fake_ai.fail["claude"] = [429]
    with pytest.raises(ProviderError) as caught:
        asyncio.run(_ask(Claude(fake_ai.url), "sk-ant-service"))
    assert caught.value.status == 429 and "retry after 7 s" in caught.value.message
    with pytest.raises(ProviderError) as down:
        asyncio.run(_ask(OpenAI("http://127.0.0.1:9"), "sk-service-openai"))
    assert down.value.status == 502 and "127.0.0.1" not in down.value.message


@pytest.mark.parametrize("client", [OpenAI, Claude, Gemini, Local])
def test_refusals(fake_ai: FakeProviders, client: type) -> None:
    fake_ai.fail[client.name] = ["empty"]
    key = {"openai": "sk-service-openai", "claude": "sk-ant-service", "gemini": "gm-service"}
    with pytest.raises(ProviderError) as caught:
        asyncio.run(_ask(client(fake_ai.url), key.get(client.name)))
    assert "no text" in caught.value.message


def test_gemini_thoughts_are_not_the_answer(fake_ai: FakeProviders) -> None:
    fake_ai.gemini_thoughts = True
    done = asyncio.run(_ask(Gemini(fake_ai.url), "gm-service"))
    assert done.text == fake_ai.text["gemini"]
