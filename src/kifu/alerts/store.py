"""SQL of alerts: rules, alerts, briefings, decisions, outcomes (migrations 007 and 100)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from kifu.alerts.schemas import CONFIG_MODELS, AlertOut, CheckState, RuleOut
from kifu.kit import jsonsql, locks, stamps

# -- rules --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleRow:
    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    symbol: str
    rule_type: str
    config: dict[str, Any]
    cooldown_minutes: int
    enabled: bool
    last_triggered_at: datetime | None
    last_check_state: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


RULE_COLUMNS = (
    "id, user_id, name, symbol, rule_type, config, cooldown_minutes, enabled,"
    " last_triggered_at, last_check_state, created_at, updated_at"
)


def _rule(row: tuple[Any, ...]) -> RuleRow:
    return RuleRow(*row)


async def insert_rule(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    name: str,
    symbol: str,
    rule_type: str,
    config: dict[str, Any],
    cooldown_minutes: int,
    enabled: bool,
    *,
    most: int,
) -> RuleRow | None:
    """Save the rule unless the user has ``most`` rules already (None). Inside a transaction:
    the user's rule lock makes the count and the insert one step for concurrent creates."""
    await locks.xact_lock(conn, "alerts.rules", user_id)
    cur = await conn.execute(
        "INSERT INTO alert_rules (user_id, name, symbol, rule_type, config, cooldown_minutes,"
        " enabled) SELECT %s, %s, %s, %s, %s, %s, %s"
        " WHERE (SELECT count(*) FROM alert_rules WHERE user_id = %s) < %s"
        f" RETURNING {RULE_COLUMNS}",
        (user_id, name, symbol, rule_type, Jsonb(config), cooldown_minutes, enabled, user_id, most),
    )
    row = await cur.fetchone()
    return _rule(row) if row else None


# A rule as ``schemas.RuleOut``: the config as its type's model prints it (a stored config is
# canonical, ``rules.validate_config``), the check state only when there is one.
_CONFIG_JSON = (
    "CASE rule_type "
    + " ".join(
        f"WHEN '{rule_type}' THEN {jsonsql.object_from_jsonb('config', model)}"
        for rule_type, model in CONFIG_MODELS.items()
    )
    + " END"
)
_RULE_JSON_COLUMNS = (
    f"id, user_id, name, symbol, rule_type, {_CONFIG_JSON} AS config, cooldown_minutes, enabled,"
    f" {jsonsql.rfc3339('last_triggered_at')} AS last_triggered_at,"
    " CASE WHEN jsonb_typeof(last_check_state) = 'object' AND last_check_state <> '{}'::jsonb"
    f" THEN {jsonsql.object_from_jsonb('last_check_state', CheckState)} END AS last_check_state,"
    f" coalesce({jsonsql.rfc3339('created_at')}, '') AS created_at,"
    f" coalesce({jsonsql.rfc3339('updated_at')}, '') AS updated_at"
)


async def change_stamp(conn: AsyncConnection, user_id: uuid.UUID) -> int | None:
    """The user's alerts change stamp (migration 131, bumped by the triggers on ``alert_rules``
    and ``alerts``; None before their first change): its primary key."""
    return await stamps.read(
        conn, "SELECT (SELECT stamp FROM alerts_change_stamps WHERE user_id = %(u)s)", user_id
    )


async def rules_json(conn: AsyncConnection, user_id: uuid.UUID) -> str:
    """The user's rules, newest first, as a JSON array of ``RuleOut`` written by PostgreSQL
    (``kit.jsonsql``), from ``idx_alert_rules_user_created``."""
    cur = await conn.execute(
        "SELECT "
        + jsonsql.json_array(
            f"SELECT {_RULE_JSON_COLUMNS} FROM (SELECT * FROM alert_rules WHERE user_id = %s"
            " ORDER BY created_at DESC, id DESC) r ORDER BY r.created_at DESC, r.id DESC",
            RuleOut,
        ),
        (user_id,),
    )
    row = await cur.fetchone()
    assert row is not None
    return row[0]


async def get_rule(
    conn: AsyncConnection, user_id: uuid.UUID, rule_id: uuid.UUID, *, for_update: bool = False
) -> RuleRow | None:
    lock = " FOR UPDATE" if for_update else ""
    cur = await conn.execute(
        f"SELECT {RULE_COLUMNS} FROM alert_rules WHERE id = %s AND user_id = %s{lock}",
        (rule_id, user_id),
    )
    row = await cur.fetchone()
    return _rule(row) if row else None


