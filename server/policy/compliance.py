"""The compliance guard: before a `contact` tool reaches a debtor, every contact rule is checked.

The rules themselves (Regulation F call frequency and convenient hours, permissions, account holds) live in
`tools/common/contact_rules.py`, shared with the tools that check contact on request. The facts they judge come
from the contact tool's own toolset (its `contact_facts` provider reads them through its client). This stage
gathers the facts for every account the tool would reach, refuses the call with every blocking reason, and
lets a person override only by confirming explicitly, with a stated reason; the override and its reason go into
the call's one audit record (written by the audit stage, whatever the vendor then answers).

With the approval inbox (server/policy/approvals.py) a blocked contact nobody can be asked about waits for a supervisor
instead (`NeedsApproval`), unless a block stands that no supervisor may override ahead of time (a hold, a known "no"):
that is refused at once. When the approved contact runs, the rules are checked again at that moment: it is sent only if
nothing blocks it now, or only blocks a supervisor may override (`SUPERVISOR_OVERRIDABLE`) and the approval carries the
supervisor's override with its reason (recorded like a person's). A timed block (calling hours, Regulation F) is never
overridden ahead of time: the approved contact is refused with that reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from collections_mcp.server.core.call import NeedsApproval, Override, Proceed, Refused, ToolCall
from collections_mcp.tools.common.contact_rules import (
    SUPERVISOR_OVERRIDABLE,
    TIMED_BLOCKS,
    ContactVerdict,
    evaluate,
)
from collections_mcp.tools.common.human import Question
from collections_mcp.tools.common.spec import ContactFactsProvider, ContactRequest

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


# Blocks a queued contact may be waiting out (time) or a supervisor may override ahead of time; any other block is a
# standing "no" (a hold, a known permission) that a queue could never turn into a lawful contact.
_QUEUEABLE = frozenset(code.value for code in TIMED_BLOCKS | SUPERVISOR_OVERRIDABLE)


class ComplianceStage:
    """`providers`: per toolset name, where its contact tools' facts come from."""

    name = "compliance"

    def __init__(self, providers: Mapping[str, ContactFactsProvider]) -> None:
        self.providers = dict(providers)

    def works_on(self, call: ToolCall) -> bool:
        return call.spec.contact is not None

    async def verdicts(self, toolset: str, request: ContactRequest, client: Any, now: Any) -> list[ContactVerdict]:
        """The verdict for every account `request` reaches, read through `toolset`'s own contact facts."""
        provider = self.providers.get(toolset)
        if provider is None:
            raise Refused("compliance", "no account data source is configured to check contact rules; nothing was sent")
        return [evaluate(await provider(client, file_number, request, now)) for file_number in request.file_numbers]

    async def __call__(self, call: ToolCall, proceed: Proceed) -> BaseModel:
        spec = call.spec
        if not self.works_on(call):
            return await proceed()
        context = call.context
        assert context is not None
        assert spec.contact is not None
        request = spec.contact(call.arguments)
        verdicts = await self.verdicts(call.toolset, request, context.client, context.now())
        blocking = _blocking_lines(verdicts)
        if not blocking:
            return await proceed()
        summary = "\n".join(f"- {line}" for line in blocking)
        if call.approval is not None:
            return await self._approved(call, request, verdicts, blocking, proceed)
        if not context.person.can_ask and call.deferrable:
            standing = sorted({r.code.value for v in verdicts for r in v.blocking} - _QUEUEABLE)
            if standing:
                raise Refused("compliance", (
                    f"this {request.channel} would break contact rules that no supervisor may override ahead of time "
                    f"({', '.join(standing)}); nothing was sent and nothing was queued:\n{summary}"
                ))  # fmt: skip
            raise NeedsApproval("compliance", verdicts=verdicts)
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

    async def _approved(
        self, call: ToolCall, request: ContactRequest, verdicts: list[ContactVerdict], blocking: list[str], proceed: Proceed
    ) -> BaseModel:
        """An approved contact about to run: only blocks a supervisor may override, with the approval's override."""
        approval = call.approval
        assert approval is not None
        codes = {reason.code for verdict in verdicts for reason in verdict.blocking}
        summary = "\n".join(f"- {line}" for line in blocking)
        if approval.override_reason and codes <= SUPERVISOR_OVERRIDABLE:
            reason = f"{approval.override_reason} (supervisor {approval.approver}, approval {approval.id})"
            call.override = Override(stage="compliance", reason=reason, overridden=tuple(blocking))
            call.notes.append(f"Contact rules overridden by supervisor {approval.approver} ({approval.override_reason}).")
            return await proceed()
        standing = sorted(code.value for code in codes - SUPERVISOR_OVERRIDABLE)
        why = (
            f"{', '.join(standing)} cannot be overridden ahead of time" if standing
            else "the approval carries no override of the blocks a supervisor may override"
        )  # fmt: skip
        raise Refused("compliance", (
            f"approved by {approval.approver}, but when it was about to be sent this {request.channel} broke contact "
            f"rules ({why}); nothing was sent:\n{summary}"
        ))  # fmt: skip
