"""The ``kifu`` command: ``serve``, ``db upgrade|status``, ``demo`` and the capabilities' own."""

from __future__ import annotations

import logging
import os
import signal
import sys

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from kifu import runtime
from kifu.accounts import cli as accounts_cli
from kifu.config import get_settings
from kifu.db import runner
from kifu.db.embedded import EmbeddedError
from kifu.demo import cli as demo_cli
from kifu.exchanges import cli as exchanges_cli
from kifu.ingest import cli as ingest_cli
from kifu.packs import cli as packs_cli
from kifu.worker import cli as worker_cli

app = typer.Typer(no_args_is_help=True, add_completion=False, help="kifu trading journal")
db_app = typer.Typer(no_args_is_help=True, help="Database schema: upgrade and status.")
app.add_typer(db_app, name="db")
app.add_typer(accounts_cli.app, name="user")
app.add_typer(packs_cli.app, name="pack")
app.add_typer(exchanges_cli.app, name="keys")
app.command("worker")(worker_cli.worker)
app.command("import")(ingest_cli.import_file)
app.command("demo")(demo_cli.demo)

console = Console(stderr=True)
out = Console()


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code=1)


def _unreachable(exc: psycopg.OperationalError) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"cannot connect to the database ({first}); check DATABASE_URL"


def _print_upgrade(result: runner.UpgradeResult) -> None:
    if result.adopted:
        out.print(f"adopted {len(result.adopted)} file(s) already applied by hand:")
        for name in result.adopted:
            out.print(f"  adopted  {name}")
    for name in result.applied:
        out.print(f"  applied  {name}")
    for name in result.repeatables:
        out.print(f"  applied  repeatable/{name}")
    if not result.adopted and not result.applied and not result.repeatables:
        out.print("database is up to date; nothing to apply")
    else:
        out.print(
            f"done: {len(result.adopted)} adopted, {len(result.applied)} applied,"
            f" {len(result.repeatables)} repeatable(s) applied"
        )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (adopting a database that was migrated by hand)."""
    settings = get_settings()
    try:
        with runtime.database(settings) as conninfo:
            result = runner.upgrade(conninfo)
    except (runner.MigrationError, EmbeddedError) as exc:
        _fail(str(exc))
    except psycopg.OperationalError as exc:
        _fail(_unreachable(exc))
    _print_upgrade(result)


@db_app.command("status")
def db_status() -> None:
    """List applied, adopted, pending and changed migration and repeatable files."""
    settings = get_settings()
    try:
        with runtime.database(settings) as conninfo:
            rows = runner.status(conninfo)
    except EmbeddedError as exc:
        _fail(str(exc))
    except psycopg.OperationalError as exc:
        _fail(_unreachable(exc))
    table = Table("file", "state", "applied at")
    for row in rows:
        at = row.applied_at.isoformat(timespec="seconds") if row.applied_at else ""
        name = f"repeatable/{row.filename}" if row.repeatable else row.filename
        table.add_row(name, row.state, at)
    out.print(table)
    if any(r.repeatable and r.state in ("changed", "pending") for r in rows):
        out.print("repeatable files marked changed or pending are applied by the next upgrade")
    # A changed migration is refused by the upgrade; a changed repeatable is just re-applied.
    if any(r.state == "changed" and not r.repeatable for r in rows):
        raise typer.Exit(code=1)


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


@app.command()
def serve(
    host: str = typer.Option(None, help="Address to listen on (default KIFU_HOST or 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default PORT or 8080)."),
    workers: int = typer.Option(
        None, min=1, help="API processes (default KIFU_WORKERS or 1); they share nothing."
    ),
) -> None:
    """Run the API: start the embedded database if needed, upgrade it, serve until stopped."""
    import uvicorn

    settings = get_settings()
    # uvicorn shuts down on SIGTERM and then re-raises it; by default that would kill the process
    # before the embedded PostgreSQL is stopped. Turn it into a normal exit so cleanup runs.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        settings = runtime.with_secrets(settings)
        with runtime.database(settings, api_port=port) as conninfo:
            result = runner.upgrade(conninfo)
            if result.adopted or result.applied or result.repeatables:
                _print_upgrade(result)
            n = workers or settings.workers
            where = (
                "embedded PostgreSQL in " + str(settings.home)
                if settings.embedded
                else "DATABASE_URL"
            )
            console.print(
                f"kifu serving on http://{host or settings.host}:{port or settings.port}"
                f" ({where}, {n} process{'es' if n > 1 else ''})"
            )
            # Each process (uvicorn starts them afresh, so nothing is shared in memory) builds its
            # own app and pool from the environment: the database this process resolved and the
            # secrets, embedded or given.
            os.environ.update(
                DATABASE_URL=conninfo,
                JWT_SECRET=str(settings.jwt_secret),
                KIFU_ENC_KEY=str(settings.enc_key),
            )
            get_settings.cache_clear()
            uvicorn.run(
                "kifu.app:create_app_from_env",
                factory=True,
                workers=n,
                host=host or settings.host,
                port=port or settings.port,
                log_level="info",
                access_log=False,  # kifu writes its own (kit.accesslog, KIFU_ACCESS_LOG)
            )
    except (runtime.ConfigError, runner.MigrationError, EmbeddedError) as exc:
        _fail(str(exc))
    except psycopg.OperationalError as exc:
        _fail(_unreachable(exc))


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
