"""Assemble the MCP server: enabled toolsets -> tools through the policy pipeline, vendor clients in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer

from server.confirmation import ConfirmationStage
from server.http import AuthorizationStage, HideUngrantedTools, StaticTokenVerifier, auth_settings
from server.human import Conversations
from server.pipeline import CallLog, PolicyPipeline, ServerState, Stage
from server.registry import build_tool, select_specs
from server.settings import TOOLSETS, ServerSettings
from tools.common.settings import VendorSettings
from tools.common.spec import AnySpec, Toolset

SERVER_NAME = "collections-mcp"

BASE_INSTRUCTIONS = (
    "Tools for working debt-collection accounts. Tool names start with the vendor they act on. Sensitive "
    "values (SSN, card and bank numbers) are always masked; never ask the debtor to read them into the chat. "
    "A tool error means nothing was done unless the error says otherwise."
)


def package_version() -> str:
    try:
        return version("collections-mcp")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0"


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

    def toolsets(self) -> list[Toolset]:
        return [TOOLSETS[name] for name in TOOLSETS if name in self.vendors]

    def selected(self) -> list[tuple[Toolset, AnySpec]]:
        return select_specs(self.toolsets(), read_only=self.settings.read_only, allowed_toolsets=self.settings.toolsets)


def build_server(config: ServerConfig) -> MCPServer[ServerState]:
    settings = config.settings
    pipeline = PolicyPipeline(
        [CallLog(), AuthorizationStage(), *config.extra_stages, ConfirmationStage(settings.confirm)]
    )
    selected = config.selected()
    tools = [build_tool(toolset, spec, pipeline) for toolset, spec in selected]
    in_use = [toolset for toolset in config.toolsets() if any(ts is toolset for ts, _ in selected)]
    instructions = "\n\n".join([BASE_INSTRUCTIONS, *(f"{ts.title}: {ts.instructions}" for ts in in_use)])

    @asynccontextmanager
    async def lifespan(_: MCPServer[ServerState]) -> AsyncIterator[ServerState]:
        async with AsyncExitStack() as stack, anyio.create_task_group() as background:
            clients: dict[str, Any] = {}
            for toolset in in_use:
                clients[toolset.name] = await stack.enter_async_context(toolset.open_client(config.vendors[toolset.name]))
            conversations = Conversations(background)
            try:
                yield ServerState(clients=clients, clock=config.clock, conversations=conversations)
            finally:
                # Shutdown ends every conversation still waiting for a person (vendor jobs roll back).
                background.cancel_scope.cancel()

    http_auth: dict[str, Any] = {}
    if settings.http_tokens:
        http_auth = {"token_verifier": StaticTokenVerifier(settings.http_tokens), "auth": auth_settings(settings.public_url)}
    return MCPServer(
        **http_auth,
        middleware=[HideUngrantedTools()],
        name=SERVER_NAME,
        title="Collections MCP",
        version=package_version(),
        instructions=instructions,
        lifespan=lifespan,
        tools=tools,
    )
