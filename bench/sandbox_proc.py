"""`python -m bench.sandbox_proc LATENCY_MS [ACCOUNTS]`: every vendor simulator in a process of its own (ACCOUNTS:
Scollect demo accounts to generate instead of the default, for a bigger portfolio).

Prints one JSON line on stdout (base URLs, demo credentials, and the environment variables that point
a `collections-mcp serve` at these simulators), then runs until its stdin closes (the bench exits).
Keeping the simulators out of the server's process means the server's CPU and memory are our code only.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
from pydantic import SecretStr

from collections_mcp.sandbox.runner import RunningSandbox, run_sandbox
from collections_mcp.sandbox.wiring import sandbox_config
from collections_mcp.server.core.catalog import installed_catalog
from collections_mcp.server.ops.runtime import running_sandbox, sandbox_vendor_settings
from collections_mcp.server.settings import ServerSettings


def server_env(sandbox: RunningSandbox) -> dict[str, str]:
    """SCOLLECT_*, COLLECT_*, BILLING_CARE_*, PROCURIOS_*: exactly what `sandbox_vendor_settings` sets."""
    env: dict[str, str] = {}
    for name, vendor in sandbox_vendor_settings(sandbox).items():
        if installed_catalog().by_name[name].derive_settings is not None:  # the server derives it itself
            continue
        for field in vendor.model_fields_set:
            value: Any = getattr(vendor, field)
            if value is None:
                continue
            env[vendor.env_name(field)] = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    return env


@asynccontextmanager
async def _running(latency_ms: float, accounts: int | None) -> AsyncIterator[RunningSandbox]:
    """The installation's sandbox as the server starts it, or with `accounts` demo accounts (a bigger portfolio)."""
    if accounts is None:
        settings = ServerSettings(_env_file=None, sandbox_latency_ms=latency_ms)  # type: ignore[call-arg]
        async with running_sandbox(settings) as running:
            assert isinstance(running, RunningSandbox)
            yield running
        return
    config = sandbox_config(db_path=None, latency_ms=latency_ms, token_ttl_seconds=900)
    scollect = config.scollect.model_copy(update={"account_count": accounts})
    async with run_sandbox(config.model_copy(update={"scollect": scollect})) as running:
        yield running


async def main(latency_ms: float, accounts: int | None = None) -> None:
    async with _running(latency_ms, accounts) as sandbox:
        collect = sandbox.collect
        described = {
            "latency_ms": latency_ms,
            "scollect": {"base_url": sandbox.scollect.base_url, "api_key": sandbox.scollect.api_key,
                         "pin": sandbox.scollect.pin},
            "collect": {"base_url": collect.base_url, "operator_id": collect.operator_id,
                        "operator_password": collect.operator_password,
                        "websocket_url": collect.base_url.replace("http", "ws", 1) + "/websocket"},
            "env": server_env(sandbox),
        }  # fmt: skip
        print(json.dumps(described), flush=True)
        await anyio.to_thread.run_sync(sys.stdin.read, abandon_on_cancel=True)  # EOF: the bench is done


if __name__ == "__main__":
    anyio.run(main, float(sys.argv[1]) if len(sys.argv) > 1 else 0.0, int(sys.argv[2]) if len(sys.argv) > 2 else None)
