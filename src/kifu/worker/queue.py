"""The one job queue every capability registers its tasks on.

A capability defines its jobs in its own ``tasks.py`` with ``@queue.task(...)`` (and
``@queue.periodic(cron=...)`` for schedules) and lists that module in ``TASK_MODULES``, so that
``kifu worker`` imports it. The connector is swapped in at start-up by ``connected(conninfo)``;
nothing here opens a connection at import time. A job gets its own database connection with
``job_connection(context)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import procrastinate
import procrastinate.tasks
import psycopg

# Modules whose import registers tasks; each capability adds its ``tasks`` module here.
TASK_MODULES: list[str] = [
    "kifu.accounts.tasks",
    "kifu.journal.tasks",
    "kifu.exchanges.tasks",
    "kifu.ai.tasks",
    "kifu.alerts.tasks",
    "kifu.notify.tasks",
]

queue = procrastinate.App(
    connector=procrastinate.PsycopgConnector(),
    import_paths=TASK_MODULES,
)


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

    It swaps the connector of the one App the tasks belong to (rather than building a second
    App with ``with_connector``): periodic deferral and ``task.defer_async`` go through the
    task's own App, which would otherwise keep the unconnected default connector.
    """
    connector = procrastinate.PsycopgConnector(conninfo=conninfo)
    with queue.replace_connector(connector) as app:
        async with app.open_async():
            yield app


async def job_connection(context: procrastinate.JobContext) -> psycopg.AsyncConnection:
    """An autocommit connection to the database the worker runs on (``kifu worker`` passes its
    conninfo to every job); use it as ``async with await job_connection(context) as conn``."""
    conninfo = (context.additional_context or {})["conninfo"]
    return await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
