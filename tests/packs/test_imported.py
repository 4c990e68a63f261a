"""A pack over data that went in through the real CSV import (ingest), not direct SQL."""

from __future__ import annotations

CSV = """executed_at,symbol,side,qty,price,fee,fee_asset,external_id
2026-02-20T01:00:00Z,BTCUSDT,buy,1,100,0.1,USDT,1
2026-02-20T02:00:00Z,BTCUSDT,buy,1,120,0.1,USDT,2
2026-02-20T03:00:00Z,BTCUSDT,sell,1.5,130,0.2,USDT,3
2026-02-20T04:00:00Z,BTCUSDT,sell,0.5,90,0.1,USDT,4
"""


def test_pack_after_csv_import(client, user) -> None:
    r = client.post(
        "/api/v1/imports/trades",
        files={"file": ("t.csv", CSV.encode(), "text/csv")},
        data={"venue": "binance", "asset_class": "crypto"},
        headers=user.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 4
    g = client.post("/api/v1/packs/generate-latest", json={"range": "all"}, headers=user.headers)
    assert g.status_code == 200, g.text
    p = client.get(f"/api/v1/packs/{g.json()['pack_id']}", headers=user.headers).json()
    pay = p["payload"]
    # FIFO: 1@100 + 0.5@120 sold at 130 → 30 + 5; 0.5@120 sold at 90 → -15
    assert pay["pnl_summary"]["realized_pnl_by_currency"] == {"USDT": "20"}
    assert pay["pnl_summary"]["fees_by_currency"] == {"USDT": "0.5"}
    assert pay["activity_summary"]["trade_count"] == 4
    assert pay["activity_summary"]["max_drawdown_by_currency"] == {"USDT": "15"}
    assert p["reconciliation_status"] == "ok", pay["reconciliation"]
    again = client.post(
        "/api/v1/packs/generate-latest", json={"range": "all"}, headers=user.headers
    )
    assert again.json()["pack_id"] == p["pack_id"] and again.json()["created"] is False
