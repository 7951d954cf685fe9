"""Audit: one record per tool call, read or write, allowed or refused.

`AuditStage` records every call that reaches the stages once (ok, refused by a stage, vendor error, internal
error, cancelled; a call that asks a person runs its stages once for the whole conversation, on either protocol
era). Calls the pipeline rejects before the stages run (argument validation, shutdown) are recorded through
`record_rejected`, and calls for tools this server does not offer by `AuditUnlistedToolCalls`, so every call has
exactly one record. Records are built in one place (`AuditRecord` factories below) and stored by the `AuditLog`
of server/state/.

Records hold redacted arguments only: the values are scrubbed (`redaction.scrub`) and keys that name secrets
(CVV, card number, password, PIN, token, secret) are dropped entirely, not even masked.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import anyio
from pydantic import BaseModel

from collections_mcp.server.core.call import Proceed, ToolCall, outcome_of, utc_now
from collections_mcp.server.core.caller import caller_of
from collections_mcp.server.core.redaction import scrub, scrub_text
from collections_mcp.server.state.audit_log import AuditLog, AuditRecord
from collections_mcp.tools.common.errors import VendorError
from collections_mcp.tools.common.http import recording_vendor_statuses
from collections_mcp.tools.common.spec import AnySpec

log = logging.getLogger("collections_mcp.audit")

ERROR_LIMIT = 500

# Argument keys whose values never reach the audit log, not even masked (compared without case or separators).
_SECRET_SUBSTRINGS = ("cvv", "cvc", "threedigitnumber", "cardnumber", "password", "passwd", "secret", "token")
_SECRET_WORDS = {"pin"}
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")


def is_secret_key(key: str) -> bool:
    """True for argument names such as cvv, threedigitnumber, card_number, password, pin, api_token, secret."""
    compact = re.sub(r"[^a-z0-9]", "", key.lower())
    if any(part in compact for part in _SECRET_SUBSTRINGS):
        return True
    words = {word.lower() for word in _WORD_SPLIT.split(key) if word}
    return bool(words & _SECRET_WORDS) or compact in _SECRET_WORDS


def redact_arguments(value: Any) -> Any:
    """Drop secret-named keys at any depth, then scrub every remaining string (SSN, card, routing patterns)."""

    def drop(item: Any) -> Any:
        if isinstance(item, dict):
            return {key: drop(inner) for key, inner in item.items() if not is_secret_key(str(key))}
        if isinstance(item, list):
            return [drop(inner) for inner in item]
        return item

    return scrub(drop(value))


def _clean_error(message: str | None) -> str | None:
    if not message:
        return None
    text = scrub_text(message)
    return text if len(text) <= ERROR_LIMIT else text[: ERROR_LIMIT - 1] + "…"


def _arguments_of(call: ToolCall) -> dict[str, Any]:
    dumped = call.arguments.model_dump(mode="json")
    redacted = redact_arguments(dumped)
    return redacted if isinstance(redacted, dict) else {}


def _error_of(exc: BaseException | None) -> str | None:
    if exc is None or outcome_of(exc) in ("ok", "input_required", "cancelled", "pending_approval"):
        return None
    reason = getattr(exc, "reason", None)
    return _clean_error(reason if isinstance(reason, str) else str(exc) or type(exc).__name__)


def _outcome(failure: BaseException | None, result: BaseModel | None) -> str:
    """A result may classify itself for the audit log (`audit_outcome()`, e.g. a failed identity check)."""
    classify = getattr(result, "audit_outcome", None) if failure is None else None
    return str(classify()) if callable(classify) else outcome_of(failure)


def _override_of(call: ToolCall) -> dict[str, Any] | None:
    if call.override is None:
        return None
    overridden = [_clean_error(line) or "" for line in call.override.overridden]
    return {"stage": call.override.stage, "reason": _clean_error(call.override.reason) or "", "overridden": overridden}


def _approval_of(call: ToolCall) -> dict[str, Any] | None:
    """The approval inbox's part: the approval a call was queued as, or the decision an approved action ran on (its
    proposer is the record's client)."""
    if call.queued_as is not None:
        return {"id": call.queued_as, "state": "pending"}
    decision = call.approval
    if decision is None:
        return None
    return {"id": decision.id, "approver": _clean_error(decision.approver), "decided_at": decision.decided_at.isoformat(),
            "reason": _clean_error(decision.reason), "override": decision.override_reason is not None}  # fmt: skip


def call_record(call: ToolCall, *, at: datetime, outcome: str, error: str | None = None, **extra: Any) -> AuditRecord:
    """The record of a call that reached the stages: who, which tool, its redacted arguments, how it ended, a
    person's override of a stage that would have refused it (with the reason they gave), and the approval it was
    queued as or ran on."""
    return AuditRecord(
        time=at, call_id=call.call_id, session_id=call.session_id, client_name=call.client_name,
        tool=call.spec.name, toolset=call.toolset, effect=str(call.spec.effect), arguments=_arguments_of(call),
        outcome=outcome, error=_clean_error(error), replayed=call.replayed, override=_override_of(call),
        approval=_approval_of(call), **extra,
    )  # fmt: skip


