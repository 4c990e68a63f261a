"""Requests built from the app's own OpenAPI document, for the sweeps: every operation, its
path, query and JSON body parameters, a plausible value for each and a set of hostile ones. A
route added later is swept without anyone listing it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

METHODS = ("get", "put", "post", "delete", "patch")

# What an attacker or a careless client sends in place of any value: a NUL byte, 10k
# characters, a trailing newline, a number in exponent notation, thousands of digits, a number
# past 2^63, a superscript digit, the wrong JSON type.
HOSTILE: tuple[Any, ...] = (
    "a\x00b",
    "x" * 10_000,
    "BTCUSDT\n",
    "1e1000000000",
    "9" * 5_000,
    str(2**63),
    "²",
    "9999-12-31T23:59:59.999999-05:00",
    "0001-01-01T00:00:00+05:00",
    -(2**63) - 1,
    ["x"],
)
HOSTILE_QUERY: tuple[str, ...] = tuple(v for v in HOSTILE if isinstance(v, str))


@dataclass
class Operation:
    path: str
    method: str
    spec: dict[str, Any]
    path_params: list[str] = field(default_factory=list)
    query: list[dict[str, Any]] = field(default_factory=list)
    body_schema: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"


def operations(doc: dict[str, Any]) -> Iterator[Operation]:
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            spec = item[method]
            op = Operation(path, method, spec)
            for p in spec.get("parameters", []):
                if p["in"] == "path":
                    op.path_params.append(p["name"])
                elif p["in"] == "query":
                    op.query.append(p)
            content = spec.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                op.body_schema = content["application/json"].get("schema", {})
            yield op


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def sample(doc: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> Any:
    """A plausible value of ``schema``: its example, first enum value, or a typical value."""
    schema = resolve(doc, schema)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if resolve(doc, s).get("type") != "null"]
            return sample(doc, (options or schema[key])[0], depth)
    if "allOf" in schema:
        return sample(doc, schema["allOf"][0], depth)
    if schema.get("examples"):
        return schema["examples"][0]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    kind = schema.get("type")
    fmt = schema.get("format")
    if kind == "object" or "properties" in schema:
        if depth > 3:
            return {}
        props = schema.get("properties", {})
        return {name: sample(doc, sub, depth + 1) for name, sub in props.items()}
    if kind == "array":
        return [sample(doc, schema.get("items", {}), depth + 1)] if depth < 3 else []
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 1
    if kind == "boolean":
        return True
    if fmt == "uuid":
        return str(uuid.uuid4())
    if fmt == "date-time":
        return "2026-01-02T03:04:05Z"
    if fmt == "date":
        return "2026-01-02"
    return "x"


def body_fields(doc: dict[str, Any], op: Operation) -> list[str]:
    if op.body_schema is None:
        return []
    return list(resolve(doc, op.body_schema).get("properties", {}))


def url(op: Operation, ids: dict[str, str] | None = None, default: str | None = None) -> str:
    path = op.path
    for name in op.path_params:
        value = (ids or {}).get(name) or default or str(uuid.uuid4())
        path = path.replace("{" + name + "}", quote(value, safe=""))
    return path
