"""``kifu user …``: the operator's account administration (the reference needed raw SQL)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from kifu import runtime
from kifu.accounts import service, store
from kifu.accounts.rules import TIERS, is_well_formed_email, normalize_email
from kifu.accounts.schemas import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from kifu.config import get_settings
from kifu.db import runner
from kifu.db.embedded import EmbeddedError
from kifu.kit.errors import DomainError
from kifu.kit.timeutil import parse_instant, rfc3339

app = typer.Typer(
    no_args_is_help=True, help="User accounts: create, list, allowlist, admin, tier, sessions."
)
err = Console(stderr=True)
out = Console()

T = TypeVar("T")


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code=1)


def _run(work: Callable[[psycopg.AsyncConnection], Awaitable[T]]) -> T:
    """Run ``work`` on a connection to the configured database (embedded: started, upgraded)."""
    settings = get_settings()

    async def go(conninfo: str) -> T:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            return await work(conn)

    try:
        with runtime.database(settings) as conninfo:
            if settings.embedded:
                runner.upgrade(conninfo)
            return asyncio.run(go(conninfo))
    except DomainError as exc:
        _fail(exc.detail)
    except (EmbeddedError, runner.MigrationError, psycopg.Error) as exc:
        _fail(str(exc).strip())
    raise AssertionError("unreachable")


@app.command("create")
def create(
    email: str = typer.Argument(..., help="Email address (stored lower-case)."),
    name: str = typer.Option(..., "--name", help="Display name."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input (for scripts)."
    ),
    tier: str = typer.Option("free", "--tier", help=f"One of {', '.join(TIERS)}."),
    allowlist: bool = typer.Option(False, "--allowlist", help="Allow AI features."),
) -> None:
    """Create a user with a subscription; the password is prompted for unless piped."""
    email = normalize_email(email)
    if not is_well_formed_email(email):
        _fail(f"email: {email!r} is not a well-formed email address")
    if not name.strip():
        _fail("name: must not be empty")
    if tier not in TIERS:
        _fail(f"tier: {tier!r} is not one of {', '.join(TIERS)}")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        _fail(f"password: must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")

    user_id = _run(
        lambda conn: service.register(
            conn, email, password, name.strip(), tier=tier, allowlisted=allowlist
        )
    )
    out.print(f"created {email} ({user_id}), tier {tier}{', allowlisted' if allowlist else ''}")


@app.command("list")
def list_users(
    limit: int = typer.Option(50, min=1, max=500, help="Rows to show (at most 500)."),
    offset: int = typer.Option(0, min=0, help="Rows to skip."),
) -> None:
    """List users with their tier and remaining AI credits, oldest first."""
    rows = _run(lambda conn: store.list_users(conn, limit=limit, offset=offset))
    table = Table()
    for column in ("id", "email", "name", "allowlisted", "tier", "ai credits", "created"):
        table.add_column(column, overflow="fold")  # wrap, never cut, in narrow terminals
    for r in rows:
        credits = "" if r.ai_quota_limit is None else f"{r.ai_quota_remaining}/{r.ai_quota_limit}"
        table.add_row(
            str(r.id),
            r.email,
            r.name,
            "yes" if r.ai_allowlisted else "no",
            r.tier or "-",
            credits,
            rfc3339(r.created_at.replace(microsecond=0)) or "",
        )
    out.print(table)


@app.command("allowlist")
def allowlist(
    user: str = typer.Argument(..., help="User id or email."),
    off: bool = typer.Option(False, "--off", help="Remove from the allowlist instead."),
) -> None:
    """Put a user on the AI allowlist (or take them off with --off)."""

    async def work(conn: psycopg.AsyncConnection) -> str:
        found = await service.find_user(conn, user)
        await service.set_allowlisted(conn, found.id, not off)
        return found.email

    email = _run(work)
    out.print(f"{email}: {'removed from' if off else 'added to'} the AI allowlist")


@app.command("admin")
def admin(
    user: str = typer.Argument(..., help="User id or email."),
    off: bool = typer.Option(False, "--off", help="Revoke the admin role instead."),
) -> None:
    """Grant the admin role (admin routes, e.g. the simulation report); --off revokes it."""

    async def work(conn: psycopg.AsyncConnection) -> str:
        found = await service.find_user(conn, user)
        await service.set_admin(conn, found.id, not off)
        return found.email

    email = _run(work)
    out.print(f"{email}: admin role {'revoked' if off else 'granted'}")


@app.command("tier")
def tier(
    user: str = typer.Argument(..., help="User id or email."),
    new_tier: str = typer.Argument(..., metavar="TIER", help=f"One of {', '.join(TIERS)}."),
    expires: str = typer.Option(
        None, "--expires", help="When a paid tier ends (RFC 3339, e.g. 2026-12-31T00:00:00Z)."
    ),
) -> None:
    """Change a user's tier; this month's used credits stay used."""
    if new_tier not in TIERS:
        _fail(f"tier: {new_tier!r} is not one of {', '.join(TIERS)}")
    expires_at = None
    if expires:
        try:
            expires_at = parse_instant(expires, "--expires")
        except DomainError as exc:
            _fail(exc.detail)

    async def work(conn: psycopg.AsyncConnection) -> tuple[str, store.SubscriptionRow]:
        found = await service.find_user(conn, user)
        return found.email, await service.change_tier(
            conn, found.id, new_tier, expires_at=expires_at
        )

    email, sub = _run(work)
    until = f", until {rfc3339(sub.expires_at)}" if sub.expires_at else ""
    out.print(
        f"{email}: tier {sub.tier}, {sub.ai_quota_remaining}/{sub.ai_quota_limit} AI credits{until}"
    )


@app.command("revoke-sessions")
def revoke_sessions(user: str = typer.Argument(..., help="User id or email.")) -> None:
    """Sign a user out everywhere: revoke every refresh token (access tokens lapse in 15 min)."""

    async def work(conn: psycopg.AsyncConnection) -> tuple[str, int]:
        found = await service.find_user(conn, user)
        return found.email, await service.revoke_sessions(conn, found.id)

    email, count = _run(work)
    out.print(f"{email}: {count} session(s) revoked")
