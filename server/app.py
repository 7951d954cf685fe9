"""Assemble the MCP server: enabled toolsets -> tools through the policy pipeline, vendor clients in the lifespan.

`ServerConfig` is everything a server is built from; `CollectionsServer` is one server as built from it (its
tools, its policy pipeline, its stores, the payment page, the operations endpoints) with the lifespan that
opens and closes what it needs; `build_server` hands the MCP side of it to a transport.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.request_state import RequestStateSecurity
from mcp.types import SubscribeRequestParams, UnsubscribeRequestParams
from starlette.types import ASGIApp

from collections_mcp.server.core.call import ServerState, Stage, utc_now
from collections_mcp.server.core.catalog import Catalog, installed_catalog
from collections_mcp.server.core.conversations import Conversations
from collections_mcp.server.core.drain import Drain
from collections_mcp.server.core.errors import ConfigError
from collections_mcp.server.core.on_demand import ON_DEMAND_TOOLSET, ToolsetsOnDemand
from collections_mcp.server.core.pipeline import PolicyPipeline
from collections_mcp.server.core.registry import build_tool, select_specs
from collections_mcp.server.core.tool_list import ToolListCache
from collections_mcp.server.core.version import package_version
from collections_mcp.server.inbox.web import SupervisorInbox
from collections_mcp.server.payments.service import CaptureService, check_page_url
from collections_mcp.server.policy.approvals import (
    APPROVALS_TOOLSET,
    RESOURCE_TEMPLATE,
    ApprovalInbox,
    ApprovalsStage,
)
from collections_mcp.server.policy.audit import AuditStage, AuditUnlistedToolCalls
from collections_mcp.server.policy.authorization import AuthorizationStage
from collections_mcp.server.policy.call_log import CallLog
from collections_mcp.server.policy.capture import CaptureStage
from collections_mcp.server.policy.compliance import ComplianceStage
from collections_mcp.server.policy.confirmation import ConfirmationStage
from collections_mcp.server.policy.idempotency import IdempotencyStage
from collections_mcp.server.prompts import UnknownPromptIsInvalidParams, register_prompts
from collections_mcp.server.replicas.replication import ROUNDS_PATH, Replication
from collections_mcp.server.replicas.routing import ReplicaRouting
from collections_mcp.server.settings import ServerSettings
from collections_mcp.server.state.backend import open_stores
from collections_mcp.server.telemetry.metrics import ServerMetrics
from collections_mcp.server.transport.auth import HideUngrantedTools, auth_settings, token_verifier
from collections_mcp.server.transport.metrics import METRICS_PATH, metrics_endpoint, serving_metrics
from collections_mcp.server.transport.probes import VendorProbes
from collections_mcp.server.views import HideViewsFromPlainClients, views_extension
from collections_mcp.tools.common.resilience import VendorBreakers
from collections_mcp.tools.common.settings import VendorSettings
from collections_mcp.tools.common.spec import AnySpec, Toolset

log = logging.getLogger("collections_mcp.server")

SERVER_NAME = "collections-mcp"

BASE_INSTRUCTIONS = (
    "Tools for working debt-collection accounts. Tool names start with the vendor they act on. Sensitive "
    "values (SSN, card and bank numbers) are always masked; never ask the debtor to read them into the chat. "
    "A tool error means nothing was done unless the error says otherwise. Tools that change something accept an "
    "optional idempotency_key: an identical call (same tool and arguments) within minutes is not applied twice and "
    "returns the first result; repeat a change on purpose with a new key."
)


@dataclass(frozen=True)
class ServerConfig:
    """Everything the server is built from. `vendors` holds the settings of each enabled vendor."""

    settings: ServerSettings
    vendors: dict[str, VendorSettings]
    sandbox: bool = False
    clock: Callable[[], datetime] = utc_now
    extra_stages: tuple[Stage, ...] = field(default_factory=tuple)
    drain: Drain = field(default_factory=Drain)
    # Where HTTP clients reach this server when it serves streamable HTTP (None: stdio or in-memory). The
    # payment page is then served by the same app at <http_url>/pay/<token>, so a remote client's person can
    # open it; otherwise it gets a loopback listener of its own.
    http_url: str | None = None
    # The address streamable HTTP is bound to (host, port); with a shared database this makes the server one
    # replica among several (its id and internal address derive from it unless set).
    http_bind: tuple[str, int] | None = None
    catalog: Catalog = field(default_factory=installed_catalog)

    def toolsets(self) -> list[Toolset]:
        return [toolset for toolset in self.catalog.toolsets if toolset.name in self.vendors]

    def selected(self) -> list[tuple[Toolset, AnySpec]]:
        return select_specs(
            self.toolsets(),
            read_only=self.settings.read_only,
            allowed_toolsets=self.settings.toolsets,
            allowed_tools=self.settings.tools,
            profile=self.settings.profile,
        )


class CollectionsServer:
    """One server, built from its config: everything below is decided here, before the lifespan runs."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        settings = config.settings
        self.selected = config.selected()
        self.in_use = [toolset for toolset in config.toolsets() if any(ts is toolset for ts, _ in self.selected)]
        self.capture = CaptureService.from_settings(settings, config.clock)
        # This server's metrics, in a registry of its own (served at /metrics: server/transport/metrics.py).
        self.metrics = ServerMetrics()
        self.metrics_url: str | None = None  # the separate metrics listener's URL while it runs
        # One circuit breaker per vendor for this server: its calls and its readiness probes share them.
        self.breakers = VendorBreakers(
            failure_threshold=settings.breaker_failures, cooldown_seconds=settings.breaker_cooldown_seconds,
            clock=config.clock,
        )  # fmt: skip
        # SQLite under the state directory, or PostgreSQL shared by replicas: decided in server/state/backend.py.
        self.stores = open_stores(settings.state_config(), on_audit_write=self.metrics.audit_written)
        self.audit_log = self.stores.audit
        self.idempotency = self.stores.idempotency
        contact_facts = {toolset.name: toolset.contact_facts for toolset in self.in_use if toolset.contact_facts}
        self.compliance = ComplianceStage(contact_facts)
        # The approval inbox (COLLECTIONS_MCP_APPROVALS=inbox): calls nobody can confirm wait for a supervisor.
        self.inbox = ApprovalInbox(
            self.stores.approvals, ttl_seconds=settings.approval_ttl_seconds,
            check_seconds=settings.approvals_check_seconds, compliance=self.compliance,
            offered={spec.name: (toolset.name, spec) for toolset, spec in self.selected}, clock=config.clock,
        ) if settings.approvals == "inbox" else None  # fmt: skip
        # Toolsets on demand: every selected tool is built, but only the enabled toolsets' are offered.
        self.on_demand = ToolsetsOnDemand(self.selected) if settings.dynamic_toolsets else None
        self.pipeline = self._pipeline()
        self.tools = [build_tool(toolset, spec, self.pipeline) for toolset, spec in self.selected]
        if self.on_demand is not None:
            self.tools += [build_tool(ON_DEMAND_TOOLSET, spec, self.pipeline, after=self.on_demand.announce)
                           for spec in self.on_demand.specs]  # fmt: skip
        if self.inbox is not None:
            self.inbox.pipeline = self.pipeline
            self.tools.append(build_tool(APPROVALS_TOOLSET, self.inbox.status_spec(), self.pipeline))
        self.needs_capture = any(spec.capture for _, spec in self.selected)
        self.page_base = self._mounted_page_base() if self.needs_capture else None
        self.probes = VendorProbes(self.in_use, breakers=self.breakers, clock=config.clock, drain=config.drain)
        # One replica among several (a shared database, over HTTP), or None: this process serves alone.
        self.replication = self._replication()
        if self.replication is not None:
            self.capture.route_tag = self.replication.replica_id  # payment links name the replica holding them
        # Who may call over HTTP (None: no HTTP authentication configured); its connections close at shutdown.
        self.token_verifier = token_verifier(config.settings)

    @property
    def state(self) -> ServerState | None:
        """The running server's lifespan state: open clients, live conversations (None when not running)."""
        return self.probes.state

    def _pipeline(self) -> PolicyPipeline:
        """Every stage, outermost first, in the order server/policy/__init__.py gives (and says why)."""
        config = self.config
        audit = AuditStage(self.audit_log, clock=config.clock)
        stages: list[Stage] = [
            CallLog(self.metrics),
            audit,
            AuthorizationStage(),
            IdempotencyStage(self.idempotency, config.settings.idempotency_window_seconds, config.clock),
            *([ApprovalsStage(self.inbox)] if self.inbox is not None else []),
            self.compliance,
            *config.extra_stages,
            CaptureStage(self.capture),
            ConfirmationStage(config.settings.confirm),
        ]
        availability = self.on_demand.refusal if self.on_demand is not None else None
        return PolicyPipeline(
            stages, rejection_listeners=[audit.on_rejected], drain=config.drain, availability=availability,
            metrics=self.metrics, deadline_seconds=config.settings.call_deadline_seconds, breakers=self.breakers,
        )  # fmt: skip

    def _replication(self) -> Replication | None:
        """Several replicas share the database: any of them continues any conversation (server/replicas/)."""
        settings, bind = self.config.settings, self.config.http_bind
        if settings.database_url is None or bind is None:
            return None
        settings.require_shared_keys()
        replica_id, internal_url = settings.replica_identity(*bind)
        return Replication(
            replica_id=replica_id, internal_url=internal_url, secrets=settings.shared_keys(), owners=self.stores.owners,
            lease_seconds=settings.lease_seconds, drain=self.config.drain, max_body_bytes=settings.http_max_body_bytes,
        )  # fmt: skip

    def routed(self, app: ASGIApp) -> ASGIApp:
        """The HTTP app as served: with several replicas, wrapped so sessions and payment links carry this replica
        and requests of another replica reach it (server/replicas/routing.py)."""
        return ReplicaRouting(app, self.replication) if self.replication is not None else app

    def _mounted_page_base(self) -> str | None:
        """The payment page's base URL on the HTTP app, or None to give it its own loopback listener: with
        stdio, and when the URL HTTP clients use is plain http to another machine (card data never crosses a
        network in clear text; put TLS in front and set COLLECTIONS_MCP_PUBLIC_URL or
        COLLECTIONS_MCP_CAPTURE_PUBLIC_URL)."""
        if self.config.http_url is None:
            return None
        base = self.capture.public_url or self.config.http_url
        try:
            check_page_url(base)
        except ConfigError as exc:
            log.warning("payment page not served on the HTTP app (%s); it listens on loopback only instead", exc)
            return None
        return base

    def instructions(self) -> str:
        on_demand = [self.on_demand.instructions()] if self.on_demand is not None else []
        return "\n\n".join([BASE_INSTRUCTIONS, *on_demand, *(f"{ts.title}: {ts.instructions}" for ts in self.in_use)])

    @asynccontextmanager
    async def lifespan(self, _: MCPServer[ServerState]) -> AsyncIterator[ServerState]:
        config = self.config
        async with AsyncExitStack() as stack:
            stores = await stack.enter_async_context(self.stores.running())  # first in, last out
            if self.token_verifier is not None:  # its connections to the authorization server close at shutdown
                stack.push_async_callback(self.token_verifier.aclose)
            clients: dict[str, Any] = {}
            for toolset in self.in_use:
                clients[toolset.name] = await stack.enter_async_context(toolset.open_client(config.vendors[toolset.name]))
            if (listen := config.settings.metrics_listen) is not None:  # a scraper's own address (stdio too)
                self.metrics_url = await stack.enter_async_context(serving_metrics(self.metrics, *listen))
                stack.callback(setattr, self, "metrics_url", None)
                log.info("metrics for Prometheus at %s", self.metrics_url)
            if self.page_base is not None:
                await stack.enter_async_context(self.capture.mounted(self.page_base))  # the secure payment page
            elif self.needs_capture:
                await stack.enter_async_context(self.capture.serving())
            if self.replication is not None:  # registered (and renewing its lease) for as long as it serves
                await stack.enter_async_context(self.replication.running())
            # Entered last, exited first: conversations end before the clients and the page they use close.
            async with anyio.create_task_group() as background:
                conversations = Conversations(
                    background, idle_timeout=config.settings.conversation_idle_seconds, drain=config.drain,
                    relay=self.replication,
                )  # fmt: skip
                if self.replication is not None:
                    self.replication.conversations = conversations
                state = ServerState(
                    clients=clients, clock=config.clock, conversations=conversations, shared=stores.shared
                )
                self.metrics.watch(
                    conversations=lambda: conversations.live, payment_pages=lambda: self.capture.open_pages,
                    breakers=self.breakers,
                )
                self.probes.state = state
                if self.inbox is not None:  # approved calls run only while the server runs
                    self.inbox.state = state
                    background.start_soon(self.inbox.watch)
                try:
                    yield state
                finally:
                    self.probes.state = None
                    if self.replication is not None:
                        self.replication.conversations = None
                    if self.inbox is not None:
                        self.inbox.state = None
                    self.metrics.stop_watching()
                    # Shutdown ends every conversation still waiting for a person (vendor jobs roll back).
                    background.cancel_scope.cancel()

    def _own_tools(self) -> set[str]:
        own = set(self.on_demand.names) if self.on_demand is not None else set()
        return own | ({self.inbox.status_spec().name} if self.inbox is not None else set())

    def mcp_server(self) -> MCPServer[ServerState]:
        settings = self.config.settings
        http_auth: dict[str, Any] = {}
        verifier = self.token_verifier
        if verifier is not None:
            http_auth = {"token_verifier": verifier, "auth": auth_settings(settings.public_url, settings.oauth_issuer)}
        offered = {spec.name for _, spec in self.selected}
        middleware: list[Any] = [
            HideUngrantedTools(),
            HideViewsFromPlainClients(),
            AuditUnlistedToolCalls(self.audit_log, offered | self._own_tools()),
        ]
        if self.on_demand is not None:
            middleware.append(self.on_demand)  # tools/list shows the enabled toolsets' tools only
        # Interactive views (MCP Apps) for hosts that render them; other clients see none of it (server/views.py).
        views = views_extension((spec for _, spec in self.selected), offered)
        # Shared keys: a request_state sealed by any replica opens on every other (the first key seals, all open).
        keys = settings.shared_keys()
        inbox = self.inbox
        server = MCPServer(
            **http_auth,
            request_state_security=RequestStateSecurity(keys=keys) if keys else None,  # None: a key of this process
            # Approval outcomes reach subscribed clients (server/policy/approvals.py ApprovalNotices).
            subscriptions=inbox.notices.bus if inbox is not None else None,
            middleware=middleware,
            extensions=[views] if views is not None else None,
            name=SERVER_NAME,
            title="Collections MCP",
            version=package_version(),
            instructions=self.instructions(),
            lifespan=self.lifespan,
            tools=self.tools,
        )
        # Operations endpoints, outside MCP auth: a load balancer must reach them without a token.
        server.custom_route("/healthz", methods=["GET"], include_in_schema=False)(self.probes.healthz)
        server.custom_route("/readyz", methods=["GET"], include_in_schema=False)(self.probes.readyz)
        if settings.metrics_address is None:  # else only the scraper's own listener serves it (see lifespan)
            resource_url = f"{settings.public_url.rstrip('/')}/mcp" if verifier is not None else None
            server.custom_route(METRICS_PATH, methods=["GET", "HEAD"], include_in_schema=False)(
                metrics_endpoint(self.metrics, resource_url=resource_url)  # an ASGI app: Route serves it as one
            )
        if self.replication is not None:  # outside MCP auth: signed by a replica of this deployment instead
            server.custom_route(ROUNDS_PATH, methods=["POST"], include_in_schema=False)(self.replication.rounds_endpoint)
        if self.page_base is not None:  # outside MCP auth: the person's browser has the single-use link, not a token
            for route in self.capture.routes:
                server.custom_route(route.path, methods=sorted(route.methods or ()), include_in_schema=False)(  # type: ignore[attr-defined]
                    route.endpoint  # type: ignore[attr-defined]
                )
        if inbox is not None:
            self._serve_inbox(server, inbox)
        # Workflow prompts from prompts/*.md; a prompt naming a tool this server does not offer is left out.
        register_prompts(server, toolsets=self.config.catalog.by_name, available_tools=offered)
        server.middleware.append(UnknownPromptIsInvalidParams(server))
        server.middleware.append(ToolListCache())  # innermost: the filters above build on its shared wire form
        return server


    def _serve_inbox(self, server: MCPServer[ServerState], inbox: ApprovalInbox) -> None:
        """The approval resource (read and subscribe, both eras) and, over HTTP, the supervisors' page."""
        server.resource(RESOURCE_TEMPLATE, name="approval", title="An approval's state and outcome",
                        description="A call you queued for a supervisor: its state, the decision and what became of it.",
                        mime_type="application/json")(inbox.read_resource)  # fmt: skip
        # 2025-11-25 clients subscribe per resource (MCPServer has no decorator for it; the low-level server does).
        lowlevel = server._lowlevel_server
        lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, inbox.notices.subscribe)
        lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, inbox.notices.unsubscribe)
        if self.config.http_url is None:
            return  # stdio or in memory: decisions come from the command line
        page = SupervisorInbox(inbox, self.config.settings.supervisor_tokens,
                               secure_cookie=self.config.http_url.startswith("https://")
                               or self.config.settings.public_url.startswith("https://"))  # fmt: skip
        for route in page.routes:  # outside MCP auth: supervisors sign in with their own tokens
            server.custom_route(route.path, methods=sorted(route.methods or ()), include_in_schema=False)(route.endpoint)


def build_server(config: ServerConfig) -> MCPServer[ServerState]:
    """The MCP server for `config`, ready for a transport (stdio, streamable HTTP, or an in-memory client)."""
    return CollectionsServer(config).mcp_server()
