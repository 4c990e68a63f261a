"""Answers kept by an API process and served again while what they were computed from holds.

A read that a screen asks for on every visit (review statistics, calendar and trend; the pages of
trades, bubbles, notes and alerts; the summary, timeline and positions) is a function of the
user's rows and of the time. Its answer is kept under a key (the user, the read and its
normalised parameters) with the **stamp** of the rows it was computed from (the owners' change
stamps, migrations 130 and 131, bumped by triggers in the writing transaction; each capability
reads its own) and the instant it **expires** (the first moment the time alone would change it:
a bubble leaving a "last 30 days" window; reads of "today" carry the day in their key). It is
served again only while the stamp read *before* the request's computation is the same and the
expiry has not passed, so an answer is never staler than the rows a fresh computation would have
read.

Bounded by the bytes kept (least recently used go first), each answer counted with
``ENTRY_COST`` for its key and bookkeeping, so many tiny answers (an empty page at every offset)
cannot hold more than the budget says; one per process, nothing shared, so several processes
each compute an answer once.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request

Computed = tuple[bytes, datetime | None]  # an answer's JSON and when time alone changes it

# Bytes an answer costs beside its body: its key, the entry and the dict's node (about 260
# measured with tracemalloc for a short key and stamp; keys up to a few hundred bytes).
ENTRY_COST = 512


@dataclass(frozen=True, slots=True)
class _Kept:
    stamp: Hashable
    expires: datetime | None  # None: only a change of the rows makes it stale
    body: bytes


class Answers:
    """Kept answers up to ``max_bytes`` in all, each its body and ``ENTRY_COST`` (0 keeps
    none)."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self.max_bytes = max_bytes
        self.bytes = 0
        self._kept: OrderedDict[tuple[uuid.UUID, Hashable], _Kept] = OrderedDict()

    def __len__(self) -> int:
        return len(self._kept)

    def get(
        self, user_id: uuid.UUID, key: Hashable, stamp: Hashable, now: datetime
    ) -> bytes | None:
        """The body kept for (``user_id``, ``key``) if it was computed under ``stamp`` and has
        not expired at ``now``; a stale one is dropped."""
        k = (user_id, key)
        kept = self._kept.get(k)
        if kept is None:
            return None
        if kept.stamp != stamp or (kept.expires is not None and now >= kept.expires):
            self._drop(k)
            return None
        self._kept.move_to_end(k)
        return kept.body

    def put(
        self,
        user_id: uuid.UUID,
        key: Hashable,
        stamp: Hashable,
        expires: datetime | None,
        body: bytes,
    ) -> None:
        """Keep ``body``, computed under ``stamp``, until ``expires``; one that costs more than
        the whole budget is not kept."""
        k = (user_id, key)
        if k in self._kept:
            self._drop(k)
        if len(body) + ENTRY_COST > self.max_bytes:
            return
        self._kept[k] = _Kept(stamp, expires, body)
        self.bytes += len(body) + ENTRY_COST
        while self.bytes > self.max_bytes:
            self._drop(next(iter(self._kept)))

    def _drop(self, k: tuple[uuid.UUID, Hashable]) -> None:
        self.bytes -= len(self._kept.pop(k).body) + ENTRY_COST

    async def serve(
        self,
        user_id: uuid.UUID,
        key: Hashable,
        stamp: Hashable,
        now: datetime,
        fresh: bool,
        compute: Callable[[], Awaitable[Computed]],
    ) -> bytes:
        """The answer kept for ``key`` under ``stamp``, else ``compute()``'s (also when
        ``fresh``), kept under ``stamp`` unless it expires at once (``compute`` says so of an
        answer it knows to be behind). The caller reads ``stamp`` *before* this call: a
        change that commits after that read moves the stamp, so it cannot hide behind the kept
        answer, and one that committed before it is in what ``compute`` reads."""
        if not fresh:
            body = self.get(user_id, key, stamp, now)
            if body is not None:
                return body
        body, expires = await compute()
        if expires is None or expires > now:  # expired already: good for this request only
            self.put(user_id, key, stamp, expires, body)
        return body


@dataclass(frozen=True, slots=True)
class Asked:
    """A request's view of the kept answers: its process's ``Answers`` and whether it asked
    for an answer computed anew (``Cache-Control: no-cache``)."""

    answers: Answers
    fresh: bool = False

    async def serve(
        self,
        user_id: uuid.UUID,
        key: Hashable,
        stamp: Hashable,
        now: datetime,
        compute: Callable[[], Awaitable[Computed]],
    ) -> bytes:
        """``Answers.serve`` for this request."""
        return await self.answers.serve(user_id, key, stamp, now, self.fresh, compute)


def asked(request: Request) -> Asked:
    """The kept answers of the API process (``app.state.answers``) as ``request`` asks them."""
    fresh = "no-cache" in request.headers.get("cache-control", "").lower()
    return Asked(request.app.state.answers, fresh)
