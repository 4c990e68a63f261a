"""``kifu pack generate --user EMAIL --range 30d``: build a pack and print it as tables."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from kifu import runtime
from kifu.accounts import service as accounts
from kifu.config import get_settings
from kifu.db import runner
from kifu.db.embedded import EmbeddedError
from kifu.kit.errors import DomainError
from kifu.packs import service

app = typer.Typer(no_args_is_help=True, help="Summary packs: generate and print.")
err = Console(stderr=True)
out = Console()


@app.callback()
def _group() -> None:
    """Summary packs: generate and print."""


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code=1)


def render(pack: dict[str, Any], created: bool, console: Console) -> None:
    p = pack["payload"]
    tr = p["time_range"]
    head = Table(title="summary pack", show_header=False)
    head.add_column("field")
    head.add_column("value")
    head.add_row("pack_id", str(pack["pack_id"]) + ("" if created else "  (existing, unchanged)"))
    head.add_row("source run", f"{pack['source_run_id']} ({p['data_sources']['run_type']})")
    head.add_row("range", f"{tr['range']}  {tr['start_ts'] or '(start)'} → {tr['end_ts']}")
    head.add_row("time zone", tr["timezone"])
    head.add_row("status", pack["reconciliation_status"].upper())
    head.add_row("content_hash", pack["content_hash"])
    act = p["activity_summary"]
    head.add_row(
        "trades",
        f"{act['trade_count']} (buy {act['buy_count']} / sell {act['sell_count']}, "
        f"long/short {act['long_short_ratio'] or '-'})",
    )
    console.print(head)

    money = Table(title="per currency")
    for col in ("currency", "realized PnL", "max drawdown", "notional", "fees", "funding"):
        money.add_column(col, justify="right" if col != "currency" else "left")
    pnl = p["pnl_summary"]
    currencies = sorted(
        set(pnl["realized_pnl_by_currency"])
        | set(pnl["fees_by_currency"])
        | set(pnl["funding_by_currency"])
    )
    for c in currencies:
        money.add_row(
            c,
            pnl["realized_pnl_by_currency"].get(c, "-"),
            act["max_drawdown_by_currency"].get(c, "-"),
            act["notional_volume_by_currency"].get(c, "-"),
            pnl["fees_by_currency"].get(c, "-"),
            pnl["funding_by_currency"].get(c, "-"),
        )
    console.print(money)

    rec = p["reconciliation"]
    sus = Table(
        title=f"suspects: missing {rec['missing_suspects_count']}, duplicate "
        f"{rec['duplicate_suspects_count']}, time {rec['time_suspects_count']}"
    )
    for col in ("kind", "severity", "venue", "symbol", "evidence"):
        sus.add_column(col)
    for s in rec["suspects"]:
        ev = ", ".join(f"{k}={v}" for k, v in s["evidence"].items() if k != "compared")
        sus.add_row(s["kind"], s["severity"], s["venue"] or "", s["symbol"] or "", ev)
    for d in rec["normalization_details"]:
        sus.add_row(
            d["code"], "warning", "", "", f"{d['row_count']} rows: {', '.join(d['event_ids'])}"
        )
    console.print(sus)


@app.command("generate")
def generate(
    user: str = typer.Option(..., "--user", help="The user's email address (or id)."),
    range_: str = typer.Option("30d", "--range", help="7d, 30d or all."),
    tz: str = typer.Option(None, "--tz", help="IANA time zone (default KIFU_DEFAULT_TZ)."),
    run: str = typer.Option(
        None, "--run", help="Source run id (default: the newest completed sync/import run)."
    ),
) -> None:
    """Generate (or find the unchanged) summary pack and print it."""
    settings = get_settings()
    run_id = None
    if run:
        try:
            run_id = uuid.UUID(run)
        except ValueError:
            _fail(f"--run: {run!r} is not a valid id")

    async def go(conninfo: str) -> tuple[dict, bool]:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            owner = await accounts.find_user(conn, user.strip())  # NotFound, or ambiguous
            if run_id is None:
                pack, created, _ = await service.generate_latest(
                    conn, owner.id, range_, tz, settings.default_tz
                )
            else:
                pack, created = await service.generate(
                    conn, owner.id, run_id, range_, tz, settings.default_tz
                )
            return service.pack_entity(pack), created

    try:
        with runtime.database(settings) as conninfo:
            if settings.embedded:
                runner.upgrade(conninfo)
            pack, created = asyncio.run(go(conninfo))
    except DomainError as exc:
        _fail(exc.detail)
    except (EmbeddedError, runner.MigrationError, psycopg.Error) as exc:
        _fail(str(exc).strip())
    render(pack, created, out)
