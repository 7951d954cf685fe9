"""The `collections-mcp` command: serve, sandbox, tools."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

import anyio
from pydantic import ValidationError

from server.app import ServerConfig, build_server, package_version
from server.logs import configure_logging
from server.runtime import GracefulServer, announce, listening_socket, resolved_config
from server.settings import TOOLSETS, ConfigError, ServerSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="collections-mcp",
        description=(
            "MCP server for debt-collection vendors (Scollect, ...). With no vendor credentials in the "
            "environment or .env it runs against built-in sandbox vendors with demo data."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the MCP server (streamable HTTP by default, or stdio for Claude Desktop / IDEs)",
        description="Run the MCP server. Vendors come from SCOLLECT_* etc.; with none set, the sandbox starts.",
    )
    serve.add_argument("--transport", choices=["http", "stdio"], default="http",
                       help="http: streamable HTTP at http://HOST:PORT/mcp (default); stdio: for desktop clients")
    serve.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")

    sandbox = commands.add_parser(
        "sandbox",
        help="run only the simulated vendors and print their URLs and demo credentials",
        description="Run the simulated vendor APIs on loopback so you can try them with curl or another client.",
    )
    sandbox.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)

    tools = commands.add_parser(
        "tools",
        help="print the tools this configuration enables, with their effect",
        description="List the enabled tools (respecting COLLECTIONS_MCP_TOOLSETS and COLLECTIONS_MCP_READ_ONLY).",
    )
    tools.add_argument("--markdown", action="store_true", help="print the README's tool table")
    return parser


def _tool_lines(config: ServerConfig, markdown: bool) -> list[str]:
    selected = config.selected()
    if markdown:
        lines = ["| tool | effect | vendor endpoint | what it does |", "|---|---|---|---|"]
        for _, spec in selected:
            summary = spec.description.split("\n\n")[0].replace("\n", " ").replace("|", "\\|")
            lines.append(f"| `{spec.name}` | {spec.effect.value} | `{spec.endpoint}` | {summary} |")
        return lines
    width = max((len(spec.name) for _, spec in selected), default=10)
    return [f"{spec.name:<{width}}  {spec.effect.value:<11}  {spec.title}" for _, spec in selected]


async def _serve(settings: ServerSettings, transport: str, host: str, port: int) -> None:
    import uvicorn

    async with resolved_config(settings) as (config, sandbox):
        server = build_server(config)
        mode = "sandbox mode (simulated vendors, demo data)" if config.sandbox else "live vendors"
        vendors = ", ".join(TOOLSETS[name].title for name in config.vendors)
        if sandbox is not None:
            vendors = ", ".join(line for line in sandbox.describe_urls())
        if transport == "stdio":
            announce(f"collections-mcp {package_version()}: {mode} [{vendors}]; speaking MCP on stdio")
            await server.run_stdio_async()
            return
        app = server.streamable_http_app(streamable_http_path="/mcp", host=host)
        uv_config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, log_config=None)
        # Bound before announcing, so "MCP ... at URL" on stderr means the URL accepts connections now.
        sock = listening_socket(host, port)
        bound = sock.getsockname()[1]
        announce(
            f"collections-mcp {package_version()}: {mode} [{vendors}]; "
            f"MCP streamable HTTP at http://{host}:{bound}/mcp"
        )
        try:
            await GracefulServer(uv_config).serve(sockets=[sock])
        finally:
            sock.close()


async def _sandbox_only() -> None:
    from sandbox.runner import run_sandbox
    from server.runtime import sandbox_config

    async with run_sandbox(sandbox_config(ServerSettings())) as sandbox:
        for line in sandbox.describe():
            print(line, flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as stop_signals:
            async for _ in stop_signals:
                return


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = ServerSettings()
    except ValidationError as exc:
        problems = "; ".join(error["msg"].removeprefix("Value error, ") for error in exc.errors())
        print(f"collections-mcp: configuration error: {problems}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        if args.command == "serve":
            anyio.run(_serve, settings, args.transport, args.host, args.port)
        elif args.command == "sandbox":
            anyio.run(_sandbox_only)
        elif args.command == "tools":
            anyio.run(_print_tools, settings, args.markdown)
    except ConfigError as exc:
        print(f"collections-mcp: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


async def _print_tools(settings: ServerSettings, markdown: bool) -> None:
    from server.settings import plan_vendors

    plan = plan_vendors(settings)
    # Listing needs no running vendor: in sandbox mode every toolset is on.
    vendors = plan.vendors if not plan.sandbox else {name: ts.settings_cls() for name, ts in TOOLSETS.items()}
    config = ServerConfig(settings=settings, vendors=vendors, sandbox=plan.sandbox)
    for line in _tool_lines(config, markdown):
        print(line)


if __name__ == "__main__":
    sys.exit(main())
