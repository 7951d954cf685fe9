"""Snapshot fan-out: `accounts_snapshot` (7 Scollect reads) end to end through the SDK `Client` over
streamable HTTP, against the slowest of those 7 vendor requests made alone with plain httpx. With the
reads concurrent, the snapshot should cost about one vendor round trip, not seven."""

from __future__ import annotations

from mcp import Client

from bench.common import Row, median, ratio, timed
from bench.procs import Sandbox, Server
from bench.vendor import scollect, snapshot_requests

FILE_NUMBER = "R1000"
TARGET = 1.3


async def run(sandbox: Sandbox, server: Server, *, quick: bool) -> list[Row]:
    runs, warmup = (30, 5) if quick else (80, 10)
    requests = snapshot_requests(FILE_NUMBER)
    alone: dict[str, list[float]] = {path: [] for _, path, _ in requests}
    snapshot_ms: list[float] = []
    single_ms: list[float] = []
    async with scollect(sandbox) as vendor, Client(server.url) as client:

        async def snapshot() -> None:
            result = await client.call_tool("accounts_snapshot", {"file_number": FILE_NUMBER})
            if result.is_error or (result.structured_content or {}).get("unavailable"):
                raise RuntimeError(f"accounts_snapshot failed: {result.content}")

        async def get_account() -> None:
            await client.call_tool("scollect_get_account", {"file_number": FILE_NUMBER})

        for index in range(warmup + runs):
            measured = index >= warmup
            took = await timed(snapshot)
            single = await timed(get_account)
            if measured:
                snapshot_ms.append(took)
                single_ms.append(single)
            for method, path, body in requests:
                took = await timed(lambda method=method, path=path, body=body: vendor.request(method, path, body))
                if measured:
                    alone[path].append(took)
    medians = {path: median(values) for path, values in alone.items()}
    slowest_path = max(medians, key=lambda path: medians[path])
    ours, baseline = median(snapshot_ms), medians[slowest_path]
    details = {
        "runs": runs,
        "vendor_latency_ms": sandbox.info["latency_ms"],
        "vendor_calls": len(requests),
        "alone_median_ms": medians,
        "slowest_alone": slowest_path,
        "sequential_sum_ms": sum(medians.values()),
        "scollect_get_account_tool_median_ms": median(single_ms),
        "snapshot_minus_single_tool_call_ms": ours - median(single_ms),
    }
    return [Row(name="snapshot fan-out", ours=ours, baseline=baseline, unit="ms", ratio=ratio(ours, baseline),
                target=f"<= {TARGET:.2f}x", ok=ratio(ours, baseline) <= TARGET, details=details)]  # fmt: skip
