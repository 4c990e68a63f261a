"""AI briefings of alerts: the ``Briefer`` the monitor uses (``tasks.BRIEFER``).

For one pending alert: the user's open position in the alert's pair (the ledger's FIFO books
through ``kifu.ledger.queries``, across venues and accounts), the latest 50 × 1h candles (through
``kifu.market``), the §4.10 prompt (``rules.briefing_prompt``), then every enabled provider the
user can be answered by (personal key, service key or the operator's local server: the
reference's choice) asked concurrently through ``kifu.ai.service.complete_each``, which pays
each service-key call with one credit of the user's AI quota exactly as the AI endpoints do
(none for personal keys, credits of failed calls given back, the monthly cap and, for service
keys, the allowlist applied). Failures — a provider down, the quota used up, no candles — are
returned as the alert's error, never raised: the alert still moves to ``briefed``.
"""

from __future__ import annotations

import logging

from psycopg import AsyncConnection

from kifu.ai import service as ai
from kifu.ai.providers import Limits
from kifu.alerts import rules, store
from kifu.alerts.flows import Briefing, BriefingResult
from kifu.config import Settings
from kifu.ledger import queries as ledger
from kifu.market import MarketError, open_market

log = logging.getLogger("kifu.alerts.briefing")


def answer_limits(settings: Settings) -> Limits:
    """The reference's briefing calls: temperature 0.3 and room for 512 output tokens (the five
    requested parts do not fit in AI review's 260); the configured timeout."""
    return Limits(timeout=settings.ai_timeout_seconds, temperature=0.3, max_output_tokens=512)


async def position_of(conn: AsyncConnection, alert: store.AlertRow) -> str:
    """The position line of the alert's owner in its pair (``없음`` when nothing is open)."""
    held = await ledger.open_positions_of_pair(
        conn, alert.user_id, rules.chart_symbol(alert.symbol)
    )
    return rules.position_line(
        [rules.Holding(p.venue, p.quote_asset, p.size, p.avg_entry) for p in held]
    )


async def candles_of(
    conn: AsyncConnection, settings: Settings, alert: store.AlertRow
) -> list[rules.PromptCandle]:
    """The latest 1h candles up to the trigger (the last one forming); [] when the market
    cannot say (the prompt then says data is missing)."""
    try:
        async with open_market(settings) as market:
            got = await market.klines(
                conn,
                alert.symbol,
                rules.BRIEF_INTERVAL,
                rules.BRIEF_CANDLES,
                end_time=alert.created_at,
            )
    except MarketError as exc:
        log.info("no candles for the briefing of %s: %s", alert.symbol, exc.message)
        return []
    return [
        rules.PromptCandle(c.open_time, c.open, c.high, c.low, c.close, c.volume)
        for c in got
        if c.open_time <= alert.created_at
    ][-rules.BRIEF_CANDLES :]


async def brief(conn: AsyncConnection, settings: Settings, alert: store.AlertRow) -> BriefingResult:
    """Brief one alert with the AI providers (a ``flows.Briefer``)."""
    position = await position_of(conn, alert)
    names = await ai.available(conn, alert.user_id, settings)
    if not names:  # no AI configured for this user: notified with the trigger and position
        return BriefingResult(position=position)
    prompt = rules.briefing_prompt(
        symbol=alert.symbol,
        rule_name=await store.rule_name(conn, alert.rule_id),
        trigger_reason=alert.trigger_reason,
        trigger_price=alert.trigger_price,
        triggered_at=alert.created_at,
        position=position,
        candles=await candles_of(conn, settings, alert),
    )
    # Service-key briefings are allowlisted like every other service-key AI call (the
    # reference let any user spend the operator's keys through alerts, §7.2 #15); a personal
    # key is never gated.
    results = await ai.complete_each(
        conn,
        alert.user_id,
        names,
        prompt,
        settings=settings,
        allowlist=True,
        answer_limits=answer_limits(settings),
    )
    briefings: list[Briefing] = []
    errors: list[str] = []
    for r in results:
        if isinstance(r, ai.Answer):
            briefings.append(Briefing(r.provider, r.model, prompt, r.text, r.tokens_used))
        else:
            errors.append(f"{r.provider}: {r.code}: {r.message}")
    return BriefingResult(briefings, error="; ".join(errors) or None, position=position)
