"""Authorization: a call is refused when the caller's token does not grant its effect, or when it is a view's
helper and the caller renders no views (the tool is hidden from that caller's list in both cases)."""

from __future__ import annotations

from pydantic import BaseModel

from collections_mcp.server.core.call import Proceed, Refused, ToolCall
from collections_mcp.server.core.caller import granted_effects


class AuthorizationStage:
    """Refuses a tool whose effect the caller's token does not grant, and a view's helper for a caller that renders
    no views (either tool is hidden from that caller's list too)."""

    name = "authorization"

    def works_on(self, call: ToolCall) -> bool:
        return granted_effects() is not None

    async def __call__(self, call: ToolCall, proceed: Proceed) -> BaseModel:
        if call.spec.view_only and not call.renders_views:
            raise Refused(
                "authorization",
                f"{call.spec.name} is a helper of the '{call.spec.view}' view, callable only from a host that renders "
                "MCP Apps views (io.modelcontextprotocol/ui); nothing was sent",
            )
        allowed = granted_effects()
        if allowed is not None and call.spec.effect.value not in allowed:
            raise Refused(
                "authorization",
                f"client '{call.client_name}' may not use {call.spec.effect.value} tools "
                f"(its token allows: {', '.join(sorted(allowed)) or 'nothing'}); nothing was sent (403)",
            )
        return await proceed()
