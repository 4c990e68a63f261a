"""Upbit: closed orders in 7-day windows, then each order's fills; KRW markets first-class.

Upbit exposes no account-wide fill list. ``GET /v1/orders/closed`` (states done and cancel, at
most 1,000 per call, a window of at most 7 days on the order's creation time) lists the orders;
a window that comes back full is split in halves until each half fits. ``GET /v1/order?uuid=``
then gives each order's ``trades[]`` — the fills — with their own uuid, price, volume and time.

Auth: a JWT (HS512, the secret key) with ``access_key``, a fresh ``nonce`` and, when there is a
query, ``query_hash`` = SHA-512 hex of the query string and ``query_hash_alg`` = ``SHA512``.

Cursor ``ALL_MARKETS``: the time up to which every window is done. An incremental sync starts a
week before it, because an order is listed by creation time and may have filled after the last
sync; orders whose fills are already stored are not asked for again. Fees are per order
(``paid_fee``) and are spread over its fills in proportion to their funds.

Upbit's API does not say which rights a key has; kifu checks that the key is not expired and can
read orders. It cannot tell whether the key may withdraw (see the README).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any
from urllib.parse import unquote, urlencode

from kifu.ingest.venues.base import (
    AuthRejected,
    Batch,
    Credentials,
    Cursor,
    KeyCheck,
    PermissionMissing,
    SyncPlan,
    Venue,
    VenueError,
    VenueFill,
    VenueUnavailable,
    VenueUrls,
)
from kifu.ingest.venues.http import Prepare, VenueHttp
from kifu.kit import jws

EXCHANGE = "upbit"
CURSOR = "ALL_MARKETS"
WINDOW = timedelta(days=7)
OVERLAP = timedelta(days=7)
PAGE = 1000
FIRST_SYNC_DAYS = 365
FULL_BACKFILL_DAYS = 3650
MIN_SPLIT = timedelta(seconds=1)
FLUSH_FILLS = 500
AUTH_ERRORS = frozenset(
    {
        "invalid_query_payload",
        "jwt_verification",
        "expired_access_key",
        "nonce_used",
        "no_authorization_i_p",
        "no_authorization_ip",
        "invalid_access_key",
    }
)
FEE_STEP = Decimal("0.00000001")


def query_string(params: list[tuple[str, str]]) -> str:
    """The query as Upbit hashes it: url-encoded, then unquoted (``states[]=done``)."""
    return unquote(urlencode(params))


def token(creds: Credentials, query: str) -> str:
    payload: dict[str, Any] = {"access_key": creds.api_key, "nonce": str(uuid.uuid4())}
    if query:
        payload["query_hash"] = hashlib.sha512(query.encode()).hexdigest()
        payload["query_hash_alg"] = "SHA512"
    return jws.sign(payload, creds.api_secret, "HS512")


def authed(creds: Credentials, params: list[tuple[str, str]]) -> Prepare:
    def prepare() -> tuple[str, dict[str, str]]:
        q = query_string(params)
        return urlencode(params), {"Authorization": f"Bearer {token(creds, q)}"}

    return prepare


def parse_error(status: int, body: Any, path: str) -> VenueError:
    err = body.get("error") if isinstance(body, dict) else None
    name = str(err.get("name", "")) if isinstance(err, dict) else ""
    msg = str(err.get("message", ""))[:200] if isinstance(err, dict) else ""
    if name == "out_of_scope":
        return PermissionMissing(
            "this Upbit API key lacks a right kifu needs to read your history (turn on"
            f" '주문조회' / view orders and '자산조회' / view assets): {msg}"
        )
    if status == 401 or name in AUTH_ERRORS:
        return AuthRejected(
            f"Upbit rejected the API key on {path} ({name or f'HTTP {status}'}): {msg}"
        )
    return VenueError(f"Upbit answered {path} with HTTP {status}: {name} {msg}".strip())


def synthetic_id(fill_uuid: str) -> int:
    """A positive BIGINT for ``trades.binance_trade_id``: the first 63 bits of SHA-256."""
    n = int(hashlib.sha256(fill_uuid.encode()).hexdigest()[:16], 16) & (2**63 - 1)
    return n or 1


def parse_time(text: str) -> datetime:
    at = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if at.tzinfo is None:
        raise VenueUnavailable(f"Upbit sent a time without a zone: {text!r}")
    return at.astimezone(UTC)


def spread_fee(total: Decimal, funds: list[Decimal]) -> list[Decimal]:
    """``total`` split over fills in proportion to ``funds``, to 8 decimals, summing exactly."""
    if not funds:
        return []
    whole = sum(funds, Decimal(0))
    if whole == 0:
        shares = [Decimal(0)] * len(funds)
    else:
        shares = [(total * f / whole).quantize(FEE_STEP, rounding=ROUND_DOWN) for f in funds]
    shares[-1] = total - sum(shares[:-1], Decimal(0))
    return shares


def order_fills(order: dict[str, Any]) -> list[VenueFill]:
    market = str(order.get("market", "")).upper()
    quote, _, base = market.partition("-")
    if not quote or not base:
        raise VenueUnavailable(f"Upbit sent an order with market {market!r}")
    trades = [t for t in order.get("trades") or [] if isinstance(t, dict)]
    funds = [Decimal(str(t.get("funds") or "0")) for t in trades]
    fees = spread_fee(Decimal(str(order.get("paid_fee") or "0")), funds)
    out = []
    for t, fee in zip(trades, fees, strict=True):
        side = {"bid": "buy", "ask": "sell"}.get(str(t.get("side") or order.get("side")))
        if side is None:
            raise VenueUnavailable("Upbit sent a fill without a bid/ask side")
        price_text = str(t["price"])
        out.append(
            VenueFill(
                exchange=EXCHANGE,
                symbol=f"{base}{quote}",
                venue_symbol=market,
                base=base,
                quote=quote,
                trade_id=synthetic_id(str(t["uuid"])),
                external_id=str(t["uuid"]),
                side=side,
                qty=Decimal(str(t["volume"])),
                price=Decimal(price_text),
                price_text=price_text,
                fee=fee,
                fee_asset=quote,
                executed_at=parse_time(t["created_at"]),
                meta={"order_uuid": str(order["uuid"]), "funds": str(t.get("funds", ""))},
            )
        )
    return out


def has_fills(order: dict[str, Any]) -> bool:
    try:
        return Decimal(str(order.get("executed_volume") or "0")) > 0
    except ArithmeticError:
        return False


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


class Upbit(Venue):
    exchange = EXCHANGE

    def __init__(self, creds: Credentials, urls: VenueUrls) -> None:
        self.creds = creds
        self.http = VenueHttp("Upbit", urls.upbit, urls, parse_error)

    async def check_key(self) -> KeyCheck:
        keys = await self.http.get("/v1/api_keys", authed(self.creds, []))
        if not isinstance(keys, list):
            raise VenueUnavailable("Upbit answered api_keys with an unexpected body")
        expires = None
        for k in keys:
            if isinstance(k, dict) and k.get("access_key") == self.creds.api_key:
                expires = parse_time(k["expire_at"]) if k.get("expire_at") else None
        if expires is not None and expires < datetime.now(UTC):
            raise AuthRejected(f"this Upbit API key expired on {expires.isoformat()}")
        # Orders are what a sync reads; a key without that right fails here, not mid-sync.
        await self.http.get("/v1/orders/closed", authed(self.creds, [("limit", "1")]))
        if expires is None:
            return KeyCheck("connection saved. trade history scope will be verified during sync.")
        return KeyCheck("connection successful", expires)

    async def _closed(self, ws: datetime, we: datetime) -> list[dict[str, Any]]:
        params = [
            ("states[]", "done"),
            ("states[]", "cancel"),
            ("start_time", str(_ms(ws))),
            ("end_time", str(_ms(we))),
            ("limit", str(PAGE)),
            ("order_by", "asc"),
        ]
        rows = await self.http.get("/v1/orders/closed", authed(self.creds, params))
        if not isinstance(rows, list):
            raise VenueUnavailable("Upbit answered orders/closed with an unexpected body")
        if len(rows) >= PAGE and we - ws > MIN_SPLIT:
            mid = ws + (we - ws) / 2
            return [*await self._closed(ws, mid), *await self._closed(mid, we)]
        return [r for r in rows if isinstance(r, dict)]

    async def sync(self, plan: SyncPlan) -> AsyncIterator[Batch]:
        now = plan.now
        cur = plan.cursors.get(CURSOR)
        if cur is not None and not plan.full_backfill:
            start = cur.last_sync_at - OVERLAP
        else:
            days = plan.history_days or (
                FULL_BACKFILL_DAYS if plan.full_backfill else FIRST_SYNC_DAYS
            )
            start = now - timedelta(days=days)
        plan.notes["history_from"] = start
        known = await plan.known_orders(start) if plan.known_orders else set()
        floor = cur.last_sync_at if cur is not None else start
        orders_seen: set[str] = set()
        ws = start
        while ws < now:
            we = min(ws + WINDOW, now)
            pending: list[VenueFill] = []
            for order in await self._closed(ws, we):
                ou = str(order.get("uuid", ""))
                if not ou or ou in orders_seen or ou in known or not has_fills(order):
                    continue
                orders_seen.add(ou)
                detail = await self.http.get("/v1/order", authed(self.creds, [("uuid", ou)]))
                if not isinstance(detail, dict):
                    raise VenueUnavailable("Upbit answered order with an unexpected body")
                pending.extend(order_fills(detail))
                if len(pending) >= FLUSH_FILLS:
                    yield Batch(fills=pending)
                    pending = []
            done = max(we, floor)
            yield Batch(fills=pending, cursors={CURSOR: Cursor(_ms(done), done)})
            ws = we
        plan.notes["orders_fetched"] = len(orders_seen)
