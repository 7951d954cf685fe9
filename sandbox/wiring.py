"""How the server starts the sandbox: the `collections_mcp.sandbox` entry point (pyproject.toml).

With no vendor credentials (or COLLECTIONS_MCP_SANDBOX=1) the server launches every simulator through this
function and points each toolset's client at its simulator with the values `RunningSandbox.vendor_settings()`
hands over; the vendor clients cannot tell the difference. Production code reaches the sandbox only here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from collections_mcp.sandbox.billing_care.config import BillingCareSandboxConfig
from collections_mcp.sandbox.collect.config import CollectSandboxConfig
from collections_mcp.sandbox.procurios.config import ProcuriosSandboxConfig
from collections_mcp.sandbox.runner import RunningSandbox, SandboxConfig, run_sandbox
from collections_mcp.sandbox.scollect.config import ScollectSandboxConfig


def sandbox_config(*, db_path: str | None, latency_ms: float, token_ttl_seconds: float) -> SandboxConfig:
    """Every simulator with the same latency and login lifetime, sharing one database file (or memory)."""
    return SandboxConfig(
        db_path=db_path,
        scollect=ScollectSandboxConfig(token_ttl_seconds=token_ttl_seconds, latency_seconds=latency_ms / 1000),
        billing_care=BillingCareSandboxConfig(latency_ms=latency_ms),
        procurios=ProcuriosSandboxConfig(latency_ms=latency_ms),
        collect=CollectSandboxConfig(token_ttl_seconds=token_ttl_seconds, latency_seconds=latency_ms / 1000),
    )


@asynccontextmanager
async def launch(*, db_path: str | None, latency_ms: float, token_ttl_seconds: float) -> AsyncIterator[RunningSandbox]:
    """Run every simulator on loopback for as long as this is open."""
    config = sandbox_config(db_path=db_path, latency_ms=latency_ms, token_ttl_seconds=token_ttl_seconds)
    async with run_sandbox(config) as running:
        yield running
