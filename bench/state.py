"""Shared state in PostgreSQL vs SQLite: tool-call p50 of the same server with `COLLECTIONS_MCP_DATABASE_URL` set
(a throwaway PostgreSQL cluster on loopback, fsync on as in production) and without it (SQLite files in its
state directory), both pointed at the same simulators, calls interleaved. A read (`scollect_get_account`: one
audit record) and a write (`scollect_add_note`: an idempotency claim and its result, and a durable audit
record)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from mcp import Client

from bench.common import Row, alternate, percentile, ratio
from bench.procs import Sandbox, our_server
from tests.pg_cluster import throwaway_cluster

TARGET = 1.05


def _call(client: Client, tool: str, arguments: Callable[[], dict[str, Any]]) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        result = await client.call_tool(tool, arguments())
        if result.is_error:
            raise RuntimeError(f"{tool} failed: {result.content}")

    return call


async def run(sandbox: Sandbox, *, quick: bool) -> list[Row]:
    runs, warmup = (60, 10) if quick else (200, 20)
    with throwaway_cluster(durable=True) as cluster:
        url = await anyio.to_thread.run_sync(cluster.create_database, "bench")
        async with our_server(sandbox) as sqlite_server, our_server(
            sandbox, DATABASE_URL=url, SECRET_KEYS=secrets.token_hex(32)
        ) as pg_server:
            rows = []
            async with Client(pg_server.url) as pg, Client(sqlite_server.url) as lite:
                cases: list[tuple[str, str, Callable[[], dict[str, Any]]]] = [
                    ("read", "scollect_get_account", lambda: {"file_number": "R1000"}),
                    ("write", "scollect_add_note", lambda: {
                        "file_number": "R1004", "collector_name": "bench", "message": f"bench {uuid.uuid4().hex[:8]}",
                    }),
                ]  # fmt: skip
                for label, tool, arguments in cases:
                    pg_ms, lite_ms = await alternate(
                        _call(pg, tool, arguments), _call(lite, tool, arguments), warmup=warmup, runs=runs
                    )
                    ours, base = percentile(pg_ms, 50), percentile(lite_ms, 50)
                    rows.append(Row(
                        name=f"tool-call p50, PostgreSQL vs SQLite state ({label}: {tool})", ours=ours, baseline=base,
                        unit="ms", ratio=ratio(ours, base), target=f"<= {TARGET:.2f}x", ok=ratio(ours, base) <= TARGET,
                        details={"runs": runs, "vendor_latency_ms": sandbox.info["latency_ms"],
                                 "postgresql_p95_ms": percentile(pg_ms, 95), "sqlite_p95_ms": percentile(lite_ms, 95)},
                    ))  # fmt: skip
    return rows
