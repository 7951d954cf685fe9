"""The published (lean) schemas accept exactly what the full pydantic schemas accept, and the server's own
validation accepts and refuses exactly what it did before the schemas were made lean.

The corpus: every argument set the suite sends to a tool (recorded) plus sets generated from each tool's full
schema, valid and invalid, one limit at a time (tests/schema_corpus.py). Its committed copy carries the verdict
of the server's validation when it was written (tests/data/tool-argument-corpus.json).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel

from collections_mcp.server.core.catalog import installed_catalog
from collections_mcp.server.core.pipeline import validate_arguments
from collections_mcp.server.core.registry import full_input_schema
from collections_mcp.server.core.schemas import json_schema_of, lean_schema
from collections_mcp.tools.common.spec import AnySpec
from tests.schema_corpus import frozen, generated

SPECS = sorted(installed_catalog().specs(), key=lambda spec: spec.name)
CORPUS = frozen()


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _unique(instances: list[Any]) -> list[Any]:
    return list({json.dumps(instance, sort_keys=True): instance for instance in instances}.values())


def _server_accepts(spec: AnySpec, arguments: dict[str, Any]) -> bool:
    try:
        validate_arguments(spec, arguments)
    except ValueError:  # pydantic's ValidationError and our InvalidArgument
        return False
    return True


def _disagreements(full: dict[str, Any], lean: dict[str, Any], instances: list[Any]) -> list[str]:
    full_check, lean_check = _validator(full), _validator(lean)
    instances = _unique(instances)
    return [
        f"{json.dumps(instance)[:200]}: full {'accepts' if full_check.is_valid(instance) else 'refuses'}, lean does not"
        for instance in instances
        if full_check.is_valid(instance) != lean_check.is_valid(instance)
    ]


def test_the_corpus_covers_every_tool_with_accepted_and_refused_arguments() -> None:
    assert sorted(CORPUS) == [spec.name for spec in SPECS], "refresh tests/data/tool-argument-corpus.json"
    for tool, items in CORPUS.items():
        verdicts = {accepted for _, accepted in items}
        assert verdicts == {True, False}, f"{tool}: the corpus needs accepted and refused argument sets"


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_the_server_accepts_and_refuses_what_it_did(spec: AnySpec) -> None:
    changed = [
        f"{json.dumps(arguments)[:200]}: was {'accepted' if accepted else 'refused'}"
        for arguments, accepted in CORPUS[spec.name]
        if _server_accepts(spec, arguments) != accepted
    ]
    assert not changed, f"{spec.name}: the server's validation changed for {len(changed)} argument sets: {changed[:5]}"


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_the_published_input_schema_accepts_exactly_what_the_full_one_accepts(spec: AnySpec) -> None:
    full = full_input_schema(spec)
    seeds = [arguments for arguments, accepted in CORPUS[spec.name] if accepted]
    instances = [arguments for arguments, _ in CORPUS[spec.name]] + generated(full, seeds)
    full_check = _validator(full)
    accepted = sum(full_check.is_valid(instance) for instance in instances)
    assert 0 < accepted < len(instances), "the corpus holds both accepted and refused argument sets"
    disagreements = _disagreements(full, lean_schema(full), instances)
    assert not disagreements, f"{spec.name}: {len(disagreements)} disagreements, e.g. {disagreements[:5]}"


def _output_models() -> list[type[BaseModel]]:
    return sorted({spec.output_model for spec in SPECS}, key=lambda model: model.__name__)


@pytest.mark.parametrize("model", _output_models(), ids=lambda model: model.__name__)
def test_the_published_output_schema_accepts_exactly_what_the_full_one_accepts(model: type[BaseModel]) -> None:
    full = json_schema_of(model)
    instances = generated(full, [])
    disagreements = _disagreements(full, lean_schema(full), instances)
    assert not disagreements, f"{model.__name__}: {len(disagreements)} disagreements, e.g. {disagreements[:5]}"


def _walk(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        return [node] + [found for value in node.values() for found in _walk(value)]
    if isinstance(node, list):
        return [found for value in node for found in _walk(value)]
    return []


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_lean_schemas_drop_what_only_repeats(spec: AnySpec) -> None:
    for schema in (lean_schema(full_input_schema(spec)), lean_schema(json_schema_of(spec.output_model))):
        Draft202012Validator.check_schema(schema)
        nodes = _walk(schema)
        properties = [prop for node in nodes for prop in (node.get("properties") or {}).values()]
        assert not any("title" in prop for prop in properties), "no property titles"
        assert "title" not in schema
        assert not any(node.get("anyOf") and {"type": "null"} in node["anyOf"] and len(node["anyOf"]) == 2
                       for node in nodes), "an optional value is a type list with null, not an anyOf branch"  # fmt: skip
        assert not any(node.get("default", 0) is None for node in nodes), "no default: null"
        assert not any(len(node.get("examples", [])) > 1 for node in nodes), "at most one example"


def test_lean_schema_collapses_a_null_branch_into_the_type_and_keeps_every_constraint() -> None:
    full = {
        "type": "object",
        "title": "Args",
        "additionalProperties": False,
        "required": ["code"],
        "properties": {
            "code": {"title": "Code", "type": "string", "pattern": "^[A-Z]{3}$", "examples": ["ABC"],
                     "description": "Three letters, e.g. 'ABC'."},
            "note": {"anyOf": [{"type": "string", "maxLength": 5, "description": "Inner text."}, {"type": "null"}],
                     "default": None, "description": "Outer text.", "title": "Note"},
            "kind": {"anyOf": [{"$ref": "#/$defs/Kind"}, {"type": "null"}], "default": None},
            "title": {"type": "integer", "minimum": 1, "title": "Title"},
        },
        "$defs": {"Kind": {"title": "Kind", "type": "string", "enum": ["a", "b"]}},
    }  # fmt: skip
    lean = lean_schema(full)
    assert lean == {
        "type": "object",
        "additionalProperties": False,
        "required": ["code"],
        "properties": {
            "code": {"type": "string", "pattern": "^[A-Z]{3}$", "description": "Three letters, e.g. 'ABC'."},
            "note": {"type": ["string", "null"], "maxLength": 5, "description": "Outer text."},
            "kind": {"type": ["string", "null"], "enum": ["a", "b", None]},
            "title": {"type": "integer", "minimum": 1},  # a property named "title" is kept, its title dropped
        },
    }
    assert full["properties"]["note"]["anyOf"][0]["description"] == "Inner text.", "the input is not changed"
    assert not _disagreements(full, lean, generated(full, []))


def test_a_definition_used_twice_stays_shared() -> None:
    full = {
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/Item"}, "b": {"anyOf": [{"$ref": "#/$defs/Item"}, {"type": "null"}]}},
        "$defs": {"Item": {"type": "object", "title": "Item", "properties": {"n": {"type": "integer", "title": "N"}}}},
    }
    lean = lean_schema(full)
    assert lean["$defs"] == {"Item": {"type": "object", "properties": {"n": {"type": "integer"}}}}
    assert lean["properties"]["b"] == {"anyOf": [{"$ref": "#/$defs/Item"}, {"type": "null"}]}
    assert not _disagreements(full, lean, [{"a": {"n": 1}, "b": None}, {"b": {"n": "x"}}, {"a": None}, {"b": 3}])
