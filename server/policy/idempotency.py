"""Idempotency: an identical state-changing call within the window returns the first call's result.

Agents retry (timeouts, lost responses, a confused model). For tools whose effect is write, contact, money or
destructive, `IdempotencyStage` derives a key from the tool name, the validated arguments (canonical JSON)
and the optional `idempotency_key` argument, and the idempotency store (server/state/) runs the vendor call
behind a key once per window. Only an outcome that changed something at the vendor is stored and replayed: a
call that fails (vendor error, refusal by a later stage such as a declined confirmation, an unanswered round,
cancellation, internal error) stores nothing, and neither does a result that says it changed nothing
(`changed_vendor_state()` false: a Collect! plan cancelled at a prompt and rolled back), so a retry runs again
and asks the person again. Results are stored as the JSON the client saw (masked by type, then scrubbed); a
refusal by this stage (`IdempotencyBusy`, or a stored result that no longer validates) is a
`Refused("idempotency", ...)`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from collections_mcp.server.core.call import Proceed, Refused, ToolCall, utc_now
from collections_mcp.server.core.redaction import scrub
from collections_mcp.server.state.idempotency_store import IdempotencyStore, iso
from collections_mcp.tools.common.spec import Effect

log = logging.getLogger("collections_mcp.idempotency")

GUARDED_EFFECTS = frozenset({Effect.WRITE, Effect.CONTACT, Effect.MONEY, Effect.DESTRUCTIVE})


class _NothingChanged(Exception):
    """The call ran and its result says nothing changed at the vendor: returned, never stored."""


def _changed_vendor_state(result: BaseModel) -> bool:
    declared = getattr(result, "changed_vendor_state", None)
    return bool(declared()) if callable(declared) else True


def sensitive_values(value: Any) -> list[str]:
    """Full values of sensitive argument types (they serialise masked, so two different SSNs ending in the
    same four digits would otherwise give the same key)."""
    if callable(getattr(value, "reveal", None)):
        return [str(value.reveal())]
    if isinstance(value, BaseModel):
        return [found for name in type(value).model_fields for found in sensitive_values(getattr(value, name))]
    if isinstance(value, dict):
        return [found for key in sorted(value, key=str) for found in sensitive_values(value[key])]
    if isinstance(value, list | tuple):
        return [found for item in value for found in sensitive_values(item)]
    return []


def request_key(tool: str, arguments: BaseModel, idempotency_key: str | None) -> str:
    """sha256 of tool + canonical JSON of the validated arguments + the caller's idempotency key."""
    canonical = json.dumps(arguments.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256()
    for part in (tool, canonical, idempotency_key or "", *sensitive_values(arguments)):
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


class IdempotencyStage:
    """Replays identical write/contact/money/destructive calls within the window; reads pass straight through.
    Place it after the audit stage (so replays are audited) and before confirmation and compliance (a replay
    sends nothing, so it needs neither)."""

    name = "idempotency"

    def __init__(
        self, store: IdempotencyStore, window_seconds: float, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.store = store
        self.window = window_seconds
        self.clock = clock

    def works_on(self, call: ToolCall) -> bool:
        return call.spec.effect in GUARDED_EFFECTS

    async def __call__(self, call: ToolCall, proceed: Proceed) -> BaseModel:
        if not self.works_on(call):
            return await proceed()
        key = request_key(call.spec.name, call.arguments, call.idempotency_key)
        produced: list[BaseModel] = []

        async def produce() -> str:
            result = await proceed()
            produced.append(result)
            if not _changed_vendor_state(result):
                raise _NothingChanged  # the store keeps nothing for a failed produce: identical retries run again
            # Scrubbed like every result a client sees, so the state file holds nothing the client did not see.
            return json.dumps(scrub(result.model_dump(mode="json")), separators=(",", ":"), ensure_ascii=False)

        try:
            stored, replayed, first = await self.store.run(key, self.window, produce, now=self.clock())
        except _NothingChanged:
            return produced[0]
        if not replayed:
            return produced[0]
        call.replayed = True
        done = f"an identical call at {iso(first)} already did this; the vendor was not called again."
        try:
            model: BaseModel = call.spec.output_model.model_validate_json(stored)
        except ValidationError:
            log.warning("stored result of %s no longer validates (call %s)", call.spec.name, call.call_id)
            raise Refused("idempotency", f"{done} Its stored result cannot be shown; check with a read tool.") from None
        call.notes.append(f"Replayed: {done} To do it again on purpose, call it with a new idempotency_key.")
        return model
