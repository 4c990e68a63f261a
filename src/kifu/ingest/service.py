"""The two CSV importers. Both stream the file into the ledger's staging table with COPY and
write in one transaction; rows that cannot be read are reported and skipped, never fatal."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, BinaryIO, TypeVar

from psycopg import AsyncConnection

from kifu import runs
from kifu.ingest.formats import detect
from kifu.ingest.formats.base import (
    ImportContext,
    ParsedRow,
    normalise_header,
    number,
    parse_side,
    parse_time,
)
from kifu.ingest.reader import BadRow, CsvSource, ImportFailed
from kifu.journal import auto
from kifu.kit import venues
from kifu.kit.errors import BadRequest
from kifu.kit.timeutil import TIMEFRAME_SECONDS
from kifu.ledger import service as ledger
from kifu.ledger import writer
from kifu.ledger.rules import (
    ASSET_CLASSES,
    VENUE_TYPES,
    RuleError,
    canonical_venue,
)

log = logging.getLogger("kifu.ingest")

MAX_ISSUES = 100
RUN_TYPE = "trade_csv_import"
# Reading the spooled upload, the CSV parser and each row's parse and normalisation are blocking
# Python: they run in a worker thread, ROWS_PER_BATCH rows at a time (kifu.ingest.reader reads
# the file there too), so the event loop only streams ready rows into COPY. That streaming still
# hands the loop back once YIELD_AFTER_SECONDS passed, checked every YIELD_CHECK rows.
ROWS_PER_BATCH = 1000
YIELD_AFTER_SECONDS = 0.01
YIELD_CHECK = 64

T = TypeVar("T")


class _Yielder:
    """``await tick()`` per row: gives the loop a turn once ``YIELD_AFTER_SECONDS`` passed."""

    def __init__(self) -> None:
        self.n = 0
        self.since = time.perf_counter()

    async def tick(self) -> None:
        self.n += 1
        if self.n % YIELD_CHECK == 0 and time.perf_counter() - self.since > YIELD_AFTER_SECONDS:
            await asyncio.sleep(0)
            self.since = time.perf_counter()


async def _off_loop(items: Iterator[T]) -> AsyncIterator[T]:
    """The items of a blocking iterator, taken ``ROWS_PER_BATCH`` at a time in a worker thread
    (one batch at a time: the iterator is never advanced by two threads at once)."""

    def take() -> list[T]:
        return list(itertools.islice(items, ROWS_PER_BATCH))

    yielder = _Yielder()
    while batch := await asyncio.to_thread(take):
        for item in batch:
            await yielder.tick()  # let other requests on this worker run
            yield item


@dataclass
class Issues:
    items: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0

    def add(self, row: int, reason: str) -> None:
        self.count += 1
        if len(self.items) < MAX_ISSUES:
            self.items.append({"row": row, "reason": reason})

    @property
    def room(self) -> int:
        return MAX_ISSUES - len(self.items)

    def sorted(self) -> list[dict[str, Any]]:
        return sorted(self.items, key=lambda i: i["row"])


@dataclass
class UnifiedRequest:
    venue: str | None
    asset_class: str = "crypto"
    source: str = "csv"
    venue_type: str | None = None
    account_label: str = "default"
    address: str | None = None

    def validate(self) -> None:
        self.asset_class = (self.asset_class or "").strip().lower()
        if self.asset_class not in ASSET_CLASSES:
            raise BadRequest("INVALID_REQUEST", "asset_class: must be crypto or stock")
        self.source = (self.source or "csv").strip().lower()
        if self.source != "csv":
            raise BadRequest("INVALID_REQUEST", "source: must be csv")
        if self.venue_type:
            self.venue_type = self.venue_type.strip().lower()
            if self.venue_type not in VENUE_TYPES:
                raise BadRequest("INVALID_REQUEST", "venue_type: must be cex, dex or broker")
        self.venue = (self.venue or "").strip().lower() or None
        if self.venue and not re.fullmatch(r"[a-z0-9_\-]{2,30}", self.venue):
            raise BadRequest("INVALID_REQUEST", "venue: letters, digits, _ or -, 2-30 characters")
        self.account_label = (self.account_label or "default").strip()[:60] or "default"
        self.address = (self.address or "").strip()[:120] or None


def _failure_meta(exc: ImportFailed | Exception) -> dict[str, Any]:
    if isinstance(exc, ImportFailed):
        return {"error": exc.message, "code": exc.code, "http_status": 400, **exc.extra}
    return {"error": f"internal error ({type(exc).__name__})", "http_status": 500}


async def _fail_run(conn: AsyncConnection, run_id: uuid.UUID, exc: Exception) -> None:
    await runs.fail(conn, run_id, _failure_meta(exc))


async def import_unified(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    raw: BinaryIO,
    req: UnifiedRequest,
    *,
    on_bytes: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """``POST /imports/trades`` and ``kifu import``: the report as a dict."""
    req.validate()
    run_id = await runs.start(
        conn,
        user_id,
        RUN_TYPE,
        {
            "source": req.source,
            "venue": req.venue,
            "asset_class": req.asset_class,
            "venue_type": req.venue_type,
            "account_label": req.account_label,
            "address": req.address,
        },
    )
    try:
        report = await _unified(conn, user_id, raw, req, run_id, on_bytes)
    except ImportFailed as exc:
        await _fail_run(conn, run_id, exc)
        raise BadRequest(exc.code, exc.message, extra={"run_id": str(run_id), **exc.extra}) from exc
    except Exception as exc:
        try:
            await _fail_run(conn, run_id, exc)
        except Exception:  # the connection itself may be gone; the original error matters
            log.exception("could not mark run %s failed", run_id)
        raise
    return report


def _trade_fields(pr: ParsedRow) -> writer.TradeFields | None:
    """The exchange's own realized PnL of a fill (Binance futures exports carry it), for the
    fill's ``trades`` row, as the exchange sync and the legacy importer already record it, so
    the Trades screen's summary shows it: the format's own parsed figure when it has one (no
    JSON read back per row), else the metadata's."""
    if pr.realized_pnl is not None:  # parsed and bounded by the format (finite)
        return writer.TradeFields(realized_pnl=pr.realized_pnl)
    metadata = pr.metadata
    if not metadata or '"realized_profit"' not in metadata:
        return None
    try:
        pnl = Decimal(json.loads(metadata)["realized_profit"])
    except (ValueError, KeyError, TypeError, InvalidOperation):
        return None
    return writer.TradeFields(realized_pnl=pnl) if pnl.is_finite() else None


