"""``kifu worker``: run the background jobs."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from kifu import runtime
from kifu.config import get_settings
from kifu.db import runner
from kifu.db.embedded import EmbeddedError
from kifu.worker import runner as worker_runner

console = Console(stderr=True)


def worker(
    concurrency: int = typer.Option(4, min=1, max=64, help="Jobs run at the same time."),
    burst: bool = typer.Option(
        False, "--burst", help="Run the queued (and start-up) jobs, then exit."
    ),
    name: str = typer.Option(None, help="Worker name shown in logs and the queue's tables."),
) -> None:
    """Run the background jobs and their schedules until stopped.

    Start as many workers as you like: each periodic job still runs once per period."""
    settings = get_settings()
    try:
        settings = runtime.with_secrets(settings)
        with runtime.database(settings) as conninfo:
            runner.upgrade(conninfo)
            where = (
                f"embedded PostgreSQL in {settings.home}" if settings.embedded else "DATABASE_URL"
            )
            console.print(f"kifu worker running ({where}, concurrency {concurrency})")
            asyncio.run(
                worker_runner.run(conninfo, concurrency=concurrency, burst=burst, name=name)
            )
    except (runtime.ConfigError, runner.MigrationError, EmbeddedError) as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(code=1) from exc
