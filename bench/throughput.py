"""HTTP throughput and memory.

300 concurrent SDK clients (half on the 2026-07-28 era, half on the legacy session era) call
`scollect_get_account` for a fixed time against our server (`collections-mcp serve`, its vendors on the simulators
with latency 0), then the same load against the bare SDK tool that makes the same vendor request and returns its JSON
(`bench/bare_server.py` `getaccount`), served the same way. Calls/s within the window, 0 errors required. The server
processes' CPU per call (user + sys over the window, divided by the calls served) is a row of its own: on this 2-core
machine the load generator shares the CPU, so CPU per call is the steadier measure of server cost.

Memory: our server's RSS at idle (after a warm-up), right after the run (sessions still open), and after
the sessions closed and the server had time to drain."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp import Client

from bench.common import Row, cpu_seconds, percentile, ratio, rss_mib
from bench.procs import Sandbox, Server

MODES = ("auto", "legacy")
TARGET = 0.8
CPU_TARGET = 1.5
MEMORY_TARGET = 1.30
LEAK_TARGET = 1.02
DRAIN_SECONDS = 5.0


@dataclass
class Load:
    calls: int = 0
    errors: list[str] = field(default_factory=list)
    per_mode: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    server_cpu_s: float = 0.0
    vendor_cpu_s: float = 0.0
    loadgen_cpu_s: float = 0.0
    rss_after_mib: float = 0.0

    @property
    def rate(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "calls": self.calls, "calls_per_s": self.rate, "errors": len(self.errors), "first_errors": self.errors[:5],
            "calls_per_era": self.per_mode, "window_s": self.seconds,
            "latency_ms": {"p50": percentile(self.latencies_ms, 50), "p95": percentile(self.latencies_ms, 95)}
            if self.latencies_ms else None,
            "server_cpu_ms_per_call": 1000 * self.server_cpu_s / self.calls if self.calls else None,
            "server_cpu_cores": self.server_cpu_s / self.seconds if self.seconds else None,
            "vendor_cpu_ms_per_call": 1000 * self.vendor_cpu_s / self.calls if self.calls else None,
            "loadgen_cpu_cores": self.loadgen_cpu_s / self.seconds if self.seconds else None,
        }  # fmt: skip


async def run_load(
    server: Server, tool: str, arguments: Callable[[int], dict[str, Any]], *, sessions: int, seconds: float,
    vendor_pid: int | None = None, on_start: Callable[[], Any] | None = None,
) -> Load:  # fmt: skip
    """`sessions` clients connect (not timed), then all call `tool` in a loop for `seconds`. The result is
    read (RSS included) while every session is still open; then they close."""
    load = Load(per_mode=dict.fromkeys(MODES, 0))
    connected, start, close = anyio.Event(), anyio.Event(), anyio.Event()
    ready = 0
    deadline = 0.0
    opening = anyio.Semaphore(50)  # connect in waves: the listen backlog and the loop stay sane

    def arrived() -> None:
        nonlocal ready
        ready += 1
        if ready == sessions:
            connected.set()

    async def session(index: int) -> None:
        mode = MODES[index % len(MODES)]
        arrived_yet = False
        try:
            async with opening:
                client = Client(server.url, mode=mode)  # type: ignore[arg-type]
                await client.__aenter__()
            try:
                await client.call_tool(tool, arguments(index))  # each session's first call is not counted
                arrived()
                arrived_yet = True
                await start.wait()
                while (began := time.perf_counter()) < deadline:
                    result = await client.call_tool(tool, arguments(index))
                    ended = time.perf_counter()
                    if result.is_error:
                        load.errors.append(f"{tool}: {result.content}"[:300])
                    elif ended <= deadline:
                        load.calls += 1
                        load.per_mode[mode] += 1
                        load.latencies_ms.append((ended - began) * 1000)
                await close.wait()
            finally:
                await client.__aexit__(None, None, None)
        except Exception as exc:
            load.errors.append(f"session {index} ({mode}): {exc!r}"[:300])
        finally:
            if not arrived_yet:
                arrived()

    async with anyio.create_task_group() as group:
        for index in range(sessions):
            group.start_soon(session, index)
        with anyio.fail_after(120):
            await connected.wait()
        readings = cpu_seconds(server.pid), cpu_seconds(vendor_pid) if vendor_pid else 0.0, cpu_seconds()
        began = time.perf_counter()
        deadline = began + seconds
        start.set()
        if on_start is not None:
            on_start()  # e.g. attach a profiler to the server for the window only
        await anyio.sleep(max(0.0, deadline - time.perf_counter()) + 0.001)
        load.seconds = time.perf_counter() - began
        load.server_cpu_s = cpu_seconds(server.pid) - readings[0]
        load.vendor_cpu_s = (cpu_seconds(vendor_pid) - readings[1]) if vendor_pid else 0.0
        load.loadgen_cpu_s = cpu_seconds() - readings[2]
        await anyio.sleep(0.5)  # calls in flight at the deadline finish; their sessions then wait to close
        load.rss_after_mib = rss_mib(server.pid)
        close.set()
    return load


def _account(index: int) -> dict[str, Any]:
    return {"file_number": f"R{1000 + index % 200}"}




async def _warm(server: Server, tool: str, arguments: dict[str, Any]) -> None:
    for mode in MODES:
        async with Client(server.url, mode=mode) as client:  # type: ignore[arg-type]
            for _ in range(20):
                await client.call_tool(tool, arguments)


def _combined(loads: list[Load]) -> Load:
    """Several windows of the same load as one (calls, errors, CPU and time summed)."""
    total = Load(per_mode=dict.fromkeys(MODES, 0))
    for load in loads:
        total.calls += load.calls
        total.errors += load.errors
        total.latencies_ms += load.latencies_ms
        total.seconds += load.seconds
        total.server_cpu_s += load.server_cpu_s
        total.vendor_cpu_s += load.vendor_cpu_s
        total.loadgen_cpu_s += load.loadgen_cpu_s
        for mode, calls in load.per_mode.items():
            total.per_mode[mode] += calls
    return total


async def run(sandbox: Sandbox, ours: Server, bare: Server, *, quick: bool) -> list[Row]:
    sessions, seconds = (100, 5.0) if quick else (300, 30.0)
    await _warm(ours, "scollect_get_account", _account(0))
    await _warm(bare, "getaccount", _account(0))
    await anyio.sleep(1.0)
    idle = rss_mib(ours.pid)

    async def load(server: Server, tool: str) -> Load:
        return await run_load(server, tool, _account, sessions=sessions, seconds=seconds, vendor_pid=sandbox.pid)

    # Ours and the baseline alternate (ours, bare, ours, bare) so the machine's drift hits both alike. Our server's
    # RSS is read after each of its runs has drained: CPython and glibc keep freed memory for reuse unless it is
    # handed back, and a leak shows as growth from the first drained reading to the second.
    first = await load(ours, "scollect_get_account")
    await anyio.sleep(DRAIN_SECONDS)
    drained = rss_mib(ours.pid)
    bare_first = await load(bare, "getaccount")
    second = await load(ours, "scollect_get_account")
    await anyio.sleep(DRAIN_SECONDS)
    drained_again = rss_mib(ours.pid)
    bare_second = await load(bare, "getaccount")
    ours_load, bare_load = _combined([first, second]), _combined([bare_first, bare_second])
    value = ratio(ours_load.rate, bare_load.rate)
    errors = len(ours_load.errors) + len(bare_load.errors)
    details = {"sessions": sessions, "seconds": seconds, "windows_per_side": 2, "eras": "half 2026-07-28 (auto), half legacy",
               "tool": "scollect_get_account (vendor latency 0)",
               "baseline": "bare SDK tool getaccount: the same GET /getaccount, the vendor JSON returned as is",
               "ours": ours_load.summary(), "bare": bare_load.summary(),
               "rates_per_window": {"ours": [first.rate, second.rate], "bare": [bare_first.rate, bare_second.rate]}}  # fmt: skip
    ours_cpu = details["ours"]["server_cpu_ms_per_call"] or math.inf
    bare_cpu = details["bare"]["server_cpu_ms_per_call"] or math.inf
    memory = {"idle_mib": idle, "after_run_mib": first.rss_after_mib, "after_drain_mib": drained,
              "after_second_run_mib": second.rss_after_mib, "after_second_drain_mib": drained_again,
              "drain_wait_s": DRAIN_SECONDS, "sessions": sessions}  # fmt: skip
    return [
        Row(name=f"HTTP throughput vs bare SDK tool ({sessions} sessions, {seconds:g} s)", ours=ours_load.rate,
            baseline=bare_load.rate, unit="calls/s", ratio=value, target=f">= {TARGET:.1f}x, 0 errors",
            ok=value >= TARGET and errors == 0, details=details),
        Row(name=f"server CPU per call, {sessions} sessions", ours=ours_cpu, baseline=bare_cpu, unit="ms",
            ratio=ratio(ours_cpu, bare_cpu), target=f"<= {CPU_TARGET:.1f}x", ok=ratio(ours_cpu, bare_cpu) <= CPU_TARGET,
            details={"ours": details["ours"], "bare": details["bare"]}),
        Row(name="memory: RSS after the run vs idle", ours=first.rss_after_mib, baseline=idle, unit="MiB",
            ratio=ratio(first.rss_after_mib, idle), target="(shown)", ok=None, details=memory),
        Row(name="memory: RSS after draining vs idle", ours=drained, baseline=idle, unit="MiB",
            ratio=ratio(drained, idle), target=f"<= {MEMORY_TARGET:.2f}x", ok=ratio(drained, idle) <= MEMORY_TARGET,
            details=memory),
        Row(name="memory: drained after a 2nd run vs after the 1st (leak)", ours=drained_again, baseline=drained,
            unit="MiB", ratio=ratio(drained_again, drained), target=f"<= {LEAK_TARGET:.2f}x",
            ok=ratio(drained_again, drained) <= LEAK_TARGET and not second.errors, details=memory),
    ]  # fmt: skip
