"""Property-based: arguments generated from every tool's published input schema, valid and invalid, sent through
the SDK's real in-memory Client to a server on a sandbox of its own (so generated writes land nowhere else).

For every tool and every generated call: never an internal error or a traceback; a refusal of bad arguments
names the argument; an argument set that breaks the published schema never reaches a vendor (every simulator's
request log is unchanged). Reproducible: derandomized, no example database, bounded example counts.

"Breaks the schema" leaves out what the server deliberately accepts from real clients: JSON text for a list or
object (and numbers sent as text: both parse to a valid value), whole floats for integers, pydantic's spellings
of a boolean ("yes", "off", 0, 1), and null for the optional idempotency_key (read as no key).
"""

from __future__ import annotations

import json
import string
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from mcp import Client

from collections_mcp.sandbox.runner import RunningSandbox, SandboxConfig, run_sandbox
from collections_mcp.server.app import ServerConfig, build_server
from collections_mcp.server.ops.runtime import sandbox_vendor_settings
from collections_mcp.server.settings import ServerSettings
from tests.helpers import text_of
from tests.schema_strategies import from_schema

pytestmark = pytest.mark.anyio

# Each tool's input schema exactly as tools/list publishes it (tests/e2e/test_toolsnaps.py keeps these in step).
SCHEMAS: dict[str, dict[str, Any]] = {
    path.stem: json.loads(path.read_text())["inputSchema"]
    for path in sorted((Path(__file__).parent.parent / "toolsnaps").glob("*.json"))
}
TOOLS = sorted(SCHEMAS)
PROPERTY = settings(
    derandomize=True,  # the same examples on every run: CI is reproducible
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
VALID_EXAMPLES = 6
INVALID_EXAMPLES = 10
_BOOLEAN_WORDS = {"0", "off", "f", "false", "n", "no", "1", "on", "t", "true", "y", "yes"}


@pytest.fixture(scope="module")
async def own_sandbox(anyio_backend: str) -> AsyncIterator[RunningSandbox]:
    async with run_sandbox(SandboxConfig()) as running:
        yield running


@pytest.fixture(scope="module")
async def client(own_sandbox: RunningSandbox, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    state = tmp_path_factory.mktemp("properties-state")
    # With the approval inbox on: every snapshotted tool is offered (approvals_status only then).
    server_settings = ServerSettings(_env_file=None, state_dir=state, read_only=False, toolsets=None, sandbox=True,  # type: ignore[call-arg]
                                     approvals="inbox")  # fmt: skip
    config = ServerConfig(settings=server_settings, vendors=sandbox_vendor_settings(own_sandbox), sandbox=True)
    async with Client(build_server(config)) as connected:
        yield connected


def vendor_requests(sandbox: RunningSandbox) -> int:
    return sum(len(vendor.app.state.request_log) for vendor in sandbox.vendors())  # type: ignore[attr-defined]


def check_no_internal_error(text: str) -> None:
    assert "Internal error" not in text and "Traceback" not in text, text


def _with_defs(schema: dict[str, Any], sub: dict[str, Any]) -> dict[str, Any]:
    return {"$defs": schema.get("$defs", {}), **sub}


def _tolerated(name: str, value: Any, sub: dict[str, Any]) -> bool:
    """A schema-breaking value the server accepts on purpose (see the module docstring)."""
    if name == "idempotency_key" and value is None:
        return True
    validator = Draft202012Validator(sub)
    if isinstance(value, str):
        try:
            if validator.is_valid(json.loads(value)):
                return True
        except ValueError:
            pass
        if value.strip().lower() in _BOOLEAN_WORDS and validator.is_valid(value.strip().lower() in ("1", "on", "t", "true", "y", "yes")):
            return True
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value in (0, 1) and validator.is_valid(bool(value)):
            return True
        if isinstance(value, float) and value.is_integer() and validator.is_valid(int(value)):
            return True
    return False


WRONG_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(alphabet=string.ascii_letters, min_size=0, max_size=12),
    st.lists(st.integers(min_value=-5, max_value=5), max_size=3),
    st.dictionaries(st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=4), st.integers(), max_size=2),
)


@st.composite
def invalid_arguments(draw: st.DrawFn, schema: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Valid arguments with one thing broken; (arguments, the name of the argument that was broken)."""
    arguments = dict(draw(from_schema(schema)))
    properties: dict[str, Any] = schema.get("properties", {})
    required = [name for name in schema.get("required", []) if name in arguments]
    kinds = ["unknown"] + (["missing"] if required else []) + (["wrong"] if properties else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "missing":
        name = draw(st.sampled_from(required))
        del arguments[name]
    elif kind == "unknown":
        name = draw(st.from_regex(r"\Azz_[a-z]{1,8}\Z"))
        arguments[name] = draw(WRONG_VALUES)
    else:
        name = draw(st.sampled_from(sorted(properties)))
        sub = _with_defs(schema, properties[name])
        arguments[name] = draw(
            WRONG_VALUES.filter(lambda value: not Draft202012Validator(sub).is_valid(value) and not _tolerated(name, value, sub))
        )
    return arguments, name


# One test per tool and property (generated below): @given draws each example before the test's coroutine runs,
# so Hypothesis' own control flow (an example it abandons) never unwinds through the event loop's runner task.


def _valid_arguments_test(tool: str) -> Any:
    schema = SCHEMAS[tool]

    @settings(PROPERTY, max_examples=VALID_EXAMPLES)
    @given(arguments=from_schema(schema))
    async def test(client: Client, arguments: dict[str, Any]) -> None:
        result = await client.call_tool(tool, arguments)
        if not result.is_error:
            return
        text = text_of(result)
        check_no_internal_error(text)
        if f"Invalid arguments for {tool}" in text:
            detail = text.split("\n", 1)[-1]
            assert any(name in detail for name in schema.get("properties", {})), text

    test.__doc__ = f"{tool}: arguments the published schema allows never cause an internal error or a traceback."
    return test


def _invalid_arguments_test(tool: str) -> Any:
    schema = SCHEMAS[tool]

    @settings(PROPERTY, max_examples=INVALID_EXAMPLES)
    @given(case=invalid_arguments(schema))
    async def test(client: Client, own_sandbox: RunningSandbox, case: tuple[dict[str, Any], str]) -> None:
        arguments, broken = case
        assert not Draft202012Validator(schema).is_valid(arguments)
        before = vendor_requests(own_sandbox)
        result = await client.call_tool(tool, arguments)
        text = text_of(result)
        assert result.is_error, f"{tool} accepted {arguments!r}"
        check_no_internal_error(text)
        assert f"Invalid arguments for {tool}" in text and broken in text, text
        assert vendor_requests(own_sandbox) == before, f"{tool} reached a vendor with {arguments!r}"

    test.__doc__ = f"{tool}: arguments that break the published schema are refused naming the argument, no vendor call."
    return test


for _tool in TOOLS:
    globals()[f"test_valid_arguments_never_cause_an_internal_error__{_tool}"] = _valid_arguments_test(_tool)
    globals()[f"test_invalid_arguments_are_refused_naming_the_argument_before_any_vendor__{_tool}"] = (
        _invalid_arguments_test(_tool)
    )
