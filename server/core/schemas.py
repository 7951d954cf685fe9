"""JSON schemas of the tools' models, generated once per process.

Models are static classes; a server is built per session in tests and per process in production, and a
call's validation message reads the schema too, so regenerating it each time was measurable (bench/README.md).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel


@cache
def _generated(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


def json_schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """A copy whose top level and `properties` callers may adjust (title, the idempotency argument); what is
    nested below is shared and must not be mutated."""
    schema = dict(_generated(model))
    if "properties" in schema:
        schema["properties"] = dict(schema["properties"])
    return schema


def properties_of(model: type[BaseModel]) -> dict[str, Any]:
    """Read-only view of the top-level properties (do not mutate)."""
    properties: dict[str, Any] = _generated(model).get("properties", {})
    return properties


_JSON_TYPE_WORDS = {
    "string": "text", "integer": "a whole number", "number": "a number", "boolean": "true or false",
    "array": "a list", "object": "an object", "null": "null",
}  # fmt: skip


def _allowed_types(schema: dict[str, Any]) -> set[str] | None:
    """The JSON types a property allows; None when the schema does not say (anything goes here)."""
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return {str(kind) for kind in declared}
    if "anyOf" in schema:
        allowed: set[str] = set()
        for option in schema["anyOf"]:
            kinds = _allowed_types(option) if isinstance(option, dict) else None
            if kinds is None:
                return None
            allowed |= kinds
        return allowed
    return None


def literal_type_problems(properties: dict[str, Any], arguments: dict[str, Any]) -> tuple[list[str], frozenset[str]]:
    """Arguments whose JSON type the published schema does not allow, where pydantic's lax mode would read them
    as something else: a boolean for a number (true would be 1, a row id), a number for text or a date (a number
    would be a Unix time). Text is left to pydantic, which reads numbers and JSON written as text on purpose.
    One line per problem, and the names of the arguments concerned."""
    lines: list[str] = []
    names: set[str] = set()
    for name, value in arguments.items():
        prop = properties.get(name)
        allowed = _allowed_types(prop) if isinstance(prop, dict) else None
        if allowed is None or isinstance(value, str):
            continue
        if isinstance(value, bool):
            wrong = None if "boolean" in allowed else "true/false"
        elif isinstance(value, int | float):
            wrong = None if allowed & {"integer", "number", "boolean"} else "a number"
        else:
            wrong = None
        if wrong is not None:
            expected = " or ".join(_JSON_TYPE_WORDS.get(kind, kind) for kind in sorted(allowed) if kind != "null")
            lines.append(f"- {name}: expected {expected or 'null'}, not {wrong}")
            names.add(name)
    return lines, frozenset(names)
