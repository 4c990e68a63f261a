"""The OpenAPI document as a contract: error answers are the ``{code, message}`` envelope with
the statuses kifu really gives, never FastAPI's default 422.

``install`` post-processes the generated document once, for every route (new ones included):
no operation keeps a 422; every operation documents 400 (validation; the codes its declared
field types carry are listed); every operation behind the auth gate documents 401; every
operation documents 503 ``DATABASE_UNAVAILABLE`` (``kit.middleware``: the database cannot be
reached). The other errors a route raises (404, 409, 429, 502, …) are declared on the route
with ``errors(...)``.
``csv_download`` and ``multipart_body`` describe the answers and bodies FastAPI cannot see.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from kifu.kit.auth import is_public
from kifu.kit.errors import ErrorResponse
from kifu.kit.fields import INVALID_REQUEST
from kifu.kit.middleware import DATABASE_UNAVAILABLE

ERROR_SCHEMA = "ErrorResponse"
ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
CODE_KEYWORD = "x-error-code"  # on the schema of every coded field type (kit.fields)
CODES_KEYWORD = "x-error-codes"  # on an error answer: the codes it can carry
_METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")

DESCRIPTIONS = {
    400: "Invalid request: a parameter or body field is missing or refused (the message names it)",
    401: "Missing, invalid or expired access token (`UNAUTHORIZED`)",
    403: "Not allowed",
    404: "Not found, or not the caller's (the two are indistinguishable)",
    409: "Conflicts with existing data",
    413: "Body over `KIFU_MAX_BODY_BYTES` (`PAYLOAD_TOO_LARGE`)",
    429: "Rate limited; `Retry-After` says when to try again (`RATE_LIMITED`)",
    502: "An upstream exchange failed or answered badly",
    503: "A dependency is unavailable; `Retry-After` may say when to try again",
}


def error_answer(status: int, codes: Iterable[str] = ()) -> dict[str, Any]:
    """A documented error answer: the envelope, and the codes it carries when they are known."""
    codes = list(codes)
    description = DESCRIPTIONS.get(status, "Error")
    if codes:
        description = f"{', '.join(f'`{c}`' for c in codes)}. {description}"
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": ERROR_REF}},
    }
    if codes:
        answer[CODES_KEYWORD] = codes
    return answer


def errors(*answers: int | tuple[int, str, ...]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for the errors a route raises beyond validation and the auth gate, each as
    a status or ``(status, code, …)``: ``errors((404, "BUBBLE_NOT_FOUND"), 429)``. A route's own
    400 codes (from its service) are declared the same way; ``install`` adds the rest."""
    out: dict[int | str, dict[str, Any]] = {}
    for answer in answers:
        status, *codes = answer if isinstance(answer, tuple) else (answer,)
        out[status] = error_answer(status, codes)
    return out


def csv_download(description: str) -> dict[int | str, dict[str, Any]]:
    """A 200 answered with a CSV file (use with ``response_class=Response``)."""
    return {
        200: {
            "description": description,
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "headers": {
                "Content-Disposition": {
                    "description": "attachment; filename=<name>; filename*=UTF-8''<name>",
                    "schema": {"type": "string"},
                }
            },
        }
    }


def multipart_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra=`` for a route that reads its ``multipart/form-data`` body itself (to
    stream the upload and keep the body limit's 413): the form's fields from ``model``."""
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": schema}},
        }
    }


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        return doc.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[1], {})
    return schema


def _codes_in(doc: dict[str, Any], schema: Any, seen: set[str], out: list[str]) -> None:
    """Collect ``x-error-code`` values of a schema and everything it contains or refers to."""
    if isinstance(schema, list):
        for item in schema:
            _codes_in(doc, item, seen, out)
        return
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str):
        if ref in seen:
            return
        seen.add(ref)
        _codes_in(doc, _resolve(doc, schema), seen, out)
    code = schema.get(CODE_KEYWORD)
    if isinstance(code, str) and code not in out:
        out.append(code)
    for key, value in schema.items():
        if key != CODE_KEYWORD and isinstance(value, dict | list):
            _codes_in(doc, value, seen, out)


def _request_codes(doc: dict[str, Any], operation: dict[str, Any]) -> list[str]:
    found: list[str] = []
    seen: set[str] = set()
    for param in operation.get("parameters", []):
        _codes_in(doc, param.get("schema", {}), seen, found)
    for media in operation.get("requestBody", {}).get("content", {}).values():
        _codes_in(doc, media.get("schema", {}), seen, found)
    return found


def document_errors(doc: dict[str, Any]) -> None:
    """Rewrite the error answers of every operation of ``doc`` in place (see module docstring)."""
    for path, item in doc.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            codes = [INVALID_REQUEST, *_request_codes(doc, operation)]
            codes += responses.get("400", {}).get(CODES_KEYWORD, [])  # the route's own
            responses["400"] = error_answer(400, dict.fromkeys(codes))
            if not is_public(path):
                responses.setdefault("401", error_answer(401))
            unavailable = responses.get("503", {}).get(CODES_KEYWORD, [])
            responses["503"] = error_answer(
                503, dict.fromkeys([*unavailable, DATABASE_UNAVAILABLE])
            )
            operation["responses"] = dict(sorted(responses.items()))
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas.setdefault(ERROR_SCHEMA, ErrorResponse.model_json_schema())
    doc["components"]["schemas"] = dict(sorted(schemas.items()))


def install(app: FastAPI) -> None:
    """Post-process ``app``'s OpenAPI document (built once, on first request)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document_errors(generate())
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
