"""Forms and responses of the CSV importers and the runs list."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field

from kifu.kit.fields import Timestamp

# -- multipart forms (documented; the routes read the stream themselves) ---------------------------

CsvFile = bytes  # shown as a binary string in the form's schema


class TradeImportForm(BaseModel):
    """``POST /imports/trades``: the file and how to read it."""

    file: CsvFile = Field(description="the CSV file (UTF-8 or CP949); at most KIFU_MAX_BODY_BYTES")
    venue: str | None = Field(
        default=None,
        description="venue code; required when the header is not a known exchange export",
    )
    asset_class: str = Field(default="crypto", description="crypto or stock")
    source: str = Field(default="csv", description="csv")
    venue_type: str | None = Field(default=None, description="cex, dex or broker")
    account_label: str = Field(default="default", description="account the fills belong to")
    address: str | None = Field(default=None, description="wallet or account address")
    report: str | None = Field(
        default=None, description="csv: answer the issue list as a CSV file (also a query value)"
    )


class LegacyImportForm(BaseModel):
    """``POST /trades/import``: columns exchange, symbol, side, quantity, price, trade_time;
    optional realized_pnl, timeframe, tags."""

    file: CsvFile = Field(description="the CSV file; at most KIFU_MAX_BODY_BYTES")


# -- responses -------------------------------------------------------------------------------------


class ImportIssue(BaseModel):
    row: int = Field(description="line number in the file (1 is the header)")
    reason: str


class LegacyImportReport(BaseModel):
    imported: int
    skipped: int
    duplicates: int
    rejected: int
    issues: list[ImportIssue] = Field(description="the first issues, by row")
    issue_count: int
    issues_truncated: bool


class ImportReport(BaseModel):
    imported: int
    skipped: int = Field(description="rejected + duplicates")
    duplicates: int
    rejected: int
    rows: int
    issues: list[ImportIssue] = Field(description="the first issues, by row")
    issue_count: int
    issues_truncated: bool
    positions_refreshed: bool
    positions_updated: int
    positions_refresh_error: str | None
    venue: str = Field(
        description="the venue code the events were stored under (the one most rows went to):"
        " `binance` is stored as `binance_spot` or `binance_futures`"
    )
    venues: list[str] = Field(description="every venue code the file's events were stored under")
    source: str
    format: str = Field(description="the export format recognised by the header")
    encoding: str
    notes: list[str]
    run_id: uuid.UUID


class Run(BaseModel):
    run_id: uuid.UUID
    run_type: str
    status: str = Field(description="running, completed or failed")
    started_at: Timestamp
    finished_at: Timestamp | None
    meta: dict[str, Any] = Field(description="what the run did, as it recorded it")


class RunPage(BaseModel):
    page: int
    limit: int
    total: int
    items: list[Run]
