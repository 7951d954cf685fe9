"""Authorization: a call is refused when the caller's token does not grant its effect."""

from __future__ import annotations

from pydantic import BaseModel

from collections_mcp.server.core.call import Proceed, Refused, ToolCall
from collections_mcp.server.core.caller import granted_effects


class AuthorizationStage:
    """Refuses a tool whose effect the caller's token does not grant (the tool is hidden from its list too)."""

    name = "authorization"

    def works_on(self, call: ToolCall) -> bool:
        return granted_effects() is not None

    async def __call__(self, call: ToolCall, proceed: Proceed) -> BaseModel:
        allowed = granted_effects()
        if allowed is not None and call.spec.effect.value not in allowed:
            raise Refused(
                "authorization",
                f"client '{call.client_name}' may not use {call.spec.effect.value} tools "
                f"(its token allows: {', '.join(sorted(allowed)) or 'nothing'}); nothing was sent (403)",
            )
        return await proceed()
