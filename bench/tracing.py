"""Telemetry's cost: `scollect_get_account` p50 through this server with tracing off (metrics are always on) against
the same call through the project as it was before telemetry (a `git archive` of BEFORE_TELEMETRY run from the same
venv), both over streamable HTTP against the same simulators, calls alternated. Informational: the same with
tracing on (OTLP/HTTP to a sink in this process that accepts and drops)."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from io import BytesIO
from pathlib import Path

import anyio
from mcp import Client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.common import Row, alternate, percentile, ratio
from bench.procs import ROOT, Sandbox, Server, our_server
from collections_mcp.server.transport.embedded import serve_app

# The last commit before server/telemetry/ (issue 16): what "before" means for the tracing-off row.
BEFORE_TELEMETRY = "ae69a90"
FILE_NUMBER = "R1000"
TARGET = 1.02


@asynccontextmanager
async def checkout(ref: str) -> AsyncIterator[Path | None]:
    """The project's files at `ref` in a temporary directory (None when git or the commit is not available)."""
    try:
        archive = await anyio.run_process(["git", "-C", str(ROOT), "archive", "--format=tar", ref])
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"bench: tracing: no checkout of {ref} ({exc}); the tracing-off row is skipped", file=sys.stderr)
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="bench-before-telemetry-") as tmp:
        with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="tar")
        yield Path(tmp)


@asynccontextmanager
async def otlp_sink() -> AsyncIterator[str]:
    """An OTLP/HTTP endpoint that accepts every export and keeps nothing."""

    async def accept(request: Request) -> Response:
        await request.body()
        return Response(b"", media_type="application/x-protobuf")

    async with serve_app(Starlette(routes=[Route("/v1/traces", accept, methods=["POST"])])) as url:
        yield url


async def _p50_pair(ours: Server, base: Server, *, warmup: int, runs: int) -> tuple[float, float, dict[str, float]]:
    async with Client(ours.url) as ours_client, Client(base.url) as base_client:

        async def call(client: Client) -> None:
            result = await client.call_tool("scollect_get_account", {"file_number": FILE_NUMBER})
            if result.is_error:
                raise RuntimeError(f"scollect_get_account failed: {result.content}")

        ours_ms, base_ms = await alternate(lambda: call(ours_client), lambda: call(base_client), warmup=warmup, runs=runs)
    ours_p, base_p = percentile(ours_ms, 50), percentile(base_ms, 50)
    details = {"ours_p95_ms": percentile(ours_ms, 95), "baseline_p95_ms": percentile(base_ms, 95), "runs": runs}
    return ours_p, base_p, details


async def run(sandbox: Sandbox, server: Server, *, quick: bool, ref: str = BEFORE_TELEMETRY) -> list[Row]:
    runs, warmup = (150, 20) if quick else (400, 40)
    rows: list[Row] = []
    async with checkout(ref) as before:
        if before is not None:
            async with our_server(sandbox, code=before) as old:
                ours, base, details = await _p50_pair(server, old, warmup=warmup, runs=runs)
            rows.append(Row(
                name=f"tool-call p50, tracing off vs before telemetry ({ref})", ours=ours, baseline=base, unit="ms",
                ratio=ratio(ours, base), target=f"<= {TARGET:.2f}x", ok=ratio(ours, base) <= TARGET,
                details=details | {"vendor_latency_ms": sandbox.info["latency_ms"]},
            ))  # fmt: skip
    async with otlp_sink() as sink, our_server(sandbox, environ={"OTEL_EXPORTER_OTLP_ENDPOINT": sink}) as traced:
        ours, base, details = await _p50_pair(traced, server, warmup=warmup, runs=runs)
    rows.append(Row(
        name="tool-call p50, tracing on (OTLP) vs off", ours=ours, baseline=base, unit="ms", ratio=ratio(ours, base),
        target="(shown)", ok=None, details=details,
    ))  # fmt: skip
    return rows
