"""Confirmation: a person approves every money-moving or destructive call before the vendor sees it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from collections_mcp.server.core.call import NeedsApproval, Proceed, Refused, ToolCall
from collections_mcp.tools.common.human import Question
from collections_mcp.tools.common.spec import Effect

ConfirmMode = Literal["always", "never"]
CONFIRMED_EFFECTS = (Effect.MONEY, Effect.DESTRUCTIVE)

_SCHEMA = {
    "type": "object",
    "properties": {"confirm": {"type": "boolean", "title": "Yes, do this", "default": False}},
    "required": ["confirm"],
}


class ConfirmationStage:
    """Asks the person to confirm a plain-language summary; anything but an explicit yes sends nothing.

    `never` is for pre-approved automation only (COLLECTIONS_MCP_CONFIRM=never): the call then proceeds
    without a person, and the result says it was not confirmed. With the approval inbox a call nobody can confirm waits
    for a supervisor instead (`NeedsApproval` with the summary the person would have confirmed), and the supervisor's
    approval stands in for the confirmation when it runs.
    """

    name = "confirmation"

    def __init__(self, mode: ConfirmMode = "always") -> None:
        self.mode = mode

    def works_on(self, call: ToolCall) -> bool:
        return call.spec.effect in CONFIRMED_EFFECTS and self.mode != "never"

    async def __call__(self, call: ToolCall, proceed: Proceed) -> BaseModel:
        spec = call.spec
        if spec.effect not in CONFIRMED_EFFECTS:
            return await proceed()
        if call.approval is not None:
            call.notes.append(
                f"Confirmed by supervisor {call.approval.approver} (approval {call.approval.id}), not by a person in the "
                "conversation."
            )
            return await proceed()
        if self.mode == "never":
            call.notes.append("Not confirmed by a person: COLLECTIONS_MCP_CONFIRM=never (pre-approved automation).")
            return await proceed()
        context = call.context
        assert context is not None and spec.summarize is not None, "registry requires summaries for these effects"
        if not context.person.can_ask and call.deferrable:
            raise NeedsApproval("confirmation", summary=await spec.summarize(context, call.arguments))
        if not context.person.can_ask:
            raise Refused(
                "confirmation",
                f"{spec.name} {'moves money' if spec.effect == Effect.MONEY else 'overwrites data'} and must be "
                "confirmed by a person, but this MCP client does not support elicitation. Nothing was sent. "
                "(Pre-approved automation may set COLLECTIONS_MCP_CONFIRM=never.)",
            )
        summary = await spec.summarize(context, call.arguments)
        answer = await context.person.ask(Question(f"Please confirm before anything is sent:\n{summary}", _SCHEMA))
        if not (answer.accepted and answer.content.get("confirm") is True):
            raise Refused("confirmation", f"the person did not confirm ({answer.action}); nothing was sent")
        call.notes.append(f"Confirmed by a person: {summary}")
        return await proceed()
