"""The OpenAPI document is a contract a client can be generated from: every operation says what
it answers (a typed object, an array of them, or a CSV file), every error is the ``{code,
message}`` envelope with the status kifu really gives (400, never FastAPI's 422; 401 behind the
auth gate; 503 when the database cannot be reached), and the two CSV importers describe their
multipart bodies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kifu.app import create_app
from kifu.config import Settings
from kifu.kit.auth import is_public
from tests.helpers import TEST_JWT_SECRET

METHODS = ("get", "put", "post", "delete", "patch")
ERROR_REF = "#/components/schemas/ErrorResponse"
IMPORTERS = (("/api/v1/imports/trades", "post"), ("/api/v1/trades/import", "post"))
EXPORTS = "/api/v1/export/"  # every route under it answers a CSV file
# Open-ended JSON by design: run meta, event metadata, suspect evidence, venue-specific notes.
FREE_FORM = {"meta", "metadata", "evidence", "leverage_summary"}


@pytest.fixture(scope="module")
def doc() -> Iterator[dict[str, Any]]:
    # No database is needed to describe the API: the pool is never opened.
    settings = Settings(database_url="postgresql://unused", jwt_secret=TEST_JWT_SECRET)
    app = create_app(settings, "host=127.0.0.1 port=1 dbname=unused")
    r = TestClient(app).get("/openapi.json")
    assert r.status_code == 200
    yield r.json()


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        name = ref.removeprefix("#/components/schemas/")
        return doc["components"]["schemas"][name]
    return schema


def untyped_objects(doc: dict[str, Any], schema: Any, where: str, seen: set[str]) -> list[str]:
    """Places in a response schema that allow any JSON (``{}``, ``Any``) or an object without
    properties, except the free-form fields and maps of typed values."""
    if not isinstance(schema, dict):
        return []
    ref = schema.get("$ref")
    if ref:
        if ref in seen:
            return []
        seen.add(ref)
        return untyped_objects(doc, resolve(doc, schema), ref, seen)
    found: list[str] = []
    if not schema or (
        schema.get("type") == "object"
        and not schema.get("properties")
        and not isinstance(schema.get("additionalProperties"), dict)
    ):
        found.append(where)
    for name, sub in schema.get("properties", {}).items():
        if name not in FREE_FORM:
            found += untyped_objects(doc, sub, f"{where}.{name}", seen)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found += untyped_objects(doc, schema[key], f"{where}[]", seen)
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            found += untyped_objects(doc, sub, where, seen)
    return found


def test_every_operation_declares_its_answer(doc: dict[str, Any]) -> None:
    ops = list(operations(doc))
    assert len(ops) >= 57
    problems = []
    for path, method, op in ops:
        where = f"{method.upper()} {path}"
        ok = {s: r for s, r in op["responses"].items() if s.startswith("2")}
        if not ok:
            problems.append(f"{where}: no 2xx answer")
            continue
        status, answer = next(iter(ok.items()))
        content = answer.get("content", {})
        if status == "204":
            if content:
                problems.append(f"{where}: 204 with a body")
            continue
        if path.startswith(EXPORTS):
            if set(content) != {"text/csv"}:
                problems.append(f"{where}: an export must answer text/csv, not {set(content)}")
            continue
        schema = content.get("application/json", {}).get("schema")
        if schema is None:
            problems.append(f"{where}: no JSON schema for {status}")
            continue
        body = resolve(doc, schema)
        if body.get("type") == "array":
            body = resolve(doc, body.get("items", {}))
        if not body.get("properties"):
            problems.append(f"{where}: {status} answer has no properties: {schema}")
        problems += [f"{where}: untyped {p}" for p in untyped_objects(doc, schema, status, set())]
    assert not problems, "\n".join(problems)


def test_errors_are_the_envelope_with_real_statuses(doc: dict[str, Any]) -> None:
    problems = []
    for path, method, op in operations(doc):
        where = f"{method.upper()} {path}"
        responses = op["responses"]
        if "422" in responses:
            problems.append(f"{where}: documents 422 (kifu answers 400)")
        if not is_public(path) and "401" not in responses:
            problems.append(f"{where}: behind the auth gate but no 401")
        if "400" not in responses:
            problems.append(f"{where}: no 400")
        if "DATABASE_UNAVAILABLE" not in responses.get("503", {}).get("x-error-codes", []):
            problems.append(f"{where}: no 503 DATABASE_UNAVAILABLE")
        for status, answer in responses.items():
            if status.startswith(("4", "5")):
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                if schema != {"$ref": ERROR_REF}:
                    problems.append(f"{where}: {status} is not the error envelope: {schema}")
        if "INVALID_REQUEST" not in responses.get("400", {}).get("x-error-codes", []):
            problems.append(f"{where}: the 400 does not list its codes")
    assert not problems, "\n".join(problems)
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    envelope = schemas["ErrorResponse"]
    assert {"code", "message"} <= set(envelope["properties"])
    assert set(envelope["required"]) == {"code", "message"}


def test_declared_field_types_list_their_codes(doc: dict[str, Any]) -> None:
    def codes(path: str, method: str) -> set[str]:
        return set(doc["paths"][path][method]["responses"]["400"]["x-error-codes"])

    assert {"INVALID_SYMBOL", "INVALID_TIMEFRAME", "INVALID_TAGS"} <= codes(
        "/api/v1/bubbles", "post"
    )
    assert {"INVALID_SYMBOL", "INVALID_TIMEFRAME", "INVALID_EXCHANGE"} <= codes(
        "/api/v1/market/klines", "get"
    )
    assert "INVALID_EXCHANGE" in codes("/api/v1/trades", "get")
    assert {"PACK_GENERATE_FAILED", "INVALID_TIMEZONE"} <= codes("/api/v1/packs/generate", "post")
    assert {"INVALID_RANGE", "INVALID_TIMEZONE"} <= codes("/api/v1/packs/latest", "get")
    # errors the services raise are declared by the routes
    assert "404" in doc["paths"]["/api/v1/bubbles/{bubble_id}"]["get"]["responses"]
    assert "409" in doc["paths"]["/api/v1/auth/register"]["post"]["responses"]
    assert "429" in doc["paths"]["/api/v1/auth/login"]["post"]["responses"]
    assert "401" in doc["paths"]["/api/v1/auth/login"]["post"]["responses"]


def test_importers_document_their_multipart_bodies(doc: dict[str, Any]) -> None:
    for path, method in IMPORTERS:
        body = doc["paths"][path][method].get("requestBody", {})
        schema = body.get("content", {}).get("multipart/form-data", {}).get("schema", {})
        schema = resolve(doc, schema)
        assert body.get("required") is True, path
        assert schema["properties"]["file"] == {
            **schema["properties"]["file"],
            "type": "string",
            "format": "binary",
        }, path
        assert "file" in schema["required"], path
    unified = doc["paths"]["/api/v1/imports/trades"]["post"]
    form = unified["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert {"venue", "asset_class", "venue_type", "source", "account_label"} <= set(form)
    # its issue report can also be asked for as a CSV file
    assert "text/csv" in unified["responses"]["200"]["content"]
