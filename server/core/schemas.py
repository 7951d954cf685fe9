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
