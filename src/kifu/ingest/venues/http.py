"""Shared HTTP for exchange clients: exact-decimal JSON, the exchanges' own rate-limit signals,
bounded retries with backoff, and ban reporting.

* Binance counts request weight per IP and minute and reports it in ``X-MBX-USED-WEIGHT-1M``;
  a request that would cross 90 % of the venue's budget waits for the next minute.
* Upbit reports ``Remaining-Req: group=default; min=1800; sec=29``; at ``sec=0`` the next request
  waits for the next second.
* 429: wait ``Retry-After`` (else ``retry_base·2ⁿ``), at most ``MAX_ATTEMPTS`` tries, and never
  longer than ``max_wait`` per wait; 418 (ban): raise ``Banned`` at once, never retried.
* 5xx, timeouts and dropped connections: retried with backoff, then ``VenueUnavailable``.

Budgets are per process and base URL (an exchange counts per IP, so they are hints that keep one
process polite; the exchange's own headers correct them on every answer). Error messages name
the venue and the path, never a URL with its query (it carries the signature) nor any key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from kifu.ingest.venues.base import (
    Banned,
    RateLimited,
    VenueError,
    VenueUnavailable,
    VenueUrls,
)

MAX_ATTEMPTS = 4  # one try and three retries
BUDGET_SHARE = 0.9


@dataclass
class _Budget:
    limit: int  # weight per minute (Binance) or 0 when the venue signals per second (Upbit)
    used: int = 0
    minute: int = 0
    not_before: float = 0.0  # monotonic time before which no request is sent


_BUDGETS: dict[str, _Budget] = {}


def _budget(key: str, limit: int) -> _Budget:
    b = _BUDGETS.get(key)
    if b is None:
        b = _BUDGETS[key] = _Budget(limit)
    return b


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds (only the delta-seconds form; exchanges send that)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, seconds)


def remaining_per_second(value: str | None) -> int | None:
    """``sec`` of Upbit's ``Remaining-Req`` header."""
    if not value:
        return None
    for part in value.split(";"):
        name, _, num = part.strip().partition("=")
        if name == "sec":
            try:
                return int(num)
            except ValueError:
                return None
    return None


ErrorParser = Callable[[int, Any, str], VenueError]
Prepare = Callable[[], tuple[str, dict[str, str]]]  # (query string, headers), fresh per try


class VenueHttp:
    def __init__(
        self,
        name: str,
        base_url: str,
        urls: VenueUrls,
        parse_error: ErrorParser,
        *,
        weight_limit: int = 0,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.urls = urls
        self.parse_error = parse_error
        self.budget = _budget(f"{name}|{self.base_url}", weight_limit)
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(urls.timeout, connect=min(5.0, urls.timeout))
        )
        self.sleep: Callable[[float], Any] = asyncio.sleep
        self.server_seconds = 0.0
        self.requests = 0
        self.waited = 0.0

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self.waited += seconds
            await self.sleep(seconds)

    async def _respect_budget(self, weight: int) -> None:
        b = self.budget
        wait = b.not_before - time.monotonic()
        if b.limit:
            now = time.time()
            minute = int(now // 60)
            if minute != b.minute:
                b.minute, b.used = minute, 0
            elif b.used + weight > b.limit * BUDGET_SHARE:
                wait = max(wait, (minute + 1) * 60 - now + 0.05)
                b.minute, b.used = minute + 1, 0
        await self._pause(min(wait, self.urls.max_wait))

    def _learn(self, resp: httpx.Response) -> None:
        b = self.budget
        used = resp.headers.get("x-mbx-used-weight-1m")
        if used is not None and b.limit:
            with contextlib.suppress(ValueError):
                b.used, b.minute = int(used), int(time.time() // 60)
        sec = remaining_per_second(resp.headers.get("remaining-req"))
        if sec is not None and sec <= 0:
            b.not_before = max(b.not_before, time.monotonic() + 1.0)

    async def get(self, path: str, prepare: Prepare, *, weight: int = 1) -> Any:
        """GET ``path`` and return its JSON (floats as ``Decimal``); raise ``VenueError``."""
        last: VenueError | None = None
        for attempt in range(MAX_ATTEMPTS):
            await self._respect_budget(weight)
            query, headers = prepare()
            url = f"{self.base_url}{path}" + (f"?{query}" if query else "")
            started = time.perf_counter()
            try:
                resp = await self.client.get(url, headers=headers)
                body_text = resp.text
            except httpx.TimeoutException:
                last = VenueUnavailable(f"{self.name} did not answer {path} in time")
            except httpx.HTTPError:
                last = VenueUnavailable(f"{self.name} dropped the connection on {path}")
            else:
                self.server_seconds += time.perf_counter() - started
                self.requests += 1
                self._learn(resp)
                status = resp.status_code
                if status == 200:
                    try:
                        return json.loads(body_text, parse_float=Decimal)
                    except ValueError as exc:
                        raise VenueUnavailable(
                            f"{self.name} answered {path} with something that is not JSON"
                        ) from exc
                retry_after = retry_after_seconds(resp.headers.get("retry-after"))
                if status == 418:
                    wait = retry_after if retry_after is not None else 120.0
                    raise Banned(
                        f"{self.name} has banned this IP for {wait:.0f} s after too many"
                        " requests; kifu will not call it again before then",
                        retry_after=wait,
                    )
                if status == 429:
                    wait = retry_after if retry_after else self.urls.retry_base * 2**attempt
                    last = RateLimited(
                        f"{self.name} rate limit reached on {path}", retry_after=wait
                    )
                    if wait > self.urls.max_wait:
                        raise last
                    if attempt + 1 < MAX_ATTEMPTS:
                        await self._pause(wait)
                    continue
                if status >= 500:
                    last = VenueUnavailable(f"{self.name} failed on {path} (HTTP {status})")
                else:
                    try:
                        body: Any = json.loads(body_text)
                    except ValueError:
                        body = None
                    raise self.parse_error(status, body, path)
            if attempt + 1 < MAX_ATTEMPTS:
                await self._pause(self.urls.retry_base * 2**attempt)
        assert last is not None
        raise last
