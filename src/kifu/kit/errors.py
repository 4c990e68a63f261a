"""Errors, and their one mapping to the ``{"code", "message"}`` envelope and an HTTP status.

Two kinds of error reach the handler:

* a **domain error** (``DomainError``): raised by capabilities and ``kit`` helpers in their own
  terms, with a stable ``code`` (the API's) and a message safe to show, never an HTTP status.
  ``STATUS_BY_CODE`` below gives each code its status, once; a code missing there is a 400
  (the class-based default of every domain error: the request asked for something invalid).
* an **HTTP error** (``KifuError`` and its subclasses ``BadRequest``, ``NotFound``, …): raised
  by routes and services that answer a request, where the status is the point; the class names
  it.

``install_error_handlers`` turns both, and every other failure (unknown route, malformed JSON,
validation, unexpected exception), into the one envelope the KIFU client reads.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from kifu.kit.fields import INVALID_REQUEST, is_error_code

log = logging.getLogger("kifu.errors")


class ErrorResponse(BaseModel):
    """Every error answer: a stable code and a message for people. Some errors add context
    fields (``run_id``, ``missing``, ``retry_after``, ``run_status``)."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(description="UPPER_SNAKE error code", examples=["INVALID_REQUEST"])
    message: str = Field(description="what went wrong, naming the field when there is one")


class DomainError(Exception):
    """A failure named in domain terms: ``code`` (stable, UPPER_SNAKE), ``message`` (safe to
    show), optionally the ``field`` it concerns (the answer then reads ``field: message``),
    ``extra`` fields for the answer's body, and ``retry_after`` seconds when waiting helps.

    Subclasses set ``code`` as a class attribute or pass it; they never choose an HTTP status.
    """

    code: str = "INVALID_REQUEST"
    field: str | None = None
    retry_after: float | None = None

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        if code is not None:
            self.code = code
        if field is not None:
            self.field = field
        if retry_after is not None:
            self.retry_after = retry_after
        self.message = message or self.code.replace("_", " ").lower()
        self.extra = dict(extra or {})
        super().__init__(self.message)

    @property
    def detail(self) -> str:
        """The message as a client or a terminal shows it: ``field: message``."""
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidInput(DomainError):
    """A value a ``kit`` helper cannot accept (a page number, a time, a decimal, a cursor)."""


