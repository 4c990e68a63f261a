"""A local stand-in for the services notify talks to, speaking their documented protocols:

* the Telegram Bot API: ``POST /bot<token>/sendMessage`` with JSON ``{chat_id, text, parse_mode}``,
  answering ``{"ok": true, "result": {...}}``; an unknown token is 401 ``{"ok": false}``, and a
  planted fault answers 429 with ``parameters.retry_after`` or 5xx;
* a webhook receiver: any ``POST /hook/...`` (the raw body and headers are recorded);
* an ntfy server: JSON publishing, ``POST /`` with ``{topic, title, message, priority, ...}``.

``fail(prefix, *statuses)`` makes the next requests whose path starts with ``prefix`` answer the
given statuses in turn; ``received`` holds every request answered 2xx.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeServices:
    bot_token: str = "123456:TEST-token"
    faults: dict[str, list[int]] = field(default_factory=dict)
    received: list[Request] = field(default_factory=list)
    attempts: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def fail(self, prefix: str, *statuses: int) -> None:
        with self.lock:
            self.faults.setdefault(prefix, []).extend(statuses)

    def got(self, prefix: str) -> list[Request]:
        with self.lock:
            return [r for r in self.received if r.path.startswith(prefix)]

    def answer(self, req: Request) -> tuple[int, Any]:
        with self.lock:
            self.attempts.append(req)
            for prefix, statuses in self.faults.items():
                if req.path.startswith(prefix) and statuses:
                    status = statuses.pop(0)
                    if req.path.startswith("/bot"):
                        body: Any = {"ok": False, "error_code": status, "description": "planted"}
                        if status == 429:
                            body["parameters"] = {"retry_after": 1}
                        return status, body
                    return status, {"error": "planted"}
        if req.path.startswith("/bot"):
            token, _, method = req.path[len("/bot") :].partition("/")
            if token != self.bot_token:
                return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
            if method != "sendMessage":
                return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
            msg = req.json()
            if not isinstance(msg.get("chat_id"), int) or not msg.get("text"):
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request"}
            result = {"message_id": len(self.received) + 1, "chat": {"id": msg["chat_id"]}}
            with self.lock:
                self.received.append(req)
            return 200, {"ok": True, "result": result}
        if req.path.startswith("/hook/") or req.path == "/" or req.path.startswith("/ntfy"):
            with self.lock:
                self.received.append(req)
            return 200, {"id": "ok"}
        return 404, {"error": "no such path"}


def serve(fake: FakeServices) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            req = Request(self.path, {k.lower(): v for k, v in self.headers.items()}, b"")
            req.body = self.rfile.read(length)
            status, body = fake.answer(req)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
