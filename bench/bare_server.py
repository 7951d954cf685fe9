"""`python -m bench.bare_server`: the throughput baseline, a bare SDK `MCPServer` with one echo tool.

Served exactly the way `collections-mcp serve --transport http` serves ours (same `build_http_app`, same
uvicorn settings, same pre-bound socket, same logging), so the only difference is what runs per call.
Announces "MCP streamable HTTP at URL" on stderr like the real command.
"""

from __future__ import annotations

import sys

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer

from collections_mcp.server.settings import ServerSettings
from collections_mcp.server.transport.http import build_http_app
from collections_mcp.server.transport.logs import configure_logging
from collections_mcp.server.transport.serve import listening_socket


def bare_server() -> MCPServer:
    server = MCPServer(name="bare", version="0.0.0")

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
