"""The evaluate step of the monitor: enabled rules against prices from ``kifu.market``.

Per tick: the rules out of cooldown are read and grouped by market (venue and venue symbol, so
``BTCKRW`` and ``KRW-BTC`` are one); each market is asked once for the current price (the
venue's ticker) and once per other series its rules need (reference closes, candles per
timeframe), whatever the number of rules. A market whose answer fails (rate limit, upstream
error, unlisted) is skipped for the tick: none of its rules fires and no stored state changes.

Each rule is then decided in its own short transaction that locks it with ``FOR UPDATE SKIP
LOCKED`` and re-reads its cooldown and check state: a rule another worker is deciding is skipped,
and one it has just fired is now in cooldown (at least a minute) with its new crossing state, so a
trigger fires exactly once on any number of workers. The alert, the rule's ``last_triggered_at``
and its state are written together.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from psycopg import AsyncConnection

from kifu.alerts import rules, store
from kifu.market import MarketData, MarketError
from kifu.market.rules import Unsupported, resolve

log = logging.getLogger("kifu.alerts.monitor")

MAX_RULES_PER_TICK = 10_000


@dataclass
class MonitorRun:
    rules: int = 0
    symbols: int = 0
    skipped_symbols: int = 0
    evaluated: int = 0
    triggered: list[uuid.UUID] = field(default_factory=list)
    expired: int = 0
    briefed: int = 0
    queued: list[uuid.UUID] = field(default_factory=list)  # notify outbox ids


@dataclass
class Snapshot:
    price: Decimal
    references: dict[datetime, Decimal | None]
    candles: dict[str, list[rules.CandleRange]]


async def _snapshot(
    conn: AsyncConnection,
    market: MarketData,
    symbol: str,
    group: list[store.RuleRow],
    now: datetime,
) -> Snapshot:
    price = await market.last_price(conn, symbol)
    minutes: set[datetime] = set()
    counts: dict[str, int] = {}
    for rule in group:
        need = rules.needs(rule.rule_type, rule.config, now)
        if need.reference_minute is not None:
            minutes.add(need.reference_minute)
        if need.candles is not None:
            interval, count = need.candles
            counts[interval] = max(counts.get(interval, 0), count)
    references: dict[datetime, Decimal | None] = {}
    if minutes:
        references = await market.minute_closes(conn, symbol, sorted(minutes))
    candles = {}
    for interval, count in sorted(counts.items()):
        got = await market.klines(conn, symbol, interval, count)
        candles[interval] = [rules.CandleRange(c.high, c.low, c.close) for c in got]
    return Snapshot(price, references, candles)


def _inputs(
    rule: store.RuleRow, snap: Snapshot, now: datetime
) -> tuple[Decimal | None, list[rules.CandleRange] | None, bool]:
    """(reference, candles, available) for one rule from the symbol's snapshot."""
    need = rules.needs(rule.rule_type, rule.config, now)
    reference = candles = None
    if need.reference_minute is not None:
        if need.reference_minute not in snap.references:
            return None, None, False
        reference = snap.references[need.reference_minute]
    if need.candles is not None:
        interval, count = need.candles
        got = snap.candles.get(interval)
        if got is None:
            return None, None, False
        candles = got[-count:]
    return reference, candles, True


def market_key(symbol: str) -> tuple[str, str] | None:
    """The venue and venue symbol that price ``symbol`` (BTCKRW and KRW-BTC are one market)."""
    try:
        source = resolve(symbol)
    except Unsupported:
        return None
    return source.venue, source.symbol


async def _decide(
    conn: AsyncConnection,
    rule_id: uuid.UUID,
    key: tuple[str, str],
    snap: Snapshot,
    now: datetime,
) -> tuple[bool, uuid.UUID | None]:
    """(evaluated, alert id when it fired) for one rule, under its row lock."""
    async with conn.transaction():
        rule = await store.lock_rule(conn, rule_id)
        if rule is None or market_key(rule.symbol) != key:
            return False, None
        if rules.in_cooldown(rule.last_triggered_at, rule.cooldown_minutes, now):
            return False, None
        reference, candles, available = _inputs(rule, snap, now)
        if not available:  # the rule changed since the snapshot: next tick
            return False, None
        result = rules.evaluate(
            rule.rule_type,
            rule.symbol,
            rule.config,
            rule.last_check_state,
            snap.price,
            reference=reference,
            candles=candles,
        )
        if result.triggered:
            alert_id = await store.record_trigger(
                conn, rule, now, snap.price, result.reason, result.severity, result.state
            )
            return True, alert_id
        if result.state is not None and result.state != rule.last_check_state:
            await store.save_state(conn, rule.id, result.state)
        return True, None


async def evaluate_rules(
    conn: AsyncConnection, market: MarketData, now: datetime, run: MonitorRun
) -> None:
    """Evaluate every due rule once; the alerts fired are appended to ``run.triggered``."""
    due = await store.due_rules(conn, now, MAX_RULES_PER_TICK)
    run.rules += len(due)
    by_market: dict[tuple[str, str], list[store.RuleRow]] = defaultdict(list)
    for rule in due:
        key = market_key(rule.symbol)
        if key is not None:  # symbols are checked when saved; a stored one is never unpriced
            by_market[key].append(rule)
    for key, group in sorted(by_market.items()):
        run.symbols += 1
        try:
            snap = await _snapshot(conn, market, group[0].symbol, group, now)
        except MarketError as exc:
            log.warning("alert monitor: %s skipped this tick: %s", key[1], exc.message)
            run.skipped_symbols += 1
            continue
        for rule in group:
            evaluated, alert_id = await _decide(conn, rule.id, key, snap, now)
            run.evaluated += int(evaluated)
            if alert_id is not None:
                run.triggered.append(alert_id)


async def expire_old(conn: AsyncConnection, now: datetime, run: MonitorRun) -> None:
    run.expired += await store.expire_alerts(conn, now - rules.ALERT_TTL)
