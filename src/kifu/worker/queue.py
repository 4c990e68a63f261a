"""The one job queue every capability registers its tasks on.

A capability defines its jobs in its own ``tasks.py`` with ``@queue.task(...)`` (and
``@queue.periodic(cron=...)`` for schedules) and lists that module in ``TASK_MODULES``, so that
``kifu worker`` imports it. The connector is bound at start-up with ``bind(conninfo)``; nothing
here opens a connection at import time.
"""

from __future__ import annotations

import procrastinate

# Modules whose import registers tasks; each capability adds its ``tasks`` module here.
TASK_MODULES: list[str] = []

queue = procrastinate.App(
    connector=procrastinate.PsycopgConnector(),
    import_paths=TASK_MODULES,
)


def bind(conninfo: str) -> procrastinate.App:
    """The queue connected to ``conninfo`` (open it with ``async with app.open_async()``)."""
    return queue.with_connector(procrastinate.PsycopgConnector(conninfo=conninfo))
