"""Snapshot fan-out: `accounts_snapshot` (7 Scollect reads) end to end through the SDK `Client` over streamable HTTP,
against the bare SDK tool that makes the same seven requests concurrently and returns their JSON
(`bench/bare_server.py` `snapshot`), calls alternated, in both protocol eras."""

from __future__ import annotations

from mcp import Client

from bench.common import Row, alternate, median, ratio
from bench.overhead import ERAS
from bench.procs import Sandbox, Server
from bench.vendor import snapshot_requests

FILE_NUMBER = "R1000"
TARGET = 1.15


async def run(sandbox: Sandbox, server: Server, *, quick: bool, bare: Server) -> list[Row]:
    runs, warmup = (40, 5) if quick else (120, 10)
    rows: list[Row] = []
    for era, mode in ERAS.items():
        async with Client(server.url, mode=mode) as ours_client, Client(bare.url, mode=mode) as bare_client:  # type: ignore[arg-type]

            async def ours(client: Client = ours_client) -> None:
                result = await client.call_tool("accounts_snapshot", {"file_number": FILE_NUMBER})
                if result.is_error or (result.structured_content or {}).get("unavailable"):
                    raise RuntimeError(f"accounts_snapshot failed: {result.content}")

            async def baseline(client: Client = bare_client) -> None:
                result = await client.call_tool("snapshot", {"file_number": FILE_NUMBER})
                if result.is_error:
                    raise RuntimeError(f"snapshot failed: {result.content}")

            ours_ms, base_ms = await alternate(ours, baseline, warmup=warmup, runs=runs)
        value = ratio(median(ours_ms), median(base_ms))
        rows.append(Row(
            name=f"snapshot fan-out vs bare SDK tool ({era})", ours=median(ours_ms), baseline=median(base_ms),
            unit="ms", ratio=value, target=f"<= {TARGET:.2f}x", ok=value <= TARGET,
            details={"era": era, "runs": runs, "vendor_latency_ms": sandbox.info["latency_ms"],
                     "vendor_calls": len(snapshot_requests(FILE_NUMBER)),
                     "baseline": "bare SDK tool snapshot: the same seven requests concurrently, their JSON returned"},
        ))  # fmt: skip
    return rows
