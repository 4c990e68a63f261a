"""The pure notify rules: escaping, signatures, channel targets, codes, backoff."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kifu.notify import rules
from kifu.notify.rules import ChannelError, Message

KIFU_TAGS = re.compile(r"</?b>|<a href=\"[^\"<>]*\">|</a>")


@given(st.text(max_size=300), st.text(max_size=6000), st.sampled_from(["normal", "urgent"]))
def test_telegram_text_has_no_markup_but_kifus(title: str, body: str, severity: str) -> None:
    text = rules.telegram_html(
        Message(title=title, body=body, severity=severity, link="https://x.example/alerts/1")
    )
    assert len(text) <= rules.TELEGRAM_TEXT_LIMIT
    assert "<" not in KIFU_TAGS.sub("", text) and ">" not in KIFU_TAGS.sub("", text)
    assert text.count("<b>") == text.count("</b>")


@given(st.binary(max_size=500), st.text(min_size=1, max_size=50))
def test_signature_verifies_only_the_exact_body(body: bytes, secret: str) -> None:
    sig = rules.sign(secret, body)
    assert sig.startswith("sha256=") and rules.verify(secret, body, sig)
    assert not rules.verify(secret, body + b"x", sig)


def test_webhook_body_is_canonical_json() -> None:
    m = Message(title="t", body="b", data={"b": 1, "a": "é"})
    raw = rules.webhook_body(m, "id-1", "2026-01-01T00:00:00Z")
    assert raw.startswith(b'{"body":"b","created_at":"2026-01-01T00:00:00Z","data":{"a":"\xc3\xa9"')


@pytest.mark.parametrize(
    ("url", "topic", "expected"),
    [
        ("https://ntfy.sh/alerts-1", None, ("https://ntfy.sh", "alerts-1")),
        ("http://10.0.0.2:8080/ntfy/my_topic/", None, ("http://10.0.0.2:8080/ntfy", "my_topic")),
        (None, "mine", ("https://ntfy.example", "mine")),
    ],
)
def test_ntfy_targets(url: str | None, topic: str | None, expected: tuple[str, str]) -> None:
    assert rules.ntfy_target(url, topic, "https://ntfy.example/") == expected


@pytest.mark.parametrize(
    ("url", "topic"),
    [
        ("https://ntfy.sh/", None),
        ("https://ntfy.sh/a?b=c", None),
        ("ftp://ntfy.sh/a", None),
        (None, None),
        (None, "x" * 65),
        (None, "héllo"),
    ],
)
def test_bad_ntfy_targets(url: str | None, topic: str | None) -> None:
    with pytest.raises(ChannelError):
        rules.ntfy_target(url, topic, "https://ntfy.sh")


@pytest.mark.parametrize(
    "url",
    ["", "example.com/hook", "ftp://h/x", "http:///x", "https://user:pw@h/x", 42, None],
)
def test_only_http_urls_with_a_host(url: object) -> None:
    with pytest.raises(ChannelError):
        rules.check_http_url(url, "url")
    assert rules.check_http_url(" https://h.example/x ", "url") == "https://h.example/x"


def test_codes_are_six_digits() -> None:
    codes = {rules.new_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in codes) and len(codes) > 150


@given(st.integers(1, 40), st.floats(0, 120))
def test_backoff_doubles_and_is_capped(attempts: int, base: float) -> None:
    delay = rules.backoff(attempts, base)
    assert delay <= rules.MAX_BACKOFF
    assert delay >= min(rules.backoff(attempts - 1, base), rules.MAX_BACKOFF)


def test_retry_after_wins() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert rules.next_try(now, 1, 20, 7) == now + timedelta(seconds=7)
    assert rules.next_try(now, 3, 20, None) == now + timedelta(seconds=80)
    assert rules.next_try(now, 3, 20, 10**9) == now + rules.MAX_BACKOFF
