"""The one small interface every exchange client implements, and the values it yields.

A venue knows its own endpoints, paging and cursors; the sync engine (``kifu.exchanges.sync``)
knows the database. The venue yields ``Batch`` es; the engine writes each batch, with the cursors
it carries, in one transaction, so a sync that stops half way keeps exactly the batches it
finished and the next sync resumes from their cursors.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kifu.kit.errors import DomainError

if TYPE_CHECKING:
    from kifu.ingest.venues.http import VenueHttp


@dataclass(frozen=True)
class Credentials:
    api_key: str
    api_secret: str

    def __repr__(self) -> str:  # never print the secret, even in a traceback's locals
        return "Credentials(****)"


@dataclass(frozen=True)
class VenueUrls:
    binance_spot: str
    binance_futures: str
    upbit: str
    retry_base: float = 0.5  # seconds; doubled per attempt
    max_wait: float = 60.0  # longest server-requested wait kifu sleeps through
    timeout: float = 15.0


# -- errors ------------------------------------------------------------------------------------


class VenueError(DomainError):
    """The exchange could not be used; ``message`` is safe to show (no secrets, no URLs), and
    ``retry_after`` is how long the exchange asked us to wait, when it said."""

    code = "EXCHANGE_REQUEST_FAILED"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)


class VenueUnavailable(VenueError):
    """Timeouts, dropped connections, 5xx or garbage after the bounded retries."""


class AuthRejected(VenueError):
    """The exchange refused the key or its signature (wrong key/secret, IP not whitelisted)."""

    code = "EXCHANGE_PERMISSION_DENIED"


class PermissionMissing(VenueError):
    """The key works but lacks a right kifu needs, or has one it must not have."""

    code = "EXCHANGE_PERMISSION_DENIED"


class RateLimited(VenueError):
    """429 that did not clear within the bounded retries, or a wait longer than allowed."""

    code = "RATE_LIMITED"


class Banned(VenueError):
    """418 (Binance IP ban) or Upbit's ban: reported, never retried before ``retry_after``."""

    code = "RATE_LIMITED"


class SymbolRejected(VenueError):
    """The venue does not know a symbol (delisted, never listed); the sync skips it."""


# -- values ------------------------------------------------------------------------------------


@dataclass(slots=True)
class VenueFill:
    """One fill as the exchange reported it, in kifu's terms."""

    exchange: str
    symbol: str  # trades.symbol: BTCUSDT, BTCKRW
    venue_symbol: str  # the venue's own: BTCUSDT, KRW-BTC
    base: str
    quote: str
    trade_id: int  # trades.binance_trade_id (positive)
    external_id: str  # the venue's trade id as text
    side: str  # buy | sell
    qty: Decimal
    price: Decimal
    price_text: str  # as the exchange sent it (bubble memo)
    fee: Decimal | None
    fee_asset: str | None
    executed_at: datetime
    realized_pnl: Decimal | None = None
    position_side: str | None = None
    open_close: str | None = None
    reduce_only: bool | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class VenueIncome:
    """One income-history entry (funding fee, commission, realized PnL, …)."""

    exchange: str
    symbol: str
    base: str
    quote: str
    income_type: str
    asset: str
    income_text: str  # exactly as sent
    income: Decimal
    tran_id: str
    executed_at: datetime


@dataclass(frozen=True)
class Cursor:
    last_trade_id: int
    last_sync_at: datetime


@dataclass(slots=True)
class Batch:
    """What to write in one transaction: fills, income, and the cursors they advance."""

    fills: list[VenueFill] = field(default_factory=list)
    incomes: list[VenueIncome] = field(default_factory=list)
    cursors: dict[str, Cursor] = field(default_factory=dict)


@dataclass
class SyncPlan:
    """What the engine knows before a sync, and where the venue reports back."""

    now: datetime
    cursors: dict[str, Cursor]
    known_symbols: set[str]  # existing trades/events, watch-list (venue's own spelling)
    full_backfill: bool = False
    history_days: int | None = None
    # Upbit: order uuids whose fills are already stored, for orders created since a time.
    known_orders: Callable[[datetime], Awaitable[set[str]]] | None = None
    notes: dict[str, Any] = field(default_factory=dict)  # reported in the run and response


@dataclass(frozen=True)
class KeyCheck:
    message: str
    expires_at: datetime | None = None


class Venue(ABC):
    """An exchange account, read-only, spoken to through one ``VenueHttp`` client."""

    exchange: str = ""
    http: VenueHttp

    @abstractmethod
    async def check_key(self) -> KeyCheck:
        """Verify the key can read history and cannot withdraw; raise a ``VenueError``."""

    @abstractmethod
    def sync(self, plan: SyncPlan) -> AsyncIterator[Batch]:
        """The account's new fills and income, oldest first within each stream, as batches."""

    @property
    def server_seconds(self) -> float:
        """Wall time spent waiting for the exchange (benchmarks)."""
        return self.http.server_seconds

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> Venue:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
