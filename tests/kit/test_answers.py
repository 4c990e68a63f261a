"""kit.answers: an answer is served only under the stamp it was computed under and before it
expires; the bytes kept (bodies and ``ENTRY_COST`` each) stay within the budget, least recently
used going first."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from kifu.kit.answers import ENTRY_COST, Answers, Asked

E = ENTRY_COST
T = datetime(2026, 12, 7, 12, tzinfo=UTC)
ALICE, BOB = uuid.uuid4(), uuid.uuid4()


def test_served_under_its_stamp_only() -> None:
    a = Answers(10 * E)
    a.put(ALICE, "stats", (1, 2), None, b"{}")
    assert a.get(ALICE, "stats", (1, 2), T) == b"{}"
    assert a.get(ALICE, "stats", (1, 3), T) is None
    # a stale answer is dropped, not kept for a stamp that might come back
    assert a.get(ALICE, "stats", (1, 2), T) is None
    assert len(a) == 0 and a.bytes == 0


def test_each_user_and_key_apart() -> None:
    a = Answers(10 * E)
    a.put(ALICE, "stats", 1, None, b"alice")
    a.put(BOB, "stats", 1, None, b"bob")
    a.put(ALICE, "trend", 1, None, b"trend")
    assert a.get(ALICE, "stats", 1, T) == b"alice"
    assert a.get(BOB, "stats", 1, T) == b"bob"
    assert a.get(BOB, "trend", 1, T) is None


def test_expires_at_its_instant() -> None:
    a = Answers(10 * E)
    a.put(ALICE, "stats", 1, T, b"x")
    assert a.get(ALICE, "stats", 1, T - timedelta(microseconds=1)) == b"x"
    assert a.get(ALICE, "stats", 1, T) is None
    a.put(ALICE, "stats", 1, None, b"x")
    assert a.get(ALICE, "stats", 1, T + timedelta(days=3650)) == b"x"


def test_bytes_stay_within_the_budget_least_recently_used_first() -> None:
    a = Answers(2 * E + 10)
    a.put(ALICE, 1, 0, None, b"aaaa")
    a.put(ALICE, 2, 0, None, b"bbbb")
    assert a.get(ALICE, 1, 0, T) == b"aaaa"  # 1 is now the most recently used
    a.put(ALICE, 3, 0, None, b"cccc")
    assert a.bytes == 2 * E + 8 and len(a) == 2
    assert a.get(ALICE, 2, 0, T) is None
    assert a.get(ALICE, 1, 0, T) == b"aaaa"
    assert a.get(ALICE, 3, 0, T) == b"cccc"


def test_tiny_answers_are_counted_with_their_entry() -> None:
    """An empty page at every offset: the entries, not only their bodies, fill the budget."""
    a = Answers(100 * E)
    for offset in range(10_000):
        a.put(ALICE, ("alerts", offset), 0, None, b"{}")
    assert len(a) == 100 * E // (E + 2) and a.bytes <= 100 * E


def test_a_new_answer_replaces_the_old() -> None:
    a = Answers(10 * E)
    a.put(ALICE, 1, 0, None, b"aaaa")
    a.put(ALICE, 1, 1, None, b"bbbbbb")
    assert a.bytes == E + 6 and len(a) == 1
    assert a.get(ALICE, 1, 1, T) == b"bbbbbb"


def test_too_large_or_no_budget_keeps_nothing() -> None:
    a = Answers(E + 4)
    a.put(ALICE, 1, 0, None, b"aaaa")
    assert len(a) == 1
    a.put(ALICE, 1, 0, None, b"aaaaa")  # costs more than the budget: the old one goes too
    assert len(a) == 0 and a.bytes == 0
    none = Answers(0)
    none.put(ALICE, 1, 0, None, b"")
    assert len(none) == 0 and none.bytes == 0
    with pytest.raises(ValueError):
        Answers(-1)


def test_serve_computes_once_keeps_and_recomputes_when_fresh_or_expired_at_once() -> None:
    a = Answers(10 * E)
    calls: list[datetime | None] = []

    def compute(expires: datetime | None):
        async def run() -> tuple[bytes, datetime | None]:
            calls.append(expires)
            return f"v{len(calls)}".encode(), expires

        return run

    async def scenario() -> None:
        assert await a.serve(ALICE, "k", 1, T, False, compute(None)) == b"v1"
        assert await a.serve(ALICE, "k", 1, T, False, compute(None)) == b"v1"
        assert await a.serve(ALICE, "k", 1, T, True, compute(None)) == b"v2"  # asked fresh
        assert await a.serve(ALICE, "k", 1, T, False, compute(None)) == b"v2"
        assert await a.serve(ALICE, "k", 2, T, False, compute(T)) == b"v3"  # behind: not kept
        assert await a.serve(ALICE, "k", 2, T, False, compute(None)) == b"v4"

    asyncio.run(scenario())
    assert len(calls) == 4


async def _probe(conn: object, user_id: uuid.UUID) -> int:
    return 1


def test_a_request_is_remembered_until_its_key_may_change() -> None:
    a = Answers(10 * E)
    asking = ("/api/v1/review/trend", b"period=7d")
    a.remember(ALICE, asking, ("trend", "7d"), _probe, T + timedelta(hours=1))
    found = a.recall(ALICE, asking, T)
    assert found is not None and found.key == ("trend", "7d") and found.probe is _probe
    assert a.recall(BOB, asking, T) is None  # per user
    assert a.recall(ALICE, ("/api/v1/review/trend", b"period=30d"), T) is None
    assert a.get(ALICE, asking, 1, T) is None  # a remembered request is not an answer
    assert a.recall(ALICE, asking, T + timedelta(hours=1)) is None  # its key may differ now
    assert len(a) == 0 and a.bytes == 0


def test_remembered_requests_count_against_the_budget() -> None:
    a = Answers(3 * E)
    a.put(ALICE, "k", 1, None, b"")
    for n in range(3):
        a.remember(ALICE, ("/p", str(n).encode()), "k", _probe, None)
    assert a.bytes <= 3 * E and len(a) == 3
    assert a.get(ALICE, "k", 1, T) is None  # the least recently used went first
    assert a.recall(ALICE, ("/p", b"2"), T) is not None
    Answers(0).remember(ALICE, ("/p", b""), "k", _probe, None)  # a budget of 0 keeps nothing


def test_only_a_request_whose_answer_is_kept_is_remembered() -> None:
    """An answer not kept (read behind the ledger's catch-up: it expires at once) leaves its
    request to the route, which probes once, instead of a probe before routing that must fail."""
    a = Answers(10 * E)
    behind = Asked(a, asking=("/api/v1/trades", b"limit=5"))
    kept = Asked(a, asking=("/api/v1/trades", b"limit=6"))

    async def compute_behind() -> tuple[bytes, datetime | None]:
        return b"behind", T

    async def compute() -> tuple[bytes, datetime | None]:
        return b"kept", None

    async def scenario() -> None:
        assert await behind.serve(None, ALICE, "k5", _probe, T, compute_behind) == b"behind"
        assert await kept.serve(None, ALICE, "k6", _probe, T, compute) == b"kept"

    asyncio.run(scenario())
    assert a.recall(ALICE, ("/api/v1/trades", b"limit=5"), T) is None
    assert a.recall(ALICE, ("/api/v1/trades", b"limit=6"), T) is not None
