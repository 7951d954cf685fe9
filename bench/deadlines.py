"""Time to fail against a silent vendor: a port that accepts connections and never answers (bench-local, no
simulator), our real server process (`collections-mcp serve`) pointed at it as Scollect, the SDK `Client` over
streamable HTTP calling `scollect_get_account`.

- fresh breaker: every call waits for the vendor until the call's deadline (the breaker is set never to open,
  so each call is the first failure a server sees). Target: at most the deadline + 0.5 s.
- breaker open: once the breaker has opened, a call fails at once without reaching the vendor. Target: 50 ms,
  absolute (the baseline column shows the fresh-breaker time it replaces).
"""

from __future__ import annotations

import os
from typing import Any

from mcp import Client

from bench.common import Row, percentile, ratio, timed
from bench.procs import Sandbox, our_server
from collections_mcp.sandbox.http import silent_listener

DEADLINE_SECONDS = 2.0
OPEN_TARGET_MS = 50.0


def _vendor_env(url: str) -> Sandbox:
    """Scollect configured as a live vendor at `url` (the only vendor: no sandbox)."""
    env = {"SCOLLECT_BASE_URL": url, "SCOLLECT_API_KEY": "bench-key", "SCOLLECT_PIN": "0000"}
    return Sandbox(pid=os.getpid(), info={"env": env})


async def _failing_call(client: Client) -> None:
    result = await client.call_tool("scollect_get_account", {"file_number": "R1000"})
    if not result.is_error:
        raise RuntimeError("a call against a silent vendor succeeded")


async def run(*, quick: bool) -> list[Row]:
    fresh_runs, open_runs = (3, 30) if quick else (5, 100)
    settings: dict[str, Any] = {"CALL_DEADLINE_SECONDS": str(DEADLINE_SECONDS), "LOG_LEVEL": "WARNING"}
    async with silent_listener("http") as vendor:
        vendors = _vendor_env(vendor.url)
        async with our_server(vendors, **settings, BREAKER_FAILURES="1000000") as server, Client(server.url) as client:
            fresh_ms = [await timed(lambda: _failing_call(client)) for _ in range(fresh_runs)]
        opening = {"BREAKER_FAILURES": "1", "BREAKER_COOLDOWN_SECONDS": "3600"}
        async with our_server(vendors, **settings, **opening) as server, Client(server.url) as client:
            await _failing_call(client)  # opens the breaker
            accepted_before = vendor.accepted
            open_ms = [await timed(lambda: _failing_call(client)) for _ in range(open_runs)]
            if vendor.accepted != accepted_before:
                raise RuntimeError("a call reached the vendor while its breaker was open")
    deadline_ms = DEADLINE_SECONDS * 1000
    fresh, opened = percentile(fresh_ms, 50), percentile(open_ms, 50)
    return [
        Row(name=f"time to fail, silent vendor, fresh breaker (deadline {DEADLINE_SECONDS:g} s)", ours=fresh,
            baseline=deadline_ms, unit="ms", ratio=ratio(fresh, deadline_ms), target="<= deadline + 0.5 s",
            ok=max(fresh_ms) <= deadline_ms + 500, details={"runs_ms": fresh_ms}),
        Row(name="time to fail, silent vendor, breaker open", ours=opened, baseline=fresh, unit="ms",
            ratio=ratio(opened, fresh), target=f"<= {OPEN_TARGET_MS:g} ms (absolute)", ok=opened <= OPEN_TARGET_MS,
            details={"p95_ms": percentile(open_ms, 95), "runs": open_runs}),
    ]  # fmt: skip