async def _unified(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    raw: BinaryIO,
    req: UnifiedRequest,
    run_id: uuid.UUID,
    on_bytes: Callable[[int], None] | None,
) -> dict[str, Any]:
    # Opening may read the whole file once (kifu.ingest.reader): not on the event loop.
    src = await asyncio.to_thread(CsvSource, raw, on_bytes)
    header = [normalise_header(h) for h in src.header]
    fmt = detect(header)
    missing = fmt.missing(header)
    if missing:
        raise ImportFailed(
            "MISSING_COLUMNS", f"missing columns: {', '.join(missing)}", missing=missing
        )
    if fmt.venue:
        if req.venue and canonical_venue(req.venue, venues.get(fmt.venue).event_type) != fmt.venue:
            raise ImportFailed(
                "VENUE_MISMATCH",
                f"venue: the file is a {fmt.name} export but venue {req.venue!r} was given",
            )
        venue = fmt.venue
    elif req.venue:
        venue = req.venue
    else:
        raise ImportFailed(
            "MISSING_VENUE", "venue: required (the header is not a known exchange export)"
        )
    parse = fmt.parser(header, ImportContext(venue=venue, asset_class=req.asset_class))
    issues = Issues()
    cache: dict = {}
    clock = [time.perf_counter()]
    counts = {"rows": 0, "rejected": 0, "assumed": 0, "fee_assumed": 0}
    stored_venues: Counter[str] = Counter()  # the venue codes the fills are stored under

    def fills() -> Iterator[writer.Row]:  # runs in a worker thread (_off_loop)
        for line, cells in src.rows():
            counts["rows"] += 1
            if isinstance(cells, BadRow):
                counts["rejected"] += 1
                issues.add(line, cells.reason)
                continue
            try:
                pr = parse(cells)
                nf = ledger.normalise_fill(
                    venue=venue,
                    venue_type=req.venue_type,
                    asset_class=req.asset_class,
                    symbol=pr.symbol,
                    base=pr.base,
                    quote=pr.quote,
                    event_type=pr.event_type,
                    side=pr.side,
                    qty=pr.qty,
                    price=pr.price,
                    fee=pr.fee,
                    fee_asset=pr.fee_asset,
                    executed_at=pr.executed_at,
                    external_id=pr.external_id,
                    metadata=pr.metadata,
                    symbol_cache=cache,
                )
            except RuleError as exc:
                counts["rejected"] += 1
                issues.add(line, str(exc))
                continue
            stored_venues[nf.venue] += 1
            counts["assumed"] += pr.zone_assumed
            counts["fee_assumed"] += bool(pr.fee and not pr.fee_asset)
            yield line, nf, _trade_fields(pr)

    async with (
        conn.transaction(),
        writer.open_write(
            conn,
            user_id,
            source=req.source,
            account_label=req.account_label,
            address=req.address,
        ) as w,
    ):
        await w.add_all(_off_loop(fills()))
        rows, rejected = counts["rows"], counts["rejected"]
        assumed, fee_assumed = counts["assumed"], counts["fee_assumed"]
        clock.append(time.perf_counter())
        result = await w.finish(issue_room=issues.room)
        clock.append(time.perf_counter())
        for row, has_id in result.duplicate_rows:
            issues.add(
                row,
                "duplicate trade id (earlier in this file or already imported)"
                if has_id
                else "duplicate event already imported",
            )
        duplicates = result.duplicates
        issues.count += max(0, duplicates - len(result.duplicate_rows))
        refreshed = result.positions
        # read_ms: parsing and staging; write_ms: everything the ledger's write did, split below
        timings = {
            name: round((clock[i + 1] - clock[i]) * 1000)
            for i, name in enumerate(("read_ms", "write_ms"))
        } | result.timings
        notes = []
        if assumed:
            notes.append(f"{assumed} row(s) had no time zone and were read as UTC")
        if fmt.time_note and fmt.name != "generic":
            notes.append(fmt.time_note)
        if fee_assumed:
            notes.append(f"{fee_assumed} fee(s) without an asset were taken in the quote asset")
        # The venue the events were stored under (``binance`` is stored as ``binance_spot`` or
        # ``binance_futures``), so the report names what a filter will find.
        stored = [v for v, _ in stored_venues.most_common()] or [canonical_venue(venue)]
        report = {
            "imported": result.inserted,
            "skipped": rejected + duplicates,
            "duplicates": duplicates,
            "rejected": rejected,
            "rows": rows,
            "issues": issues.sorted(),
            "issue_count": issues.count,
            "issues_truncated": issues.count > len(issues.items),
            "positions_refreshed": result.inserted > 0,
            "positions_updated": refreshed,
            "positions_refresh_error": None,
            "venue": stored[0],
            "venues": sorted(stored),
            "source": req.source,
            "format": fmt.name,
            "encoding": src.encoding.replace("-sig", ""),
            "notes": notes,
            "run_id": str(run_id),
        }
        await runs.complete(
            conn,
            run_id,
            {
                "format": fmt.name,
                "venue": stored[0],
                "venues": sorted(stored),
                "exchange_rows_imported": result.inserted,
                "exchange_rows_skipped": rejected + duplicates,
                "exchange_rows_duplicated": duplicates,
                "exchange_rows_rejected": rejected,
                "rows": rows,
                "positions_refreshed": result.inserted > 0,
                "positions_error": None,
                "timings": timings,
                "http_status": 200,
            },
        )
    return report


