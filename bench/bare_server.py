"""`python -m bench.bare_server [PORT]`: the baseline, a bare SDK `MCPServer` with the plain tools a user would write
instead of ours: each makes the same Scollect request(s) our tool makes, through one pooled httpx client, and returns
the vendor's JSON as it came. No policy, no validation beyond the SDK's, no compact output.

- `getaccount(file_number)`: `GET /getaccount/<file_number>` (what `scollect_get_account` reads);
- `snapshot(file_number)`: the seven reads of `accounts_snapshot`, concurrently (an anyio task group);
- `echo(text)`: no vendor request at all (the SDK's own round trip, for the profile notes in bench/README.md).

The vendor is the simulator the bench started (SCOLLECT_BASE_URL, SCOLLECT_API_KEY, SCOLLECT_PIN in the environment,
as `bench.procs.Sandbox.env` sets them). Logged in once at start (again on a 401, as any integration would). The pool
has our vendor clients' limits (100 connections, all kept alive) so the two sides differ only in what runs per call.
Served exactly the way `collections-mcp serve --transport http` serves ours (same `build_http_app`, same uvicorn
settings, same pre-bound socket, same logging). Announces "MCP streamable HTTP at URL" on stderr like the real
command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import uvicorn
from mcp.server.mcpserver import Context, MCPServer

from bench.vendor import JSON_HEADERS, snapshot_requests
from collections_mcp.server.settings import ServerSettings
from collections_mcp.server.transport.http import build_http_app
from collections_mcp.server.transport.logs import configure_logging
from collections_mcp.server.transport.serve import listening_socket

POOL = httpx.Limits(max_connections=100, max_keepalive_connections=100)


@dataclass
class Vendor:
    """One pooled client and the JWT, shared by every call."""

    http: httpx.AsyncClient
    api_key: str
    pin: str
    token: str = ""

    async def login(self) -> None:
        response = await self.http.post("/login", json={"apikey": self.api_key, "pin": self.pin})
        response.raise_for_status()
        self.token = response.json()["result"]["access_token"]

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        for _ in range(2):
            response = await self.http.request(method, path, json=body, headers={"Authorization": f"Bearer {self.token}"})
            if response.status_code != 401:
                break
            await self.login()
        response.raise_for_status()
        return response.json()


@asynccontextmanager
async def vendor_client() -> AsyncIterator[Vendor]:
    async with httpx.AsyncClient(base_url=os.environ["SCOLLECT_BASE_URL"].rstrip("/"), headers=JSON_HEADERS,
                                 timeout=30, limits=POOL) as http:  # fmt: skip
        vendor = Vendor(http, os.environ["SCOLLECT_API_KEY"], os.environ["SCOLLECT_PIN"])
        await vendor.login()
        yield vendor


def bare_server() -> MCPServer[Vendor]:
    server: MCPServer[Vendor] = MCPServer(name="bare", version="0.0.0", lifespan=lambda _: vendor_client())

    @server.tool()
    async def getaccount(file_number: str, ctx: Context[Vendor]) -> dict[str, Any]:
        """One Scollect account, the vendor's JSON as it came."""
        vendor = ctx.request_context.lifespan_context
        return dict(await vendor.request("GET", f"/getaccount/{file_number}"))

    @server.tool()
    async def snapshot(file_number: str, ctx: Context[Vendor]) -> dict[str, Any]:
        """The seven reads of an account snapshot, made concurrently; each vendor JSON under its path."""
        vendor = ctx.request_context.lifespan_context
        answers: dict[str, Any] = {}

        async def read(method: str, path: str, body: dict[str, Any] | None) -> None:
            answers[path] = await vendor.request(method, path, body)

        async with anyio.create_task_group() as group:
            for method, path, body in snapshot_requests(file_number):
                group.start_soon(read, method, path, body)
        return answers

    @server.tool()
    async def echo(text: str) -> str:
        """Return the text."""
        return text

    return server


async def main(host: str, port: int) -> None:
    settings = ServerSettings(_env_file=None)  # type: ignore[call-arg]
    configure_logging(settings.log_level)
    app = build_http_app(bare_server(), settings, host, port)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, log_config=None,
                            timeout_graceful_shutdown=5)  # fmt: skip
    sock = listening_socket(host, port)
    print(f"bare MCP server: MCP streamable HTTP at http://{host}:{sock.getsockname()[1]}/mcp", file=sys.stderr, flush=True)
    try:
        await uvicorn.Server(config).serve(sockets=[sock])
    finally:
        sock.close()


if __name__ == "__main__":
    anyio.run(main, "127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0)
