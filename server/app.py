"""Assemble the MCP server: enabled toolsets -> tools through the policy pipeline, vendor clients in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from collections_mcp.server.audit import AuditStage, AuditUnlistedToolCalls, SqliteAuditLog, audit_path
from collections_mcp.server.compliance import ComplianceStage
from collections_mcp.server.confirmation import ConfirmationStage
from collections_mcp.server.drain import Drain
from collections_mcp.server.http import AuthorizationStage, HideUngrantedTools, auth_settings, token_verifier
from collections_mcp.server.human import Conversations
from collections_mcp.server.idempotency import IdempotencyStage, IdempotencyStore, idempotency_path
from collections_mcp.server.payments import CaptureService, CaptureStage, check_page_url
from collections_mcp.server.pipeline import CallLog, PolicyPipeline, ServerState, Stage
from collections_mcp.server.prompts import UnknownPromptIsInvalidParams, register_prompts
from collections_mcp.server.redaction import scrub_text
from collections_mcp.server.registry import build_tool, select_specs
from collections_mcp.server.settings import TOOLSETS, ConfigError, ServerSettings
from collections_mcp.server.version import package_version
from collections_mcp.tools.accounts.settings import AccountsSettings
from collections_mcp.tools.common.errors import VendorError
from collections_mcp.tools.common.settings import VendorSettings
from collections_mcp.tools.common.spec import AnySpec, Toolset

log = logging.getLogger("collections_mcp.server")

IDENTITY_LOCKOUT_FILE = "identity-lockout.sqlite3"

SERVER_NAME = "collections-mcp"

BASE_INSTRUCTIONS = (
    "Tools for working debt-collection accounts. Tool names start with the vendor they act on. Sensitive "
    "values (SSN, card and bank numbers) are always masked; never ask the debtor to read them into the chat. "
    "A tool error means nothing was done unless the error says otherwise."
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ServerConfig:
    """Everything the server is built from. `vendors` holds the settings of each enabled vendor."""

    settings: ServerSettings
    vendors: dict[str, VendorSettings]
    sandbox: bool = False
    clock: Callable[[], datetime] = _utc_now
    extra_stages: tuple[Stage, ...] = field(default_factory=tuple)
    drain: Drain = field(default_factory=Drain)
    # Where HTTP clients reach this server when it serves streamable HTTP (None: stdio or in-memory). The
    # payment page is then served by the same app at <http_url>/pay/<token>, so a remote client's person can
    # open it; otherwise it gets a loopback listener of its own.
    http_url: str | None = None

    def toolsets(self) -> list[Toolset]:
        return [TOOLSETS[name] for name in TOOLSETS if name in self.vendors]

    def selected(self) -> list[tuple[Toolset, AnySpec]]:
        return select_specs(
            self.toolsets(),
            read_only=self.settings.read_only,
            allowed_toolsets=self.settings.toolsets,
            allowed_tools=self.settings.tools,
        )


def _pipeline(config: ServerConfig, capture: CaptureService, audit_log: SqliteAuditLog) -> PolicyPipeline:
    """Every stage, outermost first. The order is policy:
    audit sees every outcome (refusals and replays too); authorization before idempotency so a client
    can't receive a result its token could not have produced; idempotency before anything that asks a
    person or reaches the vendor, so a replay asks and sends nothing; confirmation last, right before
    the vendor call."""
    settings = config.settings
    audit = AuditStage(audit_log, clock=config.clock)
    accounts = config.vendors.get("accounts")
    vendor_tz = accounts.scollect_timezone if isinstance(accounts, AccountsSettings) else "UTC"
    idempotency = IdempotencyStage(
        IdempotencyStore(idempotency_path(settings.state_dir), cross_process_wait=settings.idempotency_wait_seconds),
        settings.idempotency_window_seconds,
        config.clock,
    )
    stages: list[Stage] = [
        CallLog(),
        audit,
        AuthorizationStage(),
        idempotency,
        ComplianceStage(audit_log, vendor_tz),
        *config.extra_stages,
        CaptureStage(capture),
        ConfirmationStage(settings.confirm),
    ]
    return PolicyPipeline(stages, rejection_listeners=[audit.on_rejected], drain=config.drain)


def _mounted_page_base(config: ServerConfig, capture: CaptureService) -> str | None:
    """The payment page's base URL on the HTTP app, or None to give it its own loopback listener: with stdio,
    and when the URL HTTP clients use is plain http to another machine (card data never crosses a network in
    clear text; put TLS in front and set COLLECTIONS_MCP_PUBLIC_URL or COLLECTIONS_MCP_CAPTURE_PUBLIC_URL)."""
    if config.http_url is None:
        return None
    base = capture.public_url or config.http_url
    try:
        check_page_url(base)
    except ConfigError as exc:
        log.warning("payment page not served on the HTTP app (%s); it listens on loopback only instead", exc)
        return None
    return base


def build_server(config: ServerConfig) -> MCPServer[ServerState]:
    settings = config.settings
    capture = CaptureService.from_settings(settings, config.clock)
    audit_log = SqliteAuditLog(audit_path(settings.state_dir))
    pipeline = _pipeline(config, capture, audit_log)
    selected = config.selected()
    tools = [build_tool(toolset, spec, pipeline) for toolset, spec in selected]
    in_use = [toolset for toolset in config.toolsets() if any(ts is toolset for ts, _ in selected)]
    instructions = "\n\n".join([BASE_INSTRUCTIONS, *(f"{ts.title}: {ts.instructions}" for ts in in_use)])

    @asynccontextmanager
    async def lifespan(_: MCPServer[ServerState]) -> AsyncIterator[ServerState]:
        async with AsyncExitStack() as stack:
            clients: dict[str, Any] = {}
            for toolset in in_use:
                vendor = config.vendors[toolset.name]
                if isinstance(vendor, AccountsSettings):  # its identity-check lockout lives with our state
                    vendor = vendor.model_copy(update={"lockout_file": settings.state_dir / IDENTITY_LOCKOUT_FILE})
                clients[toolset.name] = await stack.enter_async_context(toolset.open_client(vendor))
            if page_base is not None:
                await stack.enter_async_context(capture.mounted(page_base))  # the secure payment-details page
            elif any(spec.capture for _, spec in selected):
                await stack.enter_async_context(capture.serving())
            # Entered last, exited first: conversations end before the clients and the page they use close.
            async with anyio.create_task_group() as background:
                conversations = Conversations(background, idle_timeout=settings.conversation_idle_seconds)
                state = ServerState(clients=clients, clock=config.clock, conversations=conversations)
                probes.state = state
                try:
                    yield state
                finally:
                    probes.state = None
                    # Shutdown ends every conversation still waiting for a person (vendor jobs roll back).
                    background.cancel_scope.cancel()

    page_base = _mounted_page_base(config, capture) if any(spec.capture for _, spec in selected) else None
    probes = VendorProbes(in_use)
    http_auth: dict[str, Any] = {}
    verifier = token_verifier(settings)
    if verifier is not None:
        http_auth = {"token_verifier": verifier, "auth": auth_settings(settings.public_url, settings.oauth_issuer)}
    server = MCPServer(
        **http_auth,
        middleware=[HideUngrantedTools(), AuditUnlistedToolCalls(audit_log, {spec.name for _, spec in selected})],
        name=SERVER_NAME,
        title="Collections MCP",
        version=package_version(),
        instructions=instructions,
        lifespan=lifespan,
        tools=tools,
    )
    # Operations endpoints, outside MCP auth: a load balancer must reach them without a token.
    server.custom_route("/healthz", methods=["GET"], include_in_schema=False)(probes.healthz)
    server.custom_route("/readyz", methods=["GET"], include_in_schema=False)(probes.readyz)
    if page_base is not None:  # outside MCP auth: the person's browser has the single-use link, not a token
        for route in capture.routes:
            server.custom_route(route.path, methods=sorted(route.methods or ()), include_in_schema=False)(  # type: ignore[attr-defined]
                route.endpoint  # type: ignore[attr-defined]
            )
    # Workflow prompts from prompts/*.md; a prompt naming a tool this server does not offer is left out.
    register_prompts(server, available_tools={tool.name for tool in tools})
    server.middleware.append(UnknownPromptIsInvalidParams(server))
    return server


class VendorProbes:
    """/healthz (the process answers) and /readyz (every enabled vendor reachable, our credentials accepted)."""

    def __init__(self, toolsets: list[Toolset], timeout_seconds: float = 10.0) -> None:
        self.toolsets = toolsets
        self.timeout_seconds = timeout_seconds
        self.state: ServerState | None = None

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": package_version()})

    async def check(self) -> dict[str, dict[str, Any]]:
        results: dict[str, dict[str, Any]] = {}
        state = self.state

        async def one(toolset: Toolset) -> None:
            if toolset.probe is None or state is None:
                return
            try:
                with anyio.fail_after(self.timeout_seconds):
                    detail = await toolset.probe(state.clients[toolset.name])
                results[toolset.name] = {"vendor": toolset.title, "ready": True, "detail": scrub_text(detail)}
            except Exception as exc:  # a probe failure is the answer, not a crash
                reason = str(exc) if isinstance(exc, VendorError) else f"{type(exc).__name__}"
                results[toolset.name] = {"vendor": toolset.title, "ready": False, "detail": scrub_text(reason)}

        async with anyio.create_task_group() as group:
            for toolset in self.toolsets:
                group.start_soon(one, toolset)
        return results

    async def readyz(self, request: Request) -> Response:
        if self.state is None:
            return JSONResponse({"status": "starting", "vendors": {}}, status_code=503)
        vendors = await self.check()
        ready = all(entry["ready"] for entry in vendors.values())
        return JSONResponse({"status": "ready" if ready else "not ready", "vendors": vendors}, status_code=200 if ready else 503)
