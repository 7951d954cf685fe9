"""The compliance guard: before a `contact` tool reaches a debtor, every contact rule is checked.

The rules themselves (Regulation F call frequency and convenient hours, permissions, account holds) live in
`tools/common/contact_rules.py`, shared with the tools that check contact on request. The facts they judge come
from the contact tool's own toolset (its `contact_facts` provider reads them through its client). This stage
gathers the facts for every account the tool would reach, refuses the call with every blocking reason, and
lets a person override only by confirming explicitly, with a stated reason; the override and its reason go into
the call's one audit record (written by the audit stage, whatever the vendor then answers).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from collections_mcp.server.core.call import Override, Proceed, Refused, ToolCall
from collections_mcp.tools.common.contact_rules import ContactVerdict, evaluate
from collections_mcp.tools.common.human import Question
from collections_mcp.tools.common.spec import ContactFactsProvider

_OVERRIDE = {
    "type": "object",
    "properties": {
        "override": {"type": "boolean", "title": "Contact anyway (I take responsibility)", "default": False},
        "reason": {"type": "string", "title": "Why this contact is lawful despite the reasons above", "minLength": 10},
    },
    "required": ["override", "reason"],
}


def _blocking_lines(verdicts: list[ContactVerdict]) -> list[str]:
    return [
        f"{verdict.file_number}: {reason.code.value} ({reason.rule}): {reason.detail}"
        for verdict in verdicts
        for reason in verdict.reasons
        if reason.blocking
    ]


class ComplianceStage:
    """`providers`: per toolset name, where its contact tools' facts come from."""

    name = "compliance"

    def __init__(self, providers: Mapping[str, ContactFactsProvider]) -> None:
        self.providers = dict(providers)

    def works_on(self, call: ToolCall) -> bool:
        return call.spec.contact is not None

    async def __call__(self, call: ToolCall, proceed: Proceed) -> BaseModel:
        spec = call.spec
        if not self.works_on(call):
            return await proceed()
        context = call.context
        assert context is not None
        assert spec.contact is not None
        request = spec.contact(call.arguments)
        provider = self.providers.get(call.toolset)
        if provider is None:
            raise Refused("compliance", "no account data source is configured to check contact rules; nothing was sent")
        now = context.now()
        verdicts = [
            evaluate(await provider(context.client, file_number, request, now)) for file_number in request.file_numbers
        ]
        blocking = _blocking_lines(verdicts)
        if not blocking:
            return await proceed()
        summary = "\n".join(f"- {line}" for line in blocking)
        if not context.person.can_ask:
            raise Refused("compliance", f"this {request.channel} would break contact rules; nothing was sent:\n{summary}")
        answer = await context.person.ask(Question(
            f"{spec.name} would reach a debtor although contact rules say no:\n{summary}\n\n"
            "Override only if you know why the contact is lawful (e.g. the debtor asked for it in writing).",
            _OVERRIDE,
        ))  # fmt: skip
        reason = str(answer.content.get("reason") or "").strip()
        if not (answer.accepted and answer.content.get("override") is True and len(reason) >= 10):
            raise Refused("compliance", f"this {request.channel} would break contact rules; nothing was sent:\n{summary}")
        # Recorded in the call's own audit record by the audit stage (whatever the vendor then answers).
        call.override = Override(stage="compliance", reason=reason, overridden=tuple(blocking))
        call.notes.append(f"Contact rules overridden by a person ({reason}); the override is in the audit log.")
        return await proceed()
