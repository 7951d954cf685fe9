"""`python -m bench.profile [--side ours|bare] [--sessions N] ...`: where a server process spends its CPU per call.

Starts the simulators, our server (`collections-mcp serve`) or the bare SDK server (`bench/bare_server.py`), puts a
load on it with `bench.throughput.run_load` (SDK clients, half of them on each protocol era) and samples the server
with py-spy (`pip install py-spy`; it reads the process from outside, so the server runs unmodified) for the load's
window. Prints the samples by package (the innermost frame's), by the functions they spent time in (inclusive and
self), and by the steps of a call (`STEPS`), as shares of all samples and as milliseconds of CPU per call. The raw
collapsed stacks go to `--out` (flamegraph.pl or speedscope read them).

bench/README.md ("Where the time goes") is written from these numbers.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from bench import procs
from bench.throughput import run_load

# (label, test on one frame's file path and function): a sample belongs to the first step found walking from the leaf
# towards the root, so nested steps count for the innermost (an audit write inside the pipeline is the audit write).
# py-spy names files relative to their sys.path entry: "httpcore/_async/connection_pool.py", "server/core/call.py".
Test = Callable[[str, str], bool]
STEPS: list[tuple[str, Test]] = [
    ("audit write (SQLite, worker thread)", lambda path, fn: path.endswith("state/audit_log.py")),
    ("audit record (build, redact)", lambda path, fn: path.endswith("policy/audit.py")),
    ("call log line (format, write)", lambda path, fn: path.endswith(("policy/call_log.py", "transport/logs.py"))
     or path.startswith("logging/")),
    ("metrics and tracing", lambda path, fn: "telemetry/" in path or path.startswith(("opentelemetry", "prometheus"))),
    ("vendor JSON parse", lambda path, fn: path.startswith("json/") or fn == "parse_body"),
    ("vendor request (httpx, httpcore, our send, tenacity)",
     lambda path, fn: path.startswith(("httpx/", "httpcore/", "tenacity/")) or path.endswith("common/http.py")
     or path.endswith(("common/resilience.py", "scollect/client.py"))),
    ("output model (handler, vendor row -> model)", lambda path, fn: (path.startswith("tools/") and "common/" not in path)
     or path.endswith(("common/compact.py", "common/models.py", "common/types.py"))),
    ("result: dump, scrub, encode", lambda path, fn: fn == "_rendered" or path.endswith("core/redaction.py")),
    ("argument validation", lambda path, fn: fn in ("validate_arguments", "_pre_parse", "literal_type_problems")),
    ("policy stages, pipeline", lambda path, fn: path.startswith(("server/policy/", "server/core/"))),
    ("request ids, auth, views, prompts middleware",
     lambda path, fn: path.startswith(("server/transport/", "server/replicas/", "server/views.py", "server/prompts.py"))
     and fn not in ("main", "serve", "run_http")),
    ("bare tool body", lambda path, fn: path.endswith("bare_server.py") and fn not in ("main", "<module>")),
    ("SDK: result to wire, validation (pydantic)", lambda path, fn: path.startswith(("pydantic/", "pydantic_core/"))),
    ("SDK: JSON-RPC, session, dispatch", lambda path, fn: path.startswith(("mcp/", "mcp_types/"))),
    ("HTTP server (uvicorn, h11, starlette, SSE)",
     lambda path, fn: path.startswith(("uvicorn/", "h11/", "starlette/", "sse_starlette/"))),
    ("event loop (asyncio, anyio, threads)",
     lambda path, fn: path.startswith(("asyncio/", "anyio/", "selectors", "threading", "queue", "contextlib", "socket"))),
]
# Waiting is not CPU, whatever py-spy thinks (it cannot tell here): the event loop in epoll, a worker thread waiting for
# work. Such samples are left out.
IDLE_LEAVES = ("Condition.wait (threading.py", "Event.wait (threading.py", "EpollSelector.select (selectors.py",
               "select (selectors.py")


def _split(frame: str) -> tuple[str, str]:
    """"Handle._run (asyncio/events.py:80)" -> ("asyncio/events.py", "Handle._run")."""
    function, _, where = frame.rpartition(" (")
    path = where.rstrip(")").rpartition(":")[0].removeprefix("collections_mcp/")
    return path, function.rpartition(".")[2] if "<locals>" not in function else function


def _frames(line: str) -> tuple[list[str], int]:
    stack, _, count = line.rstrip("\n").rpartition(" ")
    return stack.split(";"), int(count)


def package_of(frame: str) -> str:
    path, _ = _split(frame)
    head = path.split("/", 1)[0].removesuffix(".py")
    return f"collections_mcp/{head}" if head in ("server", "tools") else head or frame


def step_of(stack: list[str]) -> str:
    """The innermost step on the stack; the event loop's own frames only when no other step is on it."""
    frames = [_split(frame) for frame in reversed(stack)]
    for steps in (STEPS[:-1], STEPS[-1:]):
        for path, function in frames:
            for label, test in steps:
                if test(path, function):
                    return label
    return "other"


