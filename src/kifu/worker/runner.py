"""Run procrastinate workers for ``kifu worker``.

Any number of workers may run against one database: jobs are fetched with row locks, and each
periodic schedule is deferred once per tick across all of them (procrastinate records every
(task, periodic id, tick) in ``procrastinate_periodic_defers`` under a unique constraint, and the
tasks' queueing locks keep a second copy out of the queue).
"""

from __future__ import annotations

import logging
import time

from procrastinate import exceptions

from kifu.worker.queue import RUN_AT_START, connected, queue

log = logging.getLogger("kifu.worker")


async def defer_startup_jobs() -> list[str]:
    """Defer each ``run_at_start`` periodic task once; the names deferred (a task whose
    queueing lock is already held by a waiting job is skipped)."""
    queue.perform_import_paths()
    deferred = []
    now = int(time.time())
    for name in sorted(RUN_AT_START):
        try:
            await queue.tasks[name].defer_async(timestamp=now)
        except exceptions.AlreadyEnqueued:
            continue
        deferred.append(name)
    return deferred


async def run(
    conninfo: str,
    *,
    concurrency: int = 4,
    burst: bool = False,
    name: str | None = None,
    install_signal_handlers: bool = True,
) -> None:
    """Work until stopped (SIGINT/SIGTERM), or with ``burst`` until the queue is empty."""
    async with connected(conninfo) as app:
        started = await defer_startup_jobs()
        if started:
            log.info("deferred at start: %s", ", ".join(started))
        await app.run_worker_async(
            concurrency=concurrency,
            wait=not burst,
            name=name,
            additional_context={"conninfo": conninfo},
            install_signal_handlers=install_signal_handlers,
        )
