"""One of everything a user can own, made through the API, with the ids the sweeps put in paths
(keyed by the path parameter's name)."""

from __future__ import annotations

import io
from typing import Any

from fastapi.testclient import TestClient

API = "/api/v1"

CSV = (
    "executed_at,venue,symbol,side,qty,price,fee,fee_asset\n"
    "2026-01-02T03:04:05Z,binance_spot,BTCUSDT,buy,0.5,42000,0.1,USDT\n"
    "2026-01-03T03:04:05Z,binance_spot,BTCUSDT,sell,0.5,43000,0.1,USDT\n"
)


def _id(r: Any, *keys: str) -> str | None:
    if r.status_code >= 300:
        return None
    body = r.json()
    for key in keys:
        if isinstance(body, dict) and body.get(key):
            return str(body[key])
    return None


def seed(client: TestClient, headers: dict[str, str]) -> dict[str, str]:
    ids: dict[str, str] = {}

    def post(path: str, body: dict[str, Any]) -> Any:
        return client.post(API + path, json=body, headers=headers)

    bubble = post(
        "/bubbles",
        {
            "symbol": "BTCUSDT",
            "timeframe": "1h",
            "candle_time": "2026-01-02T03:00:00Z",
            "price": "42000",
            "memo": "entry",
            "tags": ["long"],
        },
    )
    if b := _id(bubble, "id"):
        ids["bubble_id"] = b
        note = post("/notes", {"bubble_id": b, "title": "a note", "content": "text"})
        if n := _id(note, "id"):
            ids["note_id"] = n
    position = post(
        "/manual-positions",
        {
            "symbol": "BTCUSDT",
            "asset_class": "crypto",
            "position_side": "long",
            "entry_price": "42000",
            "size": "1",
            "status": "open",
        },
    )
    if p := _id(position, "id", "position_id"):
        ids["position_id"] = p
    imported = client.post(
        f"{API}/imports/trades",
        files={"file": ("t.csv", io.BytesIO(CSV.encode()), "text/csv")},
        data={"venue": "binance_spot"},
        headers=headers,
    )
    run_id = _id(imported, "run_id")
    pack = post("/packs/generate", {"source_run_id": run_id, "range": "30d"})
    if p := _id(pack, "pack_id", "id"):
        ids["pack_id"] = p
    rule = post(
        "/alert-rules",
        {
            "name": "btc above",
            "symbol": "BTCUSDT",
            "rule_type": "price_level",
            "config": {"price": "50000", "direction": "above"},
        },
    )
    if r := _id(rule, "id", "rule_id"):
        ids["rule_id"] = r
    channel = post("/notifications/channels", {"type": "ntfy", "topic": "kifu-sweep-topic"})
    if c := _id(channel, "id", "channel_id"):
        ids["channel_id"] = c
    today = client.get(f"{API}/guided-reviews/today", headers=headers)
    if today.status_code == 200:
        body = today.json()
        if body.get("id"):
            ids["review_id"] = str(body["id"])
        for item in body.get("items") or []:
            if item.get("id"):
                ids["item_id"] = str(item["id"])
                break
    return ids
