"""Answers kept by an API process and served again while what they were computed from holds.

A read that a screen asks for on every visit (review statistics, calendar and trend; the pages of
trades, bubbles, notes and alerts; the summary, timeline and positions) is a function of the
user's rows and of the time. Its answer is kept under a key (the user, the read and its
normalised parameters) with the **stamp** of the rows it was computed from (the owners' change
stamps, migrations 130-134, bumped by triggers in the writing transaction; each capability
reads its own) and the instant it **expires** (the first moment the time alone would change it:
a bubble leaving a "last 30 days" window; reads of "today" carry the day in their key). It is
served again only while the stamp read *before* the request's computation is the same and the
expiry has not passed, so an answer is never staler than the rows a fresh computation would have
read.

Bounded by the bytes kept (least recently used go first), each answer counted with
``ENTRY_COST`` for its key and bookkeeping, so many tiny answers (an empty page at every offset)
cannot hold more than the budget says; one per process, nothing shared, so several processes
each compute an answer once.

**Served before routing.** A kept answer is also remembered under the request that asked for it
(its path and query string, as sent) with the stamp's probe, until its key could change (reads
of "today": the next local midnight). ``KeptAnswersMiddleware`` answers the same request again
from there: it reads the stamp with that probe and serves the kept answer if it still holds, so
the request skips FastAPI's routing, parameter parsing and response (a third to a half of a
kept read's time). Anything else goes on to the route, which decides as before; so does a
request with ``Cache-Control: no-cache``. Requests of a user that arrive together share one
probe (``kit.probes``).
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from kifu.kit import timeutil
from kifu.kit.db import connection
from kifu.kit.middleware import HttpMiddleware
from kifu.kit.probes import UNKNOWN, Probe, SharedProbes

Computed = tuple[bytes, datetime | None]  # an answer's JSON and when time alone changes it
# A request as sent: its path and query string (``KeptAnswersMiddleware``).
Asking = tuple[str, bytes]

# Bytes an answer costs beside its body: its key, the entry and the dict's node (about 260
# measured with tracemalloc for a short key and stamp; keys up to a few hundred bytes).
ENTRY_COST = 512


@dataclass(frozen=True, slots=True)
class _Kept:
    stamp: Hashable
    expires: datetime | None  # None: only a change of the rows makes it stale
    body: bytes


@dataclass(frozen=True, slots=True)
class _Asked:
    """A request that was answered from ``key``: its stamp is read with ``probe``; ``until``:
    when the request may mean another key (None: never)."""

    key: Hashable
    probe: Probe
    until: datetime | None
    body: bytes = b""  # nothing: the answer is kept under ``key``


class Answers:
    """Kept answers up to ``max_bytes`` in all, each its body and ``ENTRY_COST`` (0 keeps
    none)."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self.max_bytes = max_bytes
        self.bytes = 0
        self._kept: OrderedDict[tuple[uuid.UUID, Hashable], _Kept | _Asked] = OrderedDict()
        self.served_early = 0  # answers KeptAnswersMiddleware served (tests read it)

    def __len__(self) -> int:
        return len(self._kept)

    def get(
        self, user_id: uuid.UUID, key: Hashable, stamp: Hashable, now: datetime
    ) -> bytes | None:
        """The body kept for (``user_id``, ``key``) if it was computed under ``stamp`` and has
        not expired at ``now``; a stale one is dropped."""
        k = (user_id, key)
        kept = self._kept.get(k)
        if not isinstance(kept, _Kept):
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
        self._keep(k, _Kept(stamp, expires, body))

    def holds(self, user_id: uuid.UUID, key: Hashable) -> bool:
        """Whether an answer is kept for (``user_id``, ``key``)."""
        return isinstance(self._kept.get((user_id, key)), _Kept)

    def remember(
        self,
        user_id: uuid.UUID,
        asking: Asking,
        key: Hashable,
        probe: Probe,
        until: datetime | None,
    ) -> None:
        """``asking`` was answered from ``key`` (stamp read with ``probe``) and means that key
        until ``until``."""
        k = (user_id, asking)
        if k in self._kept:
            self._drop(k)
        if self.max_bytes >= ENTRY_COST:
            self._keep(k, _Asked(key, probe, until))

    def recall(self, user_id: uuid.UUID, asking: Asking, now: datetime) -> _Asked | None:
        """What ``remember`` said of ``asking``, if it still holds at ``now``."""
        k = (user_id, asking)
        asked = self._kept.get(k)
        if not isinstance(asked, _Asked):
            return None
        if asked.until is not None and now >= asked.until:
            self._drop(k)
            return None
        return asked

    def _keep(self, k: tuple[uuid.UUID, Hashable], entry: _Kept | _Asked) -> None:
        self._kept[k] = entry
        self.bytes += len(entry.body) + ENTRY_COST
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
    """A request's view of the kept answers: its process's ``Answers``, whether it asked for an
    answer computed anew (``Cache-Control: no-cache``) and what it asked (``None``: not a
    request, as in the benchmarks)."""

    answers: Answers
    fresh: bool = False
    asking: Asking | None = None

    async def serve(
        self,
        conn: AsyncConnection,
        user_id: uuid.UUID,
        key: Hashable,
        probe: Probe,
        now: datetime,
        compute: Callable[[], Awaitable[Computed]],
        *,
        key_until: datetime | None = None,
    ) -> bytes:
        """``Answers.serve`` for this request under the stamp ``probe`` reads first; the
        request is remembered as meaning ``key`` until ``key_until``."""
        stamp = await probe(conn, user_id)
        body = await self.answers.serve(user_id, key, stamp, now, self.fresh, compute)
        if self.asking is not None and self.answers.holds(user_id, key):
            # not an answer that was not kept (read behind the ledger's catch-up, or larger
            # than the budget): each request would probe twice, before routing and here
            self.answers.remember(user_id, self.asking, key, probe, key_until)
        return body


def _asks_fresh(cache_control: str) -> bool:
    return "no-cache" in cache_control.lower()


def asked(request: Request) -> Asked:
    """The kept answers of the API process (``app.state.answers``) as ``request`` asks them."""
    fresh = _asks_fresh(request.headers.get("cache-control", ""))
    asking = (request.scope["path"], request.scope.get("query_string", b""))
    return Asked(request.app.state.answers, fresh, asking)


class KeptAnswersMiddleware(HttpMiddleware):
    """Answers a GET that was answered from a kept answer before, if that answer still holds
    under the stamp read now (see the module's docstring); anything else goes on to the route.
    Innermost but for ``ConnectionsMiddleware``, whose connection the probe uses (and the
    route, when it answers after all)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        user_id = scope.get("state", {}).get("user_id")
        if scope["method"] == "GET" and user_id is not None:
            body = await self._kept(scope, user_id)
            if body is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-length", str(len(body)).encode()),
                            (b"content-type", b"application/json"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    async def _kept(self, scope: Scope, user_id: uuid.UUID) -> bytes | None:
        for name, value in scope["headers"]:
            if name == b"cache-control" and _asks_fresh(value.decode("latin-1")):
                return None
        state = scope["app"].state
        answers: Answers = state.answers
        now = timeutil.utc_now()
        asked = answers.recall(user_id, (scope["path"], scope.get("query_string", b"")), now)
        if asked is None:
            return None
        probes: SharedProbes = state.probes
        stamp = await probes.read(asked.probe, user_id, lambda: connection(scope))
        if stamp is UNKNOWN:
            return None
        body = answers.get(user_id, asked.key, stamp, now)
        if body is not None:
            answers.served_early += 1
        return body
