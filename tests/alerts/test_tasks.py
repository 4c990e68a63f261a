"""The alert and notify jobs are on the queue with their schedules."""

from __future__ import annotations

from kifu.worker.queue import queue


def test_jobs_are_registered_with_schedules() -> None:
    queue.perform_import_paths()
    assert {"alerts.monitor", "alerts.compute_outcomes", "notify.deliver_outbox"} <= set(
        queue.tasks
    )
    crons = {pt.task.name: pt.cron for pt in queue.periodic_registry.periodic_tasks.values()}
    assert crons["alerts.monitor"] == "* * * * * */30"
    assert crons["alerts.compute_outcomes"] == "* * * * *"
    assert crons["notify.deliver_outbox"] == "* * * * * */30"
