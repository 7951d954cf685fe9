"""Several replicas behind nginx (tests/replica_cluster.py: two `collections-mcp serve` processes on one PostgreSQL
database, behind Debian's nginx running the shipped deploy/nginx.conf), against the simulators at latency 0.

- HTTP throughput: the load of bench/throughput.py (sessions half on 2026-07-28, half legacy, a read tool in a loop)
  through nginx to 2 replicas, vs the same load straight at 1 replica with SQLite state (one process as users run
  it without a database). On this 2-core machine the load generator, nginx, PostgreSQL and the simulators share the
  cores with the servers, so 2 replicas cannot add CPU: the row measures what sharing costs (target >= 0.9x).
- Failover: clients call through nginx in a loop; one replica is killed (-9). The time from the kill until every new
  request is served by the other replica: the end of the last call that failed (0 when none did), checked by calls
  that all succeed for a while afterwards (target <= 3 s).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp import Client

from bench.common import Row, cpu_seconds, percentile, ratio
from bench.procs import Sandbox, Server, our_server
from bench.throughput import _account, _warm, run_load
from tests.pg_cluster import throwaway_cluster
from tests.replica_cluster import REPLICA_IDS, running_cluster

THROUGHPUT_TARGET = 0.9
FAILOVER_TARGET_S = 3.0
FAILOVER_CLIENTS = 20
AFTER_KILL_S = 6.0


@dataclass
class Calls:
    """Each call of the failover load: (started, ended, ok), on the monotonic clock."""

    made: list[tuple[float, float, bool]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def _failover(url: str, kill: Any) -> tuple[float, dict[str, Any]]:
    calls = Calls()
    stop = anyio.Event()

    async def client(index: int) -> None:
        async with Client(url, mode="2026-07-28") as session:
            while not stop.is_set():
                began = time.monotonic()
                try:
                    result = await session.call_tool("scollect_get_account", _account(index))
                    ok, error = not result.is_error, str(result.content)[:200] if result.is_error else ""
                except Exception as exc:  # a transport error is a failed call, not the end of the run
                    ok, error = False, repr(exc)[:200]
                calls.made.append((began, time.monotonic(), ok))
                if not ok:
                    calls.errors.append(error)

    async with anyio.create_task_group() as group:
        for index in range(FAILOVER_CLIENTS):
            group.start_soon(client, index)
        await anyio.sleep(2.0)  # steady load on both replicas
        killed = time.monotonic()
        await kill()
        await anyio.sleep(AFTER_KILL_S)
        stop.set()
    after = [(began, ended, ok) for began, ended, ok in calls.made if ended >= killed]
    failed = [ended for _, ended, ok in after if not ok]
    failover = max(failed) - killed if failed else 0.0
    served_after = [ok for began, _, ok in after if began > killed + failover]
    details = {
        "clients": FAILOVER_CLIENTS, "calls_after_kill": len(after), "failed_after_kill": len(failed),
        "calls_started_after_failover": len(served_after), "all_of_them_ok": all(served_after),
        "first_errors": calls.errors[:3],
        "latency_ms_after_kill": {"p50": percentile([1000 * (e - b) for b, e, _ in after], 50),
                                  "p95": percentile([1000 * (e - b) for b, e, _ in after], 95)} if after else None,
    }  # fmt: skip
    return failover, details


async def run(sandbox: Sandbox, *, quick: bool) -> list[Row]:
    sessions, seconds = (100, 5.0) if quick else (300, 30.0)
    async with our_server(sandbox) as single:
        await _warm(single, "scollect_get_account", _account(0))
        await anyio.sleep(1.0)
        one = await run_load(single, "scollect_get_account", _account, sessions=sessions, seconds=seconds,
                             vendor_pid=sandbox.pid)  # fmt: skip
    with throwaway_cluster(durable=True) as pg:
        url = await anyio.to_thread.run_sync(pg.create_database, "bench_replicas")
        async with running_cluster(sandbox.env, url) as cluster:
            first = cluster[REPLICA_IDS[0]]
            assert first.process is not None
            # run_load reads one server's CPU: the first replica's; both replicas' CPU is read here.
            balanced = Server(url=cluster.url, pid=first.process.pid, state_dir=first.cwd, stderr_path=first.cwd / "x")
            await _warm(balanced, "scollect_get_account", _account(0))
            await anyio.sleep(1.0)
            pids = [replica.process.pid for replica in cluster.replicas.values() if replica.process is not None]
            cpu_before = [cpu_seconds(pid) for pid in pids]
            two = await run_load(balanced, "scollect_get_account", _account, sessions=sessions, seconds=seconds,
                                 vendor_pid=sandbox.pid)  # fmt: skip
            replicas_cpu = sum(cpu_seconds(pid) for pid in pids) - sum(cpu_before)
            failover, failover_details = await _failover(cluster.url, first.kill)
    value = ratio(two.rate, one.rate)
    errors = len(one.errors) + len(two.errors)
    throughput_details = {
        "sessions": sessions, "seconds": seconds, "eras": "half 2026-07-28, half legacy (sessions routed by nginx)",
        "tool": "scollect_get_account (vendor latency 0)", "two_replicas_behind_nginx": two.summary(),
        "one_replica_sqlite": one.summary(),
        "replicas_cpu_ms_per_call": 1000 * replicas_cpu / two.calls if two.calls else None,
    }  # fmt: skip
    return [
        Row(name=f"HTTP throughput, 2 replicas behind nginx vs 1 ({sessions} sessions, {seconds:g} s)", ours=two.rate,
            baseline=one.rate, unit="calls/s", ratio=value, target=f">= {THROUGHPUT_TARGET:.1f}x, 0 errors",
            ok=value >= THROUGHPUT_TARGET and errors == 0, details=throughput_details),
        Row(name="failover: kill -9 of a replica until every new request is served by the other", ours=failover,
            baseline=FAILOVER_TARGET_S, unit="s", ratio=ratio(failover, FAILOVER_TARGET_S),
            target=f"<= {FAILOVER_TARGET_S:g} s", ok=failover <= FAILOVER_TARGET_S and failover_details["all_of_them_ok"],
            details=failover_details),
    ]  # fmt: skip
