"""The compliance guard: before a `contact` tool reaches a debtor, every contact rule is checked.

The rules themselves (Regulation F call frequency and convenient hours, permissions, account holds)
live in `tools/accounts/contact_rules.py`, shared with `accounts_check_contact`. This stage gathers the
facts for every account the tool would reach, refuses the call with every blocking reason, and lets a
person override only by confirming explicitly, with a stated reason; the override is audited.
"""

from __future__ import annotations

from pydantic import BaseModel

from collections_mcp.server.audit import AuditLog, AuditRecord
from collections_mcp.server.pipeline import Proceed, Refused, ToolCall
from collections_mcp.server.redaction import scrub_text
from collections_mcp.tools.accounts.contact_rules import ContactVerdict, evaluate
from collections_mcp.tools.accounts.facts import scollect_contact_facts
from collections_mcp.tools.common.human import Question

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
    def __init__(self, audit: AuditLog, vendor_tz: str = "UTC") -> None:
        self.audit = audit
        self.vendor_tz = vendor_tz

    async def __call__(self, call: ToolCall, proceed: Proceed) -> BaseModel:
        spec = call.spec
        if spec.contact is None:
            return await proceed()
        context = call.context
        assert context is not None
        request = spec.contact(call.arguments)
        scollect = context.clients.get("scollect")
        if scollect is None:
            raise Refused("compliance", "no account data source is configured to check contact rules; nothing was sent")
        now = context.now()
        verdicts = [
            evaluate(await scollect_contact_facts(scollect, file_number, request.channel, now,
                                                  phone_number=request.phone_number, vendor_tz=self.vendor_tz))
            for file_number in request.file_numbers
        ]  # fmt: skip
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
        await self.audit.append(AuditRecord(
            time=now, call_id=call.call_id, session_id=call.session_id, client_name=call.client_name, tool=spec.name,
            toolset=call.toolset, effect=spec.effect.value, arguments={"override_reason": scrub_text(reason)},
            outcome="compliance_override", error=scrub_text(summary)[:500], duration_ms=0.0,
        ))  # fmt: skip
        call.notes.append(f"Contact rules overridden by a person ({reason}); the override is in the audit log.")
        return await proceed()
