"""The `collections-mcp` command: serve, sandbox, tools."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import re
import signal
import socket
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from datetime import datetime
from typing import TYPE_CHECKING, Any

import anyio
from pydantic import ValidationError
from pydantic_settings import SettingsError

from collections_mcp.server.core.access import is_loopback
from collections_mcp.server.core.catalog import installed_catalog
from collections_mcp.server.core.version import package_version
from collections_mcp.server.settings import ConfigError, ServerSettings, unparsable_setting
from collections_mcp.server.transport.logs import announce, configure_logging
from collections_mcp.tools.common.state import StateUnavailable

if TYPE_CHECKING:
    from collections_mcp.server.app import ServerConfig


TRACING_ON = "collections-mcp: OpenTelemetry tracing on (OTEL_* environment): spans for tool calls and vendor requests"


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
    serve.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="serve HTTP on a non-loopback address without bearer tokens (dangerous: anyone who can reach it "
        "can work accounts); without this flag that is a startup error",
    )

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

    audit = commands.add_parser(
        "audit",
        help="print the audit log: one record per tool call (allowed or refused), oldest first",
        description="Print the audit log (newest N records): from the shared database when "
        "COLLECTIONS_MCP_DATABASE_URL is set, else from COLLECTIONS_MCP_STATE_DIR/audit.sqlite3.",
    )
    audit.add_argument(
        "--since",
        type=_since_arg,
        metavar="WHEN",
        help="only records at or after WHEN: ISO time (2026-11-25T10:00Z; no zone = UTC) or -10m, -2h, -1d",
    )
    audit.add_argument("--tool", metavar="NAME", help="only calls of this tool (e.g. scollect_add_note)")
    audit.add_argument("--limit", type=int, default=100, metavar="N", help="at most the newest N records (default 100)")
    audit.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    # Let `--since -10m` read as a value, not an option (Python >= 3.13 already does; argparse has no public hook).
    audit._negative_number_matcher = re.compile(r"^-\d+(?:\.\d+)?[smhd]?$")

    config = commands.add_parser(
        "config",
        help="print a ready client set-up (JSON) for this installation: claude-desktop, vscode or http",
        description="Print the JSON to paste into a client: the absolute path of this installation's command and "
        "the variables it is configured with. Secret values are never printed (placeholders instead).",
    )
    config.add_argument("client", choices=["claude-desktop", "vscode", "http"],
                        help="claude-desktop: claude_desktop_config.json; vscode: .vscode/mcp.json; "
                        "http: a streamable HTTP client with a bearer token")
    config.add_argument("--name", default="collections", help="the server's key in the client's config")
    config.add_argument("--url", default=None,
                        help="for http: the server's MCP URL (default: COLLECTIONS_MCP_PUBLIC_URL + /mcp, "
                        "http://127.0.0.1:8000/mcp when that is not set)")

    approvals = commands.add_parser(
        "approvals",
        help="the approval inbox from the command line: list, show, approve or reject what agents queued",
        description="Calls an automated agent queued for a supervisor (COLLECTIONS_MCP_APPROVALS=inbox), from the "
        "configured state backend. A decision is recorded here; the running server runs an approved call at once with "
        "PostgreSQL (NOTIFY), or within COLLECTIONS_MCP_APPROVALS_CHECK_SECONDS with SQLite, checking every rule again.",
    )
    actions = approvals.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="pending approvals (with --all: recent ones in every state)")
    listing.add_argument("--all", action="store_true", help="every state, newest first (50)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    show = actions.add_parser("show", help="one approval in full (arguments redacted)")
    show.add_argument("id", metavar="ID")
    show.add_argument("--json", action="store_true", help="as JSON")
    for name, verb in (("approve", "approve (the server then runs them)"), ("reject", "reject (never sent)")):
        decide = actions.add_parser(name, help=f"{verb} one or more pending approvals")
        decide.add_argument("ids", metavar="ID", nargs="+")
        decide.add_argument("--reason", default=None, help="why (shown to the agent; required with --override)")
        decide.add_argument("--as", dest="supervisor", default=None, help="your name (default: your login name)")
        if name == "approve":
            decide.add_argument("--override", action="store_true",
                                help="override the contact blocks a supervisor may override (permissions Scollect "
                                "cannot report, ...); --reason says why the contact is lawful")  # fmt: skip

    migrate = commands.add_parser(
        "migrate",
        help="apply pending schema migrations to the shared PostgreSQL database (COLLECTIONS_MCP_DATABASE_URL)",
        description="Apply every pending schema migration to the database in COLLECTIONS_MCP_DATABASE_URL, under an "
        "advisory lock (safe while replicas start). For operators who migrate on their own and run the servers "
        "with COLLECTIONS_MCP_DATABASE_MIGRATE=false.",
    )
    migrate.add_argument("--check", action="store_true",
                         help="apply nothing: list pending migrations and exit 1 if there are any")  # fmt: skip

    commands.add_parser(
        "doctor",
        help="check the settings, reach and log in to every enabled vendor (sandbox too), report OK/FAIL",
        description="Check the settings and make one read at each enabled vendor with its credentials. "
        "Exit 0 when every check is OK, 1 otherwise. No secret is printed.",
    )
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


def check_exposure(settings: ServerSettings, host: str, allow_unauthenticated: bool) -> None:
    """No tokens means loopback only, unless the operator explicitly and loudly says otherwise."""
    if settings.http_tokens or settings.oauth_introspection_url or is_loopback(host):
        return
    if not allow_unauthenticated:
        raise ConfigError(
            f"refusing to serve HTTP on {host} without authentication. Set COLLECTIONS_MCP_HTTP_TOKENS, e.g. "
            '[{"client": "ivr", "token": "<at least 24 random characters>", "effects": ["read", "contact"]}] '
            "(see .env.example), bind 127.0.0.1, or pass --allow-unauthenticated if something in front of this "
            "server authenticates every request."
        )
    announce(f"WARNING: serving HTTP on {host} WITHOUT authentication (--allow-unauthenticated).", logging.WARNING)


def _reachable_url(settings: ServerSettings, host: str, port: int) -> str:
    """COLLECTIONS_MCP_PUBLIC_URL when the operator set it (a proxy in front), else the address we listen on."""
    if "public_url" in settings.model_fields_set:
        return settings.public_url.rstrip("/")
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://{f'[{shown}]' if ':' in shown else shown}:{port}"


async def _serve(settings: ServerSettings, transport: str, host: str, port: int, tracing: bool = False) -> None:
    # Imported here: `--help`, `tools`, `config` and `audit` should not pay for the MCP SDK and uvicorn.
    from collections_mcp.server.transport.serve import listening_socket

    # HTTP: bound first (a busy port is a plain configuration error, before any simulator starts), so the server
    # knows the URL its clients use (the payment page is served there too).
    sock = listening_socket(host, port) if transport == "http" else None
    try:
        await _serve_on(settings, transport, host, sock, tracing)
    finally:
        if sock is not None:
            sock.close()


async def _serve_on(
    settings: ServerSettings, transport: str, host: str, sock: socket.socket | None, tracing: bool = False
) -> None:
    """Serve until stopped: stdio when `sock` is None, else streamable HTTP on the bound `sock`."""
    import uvicorn

    from collections_mcp.server.app import CollectionsServer
    from collections_mcp.server.ops.runtime import resolved_config
    from collections_mcp.server.transport.http import build_http_app, host_check_warning, install_request_scope
    from collections_mcp.server.transport.serve import GracefulServer

    async with resolved_config(settings) as (config, sandbox), AsyncExitStack() as stack:
        if sock is not None:
            bound_port = sock.getsockname()[1]
            config = dataclasses.replace(
                config, http_url=_reachable_url(settings, host, bound_port), http_bind=(host, bound_port)
            )
        built = CollectionsServer(config)
        server = built.mcp_server()
        # The shared database is reached (and migrated) before the server says it is ready: an unreachable one
        # is a startup error that names it, without its password.
        await stack.enter_async_context(built.stores.running())
        mode = "sandbox mode (simulated vendors, demo data)" if config.sandbox else "live vendors"
        vendors = ", ".join(config.catalog.by_name[name].title for name in config.vendors)
        if sandbox is not None:
            vendors = ", ".join(line for line in sandbox.describe_urls())
        if transport == "stdio":
            announce(f"collections-mcp {package_version()}: {mode} [{vendors}]; speaking MCP on stdio", transport="stdio")
            if tracing:
                announce(TRACING_ON)
            install_request_scope(server)  # every MCP request's log lines get a request id and the client name
            await server.run_stdio_async()
            return
        assert sock is not None
        bound = sock.getsockname()[1]
        app = built.routed(build_http_app(server, settings, host, bound))
        warning = host_check_warning(host, settings.http_allowed_hosts, settings.public_url)
        if warning is not None:
            announce(warning, logging.WARNING)
        uv_config = uvicorn.Config(
            app, host=host, port=bound, log_level="warning", access_log=False, log_config=None,
            timeout_graceful_shutdown=5,  # after draining: open streams (idle SSE) get this long to close
        )  # fmt: skip
        # Bound before announcing, so "MCP ... at URL" on stderr means the URL accepts connections now.
        url = f"http://{f'[{host}]' if ':' in host else host}:{bound}/mcp"
        # The URL is followed by a space: scripts read it as the word after "MCP streamable HTTP at ".
        announce(f"collections-mcp {package_version()}: {mode} [{vendors}]; MCP streamable HTTP at {url} (ready)",
                 transport="http", url=url)  # fmt: skip
        if tracing:
            announce(TRACING_ON)
        if built.replication is not None:
            announce(f"collections-mcp: replica {built.replication.replica_id} of several sharing {built.stores.location}; "
                     f"the other replicas reach it at {built.replication.internal_url}")  # fmt: skip
        await GracefulServer(uv_config, config.drain, settings.shutdown_grace_seconds).serve(sockets=[sock])


async def _sandbox_only(settings: ServerSettings) -> None:
    from collections_mcp.server.ops.runtime import running_sandbox

    async with running_sandbox(settings) as sandbox:
        for line in sandbox.describe():
            print(line, flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as stop_signals:
            async for _ in stop_signals:
                return


def _variable(location: tuple[Any, ...]) -> str:
    """The environment variable a settings error is about (field names map to COLLECTIONS_MCP_<FIELD>)."""
    field = str(location[0]) if location else "settings"
    return field if field.startswith("COLLECTIONS_MCP_") else f"COLLECTIONS_MCP_{field.upper()}"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "doctor":  # reports invalid settings as a failed check (exit 1) instead of stopping at them
        from collections_mcp.server.ops.doctor import doctor_main

        return doctor_main()
    try:
        settings = ServerSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{_variable(error['loc'])}: {error['msg'].removeprefix('Value error, ')}" for error in exc.errors()
        )
        print(f"collections-mcp: configuration error: {problems}", file=sys.stderr)
        return 2
    except SettingsError as exc:  # a value that could not even be parsed (e.g. HTTP_TOKENS that is not JSON)
        print(f"collections-mcp: configuration error: {unparsable_setting(exc)}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        if args.command == "serve":
            if args.transport == "http":
                check_exposure(settings, args.host, args.allow_unauthenticated)
                settings.require_shared_keys()  # before anything starts (simulators, the database)
            tracing = _start_tracing()
            anyio.run(_serve, settings, args.transport, args.host, args.port, tracing)
        elif args.command == "sandbox":
            anyio.run(_sandbox_only, settings)
        elif args.command == "tools":
            anyio.run(_print_tools, settings, args.markdown)
        elif args.command == "audit":
            return anyio.run(_print_audit, settings, args.since, args.tool, args.limit, args.json)
        elif args.command == "migrate":
            return anyio.run(_migrate, settings, args.check)
        elif args.command == "approvals":
            from collections_mcp.server.ops.approvals import approvals_main

            return anyio.run(approvals_main, settings, args)
        elif args.command == "config":
            from collections_mcp.server.ops.client_config import print_client_config

            return print_client_config(settings, args.client, args.name, args.url)
    except ConfigError as exc:
        print(f"collections-mcp: configuration error: {exc}", file=sys.stderr)
        return 2
    except StateUnavailable as exc:  # its message names the database without its password
        print(f"collections-mcp: {exc}", file=sys.stderr)
        return 2
    except BaseExceptionGroup as group:  # the same errors, raised while the sandbox's task group runs
        problem = _startup_error(group)
        if problem is None:
            raise
        prefix = "configuration error: " if isinstance(problem, ConfigError) else ""
        print(f"collections-mcp: {prefix}{problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


def _start_tracing() -> bool:
    """OpenTelemetry traces when the standard OTEL_* variables ask for them (server/telemetry/tracing.py). Like
    every other setting they may also be in .env; the OpenTelemetry SDK reads only the environment, so those
    go there (a variable the environment already has wins)."""
    import os

    from dotenv import dotenv_values

    from collections_mcp.server.telemetry.tracing import TracingConfigError, configure_tracing

    for name, value in dotenv_values(".env").items():
        if name.startswith("OTEL_") and value and name not in os.environ:
            os.environ[name] = value
    try:
        return configure_tracing(package_version())
    except TracingConfigError as exc:
        raise ConfigError(str(exc)) from None


def _startup_error(group: BaseExceptionGroup[BaseException]) -> Exception | None:
    """The configuration or database error a task group wrapped, when that is all it holds."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        item = pending.pop()
        if isinstance(item, BaseExceptionGroup):
            pending.extend(item.exceptions)
        else:
            leaves.append(item)
    if leaves and all(isinstance(leaf, ConfigError | StateUnavailable) for leaf in leaves):
        first = leaves[0]
        assert isinstance(first, Exception)
        return first
    return None