def refusal_record(
    *, at: datetime, tool: str, toolset: str, effect: str, caller: tuple[str | None, str | None], outcome: str,
    reason: str, call_id: str | None = None,
) -> AuditRecord:  # fmt: skip
    """The record of a call refused before any stage ran. Its raw arguments are not recorded: they were never
    validated, so nothing says which of them are sensitive."""
    client_name, session_id = caller
    return AuditRecord(
        time=at, call_id=call_id or uuid.uuid4().hex[:12], session_id=session_id, client_name=client_name,
        tool=tool, toolset=toolset, effect=effect, arguments={}, outcome=outcome, error=_clean_error(reason),
    )  # fmt: skip


async def append_safely(audit: AuditLog, record: AuditRecord) -> None:
    """Write even when the call was cancelled. A failed write is logged (scrubbed) and does not change the
    call's own outcome: turning a call the vendor already applied into an error would invite a retry."""
    with anyio.CancelScope(shield=True):
        try:
            await audit.append(record)
        except Exception:
            log.exception(
                "audit record could not be written: %s",
                record.model_dump_json(),
                extra={"tool": record.tool, "call_id": record.call_id, "outcome": record.outcome},
            )


class AuditStage:
    """Records every call that reaches the stages exactly once, with its outcome and duration.
    Put it outermost (right after the call logger) so it sees refusals by every later stage and replays."""

    name = "audit"

    def __init__(self, audit: AuditLog, clock: Callable[[], datetime] = utc_now) -> None:
        self.audit = audit
        self.clock = clock

    def works_on(self, call: ToolCall) -> bool:
        return False  # it writes after the call; the write has its own span (`audit write`, server/state/)

    async def on_rejected(
        self,
        spec: AnySpec,
        toolset: str,
        call_id: str,
        client_name: str | None,
        session_id: str | None,
        reason: str,
        outcome: str,
    ) -> None:
        """A `PolicyPipeline` rejection listener: records a call refused before the stages ran."""
        await record_rejected(
            self.audit, spec, toolset, call_id, client_name, session_id, reason, outcome=outcome, at=self.clock()
        )

    async def __call__(self, call: ToolCall, proceed: Proceed) -> BaseModel:
        at = self.clock()
        failure: BaseException | None = None
        result: BaseModel | None = None
        with recording_vendor_statuses() as statuses:
            try:
                result = await proceed()
                return result
            except BaseException as exc:
                failure = exc
                raise
            finally:
                # The vendor error's own status when there is one, else the last response the vendor gave (None:
                # the call never reached the vendor, e.g. refused by a stage or replayed).
                vendor_status = failure.status if isinstance(failure, VendorError) else None
                if vendor_status is None and statuses:
                    vendor_status = statuses[-1]
                await append_safely(self.audit, call_record(
                    call, at=at, outcome=_outcome(failure, result), error=_error_of(failure),
                    vendor_status=vendor_status, duration_ms=round((time.perf_counter() - call.started) * 1000, 1),
                ))  # fmt: skip


async def record_rejected(
    audit: AuditLog,
    spec: AnySpec,
    toolset: str,
    call_id: str,
    client_name: str | None,
    session_id: str | None,
    reason: str,
    *,
    outcome: str = "invalid_arguments",
    at: datetime | None = None,
) -> None:
    """Record a call the pipeline refused before any stage ran (e.g. arguments that failed validation)."""
    await append_safely(audit, refusal_record(
        at=at or utc_now(), tool=spec.name, toolset=toolset, effect=str(spec.effect),
        caller=(client_name, session_id), outcome=outcome, reason=reason, call_id=call_id,
    ))  # fmt: skip


class AuditUnlistedToolCalls:
    """SDK server middleware: a `tools/call` for a name this server does not offer (never existed, or removed
    by toolsets, read-only mode or COLLECTIONS_MCP_TOOLS) is answered by the SDK before any stage runs; it is
    still a call an agent made, so it gets its audit record (outcome `refused:unknown_tool`)."""

    def __init__(self, audit: AuditLog, offered: set[str], clock: Callable[[], datetime] = utc_now) -> None:
        self.audit = audit
        self.offered = offered
        self.clock = clock

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        if getattr(ctx, "method", None) == "tools/call":
            params = getattr(ctx, "params", None) or {}
            name = params.get("name") if isinstance(params, Mapping) else None
            if not isinstance(name, str) or name not in self.offered:
                requested = scrub_text(str(name))[:120]
                await append_safely(self.audit, refusal_record(
                    at=self.clock(), tool=requested, toolset="", effect="unknown", caller=caller_of(ctx),
                    outcome="refused:unknown_tool", reason=f"no tool named {requested!r} is offered by this server",
                ))  # fmt: skip
        return await call_next(ctx)
