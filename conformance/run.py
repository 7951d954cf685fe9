#!/usr/bin/env python3
"""Check collections-mcp with the MCP ecosystem's own tools: the official conformance suite and the Inspector CLI.

    .venv/bin/python conformance/run.py             # what `python3 dev.py conformance` runs; exit 0 = all green
    .venv/bin/python conformance/run.py --install   # only install the pinned Node tools

Steps (tests/e2e/test_conformance.py drives the same functions):

1. `install()`: `npm ci` of conformance/package-lock.json into conformance/node_modules, once per lockfile change
   (a stamp file records the lockfile digest). Among the pinned packages is `node` itself: the tools need
   Node >= 22 while the machine's Node only has to be able to run npm.
2. `http_server()`: `collections-mcp serve --transport http --port 0` in sandbox mode, ready once it announces
   its URL on stderr.
3. `run_leg()` for each of `LEGS`: `conformance server --url ... --expected-failures expected-failures.yml`.
   The suite's exit status says whether every failing scenario is listed in the baseline (and no listed one
   passes); `check_problems()` then narrows that to single checks: inside a listed scenario only the checks the
   baseline names may fail, so the checks of a partly applicable scenario that do apply stay guarded.
4. `inspector_runs()`: the Inspector CLI starts `collections-mcp serve --transport stdio` itself, lists the tools
   and calls `scollect_get_account`, in both protocol eras.

Standard library only; the baseline YAML is read with the `yaml` package the suite itself uses.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
NODE_MODULES = HERE / "node_modules"
LOCKFILE = HERE / "package-lock.json"
STAMP = NODE_MODULES / ".collections-mcp-installed"
BASELINE = HERE / "expected-failures.yml"
INSTALL_TIMEOUT = 900.0  # a cold npm cache downloads ~120 MB (most of it the Node binary)
LEG_TIMEOUT = 600.0
INSPECTOR_TIMEOUT = 120.0
ANNOUNCEMENT = "MCP streamable HTTP at "
# Vendor settings a developer may have exported; half-configured vendors stop the server even in sandbox mode.
VENDOR_ENV_PREFIXES = ("COLLECTIONS_MCP_", "SCOLLECT_", "COLLECT_", "BILLING_CARE_", "PROCURIOS_")
FAILED = ("FAILURE", "WARNING")  # the suite's baseline logic counts a WARNING as a failure too
ALWAYS_APPLIES = "wire-schema-valid"  # every message we send must match the spec schema, in every scenario


@dataclass(frozen=True)
class Leg:
    """One run of the suite against the server."""

    name: str
    package: str  # folder under node_modules
    args: tuple[str, ...]
    about: str


LEGS: tuple[Leg, ...] = (
    Leg(
        "released-2025-11-25",
        "conformance-stable",
        (),
        "latest release's active suite (protocol 2025-11-25, initialize handshake)",
    ),
    Leg(
        "requirements-2025-11-25",
        "@modelcontextprotocol/conformance",
        ("--requirements", "2025-11-25"),
        "what spec revision 2025-11-25 requires (initialize handshake, sessions)",
    ),
    Leg(
        "requirements-2026-07-28",
        "@modelcontextprotocol/conformance",
        ("--requirements", "2026-07-28"),
        "what spec revision 2026-07-28 requires (server/discover, stateless requests)",
    ),
)
ERAS = ("legacy", "modern")  # Inspector --protocol-era values: 2025-11-25 handshake, 2026-07-28


class ConformanceError(RuntimeError):
    """The tools could not be installed or run (as opposed to: they ran and found problems)."""


@dataclass
class LegResult:
    leg: Leg
    version: str
    returncode: int
    output: str
    scenarios: dict[str, list[dict[str, Any]]]  # scenario -> the suite's checks (id, status, errorMessage, ...)

    def failing(self, scenario: str) -> list[str]:
        return sorted({check["id"] for check in self.scenarios.get(scenario, []) if check["status"] in FAILED})

    def passed(self, scenario: str) -> bool:
        return scenario in self.scenarios and not self.failing(scenario)


@dataclass
class Baseline:
    scenarios: list[str]  # `server:` in the file, the list the suite reads
    excluded: dict[str, dict[str, Any]] = field(default_factory=dict)  # scenario -> {reason, checks}


# --- installation ------------------------------------------------------------------------------------------------


def missing_node() -> str | None:
    """Why the tools cannot run here, or None. The tests skip with this reason."""
    missing = [name for name in ("node", "npm") if shutil.which(name) is None]
    if missing:
        return (
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed (not on PATH): the MCP "
            "conformance suite and Inspector CLI are npm packages pinned in conformance/package-lock.json; install "
            "Node.js with npm (any version that runs `npm ci`; the tools run on the pinned Node 22) to run them"
        )
    return None


def _lock_digest() -> str:
    digest = hashlib.sha256()
    for path in (HERE / "package.json", LOCKFILE):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def node() -> Path:
    """The pinned Node (the `node` package), not the machine's."""
    return NODE_MODULES / "node" / "bin" / "node"


