"""The MCP ecosystem's own tools against our server: the official conformance suite and the Inspector CLI.

The pinned npm packages (conformance/package-lock.json, Node 22 included) are installed once per lockfile into
conformance/node_modules; the suite runs once per session against `collections-mcp serve --transport http` in
sandbox mode and the tests below assert on its results. conformance/run.py does the work (`python3 dev.py conformance` runs
the same), conformance/expected-failures.yml says which scenarios cannot apply and why.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytestmark = pytest.mark.slow

RUNNER = Path(__file__).resolve().parents[2] / "conformance" / "run.py"


def _load_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("conformance_run", RUNNER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


run = _load_runner()

# Scenarios that exercise what our server really offers: they must run and pass, and may never be baselined.
MUST_PASS = {
    "released-2025-11-25": {
        "server-initialize",
        "ping",
        "tools-list",
        "resources-list",
        "prompts-list",
        "server-sse-multiple-streams",
        "dns-rebinding-protection",
    },
    "requirements-2025-11-25": {
        "server-initialize",
        "server-session-lifecycle",
        "ping",
        "tools-list",
        "resources-list",
        "prompts-list",
        "server-sse-multiple-streams",
        "dns-rebinding-protection",
    },
    "requirements-2026-07-28": {
        "tools-list",
        "resources-list",
        "prompts-list",
        "caching",
        "sep-2164-resource-not-found",
        "server-sse-multiple-streams",
        "http-header-validation",
        "dns-rebinding-protection",
    },
}
# server-stateless is baselined for four demo-tool checks; these of its checks are the 2026-07-28 protocol itself.
STATELESS_CHECKS = {
    "sep-2575-server-implements-discover",
    "sep-2575-request-meta-invalid-missing-meta",
    "sep-2575-request-meta-invalid-missing-protocol-version",
    "sep-2575-request-meta-invalid-missing-client-capabilities",
    "sep-2575-server-unsupported-version-error",
    "sep-2575-http-server-unsupported-version-400",
    "sep-2575-http-server-header-mismatch-400",
    "sep-2575-http-server-method-not-found-404",
    "sep-2575-server-sends-subscription-ack",
    "sep-2575-http-server-error-jsonrpc-id",
}


@dataclass
class SuiteRun:
    results: dict[str, Any]  # leg name -> run.LegResult
    baseline: Any  # run.Baseline
    work_dir: Path


@pytest.fixture(scope="session")
def node_tools() -> ModuleType:
    """The pinned tools, installed (npm ci, up to 15 minutes on a cold npm cache) unless already installed."""
    reason = run.missing_node()
    if reason:
        pytest.fail(reason)  # a missing tool is a broken machine, never a silent pass
    run.install()
    return run


@pytest.fixture(scope="session")
def suite(node_tools: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    work_dir = tmp_path_factory.mktemp("conformance")
    with node_tools.http_server(work_dir) as url:
        results = {leg.name: node_tools.run_leg(leg, url, work_dir) for leg in node_tools.LEGS}
    return SuiteRun(results, node_tools.load_baseline(), work_dir)


@pytest.mark.parametrize("leg", [leg.name for leg in run.LEGS])
def test_suite_passes_with_the_baseline(suite: SuiteRun, leg: str) -> None:
    result = suite.results[leg]
    assert result.scenarios, f"the suite produced no results:\n{result.output[-3000:]}"
    assert result.returncode == 0, f"conformance {result.version} {leg} failed:\n{result.output[-6000:]}"


def test_only_the_checks_the_baseline_names_fail(suite: SuiteRun) -> None:
    problems = run.check_problems(list(suite.results.values()), suite.baseline)
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("leg", sorted(MUST_PASS))
def test_applicable_scenarios_pass_and_are_not_baselined(suite: SuiteRun, leg: str) -> None:
    result = suite.results[leg]
    assert not MUST_PASS[leg] & set(suite.baseline.scenarios)
    assert not MUST_PASS[leg] & set(suite.baseline.excluded)
    failing = {name: result.failing(name) for name in MUST_PASS[leg] if not result.passed(name)}
    assert failing == {}, f"not run or failing in {leg}: {failing}"


def test_stateless_protocol_checks_pass(suite: SuiteRun) -> None:
    checks = suite.results["requirements-2026-07-28"].scenarios["server-stateless"]
    passed = {check["id"] for check in checks if check["status"] == "SUCCESS"}
    assert passed >= STATELESS_CHECKS, sorted(STATELESS_CHECKS - passed)


def test_the_check_gate_catches_what_a_scenario_baseline_cannot() -> None:
    leg = run.LEGS[-1]

    def result(**scenarios: list[tuple[str, str]]) -> Any:
        checks = {name: [{"id": i, "status": status} for i, status in ids] for name, ids in scenarios.items()}
        return run.LegResult(leg, "0", 0, "", {name.replace("_", "-"): value for name, value in checks.items()})

    baseline = run.Baseline(
        scenarios=["demo-a", "demo-b", "stale", "no-reason"],
        excluded={
            "demo-a": {"reason": "demo tool", "checks": ["demo-check"]},
            "demo-b": {"reason": "extension", "checks": "all"},
            "stale": {"reason": "was failing", "checks": ["x"]},
            "no-reason": {"checks": ["x"]},
        },
    )
    ok = [("demo-check", "FAILURE"), ("wire-schema-valid", "SUCCESS")]
    with_reasons = run.Baseline(
        baseline.scenarios[:3], {k: v for k, v in baseline.excluded.items() if k != "no-reason"}
    )
    clean = run.check_problems([result(demo_a=ok, demo_b=[("y", "WARNING")], stale=[("x", "FAILURE")])], with_reasons)
    assert clean == []
    problems = run.check_problems(
        [
            result(
                demo_a=[("demo-check", "FAILURE"), ("wire-schema-valid", "FAILURE")],  # applicable check inside
                demo_b=[("wire-schema-valid", "WARNING")],  # `all` still guards the schema check
                stale=[("x", "SUCCESS")],  # listed but passing
                no_reason=[("x", "FAILURE")],
                core=[("tools-list", "FAILURE")],  # not listed (e.g. an unscored scenario)
            )
        ],
        baseline,
    )
    assert len(problems) == 5, problems
    for needle in ("demo-a", "demo-b", "stale", "no-reason: no reason", "core"):
        assert any(needle in problem for problem in problems), (needle, problems)


@pytest.fixture(scope="session")
def inspector_runs(node_tools: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Any]:
    """tools/list and tools/call through the Inspector CLI over stdio, per protocol era, run concurrently."""
    runs: dict[tuple[str, str], Any] = node_tools.inspector_runs(tmp_path_factory.mktemp("inspector"))
    return runs


@pytest.mark.parametrize("era", run.ERAS)
def test_inspector_lists_our_tools_over_stdio(inspector_runs: dict[tuple[str, str], Any], era: str) -> None:
    listed = inspector_runs[era, "tools-list"]
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert listed.payload is not None, listed.stderr[-3000:]
    names = {tool["name"] for tool in listed.payload["result"]["tools"]}
    assert {"scollect_get_account", "scollect_get_phones"} <= names


@pytest.mark.parametrize("era", run.ERAS)
def test_inspector_calls_a_read_tool_over_stdio(inspector_runs: dict[tuple[str, str], Any], era: str) -> None:
    called = inspector_runs[era, "tools-call"]
    assert called.command[called.command.index("--tool-name") + 1] == "scollect_get_account"
    assert called.returncode == 0, called.stderr[-3000:]
    assert called.payload is not None, called.stderr[-3000:]
    result = called.payload["result"]
    assert not result.get("isError"), result
    assert result["structuredContent"]["file_number"] == "R1000"
    assert "R1000" in result["content"][0]["text"]
    assert run.inspector_problems(inspector_runs) == []
