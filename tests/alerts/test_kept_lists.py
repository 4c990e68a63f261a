"""GET /alert-rules and /alerts are kept answers (``kit.answers``): served again until the
caller's rules or alerts change, whoever changed them (the API, the monitor, SQL by hand)."""

from __future__ import annotations

import psycopg
import pytest

from kifu.alerts import store
from tests.helpers import ApiUser

RULES = "/api/v1/alert-rules"
ALERTS = "/api/v1/alerts?limit=20&offset=0"


def _sql(db: str, query: str, *params: object) -> None:
    with psycopg.connect(db) as conn:
        conn.execute(query, params or None)


def _get(client, user: ApiUser, path: str, fresh: bool = False) -> dict:
    headers = {**user.headers, **({"Cache-Control": "no-cache"} if fresh else {})}
    r = client.get(path, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """Which list was read from the database rather than served kept."""
    done: list[str] = []
    for name in ("rules_json", "alerts_page_json"):
        original = getattr(store, name)

        async def counted(*args, _original=original, _name=name, **kwargs):
            done.append(_name)
            return await _original(*args, **kwargs)

        monkeypatch.setattr(store, name, counted)
    return done


def _make_rule(client, user: ApiUser, symbol: str) -> str:
    body = {
        "name": f"{symbol} above 70k",
        "symbol": symbol,
        "rule_type": "price_level",
        "config": {"price": "70000", "direction": "gte"},
    }
    r = client.post(RULES, json=body, headers=user.headers)
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


@pytest.fixture
def rule(client, user: ApiUser, db: str) -> str:
    rule_id = _make_rule(client, user, "BTCUSDT")
    _sql(
        db,
        "INSERT INTO alerts (user_id, rule_id, symbol, trigger_price, trigger_reason)"
        " VALUES (%s, %s, 'BTCUSDT', 71000, 'crossed')",
        user.id,
        rule_id,
    )
    return rule_id


CHANGES = {
    RULES: [
        "UPDATE alert_rules SET name = 'renamed' WHERE user_id = %s",
        'UPDATE alert_rules SET last_check_state = \'{"price": "1"}\' WHERE user_id = %s',
        "DELETE FROM alert_rules WHERE user_id = %s",
    ],
    ALERTS: [
        "UPDATE alerts SET status = 'expired' WHERE user_id = %s",
        "INSERT INTO alerts (user_id, rule_id, symbol, trigger_price, trigger_reason)"
        " SELECT user_id, rule_id, symbol, 1, 'again' FROM alerts WHERE user_id = %s",
        "DELETE FROM alerts WHERE user_id = %s",
    ],
}


@pytest.mark.parametrize(
    ("path", "change"), [(p, c) for p, changes in CHANGES.items() for c in changes]
)
def test_kept_until_the_rules_or_alerts_change(
    client, user, make_user, db, rule, reads, path, change
):
    before = _get(client, user, path)
    assert _get(client, user, path) == before and len(reads) == 1
    _make_rule(client, make_user(), "ETHUSDT")  # another user's rule changes nothing of this one's
    assert _get(client, user, path) == before and len(reads) == 1
    _sql(db, change, user.id)
    after = _get(client, user, path)
    assert after != before and len(reads) == 2
    assert _get(client, user, path, fresh=True) == after and len(reads) == 3