def summarise(raw: Path, calls: int) -> dict[str, Any]:
    packages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    steps: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        if not line.strip():
            continue
        stack, count = _frames(line)
        if stack[-1].startswith(IDLE_LEAVES):
            continue
        total += count
        packages[package_of(stack[-1])] += count
        own[stack[-1]] += count
        for frame in set(stack):
            inclusive[frame] += count
        steps[step_of(stack)] += count
    return {"samples": total, "calls": calls, "packages": packages, "inclusive": inclusive, "self": own, "steps": steps}


def report(summary: dict[str, Any], cpu_ms_per_call: float, top: int) -> list[str]:
    total = summary["samples"] or 1
    lines = [f"{summary['samples']} samples over {summary['calls']} calls; {cpu_ms_per_call:.2f} ms CPU per call (/proc)"]

    def block(title: str, counts: Counter[str], limit: int) -> None:
        lines.append(f"\n{title}")
        for key, count in counts.most_common(limit):
            share = count / total
            lines.append(f"  {100 * share:5.1f} %  {share * cpu_ms_per_call:6.3f} ms/call  {key}")

    block("steps of a call (innermost step of each sample):", summary["steps"], len(STEPS) + 1)
    block("packages (innermost frame):", summary["packages"], top)
    block("functions, inclusive:", summary["inclusive"], top)
    block("functions, self:", summary["self"], top)
    return lines


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--side", choices=("ours", "bare"), default="ours")
    parser.add_argument("--tool", help="tool to call (default: scollect_get_account, or the bare getaccount)")
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="simulated vendor latency (0)")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path("profile.txt"), help="collapsed stacks (py-spy -f raw)")
    return parser


async def _profile(args: argparse.Namespace, py_spy: str) -> tuple[dict[str, Any], float]:
    tool = args.tool or ("scollect_get_account" if args.side == "ours" else "getaccount")
    async with procs.sandbox(args.latency_ms) as sandbox:
        server_cm = procs.our_server(sandbox) if args.side == "ours" else procs.bare_server(sandbox)
        async with server_cm as server:
            arguments: Callable[[int], dict[str, Any]] = lambda index: {"file_number": f"R{1000 + index % 200}"}  # noqa: E731
            # Warm up (imports, first connections, caches) outside the sampled window.
            await run_load(server, tool, arguments, sessions=min(args.sessions, 20), seconds=2.0)
            spy: list[subprocess.Popen[bytes]] = []

            def attach() -> None:
                command = [py_spy, "record", "--pid", str(server.pid), "--duration", str(int(args.seconds)),
                           "--rate", str(args.rate), "--format", "raw", "--output", str(args.out)]
                spy.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip

            load = await run_load(server, tool, arguments, sessions=args.sessions, seconds=args.seconds, on_start=attach)
            await anyio.to_thread.run_sync(spy[0].wait)
    if load.errors:
        print(f"bench.profile: {len(load.errors)} errors, e.g. {load.errors[0]}", file=sys.stderr)
    return summarise(args.out, load.calls), 1000 * load.server_cpu_s / max(1, load.calls)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        raise SystemExit("bench.profile needs py-spy: pip install py-spy")
    summary, cpu_ms = anyio.run(_profile, args, py_spy)
    print("\n".join(report(summary, cpu_ms, args.top)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
