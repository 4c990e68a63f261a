"""Local stand-ins for Binance (spot + USDⓈ-M futures) and Upbit that speak their documented
protocols closely enough for kifu's real clients to run against them.

* Binance: ``X-MBX-APIKEY`` must name a registered key and ``signature`` must be the HMAC-SHA256
  hex of the query string before it, under that key's secret (else -2015 / -1022); ``timestamp``
  must be within ``recvWindow``. Fills page by ``fromId``/``limit`` (max 1000), income by
  ``startTime``/``endTime``/``limit`` and only for the last 3 months. Answers carry
  ``X-MBX-USED-WEIGHT-1M``.
* Upbit: ``Authorization: Bearer <JWT HS512>`` whose ``query_hash`` is the SHA-512 hex of the
  (unquoted) query string; closed orders by creation time in windows of at most 7 days, at most
  1000 per call; ``/v1/order?uuid=`` with ``trades[]``. Answers carry ``Remaining-Req``.
* Faults: ``inject(path, action, after=n, times=m)`` makes the (n+1)-th to (n+m)-th request to a
  path answer ``429``/``418``/``500``/``garbage`` or ``drop`` the connection.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlparse

import jwt

RETENTION_MS = 90 * 86400 * 1000


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


@dataclass
class Key:
    secret: str
    reading: bool = True
    futures: bool = True
    withdrawals: bool = False
    expire_at: str | None = None  # Upbit


@dataclass
class Fault:
    path: str
    action: str
    after: int
    times: int
    retry_after: str = "0"


@dataclass
class FakeVenues:
    keys: dict[str, Key] = field(default_factory=dict)
    futures: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    spot: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    incomes: list[dict[str, Any]] = field(default_factory=list)
    positions: dict[str, str] = field(default_factory=dict)
    balances: list[dict[str, str]] = field(default_factory=list)
    spot_listed: dict[str, tuple[str, str]] = field(default_factory=dict)
    upbit_orders: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    used_weight: int | None = None  # force the X-MBX-USED-WEIGHT-1M header value
    upbit_remaining_sec: int = 29
    server_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    _ids: dict[str, list[int]] = field(default_factory=dict)

    # -- set-up ----------------------------------------------------------------------------------

    def inject(
        self, path: str, action: str, *, after: int = 0, times: int = 1, retry_after: str = "0"
    ) -> None:
        self.faults.append(Fault(path, action, after, times, retry_after))

    def add_futures(
        self,
        symbol: str,
        n: int,
        *,
        start_id: int = 1,
        start: datetime,
        step: timedelta = timedelta(seconds=7),
        position_side: str = "BOTH",
        price: str = "50000.10",
        qty: str = "0.010",
    ) -> list[dict[str, Any]]:
        rows = self.futures.setdefault(symbol, [])
        out = []
        for i in range(n):
            tid = start_id + i
            side = "BUY" if i % 2 == 0 else "SELL"
            out.append(
                {
                    "symbol": symbol,
                    "id": tid,
                    "orderId": 9_000_000 + tid,
                    "side": side,
                    "price": price,
                    "qty": qty,
                    "realizedPnl": "0" if side == "BUY" else "1.25",
                    "marginAsset": "USDT",
                    "quoteQty": "500.001",
                    "commission": "0.02000000",
                    "commissionAsset": "USDT",
                    "time": ms(start + step * i),
                    "positionSide": position_side,
                    "buyer": side == "BUY",
                    "maker": False,
                }
            )
        rows.extend(out)
        rows.sort(key=lambda r: r["id"])
        self._ids.pop(f"f:{symbol}", None)
        return out

    def add_spot(
        self,
        symbol: str,
        base: str,
        quote: str,
        n: int,
        *,
        start_id: int = 1,
        start: datetime,
        step: timedelta = timedelta(seconds=11),
    ) -> None:
        self.spot_listed[symbol] = (base, quote)
        rows = self.spot.setdefault(symbol, [])
        for i in range(n):
            tid = start_id + i
            rows.append(
                {
                    "symbol": symbol,
                    "id": tid,
                    "orderId": 77_000 + tid,
                    "orderListId": -1,
                    "price": "0.05120000",
                    "qty": "1.50000000",
                    "quoteQty": "0.07680000",
                    "commission": "0.00150000",
                    "commissionAsset": base,
                    "time": ms(start + step * i),
                    "isBuyer": i % 3 != 0,
                    "isMaker": True,
                    "isBestMatch": True,
                }
            )
        rows.sort(key=lambda r: r["id"])
        self._ids.pop(f"s:{symbol}", None)

    def add_income(
        self,
        symbol: str,
        income_type: str,
        income: str,
        at: datetime,
        tran_id: int,
        asset: str = "USDT",
    ) -> None:
        self.incomes.append(
            {
                "symbol": symbol,
                "incomeType": income_type,
                "income": income,
                "asset": asset,
                "info": "",
                "time": ms(at),
                "tranId": tran_id,
                "tradeId": "",
            }
        )
        self.incomes.sort(key=lambda r: (r["time"], r["tranId"]))

    def add_upbit_order(
        self,
        market: str,
        side: str,
        at: datetime,
        fills: list[tuple[str, str]],
        *,
        state: str = "done",
        paid_fee: str = "25.5",
    ) -> dict[str, Any]:
        ou = str(uuid.uuid4())
        trades = []
        executed = Decimal(0)
        for n, (price, volume) in enumerate(fills):
            funds = Decimal(price) * Decimal(volume)
            executed += Decimal(volume)
            trades.append(
                {
                    "market": market,
                    "uuid": str(uuid.uuid4()),
                    "price": price,
                    "volume": volume,
                    "funds": str(funds),
                    "side": side,
                    "created_at": (at + timedelta(seconds=n))
                    .astimezone(__import__("datetime").timezone(timedelta(hours=9)))
                    .isoformat(),
                }
            )
        order = {
            "uuid": ou,
            "side": side,
            "ord_type": "limit",
            "price": fills[0][0] if fills else "1",
            "state": state,
            "market": market,
            "created_at": at.astimezone(
                __import__("datetime").timezone(timedelta(hours=9))
            ).isoformat(),
            "volume": str(executed or Decimal("1")),
            "remaining_volume": "0",
            "reserved_fee": "0",
            "remaining_fee": "0",
            "paid_fee": paid_fee,
            "locked": "0",
            "executed_volume": str(executed),
            "trades_count": len(trades),
            "trades": trades,
            "_created_ms": ms(at),
        }
        self.upbit_orders.append(order)
        return order

    def paths(self, prefix: str) -> list[tuple[str, dict[str, str]]]:
        return [r for r in self.requests if r[0].startswith(prefix)]

    # -- answers ---------------------------------------------------------------------------------

    def _fault(self, path: str) -> Fault | None:
        with self.lock:
            n = self.hits.get(path, 0)
            self.hits[path] = n + 1
            for f in self.faults:
                if f.path == path and f.after <= n < f.after + f.times:
                    return f
        return None

    def _binance_auth(self, raw: str, q: dict[str, str], headers: Any) -> tuple[int, Any] | None:
        api_key = headers.get("X-MBX-APIKEY")
        key = self.keys.get(api_key or "")
        if key is None:
            return 401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}
        payload, _, sig = raw.rpartition("&signature=")
        good = hmac.new(key.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not sig or not hmac.compare_digest(sig, good):
            return 400, {"code": -1022, "msg": "Signature for this request is not valid."}
        ts, window = int(q.get("timestamp", "0")), int(q.get("recvWindow", "5000"))
        if abs(time.time() * 1000 - ts) > window + 1000:
            return 400, {
                "code": -1021,
                "msg": "Timestamp for this request is outside of the recvWindow.",
            }
        return None

    def _page(
        self, table: dict[str, list[dict[str, Any]]], tag: str, q: dict[str, str]
    ) -> tuple[int, Any]:
        symbol = q.get("symbol", "")
        rows = table.get(symbol)
        if rows is None:
            if tag == "s" and symbol not in self.spot_listed:
                return 400, {"code": -1121, "msg": "Invalid symbol."}
            return 200, []
        limit = min(int(q.get("limit", "500")), 1000)
        key = f"{tag}:{symbol}"
        ids = self._ids.get(key)
        if ids is None or len(ids) != len(rows):
            ids = self._ids[key] = [r["id"] for r in rows]
        if "fromId" in q:
            i = bisect.bisect_left(ids, int(q["fromId"]))
            return 200, rows[i : i + limit]
        return 200, rows[-limit:]

    def binance(self, path: str, raw: str, q: dict[str, str], headers: Any) -> tuple[int, Any]:
        if path == "/api/v3/exchangeInfo":
            return 200, {
                "symbols": [
                    {"symbol": s, "baseAsset": b, "quoteAsset": qq, "status": "TRADING"}
                    for s, (b, qq) in self.spot_listed.items()
                ]
            }
        denied = self._binance_auth(raw, q, headers)
        if denied:
            return denied
        key = self.keys[headers.get("X-MBX-APIKEY")]
        if path == "/sapi/v1/account/apiRestrictions":
            return 200, {
                "ipRestrict": False,
                "createTime": 1700000000000,
                "enableReading": key.reading,
                "enableWithdrawals": key.withdrawals,
                "enableInternalTransfer": False,
                "enableMargin": False,
                "enableFutures": key.futures,
                "permitsUniversalTransfer": False,
                "enableVanillaOptions": False,
                "enableSpotAndMarginTrading": False,
            }
        if path == "/fapi/v1/userTrades":
            return self._page(self.futures, "f", q)
        if path == "/api/v3/myTrades":
            return self._page(self.spot, "s", q)
        if path == "/fapi/v2/positionRisk":
            return 200, [
                {"symbol": s, "positionAmt": a, "positionSide": "BOTH"}
                for s, a in self.positions.items()
            ]
        if path == "/api/v3/account":
            return 200, {"balances": self.balances}
        if path == "/fapi/v1/income":
            now = time.time() * 1000
            start = max(int(q.get("startTime", now - 7 * 86400000)), now - RETENTION_MS)
            end = int(q.get("endTime", now))
            if end - int(q.get("startTime", end)) > 7 * 86400000 + 1000:
                return 400, {"code": -4089, "msg": "time interval too long"}
            limit = min(int(q.get("limit", "100")), 1000)
            rows = [r for r in self.incomes if start <= r["time"] <= end]
            return 200, rows[:limit]
        return 404, {"code": -5, "msg": "no such path"}

    def upbit(self, path: str, raw: str, q: list[tuple[str, str]], headers: Any) -> tuple[int, Any]:
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return 401, {"error": {"name": "jwt_verification", "message": "no token"}}
        try:
            unverified = jwt.decode(auth[7:], options={"verify_signature": False})
            key = self.keys.get(unverified.get("access_key", ""))
            if key is None:
                return 401, {"error": {"name": "invalid_access_key", "message": "bad key"}}
            claims = jwt.decode(auth[7:], key.secret, algorithms=["HS512"])
        except jwt.InvalidTokenError:
            return 401, {"error": {"name": "jwt_verification", "message": "bad signature"}}
        if raw:
            want = hashlib.sha512(unquote(raw).encode()).hexdigest()
            if claims.get("query_hash") != want or claims.get("query_hash_alg") != "SHA512":
                return 401, {"error": {"name": "invalid_query_payload", "message": "hash"}}
        if path == "/v1/api_keys":
            return 200, [
                {"access_key": k, "expire_at": v.expire_at or "2099-01-01T00:00:00+09:00"}
                for k, v in self.keys.items()
                if k == claims["access_key"]
            ]
        if not key.reading:
            return 401, {"error": {"name": "out_of_scope", "message": "권한이 부족합니다."}}
        params = dict(q)
        if path == "/v1/orders/closed":
            states = [v for k, v in q if k == "states[]"] or ["done", "cancel"]
            limit = min(int(params.get("limit", "100")), 1000)
            if "start_time" in params:
                start, end = int(params["start_time"]), int(params["end_time"])
                if end - start > 7 * 86400000:
                    return 400, {"error": {"name": "invalid_parameter", "message": "7 days"}}
                rows = [
                    o
                    for o in self.upbit_orders
                    if start <= o["_created_ms"] <= end and o["state"] in states
                ]
            else:
                rows = list(self.upbit_orders)
            rows.sort(
                key=lambda o: o["_created_ms"], reverse=params.get("order_by", "desc") == "desc"
            )
            return 200, [
                {k: v for k, v in o.items() if k not in ("trades", "_created_ms")}
                for o in rows[:limit]
            ]
        if path == "/v1/order":
            for o in self.upbit_orders:
                if o["uuid"] == params.get("uuid"):
                    return 200, {k: v for k, v in o.items() if k != "_created_ms"}
            return 404, {"error": {"name": "order_not_found", "message": "no order"}}
        return 404, {"error": {"name": "not_found", "message": path}}


def serve(fake: FakeVenues) -> tuple[ThreadingHTTPServer, threading.Thread]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            started = time.perf_counter()
            parsed = urlparse(self.path)
            path, raw = parsed.path, parsed.query
            pairs = parse_qsl(raw, keep_blank_values=True)
            with fake.lock:
                fake.requests.append((path, dict(pairs)))
            fault = fake._fault(path)
            headers: dict[str, str] = {}
            if fault is not None:
                if fault.action == "drop":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.connection.close()
                    return
                if fault.action == "garbage":
                    self._send(200, b"<html>maintenance</html>", {})
                    return
                status = int(fault.action)
                self._send(
                    status,
                    json.dumps({"code": -1003, "msg": "Too many requests"}).encode(),
                    {"Retry-After": fault.retry_after},
                )
                return
            if path.startswith("/v1/"):
                status, body = fake.upbit(path, raw, pairs, self.headers)
                headers["Remaining-Req"] = (
                    f"group=default; min=1800; sec={fake.upbit_remaining_sec}"
                )
            else:
                status, body = fake.binance(path, raw, dict(pairs), self.headers)
                headers["X-MBX-USED-WEIGHT-1M"] = str(fake.used_weight or 10)
            data = json.dumps(body).encode()
            with fake.lock:
                fake.server_seconds += time.perf_counter() - started
            self._send(status, data, headers)

        def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]
