"""What Binance spot and USDⓈ-M futures share: request signing, errors, key permissions.

Signed requests carry ``timestamp`` and ``recvWindow`` and a ``signature`` = lowercase hex
HMAC-SHA256 of the url-encoded query string under the API secret; the key travels in
``X-MBX-APIKEY``. Key permissions come from ``GET /sapi/v1/account/apiRestrictions`` on the spot
base URL (the same for both products).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from kifu.ingest.venues.base import (
    AuthRejected,
    Batch,
    Credentials,
    Cursor,
    KeyCheck,
    PermissionMissing,
    SymbolRejected,
    SyncPlan,
    VenueError,
    VenueFill,
    VenueUnavailable,
)
from kifu.ingest.venues.http import Prepare, VenueHttp

RECV_WINDOW = 5000
AUTH_CODES = frozenset({-1022, -2014, -2015, -2008})

WITHDRAW_REFUSAL = (
    "this API key allows withdrawals. kifu only reads your trade history and never needs that "
    "right; create a read-only key (leave 'Enable Withdrawals' off) and register that instead"
)


def sign(secret: str, query: str) -> str:
    return hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()


def signed(creds: Credentials, params: list[tuple[str, str]]) -> Prepare:
    """A request preparer that re-signs with a fresh timestamp on every try."""

    def prepare() -> tuple[str, dict[str, str]]:
        q = urlencode(
            [*params, ("timestamp", str(int(time.time() * 1000))), ("recvWindow", str(RECV_WINDOW))]
        )
        return f"{q}&signature={sign(creds.api_secret, q)}", {"X-MBX-APIKEY": creds.api_key}

    return prepare


def public(params: list[tuple[str, str]]) -> Prepare:
    return lambda: (urlencode(params), {})


def parse_error(status: int, body: Any, path: str) -> VenueError:
    code = body.get("code") if isinstance(body, dict) else None
    msg = str(body.get("msg", ""))[:200] if isinstance(body, dict) else ""
    if status == 401 or code in AUTH_CODES:
        return AuthRejected(
            f"Binance rejected the API key on {path} (invalid key or secret, or this IP is not"
            f" allowed): {msg or f'HTTP {status}'}"
        )
    if code == -1121:
        return SymbolRejected(f"Binance does not know this symbol ({msg})")
    if status == 403:
        return VenueUnavailable(f"Binance refused {path} (HTTP 403, web application firewall)")
    return VenueError(f"Binance answered {path} with HTTP {status}: {msg or 'no message'}")


def ms_time(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value) / 1000, UTC)


async def check_restrictions(
    http: VenueHttp, creds: Credentials, *, needs_futures: bool
) -> KeyCheck:
    data = await http.get("/sapi/v1/account/apiRestrictions", signed(creds, []), weight=1)
    if not isinstance(data, dict) or "enableReading" not in data:
        raise VenueUnavailable("Binance answered the permission check with an unexpected body")
    if data.get("enableWithdrawals"):
        raise PermissionMissing(WITHDRAW_REFUSAL)
    if not data.get("enableReading"):
        raise PermissionMissing("this API key cannot read account data ('Enable Reading' is off)")
    if needs_futures and not data.get("enableFutures"):
        raise PermissionMissing(
            "this API key has no access to USDⓈ-M futures ('Enable Futures' is off); futures"
            " history cannot be read without it"
        )
    return KeyCheck("connection successful")


def commit_cut(times: list[datetime], page_full: bool) -> int:
    """How many of a page's fills (sorted by id) to write now.

    A full page means more follow. Fills in the same second as the page's last fill are held
    back and fetched again with the next page, so that a group of identical fills within one
    second is never split between two writes: the ledger numbers identical fills within one
    write, and an export file numbers them within the file (kifu.ledger.rules), so both count
    them alike. A page that is one single second is written whole.
    """
    if not page_full or not times:
        return len(times)
    last = times[-1].replace(microsecond=0)
    n = len(times)
    while n > 0 and times[n - 1].replace(microsecond=0) == last:
        n -= 1
    return n or len(times)


def fill_pages_symbol_ok(symbol: str) -> bool:
    """A plain Binance symbol (``BTCUSDT``); delivery contracts (``BTCUSDT_240628``) and
    slash/dash spellings are not asked for."""
    return symbol.isalnum() and symbol.isupper() and 5 <= len(symbol) <= 20


async def fills_from_id(
    http: VenueHttp,
    creds: Credentials,
    plan: SyncPlan,
    symbol: str,
    *,
    path: str,
    weight: int,
    page: int,
    to_fill: Callable[[dict[str, Any]], VenueFill],
) -> AsyncIterator[Batch]:
    """Page a symbol's own trades by ``fromId`` from its cursor (both Binance markets do it
    alike), yielding batches that end on a whole second (``commit_cut``) with their cursor."""
    cur = plan.cursors.get(symbol)
    from_id = 0 if cur is None or plan.full_backfill else cur.last_trade_id + 1
    while True:
        rows = await http.get(
            path,
            signed(creds, [("symbol", symbol), ("fromId", str(from_id)), ("limit", str(page))]),
            weight=weight,
        )
        if not isinstance(rows, list):
            raise VenueUnavailable(f"Binance answered {path} with an unexpected body")
        fills = sorted((to_fill(r) for r in rows), key=lambda f: f.trade_id)
        full = len(rows) >= page
        fills = fills[: commit_cut([f.executed_at for f in fills], full)]
        if fills:
            last = fills[-1]
            yield Batch(fills=fills, cursors={symbol: Cursor(last.trade_id, plan.now)})
            from_id = last.trade_id + 1
        if not full:
            return