async def _print_tools(settings: ServerSettings, markdown: bool) -> None:
    from collections_mcp.server.settings import plan_vendors

    plan = plan_vendors(settings)
    # Listing needs no running vendor: in sandbox mode every toolset is on.
    vendors = plan.vendors if not plan.sandbox else {name: ts.settings_cls() for name, ts in installed_catalog().by_name.items()}
    from collections_mcp.server.app import ServerConfig

    config = ServerConfig(settings=settings, vendors=vendors, sandbox=plan.sandbox)
    for line in _tool_lines(config, markdown):
        print(line)


def _since_arg(value: str) -> datetime:
    """`--since`: an ISO time (UTC when it has no zone) or a relative -30s / -10m / -2h / -1d."""
    from datetime import UTC, timedelta

    relative = re.fullmatch(r"-?(\d+(?:\.\d+)?)([smhd])", value.strip())
    if relative:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[relative.group(2)]
        return datetime.now(UTC) - timedelta(**{unit: float(relative.group(1))})
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a time: use ISO (2026-11-25T10:00:00Z) or relative (-10m, -2h, -1d)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def _print_audit(
    settings: ServerSettings, since: datetime | None, tool: str | None, limit: int, as_json: bool
) -> int:
    from collections_mcp.server.state.audit_log import audit_path
    from collections_mcp.server.state.backend import reading_audit_log

    if settings.database_url is None:
        path = audit_path(settings.state_dir)
        if not path.exists():
            print(f"collections-mcp: no audit log yet at {path} (no tool call has been recorded)", file=sys.stderr)
            return 0
    async with reading_audit_log(settings.state_config()) as audit:
        records = await audit.query(since, tool, limit)
    if as_json:
        for record in records:
            print(record.model_dump_json())
        return 0
    rows = [
        (
            record.time.strftime("%Y-%m-%d %H:%M:%SZ"),
            record.tool,
            record.outcome + (" (replayed)" if record.replayed else "")
            + (f" (overridden by a person: {record.override.get('reason', '')})" if record.override else ""),
            record.client_name or "-",
            f"{record.duration_ms:.1f} ms",
        )
        for record in records
    ]
    header = ("time (UTC)", "tool", "outcome", "client", "duration")
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    if not rows:
        print("(no matching records)")
    return 0


async def _migrate(settings: ServerSettings, check: bool) -> int:
    from collections_mcp.server.state.postgres.database import PostgresDatabase
    from collections_mcp.server.state.postgres.migrations import migrate, pending_migrations

    if settings.database_url is None:
        raise ConfigError(
            "collections-mcp migrate needs COLLECTIONS_MCP_DATABASE_URL (postgresql://...); with SQLite there is "
            "nothing to migrate"
        )
    db = PostgresDatabase(settings.database_url, timeout_seconds=settings.database_timeout_seconds)
    try:
        if check:
            pending = await pending_migrations(db)
            for migration in pending:
                print(f"pending: {migration.label}")
            print(f"{db.display}: {len(pending)} pending migration(s)" if pending else f"{db.display}: up to date")
            return 1 if pending else 0
        applied = await migrate(db)
    finally:
        await db.close()
    for migration in applied:
        print(f"applied: {migration.label}")
    print(f"{db.display}: {'up to date' if applied else 'already up to date'} ({len(applied)} applied now)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