# -- legacy importer ---------------------------------------------------------------------------

LEGACY_REQUIRED = ("exchange", "symbol", "side", "quantity", "price", "trade_time")
LEGACY_EXCHANGES = venues.EXCHANGE_CODES
_LEGACY_SYMBOL = re.compile(r"^[A-Z0-9-]{3,20}$")


def _legacy_tags(text: str, side: str) -> list[str]:
    tags: list[str] = []
    for t in text.split(","):
        t = t.strip().lower()
        if t and t not in tags:
            tags.append(t)
    if len(tags) > 5 or any(len(t) > 20 for t in tags):
        raise RuleError("invalid tags: at most 5, each at most 20 characters")
    if side not in tags:
        tags.append(side)
    return tags


@dataclass(slots=True)
class _LegacyRow:
    fill: ledger.NormalFill
    trade: writer.TradeFields
    bubble: tuple[str, list[str], str] | None  # timeframe, tags, price text: when not the default


async def import_legacy(conn: AsyncConnection, user_id: uuid.UUID, raw: BinaryIO) -> dict[str, Any]:
    """``POST /trades/import``: trades, their auto bubbles and trade events, deduped with the
    unified importer (same keys), so a fill imported both ways is stored once."""
    try:
        src = await asyncio.to_thread(CsvSource, raw)
    except ImportFailed as exc:
        raise BadRequest(exc.code, exc.message) from exc
    header = [normalise_header(h) for h in src.header]
    missing = [c for c in LEGACY_REQUIRED if c not in header]
    if missing:
        raise BadRequest(
            "MISSING_COLUMNS", f"missing columns: {', '.join(missing)}", extra={"missing": missing}
        )
    col = {h: n for n, h in reversed(list(enumerate(header)))}

    def get(cells: list[str], name: str) -> str:
        i = col.get(name)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    issues = Issues()
    counts = {"rows": 0, "rejected": 0}
    # Only what differs from the default bubble (1d, the side's tag, the price as parsed) is
    # kept per row until the trades are known.
    bubbles: dict[int, tuple[str, list[str], str]] = {}

    def fills() -> Iterator[writer.Row]:  # runs in a worker thread (_off_loop)
        for line, cells in src.rows():
            counts["rows"] += 1
            if isinstance(cells, BadRow):
                counts["rejected"] += 1
                issues.add(line, cells.reason)
                continue
            try:
                row = _legacy_row(cells, get)
            except RuleError as exc:
                counts["rejected"] += 1
                issues.add(line, str(exc))
                continue
            if row.bubble is not None:
                bubbles[line] = row.bubble
            yield line, row.fill, row.trade

    try:
        async with (
            conn.transaction(),
            writer.open_write(conn, user_id, source="csv", account_label="csv-import") as w,
        ):
            await w.add_all(_off_loop(fills()))
            result = await w.finish(
                issue_room=issues.room,
                bubbles=auto.for_new_trades(
                    conn, user_id, lambda t: _legacy_bubble(t, bubbles.get(t.row_no))
                ),
            )
            for row_no, _ in result.duplicate_rows:
                issues.add(row_no, "duplicate trade already imported")
    except ImportFailed as exc:
        raise BadRequest(exc.code, exc.message) from exc
    rows, rejected = counts["rows"], counts["rejected"]
    imported = result.trades_created
    duplicates = result.duplicates
    return {
        "imported": imported,
        "skipped": rows - imported,
        "duplicates": duplicates,
        "rejected": rejected,
        "issues": issues.sorted(),
        "issue_count": rejected + duplicates,
        "issues_truncated": rejected + duplicates > len(issues.items),
    }


