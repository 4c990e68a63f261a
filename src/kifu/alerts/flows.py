"""Alert orchestration: evaluate → brief → notify (the one place alerts span capabilities).

One monitor tick (``monitor_tick``):

1. **evaluate** (``monitor.evaluate_rules``): due rules against ``kifu.market``; a trigger writes
   a ``pending`` alert exactly once;
2. **expire**: ``pending``/``briefed`` alerts older than 24 h become ``expired``;
3. **brief, then notify** (``advance_pending``): each pending alert is leased (so one worker
   handles it), the **briefing step** runs, then in one transaction the alert goes ``pending →
   briefed`` (once, guarded on its status), its briefings are stored and its notification (the
   trigger, the price, the user's position, the first briefing) is written to the notify outbox
   (``notify.service.notify_user``, one message per alert and channel); the delivery job sends
   it.

The briefing step is a seam: ``Briefer`` is any async callable returning the briefings (and an
error text when providers failed: the alert still moves to ``briefed`` with the error kept in
``alerts.brief_error``). The worker uses ``briefing.brief`` (the AI providers, ``tasks.BRIEFER``);
``no_briefing`` (the default here) notifies with the trigger reason alone.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from psycopg import AsyncConnection

from kifu.alerts import monitor, store
from kifu.alerts.monitor import MonitorRun
from kifu.config import Settings
from kifu.kit.money import dec_str
from kifu.kit.timeutil import utc_now
from kifu.market import MarketData
from kifu.notify import service as notify
from kifu.notify.rules import Message

log = logging.getLogger("kifu.alerts.flows")

BRIEF_LEASE = timedelta(minutes=5)  # far longer than one briefing (providers time out first)
BRIEF_BUDGET = 25.0  # seconds of briefing per tick


@dataclass(frozen=True)
class Briefing:
    provider: str
    model: str
    prompt: str
    response: str
    tokens_used: int | None = None


@dataclass(frozen=True)
class BriefingResult:
    briefings: list[Briefing] = field(default_factory=list)
    error: str | None = None  # providers that failed, kept on the alert
    position: str | None = None  # the user's position line, shown in the notification


# The seam: (conn, settings, alert) → briefings. Must not raise for provider failures (return
# them in ``error``); an exception is recorded the same way.
Briefer = Callable[[AsyncConnection, Settings, store.AlertRow], Awaitable[BriefingResult]]


async def no_briefing(
    conn: AsyncConnection, settings: Settings, alert: store.AlertRow
) -> BriefingResult:
    """The briefing step until AI providers are wired in: nothing to add."""
    return BriefingResult()


def alert_message(
    settings: Settings,
    alert: store.AlertRow,
    briefings: list[Briefing],
    position: str | None = None,
) -> Message:
    """The notification of an alert (reference §4.10): the trigger reason as title, the price,
    the user's position and the first briefing as body, a link to the alert in the web client."""
    body = f"현재: ${dec_str(alert.trigger_price)}"
    if position:
        body += f"\n포지션: {position}"
    if briefings:
        body += "\n\n" + briefings[0].response.strip()
    return Message(
        title=alert.trigger_reason,
        body=body,
        severity=alert.severity,
        link=f"{settings.app_base_url.rstrip('/')}/alerts/{alert.id}",
        event="alert",
        data={
            "alert_id": str(alert.id),
            "rule_id": str(alert.rule_id),
            "symbol": alert.symbol,
            "trigger_price": dec_str(alert.trigger_price),
            "severity": alert.severity,
        },
    )


async def _finish(
    conn: AsyncConnection,
    settings: Settings,
    alert: store.AlertRow,
    result: BriefingResult,
    now: datetime,
) -> list[uuid.UUID] | None:
    """pending → briefed with the briefings, and the notification queued, in one transaction;
    None when another worker (or the user) moved the alert first."""
    async with conn.transaction():
        if not await store.mark_briefed(conn, alert.id, result.error):
            return None
        for b in result.briefings:
            await store.insert_briefing(
                conn, alert.id, b.provider, b.model, b.prompt, b.response, b.tokens_used
            )
        queued = await notify.notify_user(
            conn,
            settings,
            alert.user_id,
            alert_message(settings, alert, result.briefings, result.position),
            dedupe_key=f"alert:{alert.id}",
        )
        if queued:
            await store.mark_notified(conn, alert.id, now)
    return queued


async def advance_pending(
    conn: AsyncConnection,
    settings: Settings,
    now: datetime,
    run: MonitorRun,
    briefer: Briefer = no_briefing,
    budget: float = BRIEF_BUDGET,
) -> None:
    """Brief and notify the pending alerts (counted in ``run.briefed``, the outbox ids queued in
    ``run.queued``). Alerts are leased one at a time, just before their briefing, so a lease
    never runs out while earlier briefings wait on providers; after ``budget`` seconds the rest
    wait for the next tick (so slow providers never hold up the next evaluation for long)."""
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        claimed = await store.claim_pending(conn, now, now + BRIEF_LEASE, 1)
        if not claimed:
            return
        alert = claimed[0]
        try:
            result = await briefer(conn, settings, alert)
        except Exception as exc:  # a briefing failure must not hold the alert back
            log.exception("briefing of alert %s failed", alert.id)
            result = BriefingResult(error=f"briefing failed: {exc.__class__.__name__}")
        queued = await _finish(conn, settings, alert, result, now)
        if queued is not None:
            run.briefed += 1
            run.queued.extend(queued)


async def monitor_tick(
    conn: AsyncConnection,
    market: MarketData,
    settings: Settings,
    now: datetime | None = None,
    briefer: Briefer = no_briefing,
    budget: float = BRIEF_BUDGET,
) -> MonitorRun:
    """One tick of the alert monitor (``conn`` in autocommit mode)."""
    now = now or utc_now()
    run = MonitorRun()
    await monitor.evaluate_rules(conn, market, now, run)
    await monitor.expire_old(conn, now, run)
    await advance_pending(conn, settings, now, run, briefer, budget)
    return run
