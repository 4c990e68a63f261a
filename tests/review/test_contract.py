"""What the KIFU web client reads from the review endpoints (Home and Review screens), with the
client's own queries: present, typed as it expects, lists as arrays (it crashes on null)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.contract.test_client_contract import legacy_import
from tests.fixtures.contract_checks import (
    BOOL,
    DEC,
    INT,
    LIST,
    NUM,
    OBJ,
    STR,
    STR_LIST,
    TIME,
    conforms,
    opt,
)

API = "/api/v1"


def test_home_and_review_screens(client, user) -> None:
    legacy_import(client, user)
    h = user.headers
    at = (datetime.now(UTC) - timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    client.post(
        f"{API}/bubbles",
        headers=h,
        json={
            "symbol": "BTCUSDT",
            "timeframe": "1h",
            "candle_time": at,
            "price": "1",
            "tags": ["x"],
        },
    )

    s = client.get(f"{API}/review/stats?period=30d", headers=h).json()
    conforms(
        s,
        {
            "total_bubbles": INT,
            "bubbles_with_outcome": INT,
            "overall": OBJ,
            "by_period": OBJ,
            "by_tag": OBJ,
            "by_symbol": OBJ,
        },
        "stats",
    )
    conforms(
        s["overall"],
        {"win_rate": NUM, "avg_pnl": DEC, "total_pnl": DEC, "max_gain": DEC, "max_loss": DEC},
        "stats.overall",
    )
    for group in (*s["by_period"].values(), *s["by_tag"].values(), *s["by_symbol"].values()):
        conforms(group, {"win_rate": NUM, "avg_pnl": DEC, "count": INT}, "stats group")
    assert "USDT" in s["trading"]["by_currency"]

    c = client.get(f"{API}/review/calendar?from=2026-01-01&to=2026-12-31", headers=h).json()
    conforms(c, {"from": STR, "to": STR, "days": OBJ}, "calendar")
    for day in c["days"].values():
        conforms(
            day,
            {"bubble_count": INT, "win_count": INT, "loss_count": INT, "total_pnl": DEC},
            "calendar day",
        )

    t = client.get(f"{API}/review/trend?period=30d", headers=h).json()
    assert LIST(t["data"]) and t["data"]
    for p in t["data"]:
        conforms(
            p,
            {"date": STR, "pnl": NUM, "cumulative_pnl": NUM, "win_rate": NUM, "bubble_count": INT},
            "trend point",
        )

    g = client.get(f"{API}/guided-reviews/today?timezone=UTC", headers=h).json()
    conforms(
        g["review"],
        {"id": STR, "status": STR, "review_date": STR, "created_at": TIME},
        "guided review",
    )
    assert LIST(g["items"]) and g["items"]
    for i in g["items"]:
        conforms(
            i,
            {
                "id": STR,
                "symbol": STR,
                "side": opt(STR),
                "pnl": opt(NUM),
                "trade_count": INT,
                "bundle_key": STR,
                "intent": opt(STR),
                "emotions": STR_LIST,
                "pattern_match": opt(STR),
                "memo": opt(STR),
            },
            "guided item",
        )
    done = client.post(f"{API}/guided-reviews/{g['review']['id']}/complete", headers=h).json()
    assert done["ok"] is True
    conforms(
        done["streak"], {"current_streak": INT, "longest_streak": INT, "updated_at": TIME}, "streak"
    )
    st = client.get(f"{API}/guided-reviews/streak", headers=h).json()
    conforms(st, {"current_streak": INT, "longest_streak": INT}, "streak")

    day = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    sf = client.get(f"{API}/safety/today?timezone=UTC&limit=20&date={day}", headers=h).json()
    conforms(
        sf,
        {
            "date": STR,
            "timezone": STR,
            "total": INT,
            "reviewed": INT,
            "pending": INT,
            "items": LIST,
        },
        "safety",
    )
    assert sf["items"]
    for i in sf["items"]:
        conforms(
            i,
            {
                "target_type": STR,
                "target_id": STR,
                "executed_at": TIME,
                "asset_class": STR,
                "venue": STR,
                "venue_name": STR,
                "symbol": STR,
                "side": STR,
                "qty": opt(DEC),
                "price": opt(DEC),
                "reviewed": BOOL,
                "verdict": opt(STR),
                "group_size": INT,
                "member_targets": LIST,
            },
            "safety item",
        )
    m = sf["items"][0]["member_targets"][0]
    r = client.post(
        f"{API}/safety/reviews",
        headers=h,
        json={
            "target_type": m["target_type"],
            "target_id": m["target_id"],
            "verdict": "intended",
            "note": "",
        },
    )
    assert r.status_code == 200, r.text
    conforms(
        r.json(),
        {
            "id": STR,
            "target_type": STR,
            "target_id": STR,
            "verdict": STR,
            "note": opt(STR),
            "created_at": TIME,
            "updated_at": TIME,
        },
        "review",
    )
