"""Tool-call overhead: `scollect_get_account` through the SDK `Client` over streamable HTTP, against the
same vendor request made with a plain httpx client. Vendor latency fixed (20 ms by default), so the ratio
is what our server adds to a realistic vendor round trip. Both protocol eras are measured."""

from __future__ import annotations

from typing import Any

from mcp import Client

from bench.common import Row, alternate, percentile, ratio
from bench.procs import Sandbox, Server
from bench.vendor import scollect

FILE_NUMBER = "R1000"


async def _sdk_floor(bare: Server, vendor: Any, *, warmup: int, runs: int) -> Row:
    """What any server built on the SDK pays before doing anything: the same Client calling a bare SDK server's
    echo tool, plus the vendor request made directly. Informational: it shows how much of the 1.10x budget the
    SDK's own round trip already takes (see bench/README.md)."""
    async with Client(bare.url) as client:

        async def floor() -> None:
            await client.call_tool("echo", {"text": "R1000"})
            await vendor.request("GET", f"/getaccount/{FILE_NUMBER}")

        async def direct() -> None:
            await vendor.request("GET", f"/getaccount/{FILE_NUMBER}")

        floor_ms, base_ms = await alternate(floor, direct, warmup=warmup, runs=runs)
    ours, base = percentile(floor_ms, 50), percentile(base_ms, 50)
    return Row(name="SDK floor p50 (bare SDK echo + the vendor request)", ours=ours, baseline=base, unit="ms",
               ratio=ratio(ours, base), target="(shown)", ok=None,
               details={"sdk_round_trip_ms_p50": ours - base, "runs": runs})  # fmt: skip
ERAS = {"2026-07-28": "auto", "2025-11-25": "legacy"}  # label -> Client(mode=...)


async def run(sandbox: Sandbox, server: Server, *, quick: bool, bare: Server | None = None) -> list[Row]:
    runs, warmup = (60, 10) if quick else (200, 20)
    rows: list[Row] = []
    async with scollect(sandbox) as vendor:
        if bare is not None:
            rows.append(await _sdk_floor(bare, vendor, warmup=warmup, runs=runs))

        async def direct() -> None:
            await vendor.request("GET", f"/getaccount/{FILE_NUMBER}")

        for era, mode in ERAS.items():
            async with Client(server.url, mode=mode) as client:  # type: ignore[arg-type]

                async def ours(client: Client = client) -> None:
                    result = await client.call_tool("scollect_get_account", {"file_number": FILE_NUMBER})
                    if result.is_error:
                        raise RuntimeError(f"scollect_get_account failed: {result.content}")

                ours_ms, base_ms = await alternate(ours, direct, warmup=warmup, runs=runs)
            details = {
                "era": era,
                "runs": runs,
                "vendor_latency_ms": sandbox.info["latency_ms"],
                "ours_ms": {"p50": percentile(ours_ms, 50), "p95": percentile(ours_ms, 95)},
                "baseline_ms": {"p50": percentile(base_ms, 50), "p95": percentile(base_ms, 95)},
                "added_ms_p50": percentile(ours_ms, 50) - percentile(base_ms, 50),
            }
            suffix = "" if mode == "auto" else " (legacy era)"
            for pct, limit in ((50, 1.10), (95, 1.20)):
                ours_p, base_p = percentile(ours_ms, pct), percentile(base_ms, pct)
                rows.append(Row(
                    name=f"tool-call overhead p{pct}{suffix}", ours=ours_p, baseline=base_p, unit="ms",
                    ratio=ratio(ours_p, base_p), target=f"<= {limit:.2f}x", ok=ratio(ours_p, base_p) <= limit,
                    details=details,
                ))  # fmt: skip
    return rows
