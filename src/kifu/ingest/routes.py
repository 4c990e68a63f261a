"""HTTP for ingest: the unified and legacy CSV imports and the runs list."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from kifu import runs
from kifu.ingest import service
from kifu.ingest.schemas import (
    ImportReport,
    LegacyImportForm,
    LegacyImportReport,
    RunPage,
    TradeImportForm,
)
from kifu.kit.auth import CurrentUser
from kifu.kit.csvout import SafeWriter, attachment
from kifu.kit.db import Conn
from kifu.kit.errors import BadRequest
from kifu.kit.openapi import errors, multipart_body
from kifu.kit.pagination import PageParams

router = APIRouter(prefix="/api/v1")


async def _form(request: Request) -> Any:
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise BadRequest("INVALID_REQUEST", "send the file as multipart/form-data (field: file)")
    # Parsed here rather than with File()/Form() parameters so that an over-limit body stops
    # in the body-limit middleware (413) instead of becoming a generic parse error.
    form = await request.form(max_files=1, max_fields=20)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise BadRequest("INVALID_REQUEST", "file: field required (a CSV file)")
    return form, upload


def _text(form: Any, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def _issues_csv(report: dict[str, Any]) -> Response:
    buf = io.StringIO()
    w = SafeWriter(buf, lineterminator="\n")
    w.writerow(["row", "reason"])
    for issue in report["issues"]:
        w.writerow([issue["row"], issue["reason"]])
    if report["issues_truncated"]:
        w.writerow([0, "issues truncated"])
    name = f"import_issues_{datetime.now(UTC):%Y%m%d_%H%M%S}.csv"
    return Response(
        buf.getvalue(),
        media_type="text/csv",
        headers={
            **attachment(name),
            "X-Import-Imported": str(report["imported"]),
            "X-Import-Skipped": str(report["skipped"]),
            "X-Import-Duplicates": str(report["duplicates"]),
            "X-Positions-Refreshed": str(report["positions_refreshed"]).lower(),
            "X-Run-ID": report["run_id"],
        },
    )


FILE_ERRORS = ("EMPTY_FILE", "NOT_CSV", "INVALID_ENCODING", "MISSING_COLUMNS")
ISSUES_CSV = {
    "description": "`report=csv`: the issue list (`row,reason`) as an attachment; the counts are"
    " in the `X-Import-*` headers",
    "content": {"text/csv": {"schema": {"type": "string"}}},
}


@router.post(
    "/imports/trades",
    response_model=ImportReport,
    responses={
        200: ISSUES_CSV,
        **errors((400, *FILE_ERRORS, "VENUE_MISMATCH", "MISSING_VENUE"), 413),
    },
    openapi_extra=multipart_body(TradeImportForm),
    tags=["imports"],
)
async def import_trades(
    request: Request,
    user_id: CurrentUser,
    conn: Conn,
    report: Annotated[
        str | None, Query(description="csv: answer the issue list as a CSV file")
    ] = None,
) -> Any:
    """Import a trade CSV: a Binance futures/spot or Upbit export (recognised by its header) or
    the generic columns. Answers the report as JSON, or with ``report=csv`` the issue list as a
    CSV attachment. Files over ``KIFU_MAX_BODY_BYTES`` are refused with 413
    ``PAYLOAD_TOO_LARGE``."""
    form, upload = await _form(request)
    req = service.UnifiedRequest(
        venue=_text(form, "venue"),
        asset_class=_text(form, "asset_class") or "crypto",
        source=_text(form, "source") or "csv",
        venue_type=_text(form, "venue_type"),
        account_label=_text(form, "account_label") or "default",
        address=_text(form, "address"),
    )
    report_kind = (report or _text(form, "report") or "").lower()
    try:
        result = await service.import_unified(conn, user_id, upload.file, req)
    finally:
        await upload.close()
    if report_kind == "csv":
        return _issues_csv(result)
    return result


@router.post(
    "/trades/import",
    response_model=LegacyImportReport,
    responses=errors((400, *FILE_ERRORS), 413),
    openapi_extra=multipart_body(LegacyImportForm),
    tags=["imports"],
)
async def import_legacy(request: Request, user_id: CurrentUser, conn: Conn) -> dict[str, Any]:
    """The reference's legacy import (columns exchange, symbol, side, quantity, price,
    trade_time; optional realized_pnl, timeframe, tags): trades, auto bubbles and trade events,
    with the same dedupe keys as the unified import."""
    _, upload = await _form(request)
    try:
        return await service.import_legacy(conn, user_id, upload.file)
    finally:
        await upload.close()


@router.get("/runs", response_model=RunPage, tags=["runs"])
async def list_runs(
    user_id: CurrentUser, conn: Conn, page: PageParams, run_type: str | None = None
) -> dict[str, Any]:
    """The caller's import and sync runs, newest first."""
    items, total = await runs.list_runs(
        conn, user_id, run_type=run_type, limit=page.limit, offset=page.offset
    )
    return page.envelope(items, total)
