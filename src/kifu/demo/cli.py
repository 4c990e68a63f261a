"""``kifu demo``: a sandbox journal to explore on a fresh install."""

from __future__ import annotations

import asyncio
import secrets
import sys
from datetime import date

import psycopg
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from kifu import runtime
from kifu.accounts.rules import is_well_formed_email, normalize_email
from kifu.accounts.schemas import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from kifu.config import get_settings
from kifu.db import runner
from kifu.db.embedded import EmbeddedError
from kifu.demo import simulation
from kifu.kit.errors import DomainError

err = Console(stderr=True)
out = Console()


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code=1)


def demo(
    days: int = typer.Option(
        simulation.DEFAULT_DAYS, min=1, max=simulation.MAX_DAYS, help="Days of history to simulate."
    ),
    seed: int = typer.Option(None, min=0, help="Seed: the same seed gives the same journal."),
    email: str = typer.Option(simulation.DEFAULT_EMAIL, help="The sandbox user's email."),
    end_date: str = typer.Option(
        None, "--end-date", help="Last simulated day, YYYY-MM-DD (default today)."
    ),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input instead."
    ),
) -> None:
    """Create (or reset) a sandbox user with a simulated journal and print how to log in.

    Fills go through the real CSV import (Binance futures, Binance spot, Upbit KRW); outcomes and
    AI opinions are simulated and marked (provider and model "simulated"). Running it again with
    the same email resets that sandbox user only; a real account's email is refused."""
    email = normalize_email(email)
    if not is_well_formed_email(email):
        _fail(f"email: {email!r} is not a well-formed email address")
    end = None
    if end_date:
        try:
            end = date.fromisoformat(end_date)
        except ValueError:
            _fail("--end-date: expected YYYY-MM-DD")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
            _fail(f"password: must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")
    else:
        password = secrets.token_urlsafe(12)
    req = simulation.SimRequest(days=days, seed=seed, email=email, end_date=end, password=password)
    settings = get_settings()

    async def go(conninfo: str) -> simulation.SimResult:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            with Progress(
                TextColumn("{task.description:<32}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            ) as bar:
                task = bar.add_task("starting", total=simulation.work_units(req))

                def tick(what: str, n: int) -> None:
                    bar.update(task, description=what, advance=n)

                return await simulation.run(conn, settings, req, progress=tick)

    result: simulation.SimResult | None = None
    try:
        with runtime.database(settings) as conninfo:
            if settings.embedded:
                runner.upgrade(conninfo)
            result = asyncio.run(go(conninfo))
    except DomainError as exc:
        _fail(exc.detail)
    except (EmbeddedError, runner.MigrationError, psycopg.Error) as exc:
        _fail(str(exc).strip())
    assert result is not None
    t = result.totals
    out.print(
        f"demo journal for {result.email} ({result.start_date} to {result.end_date}, seed"
        f" {result.seed}){' — the previous demo user was reset' if result.reset_performed else ''}"
    )
    out.print(
        f"  {t.trade_events_created} fills imported, {t.bubbles_created} bubbles,"
        f" {t.ai_opinions_created} simulated AI opinions ({t.accuracy_rows} accuracy rows),"
        f" {t.review_days_complete}/{result.days} days reviewed, streak"
        f" {result.streak['current']} (longest {result.streak['longest']})"
    )
    out.print("log in (the KIFU web client, or POST /api/v1/auth/login):")
    out.print(f"  email:    {result.email}")
    if password_stdin:
        out.print("  password: the one you gave on standard input")
    else:
        out.print(f"  password: {password}   (shown once, not stored: keep it)")
