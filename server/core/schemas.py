"""JSON schemas of the tools' models: generated once per process, and their lean published form.

Models are static classes; a server is built per session in tests and per process in production, and a
call's validation message reads the schema too, so regenerating it each time was measurable (bench/README.md).

Every tool definition is sent to the model on every turn, so what `tools/list` publishes is `lean_schema` of
pydantic's schema: the same set of accepted values, without what only repeats (see `lean_schema`). Arguments
are still validated by the pydantic model itself (server/core/pipeline.py), never by the published schema.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

from pydantic import BaseModel

# Keywords that describe and never constrain (JSON Schema 2020-12 meta-data vocabulary, plus $comment).
ANNOTATIONS = frozenset({"title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly", "$comment"})
# pydantic writes Decimal constraints it cannot express in JSON Schema under its own names; no validator reads
# them (they are unknown keywords), the model enforces them, and the field's description states them.
PYDANTIC_LEFTOVERS = frozenset({"decimal_places", "max_digits", "gt", "ge", "lt", "le"})
_SCHEMA_VALUED = frozenset({
    "items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else",
    "unevaluatedItems", "unevaluatedProperties",
})  # fmt: skip
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "dependentSchemas"})
_SCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
# A branch with one of these does not simply widen to null by adding "null" to its `type`.
_COMPOUND = ("anyOf", "oneOf", "allOf", "not", "if", "$ref")
_NULL: dict[str, Any] = {"type": "null"}
# A default that is its type's empty value says nothing an optional argument does not already say.
_EMPTY_DEFAULTS: tuple[Any, ...] = (None, False, 0, "", [], {})
_EMPTY_TYPES = (type(None), bool, int, str, list, dict)
_DEFS = "#/$defs/"


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


def lean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The same schema, accepting exactly the same instances, without what only repeats:

    - `title` everywhere (pydantic's titles repeat the property or class name), and a default that is its type's
      empty value (null, false, 0, "", [], {});
    - an optional argument's `anyOf: [X, {"type": "null"}]` becomes X with "null" added to its `type` (or to its
      `enum`): an explicit null is still accepted, as the model accepts it, in a few bytes instead of a branch;
    - a description inside that branch (the reused type's) gives way to the field's own description;
    - `anyOf` of bare types becomes one `type` list;
    - `examples` keeps one value, and none when the description already quotes it;
    - a `$defs` entry used once is written in place;
    - pydantic's non-JSON-Schema Decimal keywords (`decimal_places`, `max_digits`, `gt`, ...), which no validator
      reads, are left out.

    The input is not changed. Tests prove the equivalence on a corpus of arguments (tests/unit/test_lean_schemas.py).
    """
    counts: dict[str, int] = {}
    _count_refs(schema, counts)
    definitions: dict[str, Any] = schema.get("$defs", {})
    once = {name for name, uses in counts.items() if uses == 1 and name in definitions and not _refers_to(definitions[name], name)}

    def visit(node: dict[str, Any]) -> dict[str, Any]:
        reference = node.get("$ref")
        if isinstance(reference, str) and reference.removeprefix(_DEFS) in once:
            siblings = {key: value for key, value in node.items() if key != "$ref"}
            if set(siblings) <= ANNOTATIONS:  # only annotations beside the $ref: writing it in place keeps the meaning
                node = {**definitions[reference.removeprefix(_DEFS)], **siblings}
        node = _map_children(node, visit)
        for key in ("title", *PYDANTIC_LEFTOVERS):
            node.pop(key, None)
        if "default" in node and node["default"] in _EMPTY_DEFAULTS and type(node["default"]) in _EMPTY_TYPES:
            del node["default"]
        node = _collapse_type_branches(_collapse_null_branch(node))
        _trim_examples(node)
        return node

    lean = visit(schema)
    if lean.get("properties") == {}:
        del lean["properties"]  # no properties: nothing to say
    kept = {name: definition for name, definition in lean.get("$defs", {}).items() if name not in once}
    lean.pop("$defs", None)
    if kept:
        lean["$defs"] = kept
    return lean


def _map_children(node: dict[str, Any], visit: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """A copy of `node` with every subschema visited (and nothing else touched: enum, const, required are data)."""
    mapped: dict[str, Any] = {}
    for key, value in node.items():
        if key in _SCHEMA_VALUED and isinstance(value, dict):
            mapped[key] = visit(value)
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            mapped[key] = {name: visit(sub) if isinstance(sub, dict) else sub for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            mapped[key] = [visit(sub) if isinstance(sub, dict) else sub for sub in value]
        else:
            mapped[key] = value
    return mapped


def _collapse_null_branch(node: dict[str, Any]) -> dict[str, Any]:
    branches = node.get("anyOf")
    if not (isinstance(branches, list) and len(branches) == 2 and _NULL in branches):
        return node
    if not set(node) - {"anyOf"} <= ANNOTATIONS:
        return node
    other = branches[0] if branches[1] == _NULL else branches[1]
    nullable = _with_null(other)
    if nullable is None:
        return node
    outer = {key: value for key, value in node.items() if key != "anyOf"}
    return {**nullable, **outer}


def _collapse_type_branches(node: dict[str, Any]) -> dict[str, Any]:
    """`anyOf: [{"type": "number"}, {"type": "string"}]` says `type: ["number", "string"]`."""
    branches = node.get("anyOf")
    if not (isinstance(branches, list) and branches and "type" not in node):
        return node
    if not all(isinstance(branch, dict) and set(branch) == {"type"} and isinstance(branch["type"], str) for branch in branches):
        return node
    merged = {key: value for key, value in node.items() if key != "anyOf"}
    return {"type": [branch["type"] for branch in branches], **merged}


def _with_null(branch: dict[str, Any]) -> dict[str, Any] | None:
    """`branch` also accepting null, or None when that cannot be said without the anyOf."""
    if any(key in branch for key in _COMPOUND):
        return None
    if not any(key in branch for key in ("type", "enum", "const")):
        return branch  # only type-specific keywords: null already passes
    widened = dict(branch)
    if "const" in widened:
        widened["enum"] = [widened.pop("const")]
    if "enum" in widened and None not in widened["enum"]:
        widened["enum"] = [*widened["enum"], None]
    if "type" in widened:
        types = widened["type"] if isinstance(widened["type"], list) else [widened["type"]]
        widened["type"] = types if "null" in types else [*types, "null"]
    return widened


def _trim_examples(node: dict[str, Any]) -> None:
    examples = node.get("examples")
    if not isinstance(examples, list) or not examples:
        return
    first = examples[0]
    description = node.get("description")
    quoted = isinstance(description, str) and (first if isinstance(first, str) else json.dumps(first)) in description
    if quoted:
        del node["examples"]
    else:
        node["examples"] = [first]


def _count_refs(node: Any, counts: dict[str, int]) -> None:
    if isinstance(node, dict):
        reference = node.get("$ref")
        if isinstance(reference, str) and reference.startswith(_DEFS):
            name = reference.removeprefix(_DEFS)
            counts[name] = counts.get(name, 0) + 1
        for value in node.values():
            _count_refs(value, counts)
    elif isinstance(node, list):
        for value in node:
            _count_refs(value, counts)


def _refers_to(node: Any, name: str) -> bool:
    counts: dict[str, int] = {}
    _count_refs(node, counts)
    return name in counts


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
