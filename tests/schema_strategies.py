"""Hypothesis strategies for values that match a JSON schema: the subset our published tool schemas use.

hypothesis-jsonschema would be the library for this, but its latest release (0.23.1, 2024) drives Hypothesis
through private internals that Hypothesis 6.170 no longer has (`many.more`); pinning an old Hypothesis for it is
worse than this small generator. Keywords covered (every one tests/toolsnaps uses): type (string, integer,
number, boolean, null, array, object, or a list of them), enum, anyOf, $ref into $defs, properties/required/additionalProperties,
items/minItems/maxItems, minLength/maxLength/pattern, format date/date-time, minimum/maximum/exclusiveMinimum.
An unknown keyword that constrains values is an error, so a new kind of schema cannot slip through untested.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

from hypothesis import strategies as st

# Keywords that only describe (or are pydantic's own extras, checked by the model, not by JSON Schema).
_ANNOTATIONS = {"title", "description", "default", "examples", "decimal_places", "max_digits", "gt"}
_HANDLED = {
    "type", "enum", "anyOf", "$ref", "$defs", "properties", "required", "additionalProperties", "items",
    "minItems", "maxItems", "minLength", "maxLength", "pattern", "format", "minimum", "maximum", "exclusiveMinimum",
}  # fmt: skip

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.text(max_size=10))
JSON_VALUES = st.recursive(
    JSON_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)  # fmt: skip


def from_schema(schema: dict[str, Any], root: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    root = root if root is not None else schema
    unknown = set(schema) - _ANNOTATIONS - _HANDLED
    if unknown:
        raise ValueError(f"schema keywords this generator does not know: {sorted(unknown)}")
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return from_schema(root["$defs"][name], root)
    if "anyOf" in schema:
        return st.one_of([from_schema(option, root) for option in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):  # e.g. ["string", "null"]: an optional value in a lean schema
        return st.one_of([from_schema({**schema, "type": one}, root) for one in kind])
    if kind == "string":
        return _strings(schema)
    if kind == "integer":
        low = schema.get("minimum")
        if "exclusiveMinimum" in schema:
            low = int(schema["exclusiveMinimum"]) + 1
        return st.integers(min_value=low, max_value=schema.get("maximum"))
    if kind == "number":
        low, high = schema.get("minimum", schema.get("exclusiveMinimum")), schema.get("maximum")
        numbers = st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)
        if "exclusiveMinimum" in schema:
            numbers = numbers.filter(lambda value: value > schema["exclusiveMinimum"])
        return numbers
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        items = from_schema(schema["items"], root) if "items" in schema else JSON_VALUES
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=min(schema.get("maxItems", 5), 5))
    if kind == "object":
        return _objects(schema, root)
    if kind is None:
        return JSON_VALUES
    raise ValueError(f"schema type this generator does not know: {kind!r}")


def _strings(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    if schema.get("format") == "date":
        values: st.SearchStrategy[str] = st.dates().map(lambda day: day.isoformat())
    elif schema.get("format") == "date-time":
        values = st.datetimes(timezones=st.just(UTC)).map(lambda moment: moment.isoformat())
    elif "pattern" in schema:
        values = st.from_regex(schema["pattern"])
    else:
        return st.text(min_size=low, max_size=min(high, 40) if high is not None else 40)
    return values.filter(lambda text: low <= len(text) and (high is None or len(text) <= high))


def _objects(schema: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    properties: dict[str, Any] = schema.get("properties", {})
    if not properties and schema.get("additionalProperties") is not False:
        return st.dictionaries(st.text(min_size=1, max_size=8), JSON_VALUES, max_size=3)
    required = set(schema.get("required", []))
    return st.fixed_dictionaries(
        {name: from_schema(sub, root) for name, sub in properties.items() if name in required},
        optional={name: from_schema(sub, root) for name, sub in properties.items() if name not in required},
    )


def canonical(value: Any) -> str:
    """For messages: the generated value as JSON."""
    return json.dumps(value, sort_keys=True, default=str)
