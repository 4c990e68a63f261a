"""Change-stamp probes shared by the requests that ask for them together.

A kept answer is served only after its user's change stamp is read (``kit.answers``). Requests of
one user often arrive together: a screen asks for its summary twice, its trades and its
positions at once, and all of them are answered under the same stamp. Reading it once for all of
them is as fresh as reading it for each, because a probe that *starts* after a request arrived
reads every change committed before the request arrived (the API's connections autocommit; a
statement's snapshot is taken when it starts). So a probe is shared by the requests that asked
for it **before it started**: the first to ask lets the event loop turn once (the requests read
from the network in the same turn reach their probe meanwhile and join it), takes its connection
and starts the probe; a request that asks after that waits for a probe of its own. The requests
that joined take no connection.

A request that joined a probe that failed, or whose first request was cancelled before it, is
told ``UNKNOWN`` and goes on to the route, which reads the stamp itself; a joined request that is
cancelled leaves the others waiting.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Hashable

from psycopg import AsyncConnection

# Reads a user's change stamp(s) of the rows an answer is computed from.
Probe = Callable[[AsyncConnection, uuid.UUID], Awaitable[Hashable]]


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Hashable = _Unknown()  # no stamp was read for this request


class SharedProbes:
    """The probes of an API process that have not started yet, per probe and user."""

    def __init__(self) -> None:
        self._waiting: dict[tuple[Probe, uuid.UUID], asyncio.Future[Hashable]] = {}
        self.joined = 0  # requests that joined another's probe (tests and benchmarks read it)

    async def read(
        self,
        probe: Probe,
        user_id: uuid.UUID,
        connect: Callable[[], Awaitable[AsyncConnection]],
    ) -> Hashable:
        """``probe``'s stamp for ``user_id`` read by a statement that starts after this call,
        shared with the calls that come before it starts; ``connect`` gives the connection
        if this call makes the probe. ``UNKNOWN`` if a shared probe failed."""
        key = (probe, user_id)
        waiting = self._waiting.get(key)
        if waiting is not None:
            self.joined += 1
            # shielded: this request's cancellation must not cancel the others' wait
            return await asyncio.shield(waiting)
        mine: asyncio.Future[Hashable] = asyncio.get_running_loop().create_future()
        self._waiting[key] = mine
        stamp: Hashable = UNKNOWN
        try:
            await asyncio.sleep(0)  # the requests read in this turn of the loop join
            conn = await connect()
            del self._waiting[key]  # from here on, a request waits for a probe of its own
            stamp = await probe(conn, user_id)
            return stamp
        finally:
            if self._waiting.get(key) is mine:
                del self._waiting[key]
            mine.set_result(stamp)  # UNKNOWN when the probe failed or this call was cancelled
