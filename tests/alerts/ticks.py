"""Monitor ticks as workers run them: each with its own connection and market client."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import psycopg

from kifu.alerts import flows
from kifu.alerts.monitor import MonitorRun
from kifu.config import Settings
from kifu.market import MarketData, MarketUrls, MemoryCache, http_client


async def tick(
    db: str,
    settings: Settings,
    now: datetime | None = None,
    memory: MemoryCache | None = None,
    **kw: Any,
) -> MonitorRun:
    """One monitor tick with its own connection and market client (as one worker would)."""
    async with (
        http_client() as http,
        await psycopg.AsyncConnection.connect(db, autocommit=True) as conn,
    ):
        market = MarketData(MarketUrls.from_settings(settings), http, memory)
        return await flows.monitor_tick(conn, market, settings, now, **kw)


def run_ticks(db: str, settings: Settings, workers: int = 1, **kw: Any) -> list[MonitorRun]:
    """``workers`` ticks racing each other."""

    async def race() -> list[MonitorRun]:
        return list(await asyncio.gather(*(tick(db, settings, **kw) for _ in range(workers))))

    return asyncio.run(race())