def _legacy_bubble(
    t: writer.NewTrade, custom: tuple[str, list[str], str] | None
) -> auto.AutoBubble:
    side = t.side.lower()
    timeframe, tags, price_text = custom or ("1d", [side], format(t.price, "f"))
    return auto.auto_bubble(
        "csv",
        trade_id=t.trade_id,
        symbol=t.symbol,
        side=t.side,
        price=t.price,
        price_text=price_text,
        at=t.executed_at,
        timeframe=timeframe,
        tags=tags,
        venue_name=t.exchange,
    )


def _legacy_row(cells: list[str], get: Callable[[list[str], str], str]) -> _LegacyRow:
    exchange = get(cells, "exchange").lower()
    if exchange not in LEGACY_EXCHANGES:
        raise RuleError(f"invalid exchange: must be one of {', '.join(LEGACY_EXCHANGES)}")
    symbol = get(cells, "symbol").upper()
    if not _LEGACY_SYMBOL.fullmatch(symbol):
        raise RuleError("invalid symbol")
    side = parse_side(get(cells, "side"))
    if side is None:
        raise RuleError("invalid side: must be buy or sell")
    qty = number(get(cells, "quantity"), "quantity")
    price = number(get(cells, "price"), "price")
    if qty is None or qty <= 0:
        raise RuleError("invalid quantity")
    if price is None or price <= 0:
        raise RuleError("invalid price")
    at, _ = parse_time(get(cells, "trade_time"))
    pnl = number(get(cells, "realized_pnl"), "realized_pnl")
    timeframe = get(cells, "timeframe").lower()
    if timeframe not in TIMEFRAME_SECONDS:
        timeframe = "1d"
    tags = _legacy_tags(get(cells, "tags"), side)
    price_text = get(cells, "price")
    trade_id = uuid.uuid4()
    bubble = (
        None
        if timeframe == "1d" and tags == [side] and price_text == format(price, "f")
        else (timeframe, tags, price_text)
    )
    nf = ledger.normalise_fill(
        venue=exchange,
        venue_type=None,
        asset_class="crypto",
        symbol=symbol,
        base=None,
        quote=None,
        event_type="perp_trade" if "futures" in exchange else "spot_trade",
        side=side,
        qty=qty,
        price=price,
        fee=None,
        fee_asset=None,
        executed_at=at,
        external_id=None,
        metadata=json.dumps(
            {"trade_id": str(trade_id), "exchange": exchange}, separators=(",", ":")
        ),
    )
    trade = writer.TradeFields(ref=trade_id, symbol=symbol, realized_pnl=pnl)
    return _LegacyRow(nf, trade, bubble)
