"""The one job queue every capability registers its tasks on.

A capability defines its jobs in its own ``tasks.py`` with ``@queue.task(...)`` (and
``@queue.periodic(cron=...)`` for schedules) and lists that module in ``TASK_MODULES``, so that
``kifu worker`` imports it. The connector is bound at start-up with ``bind(conninfo)``; nothing
here opens a connection at import time.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import procrastinate
import procrastinate.tasks

# Modules whose import registers tasks; each capability adds its ``tasks`` module here.
TASK_MODULES: list[str] = ["kifu.accounts.tasks", "kifu.journal.tasks", "kifu.exchanges.tasks"]

queue = procrastinate.App(
    connector=procrastinate.PsycopgConnector(),
    import_paths=TASK_MODULES,
)


def bind(conninfo: str) -> procrastinate.App:
    """The queue connected to ``conninfo`` (open it with ``async with app.open_async()``)."""
    return queue.with_connector(procrastinate.PsycopgConnector(conninfo=conninfo))


# Names of periodic tasks that `kifu worker` also defers once when it starts, so a schedule missed
# while no worker ran (procrastinate skips ticks older than 10 minutes) is caught up at once.
# Only for idempotent jobs; add with ``@run_at_start`` above ``@queue.periodic``.
RUN_AT_START: set[str] = set()


def run_at_start(task: procrastinate.tasks.Task) -> procrastinate.tasks.Task:
    RUN_AT_START.add(task.name)
    return task


@contextlib.asynccontextmanager
async def connected(conninfo: str) -> AsyncIterator[procrastinate.App]:
    """``queue`` itself, connected to ``conninfo`` and open, for the duration of the block.

    Unlike ``bind``, which builds a second App, this swaps the connector of the one App the
    tasks belong to: periodic deferral and ``task.defer_async`` go through the task's own App,
    so with ``bind`` they would use the unconnected default connector.
    """
    connector = procrastinate.PsycopgConnector(conninfo=conninfo)
    with queue.replace_connector(connector) as app:
        async with app.open_async():
            yield app
