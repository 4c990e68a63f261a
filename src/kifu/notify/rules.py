"""Pure notification rules: message formats per channel (with escaping), the webhook signature,
Telegram link codes and commands, delivery backoff, channel URL checks. No I/O.

Any text that came from a user or an AI (rule names, trigger reasons, briefings, memos) is
escaped for the channel's format: Telegram messages are sent with ``parse_mode=HTML``, so
``<``, ``>`` and ``&`` in them are escaped and only kifu's own tags remain markup.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

CHANNEL_TYPES = ("telegram", "webhook", "ntfy")
ADDABLE_TYPES = ("webhook", "ntfy")
CODE_TTL = timedelta(minutes=5)
CODE_DIGITS = 6
MAX_BACKOFF = timedelta(hours=1)
TELEGRAM_TEXT_LIMIT = 4096
SIGNATURE_HEADER = "X-Kifu-Signature"
MAX_URL_LENGTH = 2000


@dataclass(frozen=True)
class Message:
    """What is said, independent of the channel. ``title`` and ``body`` are plain text."""

    title: str
    body: str = ""
    severity: str = "normal"  # normal | urgent
    link: str | None = None
    event: str = "alert"  # alert | test | telegram_reply
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "body": self.body,
            "severity": self.severity,
            "link": self.link,
            "event": self.event,
            "data": dict(self.data),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Message:
        return cls(
            title=str(raw.get("title", "")),
            body=str(raw.get("body", "")),
            severity=str(raw.get("severity", "normal")),
            link=raw.get("link"),
            event=str(raw.get("event", "alert")),
            data=dict(raw.get("data") or {}),
        )


# -- formats ------------------------------------------------------------------------------------


def telegram_html(message: Message) -> str:
    """The Telegram text (parse_mode HTML) of the reference: urgent prefix, bold title, body and
    an optional link, every piece of text escaped; cut to Telegram's 4096 characters."""
    if message.event == "telegram_reply":
        return html.escape(message.body or message.title, quote=False)[:TELEGRAM_TEXT_LIMIT]
    prefix = "🔴 <b>[긴급]</b> " if message.severity == "urgent" else "🔔 "
    parts = [f"{prefix}<b>{html.escape(message.title, quote=False)}</b>"]
    if message.body:
        parts.append("")
        parts.append(html.escape(message.body, quote=False))
    link = ""
    if message.link:
        link = f'\n\n<a href="{html.escape(message.link, quote=True)}">상세 확인하기</a>'
    text = "\n".join(parts)
    room = TELEGRAM_TEXT_LIMIT - len(link)
    if len(text) > room:
        # Cut the escaped text where no entity or tag is split.
        cut = text[: room - 1]
        amp, semi = cut.rfind("&"), cut.rfind(";")
        if amp > semi:
            cut = cut[:amp]
        if cut.count("<b>") > cut.count("</b>"):
            cut += "</b>"
        text = cut + "…"
    return text + link


def webhook_body(message: Message, delivery_id: str, created_at: str) -> bytes:
    """The JSON body of a webhook delivery, canonical (sorted keys, no spaces) so a receiver
    can verify the signature over the exact bytes it got."""
    payload = {"id": delivery_id, "created_at": created_at, **message.to_json()}
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the body under the channel's secret>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, body), signature)


def ntfy_json(message: Message, topic: str) -> dict[str, Any]:
    """An ntfy JSON publish (POST to the server root): plain text, so nothing to escape."""
    out: dict[str, Any] = {
        "topic": topic,
        "title": message.title[:250],
        "message": message.body or message.title,
        "priority": 5 if message.severity == "urgent" else 3,
        "tags": ["rotating_light"] if message.severity == "urgent" else ["bell"],
    }
    if message.link:
        out["click"] = message.link
    return out


# -- channels -----------------------------------------------------------------------------------


class ChannelError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.message = f"{field}: {message}"


def check_http_url(value: Any, field: str) -> str:
    """An absolute http(s) URL with a host; anything else is refused."""
    if not isinstance(value, str) or not value.strip():
        raise ChannelError(field, "required, an http(s) URL")
    url = value.strip()
    if len(url) > MAX_URL_LENGTH:
        raise ChannelError(field, f"at most {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ChannelError(field, "must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ChannelError(field, "must not carry a user name or password")
    return url


def is_topic(value: str) -> bool:
    if not 1 <= len(value) <= 64 or not value.isascii():
        return False
    return all(c.isalnum() or c in "-_" for c in value)


def ntfy_target(url: Any, topic: Any, default_server: str) -> tuple[str, str]:
    """(server, topic) from a topic URL (``https://ntfy.sh/my-topic``) or a topic name on the
    configured server."""
    if url is not None:
        checked = check_http_url(url, "url")
        parts = urlsplit(checked)
        path = parts.path.rstrip("/")
        server_path, _, name = path.rpartition("/")
        if not is_topic(name) or parts.query or parts.fragment:
            raise ChannelError("url", "must be an ntfy topic URL such as https://ntfy.sh/my-topic")
        return f"{parts.scheme}://{parts.netloc}{server_path}", name
    if not isinstance(topic, str) or not is_topic(topic.strip()):
        raise ChannelError("topic", "required (or url): 1-64 letters, digits, '-' or '_'")
    return default_server.rstrip("/"), topic.strip()


def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


# -- Telegram linking ---------------------------------------------------------------------------


def new_code() -> str:
    """Six random digits (crypto RNG)."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def start_code(text: Any) -> str | None:
    """The code of a ``/start <code>`` message (also ``/start@bot <code>``); None otherwise."""
    if not isinstance(text, str):
        return None
    parts = text.strip().split()
    if len(parts) != 2:
        return None
    command, code = parts
    if command != "/start" and not command.startswith("/start@"):
        return None
    if len(code) != CODE_DIGITS or not code.isdigit() or not code.isascii():
        return None
    return code


def secret_matches(expected: str | None, given: str | None) -> bool:
    """Telegram's secret-token header against the configured secret (constant time); never
    true when no secret is configured."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


# -- delivery -----------------------------------------------------------------------------------


def backoff(attempts: int, base_seconds: float) -> timedelta:
    """Delay before the next try after ``attempts`` failed ones: base·2^(attempts−1), ≤ 1 h."""
    if attempts < 1:
        return timedelta(0)
    delay = timedelta(seconds=base_seconds * 2 ** min(attempts - 1, 20))
    return min(delay, MAX_BACKOFF)


def next_try(
    now: datetime, attempts: int, base_seconds: float, retry_after: float | None
) -> datetime:
    """When a failed message is tried again: the server's Retry-After when it gave one."""
    if retry_after is not None and retry_after > 0:
        return now + min(timedelta(seconds=retry_after), MAX_BACKOFF)
    return now + backoff(attempts, base_seconds)
