"""A local HTTP server that answers like Binance (futures + spot klines) and Upbit (candles).

Prices are a deterministic function of (symbol, open time), so tests can compute the expected
close of any candle with ``FakeExchange.close``. Every request is recorded. Like the venues, it
keeps connections alive (HTTP/1.1) and answers at most 1500 futures, 1000 spot and 200 Upbit
candles a request.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

SECONDS = {"1m": 60, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400}
FUTURES_PATH, SPOT_PATH = "/fapi/v1/klines", "/api/v3/klines"
MOST = {FUTURES_PATH: 1500, SPOT_PATH: 1000}
UPBIT_UNITS = {"1": 60, "15": 900, "60": 3600, "240": 14400}


@dataclass
class FakeExchange:
    futures: set[str] = field(default_factory=lambda: {"BTCUSDT", "ETHUSDT"})
    spot: set[str] = field(default_factory=lambda: {"BTCUSDT", "ETHUSDT", "ETHBTC", "PEPEUSDT"})
    upbit: set[str] = field(default_factory=lambda: {"KRW-BTC", "KRW-ETH"})
    upbit_status: int | None = None  # force Upbit answers (e.g. 429)
    upbit_limit_after: int | None = None  # answer 429 to Upbit requests after this many
    bad_close: str | None = None  # send this text as every candle's close
    binance_status: int | None = None
    retry_after: str = "30"
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    # Wall time during which at least one request was being answered (answers that overlap count
    # once), and the CPU time of the answering threads.
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    answering: int = 0
    busy_since: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    @staticmethod
    def close(symbol: str, open_time: datetime) -> Decimal:
        minute = int(open_time.timestamp()) // 60
        base = 50000 if "BTC" in symbol else 3000
        return Decimal(base) + Decimal(minute % 997) / 100

    def candle(self, symbol: str, open_ts: int) -> tuple[Decimal, ...]:
        c = self.close(symbol, datetime.fromtimestamp(open_ts, UTC))
        return (c - 1, c + 2, c - 3, c, Decimal("12.5"))

    def paths(self, prefix: str) -> list[tuple[str, dict[str, str]]]:
        return [r for r in self.requests if r[0].startswith(prefix)]

    # -- answers ---------------------------------------------------------------------------------

    def binance(
        self, listed: set[str], q: dict[str, str], most: int
    ) -> tuple[int, object, dict[str, str]]:
        if self.binance_status:
            return (
                self.binance_status,
                {"code": -1003, "msg": "busy"},
                {"Retry-After": self.retry_after},
            )
        if q.get("symbol") not in listed:
            return 400, {"code": -1121, "msg": "Invalid symbol."}, {}
        step = SECONDS[q["interval"]]
        limit = min(int(q.get("limit", 500)), most)
        now = int(time.time())
        end = int(q["endTime"]) // 1000 if "endTime" in q else now
        if "startTime" in q:
            first = -(-int(q["startTime"]) // 1000 // step) * step
        else:
            first = (end - end % step) - (limit - 1) * step
        rows = []
        t = first
        while t <= end and t <= now and len(rows) < limit:
            o, h, lo, c, v = self.candle(q["symbol"], t)
            close = self.bad_close or str(c)
            rows.append(
                [t * 1000, str(o), str(h), str(lo), close, str(v), t * 1000 + step * 1000 - 1]
            )
            t += step
        return 200, rows, {}

    def upbit_answer(self, unit: int, q: dict[str, str]) -> tuple[int, object, dict[str, str]]:
        after = self.upbit_limit_after
        if after is not None and len(self.paths("/v1/candles")) > after:
            return 429, {"error": {"name": "too_many_requests"}}, {"Retry-After": self.retry_after}
        if self.upbit_status:
            return (
                self.upbit_status,
                {"error": {"name": "too_many_requests"}},
                {"Retry-After": self.retry_after},
            )
        market = q.get("market", "")
        if market not in self.upbit:
            return 404, {"error": {"name": "404", "message": "Code not found"}}, {}
        count = min(int(q.get("count", 1)), 200)
        now = int(time.time())
        if "to" in q:
            to = int(datetime.fromisoformat(q["to"].replace("Z", "+00:00")).timestamp())
        else:
            to = now + unit
        last = (to - 1) - (to - 1) % unit  # `to` is exclusive
        rows = []
        t = last
        while len(rows) < count:
            if t <= now:
                o, h, lo, c, v = self.candle(market, t)
                stamp = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S")
                rows.append(
                    {
                        "market": market,
                        "candle_date_time_utc": stamp,
                        "opening_price": float(o),
                        "high_price": float(h),
                        "low_price": float(lo),
                        "trade_price": self.bad_close or float(c),
                        "candle_acc_trade_volume": float(v),
                        "timestamp": t * 1000,
                    }
                )
            t -= unit
        return 200, rows, {}

    def answer(self, path: str, q: dict[str, str]) -> tuple[int, object, dict[str, str]]:
        if path == FUTURES_PATH:
            return self.binance(self.futures, q, MOST[path])
        if path == SPOT_PATH:
            return self.binance(self.spot, q, MOST[path])
        if path.startswith("/v1/candles/minutes/"):
            return self.upbit_answer(UPBIT_UNITS[path.rsplit("/", 1)[1]], q)
        if path == "/v1/candles/days":
            return self.upbit_answer(86400, q)
        return 404, {"msg": "no such path"}, {}


def serve(fake: FakeExchange) -> tuple[ThreadingHTTPServer, threading.Thread]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the venues
        disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart

        def do_GET(self) -> None:
            started, cpu = time.perf_counter(), time.thread_time()
            parsed = urlparse(self.path)
            q = {k: v[0] for k, v in parse_qs(parsed.query).items()}
            with fake.lock:
                fake.requests.append((parsed.path, q))
                if not fake.answering:
                    fake.busy_since = started
                fake.answering += 1
            status, body, headers = fake.answer(parsed.path, q)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
            with fake.lock:
                fake.answering -= 1
                if not fake.answering:
                    fake.seconds += time.perf_counter() - fake.busy_since
                fake.cpu_seconds += time.thread_time() - cpu

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def minutes_ago(n: int) -> datetime:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(minutes=n)