class KifuError(DomainError):
    """An HTTP error: a stable code for clients, a human message, and the status of its class."""

    status_code = 400
    default_code = "INVALID_REQUEST"

    def __init__(
        self,
        code: str | None = None,
        message: str = "",
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.code = code or self.default_code
        self.message = message or self.code.replace("_", " ").lower()
        self.headers = headers
        self.extra = extra or {}
        Exception.__init__(self, f"{self.code}: {self.message}")


class BadRequest(KifuError):
    status_code = 400


class Unauthorized(KifuError):
    status_code = 401
    default_code = "UNAUTHORIZED"


class Forbidden(KifuError):
    status_code = 403
    default_code = "FORBIDDEN"


class NotFound(KifuError):
    status_code = 404
    default_code = "NOT_FOUND"


class Conflict(KifuError):
    status_code = 409
    default_code = "CONFLICT"


class PayloadTooLarge(KifuError):
    status_code = 413
    default_code = "PAYLOAD_TOO_LARGE"


class TooManyRequests(KifuError):
    status_code = 429
    default_code = "RATE_LIMITED"


class BadGateway(KifuError):
    status_code = 502
    default_code = "BAD_GATEWAY"


class ServiceUnavailable(KifuError):
    status_code = 503
    default_code = "SERVICE_UNAVAILABLE"


# The HTTP status of each domain error code (``DomainError.code``): the one place that says it.
# Codes of domain errors not listed here are 400.
STATUS_BY_CODE: dict[str, int] = {
    # kit helpers and request rules
    "INVALID_REQUEST": 400,
    "INVALID_SYMBOL": 400,
    "INVALID_TIMEFRAME": 400,
    "INVALID_TAGS": 400,
    "INVALID_EXCHANGE": 400,
    # summary packs
    "INVALID_RANGE": 400,
    "INVALID_TIMEZONE": 400,
    "PACK_GENERATE_FAILED": 400,
    # whole-file import failures
    "EMPTY_FILE": 400,
    "NOT_CSV": 400,
    "INVALID_ENCODING": 400,
    "MISSING_COLUMNS": 400,
    "MISSING_VENUE": 400,
    "VENUE_MISMATCH": 400,
    # exchanges and market data: the exchange refused us, or could not be used
    "EXCHANGE_PERMISSION_DENIED": 400,
    "RATE_LIMITED": 429,
    "EXCHANGE_REQUEST_FAILED": 502,
    "EXCHANGE_PERMISSION_CHECK_FAILED": 502,
    "EXCHANGE_SYNC_FAILED": 502,
}
DOMAIN_DEFAULT_STATUS = 400


def http_status(exc: DomainError) -> int:
    """The status of an error: an HTTP error's own, else its code's, else 400."""
    if isinstance(exc, KifuError):
        return exc.status_code
    return STATUS_BY_CODE.get(exc.code, DOMAIN_DEFAULT_STATUS)


def http_headers(exc: DomainError, status: int) -> dict[str, str] | None:
    """An HTTP error's own headers; for a domain error, ``Retry-After`` when it says how long
    to wait, and on every 429 (one second when it does not say)."""
    if isinstance(exc, KifuError):
        return exc.headers
    if exc.retry_after is None and status != 429:
        return None
    return {"Retry-After": str(int(exc.retry_after or 1))}


_STATUS_CODES = {
    400: "INVALID_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "INVALID_REQUEST",
    429: "RATE_LIMITED",
}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, **extra}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(error_body(code, message, **extra), status_code=status, headers=headers)


def _field_path(loc: tuple[Any, ...]) -> str:
    # Drop the "body"/"query"/"path" prefix: clients know where they put the field.
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def describe_validation_errors(errors: list[dict[str, Any]]) -> str:
    """One sentence naming every bad field and why, e.g. ``email: field required``."""
    messages = []
    for err in errors:
        kind = err.get("type", "")
        field = _field_path(tuple(err.get("loc", ())))
        if kind == "json_invalid":
            messages.append(f"malformed JSON: {err.get('ctx', {}).get('error', 'cannot parse')}")
        elif kind == "missing":
            messages.append(f"{field}: field required")
        elif kind == "extra_forbidden":
            messages.append(f"{field}: unknown field")
        else:
            messages.append(f"{field}: {err.get('msg', 'invalid value')}")
    return "; ".join(messages) or "invalid request"


def validation_code(errors: list[dict[str, Any]]) -> str:
    """The code of the first error raised by a coded field type (``kit.fields``), else
    ``INVALID_REQUEST``."""
    for err in errors:
        kind = err.get("type", "")
        if is_error_code(kind):
            return kind
    return INVALID_REQUEST


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain_error(_: Request, exc: DomainError) -> JSONResponse:
        status = http_status(exc)
        return error_response(status, exc.code, exc.detail, http_headers(exc, status), **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        return error_response(400, validation_code(errors), describe_validation_errors(errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "HTTP_ERROR")
        if exc.status_code == 404 and exc.detail == "Not Found":
            message = f"no route for {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        else:
            message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return error_response(exc.status_code, code, message, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", None) or uuid.uuid4().hex
        log.exception(
            "unexpected error on %s %s (request %s)",
            request.method,
            request.url.path,
            request_id,
            exc_info=exc,
        )
        return error_response(
            500,
            "INTERNAL_ERROR",
            f"an internal error occurred (request id {request_id})",
            headers={"X-Request-ID": request_id},
        )