def installed() -> bool:
    return STAMP.is_file() and STAMP.read_text().strip() == _lock_digest() and node().is_file()


def install(echo: bool = False) -> bool:
    """`npm ci` unless the current lockfile is already installed. Returns whether it installed."""
    if installed():
        return False
    reason = missing_node()
    if reason:
        raise ConformanceError(reason)
    with _install_lock():
        if installed():  # another process installed while we waited
            return False
        env = dict(os.environ, INSPECTOR_SKIP_CLIENT_INSTALL="1")
        npm = shutil.which("npm") or "npm"
        try:
            done = subprocess.run(  # noqa: S603 - fixed command
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=HERE,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=None if echo else subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise ConformanceError(f"npm ci in {HERE} did not finish in {INSTALL_TIMEOUT:.0f} s") from error
        if done.returncode != 0 or not node().is_file():
            raise ConformanceError(f"npm ci in {HERE} failed (exit {done.returncode}):\n{(done.stdout or '')[-4000:]}")
        STAMP.write_text(_lock_digest() + "\n")
    return True


@contextlib.contextmanager
def _install_lock() -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no concurrent runs expected
        yield
        return
    with (HERE / ".install.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def tool_env(work_dir: Path) -> dict[str, str]:
    """Environment for the Node tools: the pinned Node first on PATH, Inspector state kept out of $HOME."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(NODE_MODULES / ".bin"), str(node().parent), env.get("PATH", "")])
    env["MCP_CATALOG_PATH"] = str(work_dir / "inspector-catalog.json")
    env["MCP_CLIENT_CONFIG_PATH"] = str(work_dir / "inspector-client.json")
    env["NO_COLOR"] = "1"
    return env


def package_version(package: str) -> str:
    return str(json.loads((NODE_MODULES / package / "package.json").read_text())["version"])


# --- our server ----------------------------------------------------------------------------------------------------


def server_script() -> Path:
    """The console script of the environment running this file (`make` runs .venv/bin/python)."""
    for candidate in (Path(sys.executable).with_name("collections-mcp"), REPO / ".venv" / "bin" / "collections-mcp"):
        if candidate.is_file():
            return candidate
    raise ConformanceError("collections-mcp is not installed: run `make` targets (they bootstrap .venv) first")


def sandbox_env(state_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(VENDOR_ENV_PREFIXES)}
    env |= {"COLLECTIONS_MCP_SANDBOX": "1", "COLLECTIONS_MCP_STATE_DIR": str(state_dir)}
    return env


@contextlib.contextmanager
def http_server(work_dir: Path, timeout: float = 60.0) -> Iterator[str]:
    """Serve the sandbox over streamable HTTP on a free loopback port; yields the MCP URL.

    Ready means: the server printed `MCP streamable HTTP at <url>` on stderr, which it does once the port accepts
    connections. stderr keeps being drained (into work_dir/server-http.log) so the server never blocks on it.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    log_path = work_dir / "server-http.log"
    process = subprocess.Popen(  # noqa: S603 - our own console script
        [str(server_script()), "serve", "--transport", "http", "--host", "127.0.0.1", "--port", "0"],
        env=sandbox_env(work_dir / "state-http"),
        cwd=work_dir,  # no developer .env from the checkout
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    announced = threading.Event()
    found: list[str] = []

    def drain() -> None:
        assert process.stderr is not None
        with log_path.open("w") as log:
            for line in process.stderr:
                log.write(line)
                log.flush()
                if not found and ANNOUNCEMENT in line:
                    found.append(line.split(ANNOUNCEMENT, 1)[1].split()[0])
                    announced.set()
        announced.set()  # EOF: the server exited before (or after) announcing

    reader = threading.Thread(target=drain, name="collections-mcp-stderr", daemon=True)
    reader.start()
    try:
        if not announced.wait(timeout) or not found:
            raise ConformanceError(
                f"collections-mcp did not announce its HTTP URL within {timeout:.0f} s "
                f"(exit code {process.poll()}); stderr:\n{_tail(log_path)}"
            )
        yield found[0]
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        reader.join(5)


def _tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no output)"


# --- the conformance suite -----------------------------------------------------------------------------------------


def load_baseline(path: Path = BASELINE) -> Baseline:
    """Parse the baseline with the suite's own YAML parser (the `yaml` npm package)."""
    script = (
        "const y=require('yaml');process.stdout.write(JSON.stringify(y.parse(require('fs').readFileSync(0,'utf8'))))"
    )
    done = subprocess.run(  # noqa: S603 - the pinned node
        [str(node()), "-e", script],
        cwd=HERE,
        input=path.read_text(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise ConformanceError(f"cannot parse {path}: {done.stderr.strip()}")
    data = json.loads(done.stdout)
    return Baseline(scenarios=[str(name) for name in data.get("server") or []], excluded=data.get("excluded") or {})


_RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")


def read_results(output_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """The suite's -o folder: one `server-<scenario>-<timestamp>/checks.json` per scenario."""
    scenarios: dict[str, list[dict[str, Any]]] = {}
    for checks in sorted(output_dir.glob("*/checks.json")):
        match = _RESULT_DIR.match(checks.parent.name)
        if match:
            scenarios[match["scenario"]] = json.loads(checks.read_text())
    return scenarios


def run_leg(leg: Leg, url: str, work_dir: Path, echo: bool = False) -> LegResult:
    """Run the suite once; its report goes to work_dir/<leg>.log (and to stdout when echo)."""
    output_dir = work_dir / leg.name
    shutil.rmtree(output_dir, ignore_errors=True)
    command = [
        str(node()),
        str(NODE_MODULES / leg.package / "dist" / "index.js"),
        "server",
        "--url",
        url,
        "--expected-failures",
        str(BASELINE),
        "-o",
        str(output_dir),
        *leg.args,
    ]
    process = subprocess.Popen(  # noqa: S603 - the pinned suite
        command,
        cwd=work_dir,
        env=tool_env(work_dir),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    timer = threading.Timer(LEG_TIMEOUT, process.kill)
    timer.start()
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if echo:
                sys.stdout.write(line)
                sys.stdout.flush()
        returncode = process.wait()
    finally:
        timer.cancel()
    output = "".join(lines)
    (work_dir / f"{leg.name}.log").write_text(output)
    return LegResult(leg, package_version(leg.package), returncode, output, read_results(output_dir))


def check_problems(results: Sequence[LegResult], baseline: Baseline) -> list[str]:
    """What the suite's scenario-level baseline does not catch; empty when all is as the baseline says.

    - a scenario outside the baseline has a failing check in any leg (including scenarios the suite runs but does
      not score for a revision, e.g. pending ones);
    - inside a baselined scenario, a check fails that the baseline does not name (`checks: all` allows any check
      except `wire-schema-valid`, which applies to every scenario);
    - a baselined scenario has no reason, is missing from `server:` (or the other way round), never ran, or passes
      in every leg that ran it (stale).
    """
    problems: list[str] = []
    listed, excluded = set(baseline.scenarios), baseline.excluded
    for name in sorted(listed ^ set(excluded)):
        where = "`server:`" if name in listed else "`excluded:`"
        problems.append(f"{name}: only in {where} of {BASELINE.name}; list it in both, with a reason")
    for name, entry in sorted(excluded.items()):
        if not str((entry or {}).get("reason") or "").strip():
            problems.append(f"{name}: no reason given in {BASELINE.name}")
    ran: dict[str, list[LegResult]] = {}
    for result in results:
        for scenario in result.scenarios:
            ran.setdefault(scenario, []).append(result)
            failing = result.failing(scenario)
            if not failing:
                continue
            where = f"[{result.leg.name}] {scenario}"
            if scenario not in excluded:
                problems.append(f"{where}: failing checks {failing} (scenario not in the baseline)")
                continue
            allowed = (excluded[scenario] or {}).get("checks")
            if allowed == "all":
                unexpected = [check for check in failing if check == ALWAYS_APPLIES]
            else:
                unexpected = [check for check in failing if check not in set(allowed or [])]
            if unexpected:
                problems.append(f"{where}: checks {unexpected} fail but the baseline allows only {allowed}")
    for name in sorted(excluded):
        legs = ran.get(name, [])
        if not legs:
            problems.append(f"{name}: in the baseline but no leg ran it; drop the entry")
        elif all(result.passed(name) for result in legs):
            problems.append(f"{name}: in the baseline but passes in every leg ({[r.leg.name for r in legs]}); drop it")
    return problems


# --- the Inspector CLI ---------------------------------------------------------------------------------------------


@dataclass
class InspectorRun:
    command: list[str]
    returncode: int
    payload: dict[str, Any] | None  # the JSON printed with --format json
    stderr: str


INSPECTOR_CALLS: dict[str, tuple[str, ...]] = {
    "tools-list": ("--method", "tools/list"),
    "tools-call": ("--method", "tools/call", "--tool-name", "scollect_get_account", "--tool-arg", "file_number=R1000"),
}


def inspector(method_args: Sequence[str], era: str, run_dir: Path) -> InspectorRun:
    """Run the Inspector CLI against `collections-mcp serve --transport stdio` (sandbox, started by the Inspector).

    run_dir holds the server's state and the Inspector's stderr (stderr.log); give each concurrent run its own.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    command = [
        str(node()),
        str(NODE_MODULES / ".bin" / "mcp-inspector"),
        "--cli",
        "--format",
        "json",
        "--protocol-era",
        era,
        *method_args,
        "--cwd",
        str(run_dir),
        "-e",
        "COLLECTIONS_MCP_SANDBOX=1",
        "-e",
        f"COLLECTIONS_MCP_STATE_DIR={run_dir / 'state'}",
        "--",  # everything after it is the server command, not Inspector options
        str(server_script()),
        "serve",
        "--transport",
        "stdio",
    ]
    try:
        done = subprocess.run(  # noqa: S603 - the pinned Inspector
            command,
            cwd=run_dir,
            env=tool_env(run_dir),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=INSPECTOR_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise ConformanceError(f"Inspector CLI did not finish in {INSPECTOR_TIMEOUT:.0f} s: {command}") from error
    (run_dir / "stderr.log").write_text(done.stderr)
    try:
        payload = json.loads(done.stdout)
    except json.JSONDecodeError:
        payload = None
    return InspectorRun(command, done.returncode, payload if isinstance(payload, dict) else None, done.stderr)


def inspector_runs(work_dir: Path) -> dict[tuple[str, str], InspectorRun]:
    """Every call of INSPECTOR_CALLS in every era, concurrently (each starts its own stdio server)."""
    jobs = [(era, name) for era in ERAS for name in INSPECTOR_CALLS]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {
            job: pool.submit(inspector, INSPECTOR_CALLS[job[1]], job[0], work_dir / "inspector" / f"{job[0]}-{job[1]}")
            for job in jobs
        }
        return {job: future.result() for job, future in futures.items()}


def inspector_problems(runs: Mapping[tuple[str, str], InspectorRun]) -> list[str]:
    """tools/list shows scollect_get_account; tools/call scollect_get_account(R1000) returns that account."""
    problems: list[str] = []
    for (era, name), done in sorted(runs.items()):
        result = (done.payload or {}).get("result") or {}
        if name == "tools-list":
            names = {tool.get("name") for tool in result.get("tools") or [] if isinstance(tool, Mapping)}
            ok = "scollect_get_account" in names
        else:
            ok = not result.get("isError") and (result.get("structuredContent") or {}).get("file_number") == "R1000"
        if done.returncode != 0 or not ok:
            problems.append(
                f"Inspector [{era}] {name}: exit {done.returncode}, result {json.dumps(result)[:500]}\n"
                f"{done.stderr[-2000:]}"
            )
    return problems


# --- command line --------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--install", action="store_true", help="only install the pinned Node tools")
    parser.add_argument("--out", type=Path, help="keep reports here (default: a temporary folder)")
    args = parser.parse_args(argv)
    try:
        if install(echo=True):
            print(f"installed the pinned tools into {NODE_MODULES}")
        if args.install:
            return 0
        with contextlib.ExitStack() as stack:
            work_dir = args.out or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mcp-conformance-")))
            work_dir = work_dir.resolve()
            work_dir.mkdir(parents=True, exist_ok=True)
            return _run_all(work_dir, kept=args.out is not None)
    except ConformanceError as error:
        print(f"conformance: {error}", file=sys.stderr)
        return 2


def _run_all(work_dir: Path, kept: bool) -> int:
    baseline = load_baseline()
    results: list[LegResult] = []
    with http_server(work_dir) as url:
        for leg in LEGS:
            version = package_version(leg.package)
            print(f"\n##### conformance {version}, {' '.join(leg.args) or 'active suite'}: {leg.about}\n", flush=True)
            results.append(run_leg(leg, url, work_dir, echo=True))
    problems = check_problems(results, baseline)
    print(f"\n##### MCP Inspector CLI {package_version('@modelcontextprotocol/inspector')} over stdio", flush=True)
    runs = inspector_runs(work_dir)
    found = inspector_problems(runs)
    for era, name in runs:
        failed = any(problem.startswith(f"Inspector [{era}] {name}:") for problem in found)
        print(f"  {era:6} {' '.join(INSPECTOR_CALLS[name][1:])}: {'FAILED' if failed else 'ok'}")
    problems += found
    print("\n##### summary")
    for result in results:
        print(
            f"  {result.leg.name} (conformance {result.version}): exit {result.returncode}"
            f"{' (baseline check passed)' if result.returncode == 0 else ' FAILED'}"
        )
    for problem in problems:
        print(f"  problem: {problem}")
    failed = bool(problems) or any(result.returncode != 0 for result in results)
    where = f"reports in {work_dir}" if kept else "--out DIR keeps the reports (checks.json per scenario)"
    print(f"  {'FAILED' if failed else 'all green'}; {where}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
