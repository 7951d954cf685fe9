"""Argument sets for every tool, valid and invalid, to compare what different checks accept.

`generated(schema, seeds)` derives them from a tool's full input schema (pydantic's), deterministically: a
valid base (the first seed the schema accepts, else built from the schema), then one change at a time: each
property set to values at and beyond its limits (lengths, bounds, patterns, enums, formats, item counts), to
every JSON type, to null, left out, plus an unknown argument. Seeds are argument sets the suite really sends
(tests/data/tool-argument-corpus.json, recorded with RECORD_TOOL_ARGUMENTS; tests/data/README.md).

`python -m tests.schema_corpus RECORDED.json` rewrites tests/data/tool-argument-corpus.json: the recorded and
generated sets with the verdict of the server's own validation (the pipeline's `validate_arguments`) at that
commit, so a later change that makes the server accept or refuse differently shows.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent / "data" / "tool-argument-corpus.json"
ANY_TYPE: list[Any] = [0, 7, -1, 1.5, "", "x", True, False, None, [], {}, ["x"], {"x": 1}]
CANDIDATE_STRINGS = ["R1000", "1234", "12345", "101", "REV", "716-628-9899", "2099-12-31", "ContactMomentPhone",
                     "0.0.0.1+-account+130964", "100.00", "x"]  # fmt: skip
FROZEN_MAX_CHARS = 400
FORMATS = {"date": ("2099-12-31", "2099-13-45"), "date-time": ("2099-12-31T10:00:00Z", "yesterday at noon")}


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    reference = schema.get("$ref")
    if isinstance(reference, str) and reference.startswith("#/$defs/"):
        return {**root["$defs"][reference.removeprefix("#/$defs/")], **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _branches(schema: dict[str, Any], root: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _resolve(schema, root)
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            return [_resolve(branch, root) for branch in schema[key] if branch != {"type": "null"}]
    return [schema]


def _types(schema: dict[str, Any]) -> list[str]:
    kind = schema.get("type")
    return kind if isinstance(kind, list) else [kind] if isinstance(kind, str) else []


def valid_value(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """A value the schema accepts (best effort: patterns are met from a list of likely candidates)."""
    branch = _branches(schema, root)[0]
    if "const" in branch:
        return branch["const"]
    if branch.get("enum"):
        return next(value for value in branch["enum"] if value is not None)
    if branch.get("examples"):
        return branch["examples"][0]
    if branch.get("default") is not None:
        return branch["default"]
    kind = next((kind for kind in _types(branch) if kind != "null"), "string")
    if kind == "string":
        if branch.get("format") in FORMATS:
            return FORMATS[branch["format"]][0]
        pattern = branch.get("pattern")
        low, high = branch.get("minLength", 0), branch.get("maxLength", 10**6)
        for candidate in [*CANDIDATE_STRINGS, "a" * max(low, 1)]:
            if low <= len(candidate) <= high and (pattern is None or re.search(pattern, candidate)):
                return candidate
        return "a" * max(low, 1)
    if kind in ("integer", "number"):
        low = branch.get("minimum", branch.get("exclusiveMinimum", 0) + 1 if "exclusiveMinimum" in branch else 1)
        return int(low) if kind == "integer" else float(low)
    if kind == "boolean":
        return True
    if kind == "array":
        item = valid_value(branch.get("items", {}), root)
        return [item] * max(branch.get("minItems", 1), 1)
    if kind == "object":
        return {name: valid_value(sub, root) for name, sub in branch.get("properties", {}).items()
                if name in branch.get("required", [])}  # fmt: skip
    return None


def edge_values(schema: dict[str, Any], root: dict[str, Any], depth: int = 0) -> list[Any]:
    """Values at and just beyond every limit the schema states, plus every JSON type (nested values: fewer)."""
    nested = 20 if depth == 0 else 4
    values: list[Any] = list(ANY_TYPE)
    for branch in _branches(schema, root):
        values += list(branch.get("enum") or []) + ["NOT-IN-ENUM"] * bool(branch.get("enum"))
        values += list(branch.get("examples") or [])
        if "minLength" in branch:
            values += ["a" * max(branch["minLength"] - 1, 0), "a" * branch["minLength"], " " * branch["minLength"]]
        if "maxLength" in branch:
            values += ["a" * branch["maxLength"], "a" * (branch["maxLength"] + 1)]
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if key in branch:
                values += [branch[key] - 1, branch[key], branch[key] + 1, branch[key] + 0.5]
        if "pattern" in branch:
            values += ["!" + str(valid_value(branch, root)), str(valid_value(branch, root)) + " ", "?"]
        if branch.get("format") in FORMATS:
            values += list(FORMATS[branch["format"]])
        if "array" in _types(branch):
            item = valid_value(branch.get("items", {}), root)
            values += [[], [item], [item, item], [item] * (branch.get("maxItems", 3) + 1), [None], [[item]]]
            values += [[value] for value in edge_values(branch.get("items", {}), root, depth + 1)[:nested]]
        if "object" in _types(branch) and branch.get("properties"):
            base = valid_value(branch, root)
            values.append(base)
            for name, sub in branch["properties"].items():
                values += [base | {name: value} for value in edge_values(sub, root, depth + 1)[:nested]]
                values.append({key: value for key, value in base.items() if key != name})
            values.append(base | {"unknown_field": 1})
    unique: list[Any] = []
    seen: set[str] = set()
    for value in values:
        key = json.dumps(value, sort_keys=True)
        if key not in seen:
            seen.add(key)
            unique.append(value)
    return unique


def generated(schema: dict[str, Any], seeds: list[dict[str, Any]], accepts: Any = None) -> list[dict[str, Any]]:
    """Argument sets for one tool: a valid base, then one property changed (or left out) at a time."""
    base = next((seed for seed in seeds if accepts is None or accepts(seed)), None)
    properties: dict[str, Any] = schema.get("properties", {})
    if base is None:
        base = {name: valid_value(sub, schema) for name, sub in properties.items() if name in schema.get("required", [])}
    sets: list[dict[str, Any]] = [copy.deepcopy(base), {}, base | {"unknown_argument": "x"}]
    for name, sub in properties.items():
        sets.append({key: value for key, value in base.items() if key != name})
        sets.append(base | {name: valid_value(sub, schema)})
        sets += [base | {name: value} for value in edge_values(sub, schema)]
    return sets


def frozen() -> dict[str, list[tuple[dict[str, Any], bool]]]:
    """The committed corpus: per tool, (arguments, accepted by the server's validation when it was written)."""
    document: dict[str, dict[str, Any]] = json.loads(CORPUS.read_text())
    corpus: dict[str, list[tuple[dict[str, Any], bool]]] = {}
    for tool, entry in document.items():
        base = entry["base"]
        items = corpus.setdefault(tool, [])
        for item in entry["sets"]:
            if "arguments" in item:
                items.append((item["arguments"], item["accepted"]))
            else:
                kept = {key: value for key, value in base.items() if key not in item.get("drop", [])}
                items.append((kept | item.get("set", {}), item["accepted"]))
    return corpus


def _compact(base: dict[str, Any], arguments: dict[str, Any], accepted: bool) -> dict[str, Any]:
    """One set as the change from the tool's base when that is shorter (most generated sets change one value)."""
    drop = sorted(key for key in base if key not in arguments)
    # Compared with the type: True == 1 == 1.0 in Python, but not for a JSON schema (a base with limit 1 would
    # otherwise compact a refused {"limit": true} into "the base, refused").
    changed = {key: value for key, value in arguments.items()
               if key not in base or base[key] != value or type(base[key]) is not type(value)}  # fmt: skip
    if len(drop) + len(changed) <= 2:
        return {"accepted": accepted} | ({"drop": drop} if drop else {}) | ({"set": changed} if changed else {})
    return {"accepted": accepted, "arguments": arguments}


def _freeze(recorded_path: Path) -> None:
    from collections_mcp.server.core.catalog import installed_catalog
    from collections_mcp.server.core.pipeline import validate_arguments
    from collections_mcp.server.core.registry import full_input_schema

    recorded: dict[str, list[dict[str, Any]]] = json.loads(recorded_path.read_text())
    document: dict[str, dict[str, Any]] = {}
    total = accepted_count = 0
    for spec in sorted(installed_catalog().specs(), key=lambda spec: spec.name):
        seeds = recorded.get(spec.name, [])

        def accepted(arguments: dict[str, Any], spec: Any = spec) -> bool:
            try:
                validate_arguments(spec, arguments)
            except ValueError:  # ValidationError and InvalidArgument are both ValueErrors
                return False
            return True

        sets = generated(full_input_schema(spec), seeds, accepted)
        base = sets[0]
        entries: dict[str, dict[str, Any]] = {}
        for arguments in seeds + sets:
            key = json.dumps(arguments, sort_keys=True, ensure_ascii=False)
            if len(key) > FROZEN_MAX_CHARS and arguments not in seeds:
                continue  # the long-string limits are still compared live; the file stays small
            if key not in entries:
                verdict = accepted(arguments)
                entries[key] = _compact(base, arguments, verdict)
                total, accepted_count = total + 1, accepted_count + verdict
        document[spec.name] = {"base": base, "sets": list(entries.values())}
    lines = ["{"]
    for index, (tool, entry) in enumerate(document.items()):
        lines.append(f'"{tool}": {{"base": {json.dumps(entry["base"], sort_keys=True, ensure_ascii=False)}, "sets": [')
        lines += [json.dumps(item, sort_keys=True, ensure_ascii=False) + ("," if i < len(entry["sets"]) - 1 else "")
                  for i, item in enumerate(entry["sets"])]  # fmt: skip
        lines.append("]}" + ("," if index < len(document) - 1 else ""))
    CORPUS.write_text("\n".join(lines) + "\n}\n")
    print(f"{CORPUS}: {total} argument sets for {len(document)} tools ({accepted_count} accepted)")


if __name__ == "__main__":
    _freeze(Path(sys.argv[1]))
