"""kifu.kit.probes: requests that ask together share one probe that starts after all of them;
one that asks later gets its own; a failed or abandoned probe tells the others nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Hashable
from typing import Any

import pytest
from psycopg import AsyncConnection

from kifu.app import create_app
from kifu.config import Settings
from kifu.kit.probes import UNKNOWN, SharedProbes
from tests.helpers import TEST_JWT_SECRET, ApiUser

ALICE, BOB = uuid.uuid4(), uuid.uuid4()


class Stamps:
    """A stand-in for a change-stamp table: ``probe`` reads it, ``gate`` (when set) holds a
    probe that started until it is opened."""

    def __init__(self) -> None:
        self.value: dict[uuid.UUID, int] = {ALICE: 1, BOB: 7}
        self.started: list[uuid.UUID] = []
        self.gate: asyncio.Event | None = None
        self.fail = False
        self.connections = 0

    async def probe(self, conn: Any, user_id: uuid.UUID) -> Hashable:
        assert conn == "conn"
        self.started.append(user_id)
        seen = self.value[user_id]  # the snapshot is taken when the statement starts
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise OSError("connection lost")
        return seen

    async def connect(self) -> Any:
        self.connections += 1
        return "conn"

    def ask(self, probes: SharedProbes) -> asyncio.Task[Hashable]:
        """A request of Alice's reaching its probe."""
        return asyncio.create_task(probes.read(self.probe, ALICE, self.connect))

    async def first_started(self) -> None:
        """Until a probe has started."""
        while not self.started:
            await asyncio.sleep(0)


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_requests_that_ask_in_one_turn_share_one_probe() -> None:
    stamps, probes = Stamps(), SharedProbes()

    async def go() -> list[Hashable]:
        return await asyncio.gather(
            *(probes.read(stamps.probe, ALICE, stamps.connect) for _ in range(5))
        )

    assert _run(go()) == [1] * 5
    assert stamps.started == [ALICE]
    assert stamps.connections == 1  # the others took no connection
    assert probes.joined == 4


def test_a_request_after_the_probe_started_gets_its_own() -> None:
    stamps, probes = Stamps(), SharedProbes()

    async def go() -> tuple[Hashable, Hashable]:
        stamps.gate = asyncio.Event()
        first = stamps.ask(probes)
        await stamps.first_started()
        stamps.value[ALICE] = 2  # committed after the first probe started, before the next ask
        second = stamps.ask(probes)
        await asyncio.sleep(0.01)
        stamps.gate.set()
        return await first, await second

    assert _run(go()) == (1, 2)
    assert stamps.started == [ALICE, ALICE]
    assert probes.joined == 0


def test_users_and_probes_do_not_share() -> None:
    stamps, other, probes = Stamps(), Stamps(), SharedProbes()
    other.value[ALICE] = 40

    async def go() -> list[Hashable]:
        return await asyncio.gather(
            probes.read(stamps.probe, ALICE, stamps.connect),
            probes.read(stamps.probe, BOB, stamps.connect),
            probes.read(other.probe, ALICE, other.connect),
            probes.read(stamps.probe, ALICE, stamps.connect),
        )

    assert _run(go()) == [1, 7, 40, 1]
    assert sorted(map(str, stamps.started)) == sorted(map(str, [ALICE, BOB]))
    assert other.started == [ALICE]
    assert probes.joined == 1


def test_a_failed_probe_raises_for_its_request_and_tells_the_others_nothing() -> None:
    stamps, probes = Stamps(), SharedProbes()
    stamps.fail = True

    async def go() -> list[Any]:
        return await asyncio.gather(
            *(probes.read(stamps.probe, ALICE, stamps.connect) for _ in range(3)),
            return_exceptions=True,
        )

    first, *others = _run(go())
    assert isinstance(first, OSError)
    assert others == [UNKNOWN, UNKNOWN]
    stamps.fail = False  # nothing of the failed probe is left to join
    assert _run(probes.read(stamps.probe, ALICE, stamps.connect)) == 1
    assert stamps.started == [ALICE, ALICE]


@pytest.mark.parametrize("where", ["before its connection", "during its probe"])
def test_a_cancelled_first_request_leaves_the_others_to_the_route(where: str) -> None:
    stamps, probes = Stamps(), SharedProbes()
    gate = asyncio.Event() if where == "before its connection" else None

    async def connect() -> Any:
        if gate is not None:
            await gate.wait()
        return await stamps.connect()

    async def go() -> tuple[Hashable, Hashable]:
        if gate is None:
            stamps.gate = asyncio.Event()
        first = asyncio.create_task(probes.read(stamps.probe, ALICE, connect))
        joined = asyncio.create_task(probes.read(stamps.probe, ALICE, connect))
        await asyncio.sleep(0.01)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        told = await asyncio.wait_for(joined, 1)
        if stamps.gate is not None:
            stamps.gate.set()
        again = await asyncio.wait_for(probes.read(stamps.probe, ALICE, stamps.connect), 1)
        return told, again

    assert _run(go()) == (UNKNOWN, 1)
    assert probes.joined == 1


def test_a_cancelled_joined_request_leaves_the_others_waiting() -> None:
    stamps, probes = Stamps(), SharedProbes()

    async def go() -> tuple[Hashable, Hashable]:
        stamps.gate = asyncio.Event()
        first, leaving, staying = (stamps.ask(probes) for _ in range(3))
        await stamps.first_started()
        leaving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leaving
        stamps.gate.set()
        return await first, await staying

    assert _run(go()) == (1, 1)
    assert probes.joined == 2


# -- through the app: kept reads of one user that arrive together -------------------------------


async def _ask(app: Any, path: str, token: str) -> tuple[int, bytes]:
    """One GET straight into the ASGI app (no client in between, so requests started together
    reach their probe in the same turn of the loop)."""
    raw, _, query = path.partition("?")
    scope = {
        "type": "http",
        "method": "GET",
        "path": raw,
        "raw_path": raw.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 5000),
        "server": ("test", 80),
        "scheme": "http",
        "http_version": "1.1",
    }
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        else:
            answer["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return answer["status"], answer["body"]


def test_reads_that_arrive_together_share_a_probe_and_see_every_change_before_them(
    db: str, user: ApiUser
) -> None:
    settings = Settings(database_url=db, jwt_secret=TEST_JWT_SECRET, access_log=False)
    app = create_app(settings, db)
    notes = "/api/v1/notes?page=1&limit=100"

    async def together() -> set[tuple[int, bytes]]:
        return set(await asyncio.gather(*(_ask(app, notes, user.token) for _ in range(8))))

    async def go() -> None:
        await app.state.pool.open(wait=True)
        try:
            first = await _ask(app, notes, user.token)  # computed, kept, remembered
            assert first[0] == 200
            assert await together() == {first}
            assert app.state.answers.served_early == 8
            assert app.state.probes.joined == 7  # one probe for the eight
            async with await AsyncConnection.connect(db, autocommit=True) as writer:
                await writer.execute(
                    "INSERT INTO review_notes (user_id, title, content)"
                    " VALUES (%s, 'by hand', 'after the kept answer')",
                    (user.id,),
                )
            changed = await together()
            assert len(changed) == 1 and b"after the kept answer" in next(iter(changed))[1]
            assert app.state.answers.served_early == 8  # the stamp moved: all went to the route
        finally:
            await app.state.pool.close()

    asyncio.run(go())
