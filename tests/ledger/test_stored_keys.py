"""The keys as stored, not only as Python computes them: the pinned ``kifu.fill.v1`` vectors.

tests/ledger/test_rules.py pins the Python functions of ``kifu.ledger.rules``; the importers
compute the stored keys in SQL (the occurrence index and the SHA-256 in
``ledger/store.write_staged_fills``, the legacy trade id in the legacy importer's INSERT). Here the
pinned fill goes in through the real write paths, and what lands in ``trade_events.dedupe_key``,
``trade_events.content_key`` and ``trades.binance_trade_id`` is read back and compared with the
same vectors, written out by hand so that no shared code can drift with them.

The pinned fill: Binance futures, BTC/USDT perpetual, buy 0.010 at 42000.10, at
2026-01-05T10:00:00Z (the id form: venue trade id 123456789).
"""

from __future__ import annotations

import random

import psycopg

from kifu.ledger import rules

# kifu.fill.v1|content|binance_futures|crypto|BTC/USDT|perp_trade|buy|0.01|42000.1
#   |2026-01-05T10:00:00Z|<n>, SHA-256, for the occurrence index n = 0 and n = 1
CONTENT_KEY_0 = "62372eb58b13b2627537d5befc2b87d6e3f342a90e7eca18efc9b8f5266d4505"
CONTENT_KEY_1 = "8bfb28aade2442c25da4627722a9659c6c43bb2643430d00b8aa92d931264a74"
# kifu.fill.v1|id|binance_futures|crypto|BTC/USDT|123456789, SHA-256
ID_KEY = "5d46db888c7bac58511ecb507bde9ee6b4ac022b397ce34a127da274d28a19ae"
# -(first 16 hex digits >> 2) - 1, worked out from the formula:
#   0x62372eb58b13b262 = 7077176696693305954;  >> 2 = 1769294174173326488
#   0x8bfb28aade2442c2 = 10086700504762827458; >> 2 = 2521675126190706864
# (the second has its top bit set: read as a signed 64-bit number it would be negative)
LEGACY_ID_0 = -1769294174173326489
LEGACY_ID_1 = -2521675126190706865

# The pinned fill twice in a Binance futures export: two identical rows are two fills.
BINANCE_FUTURES_EXPORT = (
    "Date(UTC),Pair,Side,Price,Quantity,Amount,Fee,Realized Profit\n"
    "2026-01-05 10:00:00,BTCUSDT,BUY,42000.10,0.010,420.001 USDT,0.16800040 USDT,0 USDT\n"
    "2026-01-05 10:00:00,BTCUSDT,BUY,42000.10,0.010,420.001 USDT,0.16800040 USDT,0 USDT\n"
)
# The same fill with the venue's trade id (milliseconds: the key keeps whole seconds).
GENERIC_WITH_ID = (
    "executed_at,symbol,side,qty,price,trade_id\n"
    "2026-01-05T10:00:00.123Z,BTC/USDT,buy,0.010,42000.10,123456789\n"
)
# The same fill twice through the legacy importer.
LEGACY_CSV = (
    "exchange,symbol,side,quantity,price,trade_time\n"
    "binance_futures,BTCUSDT,BUY,0.010,42000.10,2026-01-05T10:00:00Z\n"
    "binance_futures,BTCUSDT,BUY,0.010,42000.10,2026-01-05T10:00:00Z\n"
)


def _keys(db: str, user_id: object) -> list[tuple[str, str, str | None]]:
    with psycopg.connect(db) as conn:
        return conn.execute(
            "SELECT dedupe_key, content_key, external_id FROM trade_events"
            " WHERE user_id = %s ORDER BY content_key",
            (user_id,),
        ).fetchall()


def test_unified_import_stores_the_pinned_content_keys(db, user, upload) -> None:
    r = upload(BINANCE_FUTURES_EXPORT.encode())
    assert r.status_code == 200, r.text
    assert (r.json()["format"], r.json()["imported"]) == ("binance_futures", 2)
    # without a trade id the dedupe key is the content key; the repeat is occurrence 1
    assert _keys(db, user.id) == [
        (CONTENT_KEY_0, CONTENT_KEY_0, None),
        (CONTENT_KEY_1, CONTENT_KEY_1, None),
    ]


def test_unified_import_with_a_trade_id_stores_the_pinned_id_key(db, user, upload) -> None:
    r = upload(GENERIC_WITH_ID.encode(), venue="binance_futures")
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 1
    # the dedupe key is the id key; the content key is stored beside it
    assert _keys(db, user.id) == [(ID_KEY, CONTENT_KEY_0, "123456789")]


def test_legacy_import_stores_the_pinned_keys_and_synthetic_trade_ids(db, client, user) -> None:
    r = client.post(
        "/api/v1/trades/import",
        headers=user.headers,
        files={"file": ("t.csv", LEGACY_CSV.encode(), "text/csv")},
    )
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 2
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT e.dedupe_key, e.content_key, t.binance_trade_id,"
            "       kifu_synthetic_trade_id(e.content_key)"
            " FROM trade_events e JOIN trades t ON t.id = (e.metadata->>'trade_id')::uuid"
            " WHERE e.user_id = %s ORDER BY e.content_key",
            (user.id,),
        ).fetchall()
    assert rows == [
        (CONTENT_KEY_0, CONTENT_KEY_0, LEGACY_ID_0, LEGACY_ID_0),
        (CONTENT_KEY_1, CONTENT_KEY_1, LEGACY_ID_1, LEGACY_ID_1),
    ]


def test_sql_synthetic_trade_id_agrees_with_its_python_twin(db) -> None:
    rng = random.Random(20260105)
    keys = [CONTENT_KEY_0, CONTENT_KEY_1, "0" * 64, "f" * 64, "7" + "f" * 63, "8" + "0" * 63]
    keys += [f"{rng.getrandbits(256):064x}" for _ in range(500)]
    with psycopg.connect(db) as conn:
        got = conn.execute(
            "SELECT array_agg(kifu_synthetic_trade_id(k) ORDER BY n)"
            " FROM unnest(%s::text[]) WITH ORDINALITY AS u(k, n)",
            (keys,),
        ).fetchone()
    assert got is not None
    assert got[0] == [rules.legacy_trade_id(k) for k in keys]
    assert got[0][:4] == [LEGACY_ID_0, LEGACY_ID_1, -1, -(2**62)]
    assert all(-(2**62) <= v <= -1 for v in got[0])
