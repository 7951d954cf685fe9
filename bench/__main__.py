"""`python -m bench [--quick] [--only NAME,...] [--readme]`: run the benchmarks, print the table, write
bench/results.json (and with --readme, the table in bench/README.md)."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from bench import (
    coldstart,
    compact,
    deadlines,
    fanout,
    overhead,
    procs,
    prompts,
    replicas,
    state,
    throughput,
    tool_schemas,
    tracing,
    worklist,
)
from bench.common import Row, markdown_table, table

HERE = Path(__file__).resolve().parent
NAMES = (
    "overhead", "tracing", "fanout", "worklist", "compact", "throughput", "prompts", "coldstart", "schemas", "deadlines",
    "state", "replicas",
)  # fmt: skip
README_START, README_END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs: 100 sessions for 5 s, fewer repetitions")
    parser.add_argument("--only", default=",".join(NAMES), help=f"comma list of benchmarks to run ({', '.join(NAMES)})")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="simulated vendor latency per request (20)")
    parser.add_argument("--out", type=Path, default=HERE / "results.json", help="where to write the JSON results")
    parser.add_argument("--readme", action="store_true", help="also put the table into bench/README.md")
    return parser


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def _run(selected: set[str], *, quick: bool, latency_ms: float) -> list[Row]:
    results: dict[str, list[Row]] = {}
    latency_bound = [name for name in ("overhead", "tracing", "fanout", "compact", "prompts", "state") if name in selected]
    if latency_bound:
        async with procs.sandbox(latency_ms) as sandbox, procs.our_server(sandbox) as server, procs.bare_server(sandbox) as bare:
            for name in latency_bound:
                _say(f"bench: {name} (vendor latency {latency_ms:g} ms) ...")
                if name in ("overhead", "fanout"):  # against the bare SDK tools making the same requests
                    results[name] = await {"overhead": overhead, "fanout": fanout}[name].run(
                        sandbox, server, quick=quick, bare=bare)
                    continue
                if name == "state":  # its own pair of servers (SQLite and PostgreSQL state)
                    results[name] = await state.run(sandbox, quick=quick)
                    continue
                module = {"tracing": tracing, "compact": compact, "prompts": prompts}[name]
                results[name] = await module.run(sandbox, server, quick=quick)
    if "throughput" in selected:
        _say("bench: throughput and memory (vendor latency 0) ...")
        async with procs.sandbox(0) as sandbox, procs.our_server(sandbox) as server, procs.bare_server(sandbox) as bare:
            results["throughput"] = await throughput.run(sandbox, server, bare, quick=quick)
    if "replicas" in selected:
        _say("bench: two replicas behind nginx vs one, and failover (vendor latency 0) ...")
        async with procs.sandbox(0) as sandbox:
            results["replicas"] = await replicas.run(sandbox, quick=quick)
    if "worklist" in selected:
        _say(f"bench: worklist vs the per-account check in a loop (vendor latency {latency_ms:g} ms) ...")
        results["worklist"] = await worklist.run(quick=quick, latency_ms=latency_ms)
    if "schemas" in selected:
        _say("bench: tool schemas per profile (no vendor needed) ...")
        results["schemas"] = await tool_schemas.run(quick=quick)
    if "coldstart" in selected:
        _say("bench: cold start ...")
        results["coldstart"] = await coldstart.run(quick=quick)
    if "deadlines" in selected:
        _say("bench: time to fail against a silent vendor ...")
        results["deadlines"] = await deadlines.run(quick=quick)
    # The issues' order: overhead, fan-out, compact, throughput, prompt bridge, cold start, deadlines, memory.
    ordered = [row for name in NAMES for row in results.get(name, [])]
    memory = [row for row in ordered if row.name.startswith("memory")]
    return [row for row in ordered if row not in memory] + memory


def _update_readme(rows: list[Row], stamp: str, quick: bool) -> None:
    """The table between the markers, in bench/README.md and in the project README."""
    note = f"Measured {stamp} on {platform.node() or 'this machine'} ({'--quick' if quick else 'full run'}):"
    block = "\n".join([README_START, "", note, "", *markdown_table(rows), "", README_END])
    for readme in (HERE / "README.md", HERE.parent / "README.md"):
        text = readme.read_text()
        if README_START not in text or README_END not in text:
            raise SystemExit(f"{readme} has no {README_START} ... {README_END} markers")
        head, rest = text.split(README_START, 1)
        _, tail = rest.split(README_END, 1)
        readme.write_text(head + block + tail)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    selected = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = selected - set(NAMES)
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(sorted(unknown))}; known: {', '.join(NAMES)}")
    started = time.perf_counter()
    rows = anyio.run(lambda: _run(selected, quick=args.quick, latency_ms=args.latency_ms))
    elapsed = time.perf_counter() - started
    print("\n".join(table(rows)))
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    document: dict[str, Any] = {
        "measured_at": stamp,
        "quick": args.quick,
        "vendor_latency_ms": args.latency_ms,
        "seconds": elapsed,
        "python": platform.python_version(),
        "rows": [row.as_json() for row in rows],
    }
    args.out.write_text(json.dumps(document, indent=2, default=str) + "\n")
    if args.readme:
        _update_readme(rows, stamp, args.quick)
    missed = [row.name for row in rows if row.ok is False]
    print(f"\n{len(rows) - len(missed)}/{len(rows)} rows met or informational; not met: {', '.join(missed) or 'none'}"
          f"  ({elapsed:.0f} s; details in {args.out})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
