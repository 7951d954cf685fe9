"""`server.json` (the MCP registry's format) is valid against the registry's own schema and matches the code."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from collections_mcp.server.core.catalog import installed_catalog
from collections_mcp.server.ops.client_config import env_variables, vendor_env_variables
from collections_mcp.server.settings import ServerSettings

TOOLSETS = installed_catalog().by_name

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "tests" / "data" / "server.schema.json"  # source URL: tests/data/README.md


@pytest.fixture(scope="module")
def server_json() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((ROOT / "server.json").read_text())
    return document


@pytest.fixture(scope="module")
def package(server_json: dict[str, Any]) -> dict[str, Any]:
    packages = [p for p in server_json["packages"] if p["registryType"] == "pypi"]
    assert len(packages) == 1
    found: dict[str, Any] = packages[0]
    return found


def _declared(package: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in package["environmentVariables"]}


def test_valid_against_the_registry_schema(server_json: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(server_json), key=lambda error: list(error.absolute_path))
    assert not errors, [f"{list(error.absolute_path)}: {error.message}" for error in errors]
    assert server_json["$schema"] == schema["$id"], "server.json names the schema version it was checked against"


def test_the_schema_rejects_what_the_registry_rejects(server_json: dict[str, Any]) -> None:
    """Guards the vendored copy: a schema that accepts anything would make the test above meaningless."""
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    assert not validator.is_valid({**server_json, "name": "no-slash"})
    assert not validator.is_valid({**server_json, "description": "x" * 101})
    assert not validator.is_valid({key: value for key, value in server_json.items() if key != "version"})


def test_versions_match_pyproject(server_json: dict[str, Any], package: dict[str, Any]) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert server_json["version"] == version
    assert package["version"] == version


def test_package_is_the_pypi_distribution_over_stdio(package: dict[str, Any]) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert package["identifier"] == pyproject["name"]
    assert package["transport"] == {"type": "stdio"}
    # `serve` defaults to HTTP: the registry's launcher must ask for stdio explicitly.
    arguments = [argument.get("value") for argument in package["packageArguments"]]
    assert arguments == ["serve", "stdio"]


def test_readme_carries_the_pypi_ownership_marker(server_json: dict[str, Any]) -> None:
    # The registry accepts a PyPI package only if its description (our README) says `mcp-name: <name>`.
    assert f"mcp-name: {server_json['name']}" in (ROOT / "README.md").read_text()


def test_every_vendor_variable_of_env_example_is_declared(package: dict[str, Any]) -> None:
    prefixes = tuple(
        str(toolset.settings_cls.model_config.get("env_prefix", "")).upper()
        for toolset in TOOLSETS.values()
        if not str(toolset.settings_cls.model_config.get("env_prefix", "")).upper().startswith("COLLECTIONS_MCP_")
    )
    example = (ROOT / ".env.example").read_text()
    needed = {name for name in re.findall(r"^([A-Z][A-Z0-9_]*)=", example, re.MULTILINE) if name.startswith(prefixes)}
    assert needed, "no vendor variables found in .env.example"
    missing = sorted(needed - set(_declared(package)))
    assert not missing, f"server.json lacks {missing}"


def test_credentials_are_declared_and_secrets_marked(package: dict[str, Any]) -> None:
    declared = _declared(package)
    for toolset in TOOLSETS.values():
        variables = env_variables(toolset.settings_cls)
        required = {f for f in toolset.settings_cls.required}
        for variable in variables:
            if variable.secret or variable.field in required:
                assert variable.name in declared, f"server.json lacks {variable.name} ({toolset.title})"
    by_name = {variable.name: variable for variable in vendor_env_variables() + env_variables(ServerSettings)}
    for name, entry in declared.items():
        assert name in by_name, f"server.json declares {name}, which no settings class reads"
        assert entry.get("isSecret", False) == by_name[name].secret, f"{name}: isSecret disagrees with the settings type"
        assert entry.get("description"), f"{name} needs a description"
