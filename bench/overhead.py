"""Tool-call overhead: `scollect_get_account` through the SDK `Client` over streamable HTTP, against the bare SDK tool
that makes the same vendor request and returns the vendor's JSON (`bench/bare_server.py` `getaccount`), calls
alternated, in both protocol eras. Vendor latency fixed (20 ms by default), so the ratio is what our server adds
over what a user would otherwise run.

Server CPU per call, one client: each server process's own CPU time (user + sys, /proc) over the same alternated
calls, divided by the calls it served (each process does only its own side's work while the other runs)."""

from __future__ import annotations

from typing import Any

from mcp import Client

from bench.common import Row, alternate, cpu_seconds, percentile, ratio
from bench.procs import Sandbox, Server

FILE_NUMBER = "R1000"
ERAS = {"2026-07-28": "auto", "2025-11-25": "legacy"}  # label -> Client(mode=...)
LIMITS = {50: 1.08, 95: 1.15}
CPU_TARGET = 1.5


def checked(tool: str) -> Any:
    def check(result: Any) -> Any:
        if result.is_error:
            raise RuntimeError(f"{tool} failed: {result.content}")
        return result

    return check


async def run(sandbox: Sandbox, server: Server, *, quick: bool, bare: Server) -> list[Row]:
    runs, warmup = (100, 10) if quick else (300, 30)
    rows: list[Row] = []
    cpu = {"ours_s": 0.0, "bare_s": 0.0, "calls": 0, "per_era": {}}
    for era, mode in ERAS.items():
        async with Client(server.url, mode=mode) as ours_client, Client(bare.url, mode=mode) as bare_client:  # type: ignore[arg-type]

            async def ours(client: Client = ours_client) -> None:
                checked("scollect_get_account")(await client.call_tool("scollect_get_account", {"file_number": FILE_NUMBER}))

            async def baseline(client: Client = bare_client) -> None:
                checked("getaccount")(await client.call_tool("getaccount", {"file_number": FILE_NUMBER}))

            for _ in range(warmup):
                await ours()
                await baseline()
            before = cpu_seconds(server.pid), cpu_seconds(bare.pid)
            ours_ms, base_ms = await alternate(ours, baseline, warmup=0, runs=runs)
            spent = cpu_seconds(server.pid) - before[0], cpu_seconds(bare.pid) - before[1]
        cpu["ours_s"] += spent[0]
        cpu["bare_s"] += spent[1]
        cpu["calls"] += runs
        cpu["per_era"][era] = {"ours_ms_per_call": 1000 * spent[0] / runs, "bare_ms_per_call": 1000 * spent[1] / runs}
        details = {
            "era": era,
            "runs": runs,
            "vendor_latency_ms": sandbox.info["latency_ms"],
            "ours_ms": {"p50": percentile(ours_ms, 50), "p95": percentile(ours_ms, 95)},
            "baseline_ms": {"p50": percentile(base_ms, 50), "p95": percentile(base_ms, 95)},
            "added_ms_p50": percentile(ours_ms, 50) - percentile(base_ms, 50),
            "baseline": "bare SDK tool getaccount: the same GET /getaccount, the vendor JSON returned as is",
        }
        for pct, limit in LIMITS.items():
            ours_p, base_p = percentile(ours_ms, pct), percentile(base_ms, pct)
            rows.append(Row(
                name=f"tool-call p{pct} vs bare SDK tool ({era})", ours=ours_p, baseline=base_p, unit="ms",
                ratio=ratio(ours_p, base_p), target=f"<= {limit:.2f}x", ok=ratio(ours_p, base_p) <= limit,
                details=details,
            ))  # fmt: skip
    ours_cpu, bare_cpu = 1000 * cpu["ours_s"] / cpu["calls"], 1000 * cpu["bare_s"] / cpu["calls"]
    rows.append(Row(
        name="server CPU per call, one client (both eras)", ours=ours_cpu, baseline=bare_cpu, unit="ms",
        ratio=ratio(ours_cpu, bare_cpu), target=f"<= {CPU_TARGET:.1f}x", ok=ratio(ours_cpu, bare_cpu) <= CPU_TARGET,
        details=cpu | {"source": "/proc/PID/stat utime+stime of each server process over the alternated calls"},
    ))  # fmt: skip
    return rows
