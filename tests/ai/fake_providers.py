"""Local stand-ins for OpenAI (Responses API), Anthropic (Messages API), Google Gemini
(generateContent) and an OpenAI-compatible server (chat completions), speaking their documented
request and response shapes closely enough for kifu's real clients to run against them.

* OpenAI: ``POST /v1/responses`` with ``Authorization: Bearer <key>``; body ``{model, input,
  temperature, max_output_tokens}``; answers ``{output: [{type: message, content: [{type:
  output_text, text}]}], usage: {total_tokens}}``; a bad key is 401 ``invalid_api_key``.
* Anthropic: ``POST /v1/messages`` with ``x-api-key`` and ``anthropic-version`` (400 without it);
  answers ``{content: [{type: text, text}], usage: {input_tokens, output_tokens}}``.
* Gemini: ``POST /v1beta/models/<model>:generateContent`` with ``x-goog-api-key``; answers
  ``{candidates: [{content: {parts: [{text}]}}], usageMetadata: {totalTokenCount}}``.
* Local: ``POST /v1/chat/completions``; answers ``{choices: [{message: {content}}], usage}``.

Faults per provider: ``fail[provider]`` is a list of actions used one per request — an HTTP status
(429 carries ``Retry-After``), ``"garbage"`` (not JSON), ``"empty"`` (a well-formed answer with no
text, i.e. a refusal) or ``"slow"`` (sleeps ``slow_seconds``). Every request is recorded.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

DEFAULT_TEXT = {
    "openai": 'VERDICT: {"direction": "BUY", "probability": 0.7}\nBullish: expect a rise.',
    "claude": 'VERDICT: {"direction": "SELL", "probability": 0.6}\n하락 전망, 매도 우위.',
    "gemini": 'VERDICT: {"direction": "HOLD", "probability": 0.55}\nSideways; wait and see.',
    "local": 'VERDICT: {"direction": "BUY", "probability": 0.8}\nLocal model: bullish.',
}


@dataclass
class Seen:
    provider: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeProviders:
    keys: set[str] = field(
        default_factory=lambda: {
            "sk-service-openai",
            "sk-ant-service",
            "gm-service",
            "sk-user-openai-1234",
        }
    )
    text: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TEXT))
    fail: dict[str, list[Any]] = field(default_factory=dict)
    slow_seconds: float = 2.0
    gemini_thoughts: bool = False
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def calls(self, provider: str) -> list[Seen]:
        return [s for s in self.seen if s.provider == provider]

    # -- answers ---------------------------------------------------------------------------------

    def _action(self, provider: str) -> Any:
        with self.lock:
            queue = self.fail.get(provider)
            return queue.pop(0) if queue else None

    @staticmethod
    def _error(status: int, message: str, kind: str = "invalid_request_error") -> tuple:
        headers = {"Retry-After": "7"} if status == 429 else {}
        return status, {"error": {"message": message, "type": kind}}, headers

    def answer(self, provider: str, seen: Seen) -> tuple[int, Any, dict[str, str]]:
        action = self._action(provider)
        if action == "slow":
            time.sleep(self.slow_seconds)
            action = None
        if isinstance(action, int):
            kind = "rate_limit_error" if action == 429 else "server_error"
            return self._error(action, f"{provider} stand-in failure {action}", kind)
        if action == "garbage":
            return 200, "<html>not json</html>", {}
        text = "" if action == "empty" else self.text[provider]
        return getattr(self, f"_{provider}")(seen, text)

    def _openai(self, seen: Seen, text: str) -> tuple:
        auth = seen.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.keys:
            return self._error(401, "Incorrect API key provided: sk-****.", "invalid_api_key")
        b = seen.body
        if not isinstance(b.get("input"), str) or "max_output_tokens" not in b or "model" not in b:
            return self._error(400, "missing model, input or max_output_tokens")
        content = (
            [{"type": "output_text", "text": text, "annotations": []}]
            if text
            else [{"type": "refusal", "refusal": "I can't help with that."}]
        )
        return (
            200,
            {
                "id": "resp_1",
                "object": "response",
                "status": "completed",
                "model": b["model"],
                "output": [
                    {"type": "reasoning", "id": "rs_1", "summary": []},
                    {"type": "message", "id": "msg_1", "role": "assistant", "content": content},
                ],
                "usage": {"input_tokens": 100, "output_tokens": 20, "total_tokens": 120},
            },
            {},
        )

    def _claude(self, seen: Seen, text: str) -> tuple:
        if seen.headers.get("x-api-key") not in self.keys:
            return (
                401,
                {
                    "type": "error",
                    "error": {"type": "authentication_error", "message": "invalid x-api-key"},
                },
                {},
            )
        if not seen.headers.get("anthropic-version"):
            return (
                400,
                {
                    "type": "error",
                    "error": {
                        "type": "invalid_request_error",
                        "message": "anthropic-version required",
                    },
                },
                {},
            )
        b = seen.body
        if "max_tokens" not in b or not isinstance(b.get("messages"), list):
            return self._error(400, "max_tokens and messages are required")
        return (
            200,
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": b.get("model"),
                "content": [{"type": "text", "text": text}] if text else [],
                "stop_reason": "end_turn" if text else "refusal",
                "usage": {"input_tokens": 90, "output_tokens": 30},
            },
            {},
        )

    def _gemini(self, seen: Seen, text: str) -> tuple:
        key = seen.headers.get("x-goog-api-key") or (seen.query.get("key") or [None])[0]
        if key not in self.keys:
            return (
                400,
                {
                    "error": {
                        "code": 400,
                        "message": "API key not valid.",
                        "status": "INVALID_ARGUMENT",
                    }
                },
                {},
            )
        b = seen.body
        if not isinstance(b.get("contents"), list):
            return self._error(400, "contents is required")
        if not text:
            return 200, {"promptFeedback": {"blockReason": "SAFETY"}}, {}
        parts = [{"text": text}]
        if self.gemini_thoughts:  # a thinking model sends its reasoning as parts marked thought
            parts.insert(0, {"text": "Let me think: SELL SELL SELL", "thought": True})
        return (
            200,
            {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": parts},
                        "finishReason": "STOP",
                    }
                ],
                "usageMetadata": {
                    "promptTokenCount": 80,
                    "candidatesTokenCount": 20,
                    "totalTokenCount": 100,
                },
            },
            {},
        )

    def _local(self, seen: Seen, text: str) -> tuple:
        b = seen.body
        if not isinstance(b.get("messages"), list):
            return self._error(400, "messages is required")
        return (
            200,
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": b.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
            },
            {},
        )


def _provider_of(path: str) -> str | None:
    if path.endswith("/v1/responses"):
        return "openai"
    if path.endswith("/v1/messages"):
        return "claude"
    if ":generateContent" in path and "/models/" in path:
        return "gemini"
    if path.endswith("/chat/completions"):
        return "local"
    return None


def serve(fake: FakeProviders) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            parsed = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            seen = Seen(
                _provider_of(parsed.path) or "?",
                parsed.path,
                parse_qs(parsed.query),
                {k.lower(): v for k, v in self.headers.items()},
                body if isinstance(body, dict) else {},
            )
            with fake.lock:
                fake.seen.append(seen)
            if seen.provider == "?":
                status, payload, headers = 404, {"error": {"message": "no such path"}}, {}
            else:
                status, payload, headers = fake.answer(seen.provider, seen)
            data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
