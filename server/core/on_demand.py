"""Toolsets on demand (COLLECTIONS_MCP_DYNAMIC_TOOLSETS=1): start small, let the agent enable what it needs.

Every tool the host shows the model costs context on every turn. In this mode the server offers the core
toolsets (`Toolset.core`: the cross-vendor account tools) plus two tools of its own, `list_toolsets` and
`enable_toolset`. Enabling a toolset adds its tools to `tools/list` and tells the client so:
`notifications/tools/list_changed` on the calling connection up to protocol 2025-11-25, and an event on every
`subscriptions/listen` stream from 2026-07-28 (which has no connection to send it on).

What can be enabled is exactly the configured selection (toolsets, profile, read-only, allowlist): enabling
never widens it, and every enabled tool runs through the same policy pipeline, so a token's effects still hide
and refuse tools. Calling a tool whose toolset is not enabled yet is refused (and audited) before anything else.

Enabled toolsets belong to the server process, not to a connection: protocol 2026-07-28 has no session to keep
them on, and the hosts this mode is for (a desktop or IDE client) start one stdio process each, where the
process is the connection. Over HTTP every client of the process shares them; clients on 2025-11-25 other than
the one that enabled a toolset see it on their next `tools/list` without a notification.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ListToolsResult, ToolListChangedNotification
from mcp.types.version import is_version_at_least
from pydantic import Field

from collections_mcp.tools.common.errors import InvalidArgument
from collections_mcp.tools.common.models import Args, NoArgs, Out
from collections_mcp.tools.common.spec import AnySpec, Effect, ToolContext, Toolset, ToolSpec

# The toolset name the two tools of this mode are audited under.
ON_DEMAND_TOOLSET = "toolsets"
LIST_TOOLSETS = "list_toolsets"
ENABLE_TOOLSET = "enable_toolset"
MODERN = "2026-07-28"


class ToolsetInfo(Out):
    name: str
    title: str
    enabled: bool
    tools: list[str] = Field(description="The toolset's tools in this configuration.")


class ToolsetList(Out):
    toolsets: list[ToolsetInfo]


class EnableToolsetArgs(Args):
    toolset: Annotated[
        str, Field(min_length=1, max_length=64, description="Toolset name as list_toolsets shows it, e.g. 'scollect'.")
    ]


class ToolsetEnabled(Out):
    toolset: str
    added_tools: list[str] = Field(description="Tools added to your tool list (empty: it was already enabled).")


class ToolsetsOnDemand:
    """Which of the configured toolsets are enabled in this server process, and the two tools that change it."""

    def __init__(self, selected: Sequence[tuple[Toolset, AnySpec]]) -> None:
        self.toolsets: dict[str, Toolset] = {}
        self.tools: dict[str, list[str]] = {}
        for toolset, spec in selected:
            self.toolsets.setdefault(toolset.name, toolset)
            self.tools.setdefault(toolset.name, []).append(spec.name)
        self.toolset_of = {tool: name for name, tools in self.tools.items() for tool in tools}
        self.enabled = {name for name, toolset in self.toolsets.items() if toolset.core}
        self.specs: tuple[AnySpec, ...] = (
            ToolSpec(LIST_TOOLSETS, "List toolsets", Effect.READ, "(this server)", NoArgs, ToolsetList, self._list),
            ToolSpec(ENABLE_TOOLSET, "Enable a toolset", Effect.READ, "(this server)", EnableToolsetArgs, ToolsetEnabled,
                     self._enable),
        )  # fmt: skip
        self.names = frozenset(spec.name for spec in self.specs)

    def offered(self, tool: str) -> bool:
        """Shown in tools/list and callable now (tools outside the configured selection are never offered)."""
        return tool in self.names or self.toolset_of.get(tool) in self.enabled

    def refusal(self, tool: str) -> str | None:
        """Why a call to `tool` is refused before anything else runs, or None when it may run."""
        if self.offered(tool) or tool not in self.toolset_of:
            return None
        name = self.toolset_of[tool]
        return (
            f"{tool} is in toolset '{name}', which is not enabled yet: call {ENABLE_TOOLSET} with "
            f'{{"toolset": "{name}"}} first (nothing was sent to the vendor).'
        )

    def instructions(self) -> str:
        waiting = sorted(set(self.toolsets) - self.enabled)
        return (
            f"Toolsets on demand: only some toolsets are enabled at first ({', '.join(sorted(self.enabled)) or 'none'}). "
            f"{LIST_TOOLSETS} shows every toolset with its tools; {ENABLE_TOOLSET} adds one ({', '.join(waiting)}) to "
            "your tool list when a task or prompt needs a tool you do not have."
        )

    async def _list(self, ctx: ToolContext[Any], args: NoArgs) -> ToolsetList:
        """List the toolsets of this server: whether each is enabled, and its tools. Enable one with
        enable_toolset."""
        return ToolsetList(toolsets=[
            ToolsetInfo(name=name, title=toolset.title, enabled=name in self.enabled, tools=self.tools[name])
            for name, toolset in self.toolsets.items()
        ])  # fmt: skip

    async def _enable(self, ctx: ToolContext[Any], args: EnableToolsetArgs) -> ToolsetEnabled:
        """Enable a toolset (see list_toolsets): its tools are added to your tool list. Returns the tools
        added."""
        name = args.toolset.strip().lower()
        if name not in self.toolsets:
            raise InvalidArgument(f"toolset: no toolset '{args.toolset}' here; expected one of {', '.join(self.toolsets)}")
        if name in self.enabled:
            return ToolsetEnabled(toolset=name, added_tools=[])
        self.enabled.add(name)
        return ToolsetEnabled(toolset=name, added_tools=self.tools[name])

    async def announce(self, ctx: Context[Any, Any], result: CallToolResult) -> None:
        """After an enable_toolset call that added tools: tell the clients their tool list changed."""
        added = (result.structured_content or {}).get("added_tools")
        if result.is_error or not added:
            return
        await ctx.notify_tools_changed()  # every subscriptions/listen stream (2026-07-28) of this server
        if not is_version_at_least(ctx.protocol_version or "", MODERN):
            # On the calling request's own stream: it reaches the client even without a standalone SSE stream.
            await ctx.request_context.session.send_notification(
                ToolListChangedNotification(), related_request_id=ctx.request_id
            )

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        """SDK server middleware: tools/list shows only offered tools; `initialize` says the list can change."""
        result = await call_next(ctx)
        method = getattr(ctx, "method", None)
        if method == "tools/list":
            if isinstance(result, ListToolsResult):
                return result.model_copy(update={"tools": [tool for tool in result.tools if self.offered(tool.name)]})
            if isinstance(result, dict) and isinstance(result.get("tools"), list):
                return result | {"tools": [tool for tool in result["tools"] if self.offered(str(tool.get("name")))]}
        if method == "initialize" and isinstance(result, dict):
            capabilities = dict(result.get("capabilities") or {})
            capabilities["tools"] = dict(capabilities.get("tools") or {}) | {"listChanged": True}
            return result | {"capabilities": capabilities}
        return result
