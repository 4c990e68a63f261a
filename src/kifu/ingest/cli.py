"""``kifu import FILE --user EMAIL [--venue …]``: the unified import from the command line,
streamed with a progress bar, printing the same report as ``POST /imports/trades``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import psycopg
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Table

from kifu import runtime
from kifu.accounts import service as accounts
from kifu.config import get_settings
from kifu.db import runner
from kifu.db.embedded import EmbeddedError
from kifu.ingest import service
from kifu.kit.errors import DomainError

err = Console(stderr=True)
out = Console()


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code=1)


def render(report: dict[str, Any], console: Console) -> None:
    table = Table(title=f"import ({report['format']}, {report['venue']})", show_header=False)
    table.add_column("field")
    table.add_column("value", justify="right")
    for key in ("rows", "imported", "duplicates", "rejected", "skipped", "issue_count"):
        table.add_row(key, str(report[key]))
    table.add_row("positions refreshed", "yes" if report["positions_refreshed"] else "no")
    table.add_row("run_id", report["run_id"])
    console.print(table)
    for note in report["notes"]:
        console.print(f"note: {note}")
    if report["issues"]:
        issues = Table("row", "reason", title="issues")
        for issue in report["issues"]:
            issues.add_row(str(issue["row"]), issue["reason"])
        console.print(issues)
        if report["issues_truncated"]:
            console.print(f"(first {len(report['issues'])} of {report['issue_count']} shown)")


async def _run(conninfo: str, path: Path, email: str, req: service.UnifiedRequest) -> dict:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        owner = await accounts.find_user(conn, email)  # NotFound, or Conflict when ambiguous
        size = path.stat().st_size
        with (
            Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TimeRemainingColumn(),
                console=err,
                transient=True,
            ) as progress,
            path.open("rb") as fh,
        ):
            task = progress.add_task(f"importing {path.name}", total=size)
            return await service.import_unified(
                conn, owner.id, fh, req, on_bytes=lambda n: progress.advance(task, n)
            )


def import_file(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    user: str = typer.Option(..., "--user", help="Email (or id) of the user who owns the trades."),
    venue: str = typer.Option(None, help="Venue code (needed when the header is not an export)."),
    asset_class: str = typer.Option("crypto", help="crypto or stock."),
    account_label: str = typer.Option("default", help="Account label within the venue."),
    venue_type: str = typer.Option(None, help="cex, dex or broker (default by venue)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Import a trade CSV (Binance futures/spot, Upbit, or generic columns) for a user."""
    settings = get_settings()
    req = service.UnifiedRequest(
        venue=venue, asset_class=asset_class, account_label=account_label, venue_type=venue_type
    )
    try:
        with runtime.database(settings) as conninfo:
            runner.upgrade(conninfo)
            report = asyncio.run(_run(conninfo, file, user, req))
    except DomainError as exc:
        _fail(f"{exc.code}: {exc.detail}")
    except (runner.MigrationError, EmbeddedError, runtime.ConfigError) as exc:
        _fail(str(exc))
    except psycopg.OperationalError as exc:
        _fail(f"cannot connect to the database ({str(exc).strip()[:200]}); check DATABASE_URL")
    if as_json:
        out.print_json(json.dumps(report))
    else:
        render(report, out)