async def update_rule(conn: AsyncConnection, rule: RuleRow, *, reset_state: bool) -> RuleRow:
    cur = await conn.execute(
        "UPDATE alert_rules SET name = %s, symbol = %s, rule_type = %s, config = %s,"
        " cooldown_minutes = %s, enabled = %s,"
        " last_check_state = CASE WHEN %s THEN NULL ELSE last_check_state END,"
        f" updated_at = NOW() WHERE id = %s AND user_id = %s RETURNING {RULE_COLUMNS}",
        (
            rule.name,
            rule.symbol,
            rule.rule_type,
            Jsonb(rule.config),
            rule.cooldown_minutes,
            rule.enabled,
            reset_state,
            rule.id,
            rule.user_id,
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    return _rule(row)


async def delete_rule(conn: AsyncConnection, user_id: uuid.UUID, rule_id: uuid.UUID) -> bool:
    cur = await conn.execute(
        "DELETE FROM alert_rules WHERE id = %s AND user_id = %s", (rule_id, user_id)
    )
    return cur.rowcount > 0


async def toggle_rule(conn: AsyncConnection, user_id: uuid.UUID, rule_id: uuid.UUID) -> bool | None:
    cur = await conn.execute(
        "UPDATE alert_rules SET enabled = NOT enabled, updated_at = NOW()"
        " WHERE id = %s AND user_id = %s RETURNING enabled",
        (rule_id, user_id),
    )
    row = await cur.fetchone()
    return row[0] if row else None


# -- the monitor ---------------------------------------------------------------------------------


async def due_rules(conn: AsyncConnection, now: datetime, limit: int) -> list[RuleRow]:
    """Enabled rules out of their cooldown (read without locks: ``lock_rule`` decides)."""
    cur = await conn.execute(
        f"SELECT {RULE_COLUMNS} FROM alert_rules WHERE enabled"
        " AND (last_triggered_at IS NULL"
        "      OR last_triggered_at + make_interval(mins => cooldown_minutes) < %s)"
        " ORDER BY symbol, id LIMIT %s",
        (now, limit),
    )
    return [_rule(r) for r in await cur.fetchall()]


async def lock_rule(conn: AsyncConnection, rule_id: uuid.UUID) -> RuleRow | None:
    """The rule as it is now, locked for this transaction; None when another transaction is
    evaluating it (or it is gone or disabled)."""
    cur = await conn.execute(
        f"SELECT {RULE_COLUMNS} FROM alert_rules WHERE id = %s AND enabled FOR UPDATE SKIP LOCKED",
        (rule_id,),
    )
    row = await cur.fetchone()
    return _rule(row) if row else None


async def save_state(conn: AsyncConnection, rule_id: uuid.UUID, state: dict[str, Any]) -> None:
    await conn.execute(
        "UPDATE alert_rules SET last_check_state = %s WHERE id = %s", (Jsonb(state), rule_id)
    )


async def record_trigger(
    conn: AsyncConnection,
    rule: RuleRow,
    now: datetime,
    price: Decimal,
    reason: str,
    severity: str,
    state: dict[str, Any] | None,
) -> uuid.UUID:
    await conn.execute(
        "UPDATE alert_rules SET last_triggered_at = %s,"
        " last_check_state = COALESCE(%s, last_check_state) WHERE id = %s",
        (now, Jsonb(state) if state is not None else None, rule.id),
    )
    cur = await conn.execute(
        "INSERT INTO alerts (user_id, rule_id, symbol, trigger_price, trigger_reason, severity,"
        " status, created_at) VALUES (%s, %s, %s, %s, %s, %s, 'pending', %s) RETURNING id",
        (rule.user_id, rule.id, rule.symbol, price, reason, severity, now),
    )
    row = await cur.fetchone()
    assert row is not None
    return row[0]


async def expire_alerts(conn: AsyncConnection, older_than: datetime) -> int:
    cur = await conn.execute(
        "UPDATE alerts SET status = 'expired'"
        " WHERE status IN ('pending', 'briefed') AND created_at < %s",
        (older_than,),
    )
    return cur.rowcount


# -- alerts --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertRow:
    id: uuid.UUID
    user_id: uuid.UUID
    rule_id: uuid.UUID
    symbol: str
    trigger_price: Decimal
    trigger_reason: str
    severity: str
    status: str
    notified_at: datetime | None
    created_at: datetime


ALERT_COLUMNS = (
    "id, user_id, rule_id, symbol, trigger_price, trigger_reason, severity, status,"
    " notified_at, created_at"
)


def _alert(row: tuple[Any, ...]) -> AlertRow:
    return AlertRow(*row)


# The columns of one ``schemas.AlertOut`` (``routes._alert_out`` in SQL), for ``kit.jsonsql``.
_ALERT_JSON_COLUMNS = (
    "id, user_id, rule_id, symbol,"
    f" coalesce({jsonsql.dec('trigger_price')}, '0') AS trigger_price, trigger_reason, severity,"
    f" status, {jsonsql.rfc3339('notified_at')} AS notified_at,"
    f" coalesce({jsonsql.rfc3339('created_at')}, '') AS created_at"
)


async def alerts_page_json(
    conn: AsyncConnection, user_id: uuid.UUID, status: str | None, limit: int, offset: int
) -> tuple[int, str]:
    """The user's alerts (of one ``status``, or all), newest first: their number and one page
    as JSON text (``kit.jsonsql``), in one statement; index ``idx_alerts_user_created`` for the
    page and ``idx_alerts_user_status`` for the count."""
    where = "WHERE user_id = %(user)s AND (%(status)s::text IS NULL OR status = %(status)s)"
    cur = await conn.execute(
        f"SELECT (SELECT count(*) FROM alerts {where}),"
        + jsonsql.json_array(
            f"SELECT {_ALERT_JSON_COLUMNS} FROM (SELECT * FROM alerts {where}"
            " ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s) a"
            " ORDER BY a.created_at DESC, a.id DESC",
            AlertOut,
        ),
        {"user": user_id, "status": status, "limit": limit, "offset": offset},
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0]), row[1]


async def get_alert(
    conn: AsyncConnection, user_id: uuid.UUID, alert_id: uuid.UUID, *, for_update: bool = False
) -> AlertRow | None:
    lock = " FOR UPDATE" if for_update else ""
    cur = await conn.execute(
        f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = %s AND user_id = %s{lock}",
        (alert_id, user_id),
    )
    row = await cur.fetchone()
    return _alert(row) if row else None


@dataclass(frozen=True)
class BriefingRow:
    id: uuid.UUID
    alert_id: uuid.UUID
    provider: str
    model: str
    prompt: str
    response: str
    tokens_used: int | None
    created_at: datetime


async def briefings(conn: AsyncConnection, alert_id: uuid.UUID) -> list[BriefingRow]:
    cur = await conn.execute(
        "SELECT id, alert_id, provider, model, prompt, response, tokens_used, created_at"
        " FROM alert_briefings WHERE alert_id = %s ORDER BY created_at, id",
        (alert_id,),
    )
    return [BriefingRow(*r) for r in await cur.fetchall()]


async def insert_briefing(
    conn: AsyncConnection,
    alert_id: uuid.UUID,
    provider: str,
    model: str,
    prompt: str,
    response: str,
    tokens_used: int | None,
) -> None:
    # clock_timestamp(): the briefings of one alert are written in one transaction, and the
    # detail lists them in the order they were given (the first one is the one notified).
    await conn.execute(
        "INSERT INTO alert_briefings (alert_id, provider, model, prompt, response, tokens_used,"
        " created_at) VALUES (%s, %s, %s, %s, %s, %s, clock_timestamp())",
        (alert_id, provider, model, prompt, response, tokens_used),
    )


@dataclass(frozen=True)
class DecisionRow:
    id: uuid.UUID
    alert_id: uuid.UUID
    user_id: uuid.UUID
    action: str
    memo: str | None
    confidence: str | None
    executed_at: datetime | None
    created_at: datetime


DECISION_COLUMNS = "id, alert_id, user_id, action, memo, confidence, executed_at, created_at"


async def decision(conn: AsyncConnection, alert_id: uuid.UUID) -> DecisionRow | None:
    cur = await conn.execute(
        f"SELECT {DECISION_COLUMNS} FROM alert_decisions WHERE alert_id = %s", (alert_id,)
    )
    row = await cur.fetchone()
    return DecisionRow(*row) if row else None


async def insert_decision(
    conn: AsyncConnection,
    alert: AlertRow,
    action: str,
    memo: str | None,
    confidence: str | None,
) -> DecisionRow | None:
    """The new decision, or None when the alert already has one."""
    cur = await conn.execute(
        "INSERT INTO alert_decisions (alert_id, user_id, action, memo, confidence, executed_at)"
        " VALUES (%s, %s, %s, %s, %s, NOW()) ON CONFLICT (alert_id) DO NOTHING"
        f" RETURNING {DECISION_COLUMNS}",
        (alert.id, alert.user_id, action, memo, confidence),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    await conn.execute("UPDATE alerts SET status = 'decided' WHERE id = %s", (alert.id,))
    return DecisionRow(*row)


async def dismiss(conn: AsyncConnection, user_id: uuid.UUID, alert_id: uuid.UUID) -> bool:
    """Expire an open alert; False when there is no such alert of this user."""
    cur = await conn.execute(
        "WITH a AS (SELECT id, status FROM alerts WHERE id = %s AND user_id = %s FOR UPDATE)"
        " UPDATE alerts SET status = CASE WHEN a.status IN ('pending', 'briefed')"
        "   THEN 'expired' ELSE alerts.status END"
        " FROM a WHERE alerts.id = a.id RETURNING alerts.id",
        (alert_id, user_id),
    )
    return cur.rowcount > 0


@dataclass(frozen=True)
class OutcomeRow:
    id: uuid.UUID
    alert_id: uuid.UUID
    decision_id: uuid.UUID
    period: str
    reference_price: Decimal
    outcome_price: Decimal
    pnl_percent: Decimal
    calculated_at: datetime


async def outcomes(conn: AsyncConnection, alert_id: uuid.UUID) -> list[OutcomeRow]:
    cur = await conn.execute(
        "SELECT id, alert_id, decision_id, period, reference_price, outcome_price, pnl_percent,"
        " calculated_at FROM alert_outcomes WHERE alert_id = %s"
        " ORDER BY array_position(ARRAY['1h', '4h', '1d']::text[], period::text)",
        (alert_id,),
    )
    return [OutcomeRow(*r) for r in await cur.fetchall()]


# -- after a trigger: briefing and notification ------------------------------------------------


async def claim_pending(
    conn: AsyncConnection, now: datetime, lease_until: datetime, batch: int
) -> list[AlertRow]:
    """Pending alerts nobody is briefing (or whose briefer's lease ran out), leased to the
    caller; rows other workers hold are skipped."""
    cur = await conn.execute(
        "UPDATE alerts SET brief_lease_until = %(lease)s WHERE id IN ("
        "  SELECT id FROM alerts WHERE status = 'pending'"
        "    AND (brief_lease_until IS NULL OR brief_lease_until < %(now)s)"
        "  ORDER BY created_at, id LIMIT %(batch)s FOR UPDATE SKIP LOCKED)"
        f" RETURNING {ALERT_COLUMNS}",
        {"now": now, "lease": lease_until, "batch": batch},
    )
    return [_alert(r) for r in await cur.fetchall()]


async def mark_briefed(conn: AsyncConnection, alert_id: uuid.UUID, error: str | None) -> bool:
    """pending → briefed, once: False when another worker got there first (or the alert was
    dismissed, decided or expired meanwhile)."""
    cur = await conn.execute(
        "UPDATE alerts SET status = 'briefed', brief_error = %s, brief_lease_until = NULL"
        " WHERE id = %s AND status = 'pending'",
        (error[:2000] if error else None, alert_id),
    )
    return cur.rowcount > 0


async def mark_notified(conn: AsyncConnection, alert_id: uuid.UUID, at: datetime) -> None:
    await conn.execute(
        "UPDATE alerts SET notified_at = %s WHERE id = %s AND notified_at IS NULL",
        (at, alert_id),
    )


async def rule_name(conn: AsyncConnection, rule_id: uuid.UUID) -> str | None:
    cur = await conn.execute("SELECT name FROM alert_rules WHERE id = %s", (rule_id,))
    row = await cur.fetchone()
    return row[0] if row else None
