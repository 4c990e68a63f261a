"""Alert use cases: rules (validated when saved), alerts, decisions, dismissal, outcomes."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from psycopg import AsyncConnection

from kifu.alerts import rules, store
from kifu.alerts.rules import ConfigError
from kifu.config import Settings
from kifu.kit import jsonsql
from kifu.kit.answers import Asked, Computed
from kifu.kit.errors import BadRequest, Conflict, NotFound
from kifu.kit.timeutil import utc_now
from kifu.market import MarketError, MemoryCache, SymbolUnsupported, open_market
from kifu.market.rules import Unsupported, resolve

RULE_NOT_FOUND = "rule not found"
ALERT_NOT_FOUND = "alert not found"


def _bad(exc: ConfigError) -> BadRequest:
    return BadRequest("INVALID_REQUEST", exc.message)


async def check_symbol(
    conn: AsyncConnection, settings: Settings, memory: MemoryCache | None, raw: str
) -> str:
    """The symbol upper-cased, if a market kifu reads serves it: 400 ``INVALID_SYMBOL`` for one
    no venue prices (a stock, an unknown quote) or that the venue says it does not list. A
    market that cannot answer right now does not block the save."""
    symbol = raw.strip().upper()
    try:
        resolve(symbol)
    except Unsupported as exc:
        raise BadRequest("INVALID_SYMBOL", f"symbol: {exc}") from exc
    try:
        async with open_market(settings, memory) as market:
            await market.last_price(conn, symbol)
    except SymbolUnsupported as exc:
        raise BadRequest("INVALID_SYMBOL", f"symbol: {exc.message}") from exc
    except MarketError:
        pass
    return symbol


async def create_rule(
    conn: AsyncConnection,
    settings: Settings,
    memory: MemoryCache | None,
    user_id: uuid.UUID,
    *,
    name: str,
    symbol: str,
    rule_type: str,
    config: dict[str, Any],
    cooldown_minutes: int | None,
    enabled: bool | None,
    ask_market: bool = True,
) -> store.RuleRow:
    """Validate and save a rule (409 ``ALERT_RULE_LIMIT`` when the user has
    ``rules.MAX_RULES_PER_USER``). ``ask_market=False`` (the offline demo) checks the symbol's
    form only, so no market call is made and no venue cooldown can be set."""
    try:
        canonical = rules.validate_config(rule_type, config)
        cooldown = rules.validate_cooldown(
            rules.DEFAULT_COOLDOWN_MINUTES if cooldown_minutes is None else cooldown_minutes
        )
    except ConfigError as exc:
        raise _bad(exc) from exc
    if not name.strip():
        raise BadRequest("INVALID_REQUEST", "name: must not be empty")
    if ask_market:
        checked = await check_symbol(conn, settings, memory, symbol)
    else:
        checked = symbol.strip().upper()
        try:
            resolve(checked)
        except Unsupported as exc:
            raise BadRequest("INVALID_SYMBOL", f"symbol: {exc}") from exc
    async with conn.transaction():
        rule = await store.insert_rule(
            conn,
            user_id,
            name.strip(),
            checked,
            rule_type,
            canonical,
            cooldown,
            True if enabled is None else enabled,
            most=rules.MAX_RULES_PER_USER,
        )
    if rule is None:
        raise Conflict(
            "ALERT_RULE_LIMIT",
            f"at most {rules.MAX_RULES_PER_USER} alert rules per user: delete one to add another",
        )
    return rule


async def _kept(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    kept: Asked,
    key: tuple[Any, ...],
    compute: Callable[[], Awaitable[bytes]],
) -> bytes:
    """``compute()``'s answer kept (``kit.answers``) under the user's alerts change stamp,
    read first (the lists read only ``alert_rules`` or ``alerts``, whose triggers bump it)."""

    async def computed() -> Computed:
        return await compute(), None

    return await kept.serve(conn, user_id, key, store.change_stamp, utc_now(), computed)


async def rules_json(conn: AsyncConnection, user_id: uuid.UUID, kept: Asked) -> bytes:
    """``schemas.RulesResponse`` as finished JSON (the rules written by PostgreSQL), kept."""

    async def compute() -> bytes:
        return jsonsql.document(rules=jsonsql.Raw(await store.rules_json(conn, user_id)))

    return await _kept(conn, user_id, kept, ("alert-rules",), compute)


async def get_rule(conn: AsyncConnection, user_id: uuid.UUID, rule_id: uuid.UUID) -> store.RuleRow:
    rule = await store.get_rule(conn, user_id, rule_id)
    if rule is None:
        raise NotFound("NOT_FOUND", RULE_NOT_FOUND)
    return rule


async def update_rule(
    conn: AsyncConnection,
    settings: Settings,
    memory: MemoryCache | None,
    user_id: uuid.UUID,
    rule_id: uuid.UUID,
    changes: dict[str, Any],
) -> store.RuleRow:
    """Change any of name, symbol, rule_type, config, cooldown_minutes, enabled. The type and
    config are validated together; a new symbol, type or config starts the crossing state over."""
    current = await get_rule(conn, user_id, rule_id)
    rule_type = changes.get("rule_type") or current.rule_type
    config = changes.get("config")
    if config is None:
        config = current.config
    try:
        canonical = rules.validate_config(rule_type, config)
        cooldown = current.cooldown_minutes
        if changes.get("cooldown_minutes") is not None:
            cooldown = rules.validate_cooldown(changes["cooldown_minutes"])
    except ConfigError as exc:
        raise _bad(exc) from exc
    symbol = current.symbol
    if changes.get("symbol") is not None and changes["symbol"].strip().upper() != symbol:
        symbol = await check_symbol(conn, settings, memory, changes["symbol"])
    name = current.name
    if changes.get("name") is not None:
        name = changes["name"].strip()
        if not name:
            raise BadRequest("INVALID_REQUEST", "name: must not be empty")
    enabled = current.enabled if changes.get("enabled") is None else changes["enabled"]
    updated = dataclasses.replace(
        current,
        name=name,
        symbol=symbol,
        rule_type=rule_type,
        config=canonical,
        cooldown_minutes=cooldown,
        enabled=enabled,
    )
    reset = (symbol, rule_type, canonical) != (current.symbol, current.rule_type, current.config)
    return await store.update_rule(conn, updated, reset_state=reset)


async def delete_rule(conn: AsyncConnection, user_id: uuid.UUID, rule_id: uuid.UUID) -> None:
    if not await store.delete_rule(conn, user_id, rule_id):
        raise NotFound("NOT_FOUND", RULE_NOT_FOUND)


async def toggle_rule(conn: AsyncConnection, user_id: uuid.UUID, rule_id: uuid.UUID) -> bool:
    enabled = await store.toggle_rule(conn, user_id, rule_id)
    if enabled is None:
        raise NotFound("NOT_FOUND", RULE_NOT_FOUND)
    return enabled


# -- alerts --------------------------------------------------------------------------------------


async def alerts_page_json(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    kept: Asked,
    *,
    status: str | None,
    limit: int,
    offset: int,
) -> bytes:
    """``schemas.AlertsResponse`` as finished JSON (the page written by PostgreSQL), kept."""
    if status is not None and status not in rules.ALERT_STATUSES:
        raise BadRequest(
            "INVALID_REQUEST", f"status: must be one of {', '.join(rules.ALERT_STATUSES)}"
        )

    async def compute() -> bytes:
        total, alerts = await store.alerts_page_json(conn, user_id, status, limit, offset)
        return jsonsql.document(alerts=jsonsql.Raw(alerts), total=total)

    key = ("alerts", status, limit, offset)
    return await _kept(conn, user_id, kept, key, compute)


async def get_alert(
    conn: AsyncConnection, user_id: uuid.UUID, alert_id: uuid.UUID
) -> store.AlertRow:
    alert = await store.get_alert(conn, user_id, alert_id)
    if alert is None:
        raise NotFound("NOT_FOUND", ALERT_NOT_FOUND)
    return alert


@dataclasses.dataclass(frozen=True)
class AlertView:
    alert: store.AlertRow
    briefings: list[store.BriefingRow]
    decision: store.DecisionRow | None
    outcomes: list[store.OutcomeRow]


async def alert_detail(conn: AsyncConnection, user_id: uuid.UUID, alert_id: uuid.UUID) -> AlertView:
    alert = await get_alert(conn, user_id, alert_id)
    return AlertView(
        alert,
        await store.briefings(conn, alert.id),
        await store.decision(conn, alert.id),
        await store.outcomes(conn, alert.id),
    )


async def decide(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    alert_id: uuid.UUID,
    action: str,
    memo: str | None,
    confidence: str | None,
) -> store.DecisionRow:
    """Record the user's decision; the alert becomes ``decided``. One per alert: a second is
    409 ``DECISION_EXISTS``."""
    confidence = confidence or None  # the client sends "" when none was picked
    if action not in rules.ACTIONS:
        raise BadRequest("INVALID_REQUEST", f"action: must be one of {', '.join(rules.ACTIONS)}")
    if confidence is not None and confidence not in rules.CONFIDENCES:
        raise BadRequest(
            "INVALID_REQUEST", f"confidence: must be one of {', '.join(rules.CONFIDENCES)}"
        )
    async with conn.transaction():
        alert = await store.get_alert(conn, user_id, alert_id, for_update=True)
        if alert is None:
            raise NotFound("NOT_FOUND", ALERT_NOT_FOUND)
        made = await store.insert_decision(conn, alert, action, memo, confidence)
    if made is None:
        raise Conflict("DECISION_EXISTS", "this alert already has a decision")
    return made


async def dismiss(conn: AsyncConnection, user_id: uuid.UUID, alert_id: uuid.UUID) -> None:
    """An open (pending or briefed) alert becomes ``expired``; a decided one keeps its decision."""
    if not await store.dismiss(conn, user_id, alert_id):
        raise NotFound("NOT_FOUND", ALERT_NOT_FOUND)


async def outcomes(
    conn: AsyncConnection, user_id: uuid.UUID, alert_id: uuid.UUID
) -> list[store.OutcomeRow]:
    alert = await get_alert(conn, user_id, alert_id)
    return await store.outcomes(conn, alert.id)
