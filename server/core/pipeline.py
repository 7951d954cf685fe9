"""The one policy pipeline. Every tool call, whatever its vendor, goes through `PolicyPipeline.run`:

    parse + validate arguments (pydantic, clear messages)
    -> stages, outermost first (each may refuse, or wrap the call: see `Stage`)
    -> the tool's handler (vendor client call)
    -> output model -> compact JSON -> redaction scrub -> MCP result

Vendor errors become MCP tool errors (`isError`) with the vendor's message; nothing a vendor refused is
ever reported as success. Policy (audit, authorization, idempotency, compliance, payment capture,
confirmation) is the stages, one module each under server/policy/, in the order server/policy/__init__.py gives.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import pydantic_core
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, InputRequiredResult, TextContent
from pydantic import BaseModel, ValidationError

from collections_mcp.server.core.call import (
    IDEMPOTENCY_ARGUMENT,
    Proceed,
    Refused,
    ServerState,
    Stage,
    ToolCall,
    invalid_arguments,
)
from collections_mcp.server.core.caller import caller_of
from collections_mcp.server.core.conversations import InputRequired, McpHumanChannel
from collections_mcp.server.core.drain import Drain, ShuttingDown
from collections_mcp.server.core.redaction import scrub, scrub_text
from collections_mcp.server.core.schemas import properties_of
from collections_mcp.tools.common.errors import InvalidArgument, VendorError
from collections_mcp.tools.common.human import NOBODY, Ask, HumanUnavailable, Person, Progress
from collections_mcp.tools.common.spec import AnySpec, Effect, ProgressReporter, ToolContext
from collections_mcp.tools.common.state import StateUnavailable

log = logging.getLogger("collections_mcp.calls")


def describe_validation_error(spec: AnySpec, exc: ValidationError) -> str:
    """Turn pydantic's report into what was wrong and what is expected, field by field (values not echoed)."""
    properties = properties_of(spec.input_model)
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in error["loc"]) or "arguments"
        top = str(error["loc"][0]) if error["loc"] else ""
        if error["type"] == "extra_forbidden":
            accepted = ", ".join(properties) or "none"
            lines.append(f"- {location}: unknown argument (accepted: {accepted})")
            continue
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "required"
        expected = properties.get(top, {}).get("description")
        lines.append(f"- {location}: {message}" + (f" (expected: {expected})" if expected else ""))
    return invalid_arguments(spec.name, *lines)


def _pre_parse(spec: AnySpec, arguments: dict[str, Any]) -> dict[str, Any]:
    """Some clients send list/object arguments as JSON text; accept that for fields that are not strings."""
    parsed = dict(arguments)
    for name, value in arguments.items():
        field_info = spec.input_model.model_fields.get(name)
        if field_info is None or not isinstance(value, str) or field_info.annotation is str:
            continue
        if value.lstrip().startswith(("[", "{")):
            try:
                parsed[name] = json.loads(value)
            except ValueError:
                continue
    return parsed


# (spec, toolset, call id, client, session, reason, outcome): a call refused before any stage ran.
RejectionListener = Callable[[AnySpec, str, str, str | None, str | None, str, str], Awaitable[None]]


class PolicyPipeline:
    def __init__(
        self, stages: Sequence[Stage], rejection_listeners: Sequence[RejectionListener] = (), drain: Drain | None = None
    ) -> None:
        self.stages = list(stages)
        self.drain = drain or Drain()
        # Told about calls refused before any stage ran (bad arguments), so audit sees every call.
        self.rejection_listeners = list(rejection_listeners)

    async def run(
        self, spec: AnySpec, toolset: str, raw: dict[str, Any], ctx: Context[ServerState, Any]
    ) -> CallToolResult | InputRequiredResult:
        try:
            self.drain.enter(continuation=ctx.request_state is not None)
        except ShuttingDown as exc:
            client_name, session_id = caller_of(ctx.request_context)
            for listener in self.rejection_listeners:
                await listener(spec, toolset, uuid.uuid4().hex[:12], client_name, session_id, str(exc), "refused:shutdown")
            raise ToolError(str(exc)) from None
        try:
            return await self._run(spec, toolset, raw, ctx)
        finally:
            self.drain.leave()

    async def _run(
        self, spec: AnySpec, toolset: str, raw: dict[str, Any], ctx: Context[ServerState, Any]
    ) -> CallToolResult | InputRequiredResult:
        state = ctx.request_context.lifespan_context
        call_id = uuid.uuid4().hex[:12]
        raw = dict(raw)
        idempotency_key = raw.pop(IDEMPOTENCY_ARGUMENT, None) if spec.effect != Effect.READ else None
        try:
            arguments = spec.input_model.model_validate(_pre_parse(spec, raw))
            if idempotency_key is not None and not (isinstance(idempotency_key, str) and 0 < len(idempotency_key) <= 200):
                raise InvalidArgument("idempotency_key must be a non-empty string of at most 200 characters")
        except (ValidationError, InvalidArgument) as exc:
            reason = (describe_validation_error(spec, exc) if isinstance(exc, ValidationError)
                      else invalid_arguments(spec.name, f"- {exc}"))  # fmt: skip
            reason = scrub_text(reason)
            client_name, session_id = caller_of(ctx.request_context)
            for listener in self.rejection_listeners:
                await listener(spec, toolset, call_id, client_name, session_id, reason, "invalid_arguments")
            raise ToolError(reason) from None

        channel = McpHumanChannel(ctx, state.conversations)
        client_name, session_id = caller_of(ctx.request_context)
        call = ToolCall(
            spec=spec, toolset=toolset, arguments=arguments, call_id=call_id, client_name=client_name,
            session_id=session_id, idempotency_key=idempotency_key,
        )  # fmt: skip

        async def chain(ask: Ask, progress: Progress) -> tuple[BaseModel, ToolCall]:
            call.context = ToolContext(
                client=state.clients[toolset],
                report_progress=_progress_reporter(progress),
                now=state.clock,
                person=Person(ask=ask, can_ask=channel.available(), can_open_urls=channel.opens_urls()),
                clients=state.clients,
                shared=state.shared,
            )
            proceed: Proceed = lambda: self._invoke(call)  # noqa: E731 - the innermost step of the chain
            for stage in reversed(self.stages):
                proceed = _bind(stage, call, proceed)
            # On 2026 rounds this runs once in the background; the call it annotated travels with the result.
            return await proceed(), call

        try:
            if _may_ask_a_person(spec) and channel.available():
                result, call = await channel.converse(chain, label=f"{spec.name}")
            else:
                result, call = await chain(NOBODY.ask, _direct_progress(ctx))
        except InputRequired as more:  # a 2026-era round that needs answers from a person
            return more.result
        except BaseException as exc:
            raise _as_tool_error(spec, call, exc) from None
        structured = scrub(result.model_dump(mode="json", exclude_none=True))
        text = pydantic_core.to_json(structured).decode()  # compact, UTF-8 kept; faster than json.dumps
        content = [TextContent(type="text", text=text)]
        content += [TextContent(type="text", text=scrub_text(note)) for note in call.notes]
        meta = {"collections-mcp/replayed": True} if call.replayed else None
        return CallToolResult(content=content, structured_content=structured, _meta=meta)

    async def _invoke(self, call: ToolCall) -> BaseModel:
        spec = call.spec
        assert call.context is not None
        result = await spec.handler(call.context, call.arguments)
        if not isinstance(result, spec.output_model):
            raise TypeError(f"{spec.name} returned {type(result).__name__}, not {spec.output_model.__name__}")
        return cast(BaseModel, result)


def _may_ask_a_person(spec: AnySpec) -> bool:
    """Tools that can need a person: they run inside one conversation (one question per round on 2026)."""
    return spec.asks_person or spec.capture is not None or spec.contact is not None or spec.effect in (
        Effect.MONEY, Effect.DESTRUCTIVE)


def _direct_progress(ctx: Context[ServerState, Any]) -> Progress:
    async def report(progress: float, total: float | None, message: str | None) -> None:
        await ctx.report_progress(progress, total, message)

    return report


def _progress_reporter(sink: Progress) -> ProgressReporter:
    async def report(progress: float, total: float | None = None, message: str | None = None) -> None:
        await sink(progress, total, message)

    return report


def _as_tool_error(spec: AnySpec, call: ToolCall, exc: BaseException) -> BaseException:
    """Every failure becomes a tool error whose text says what happened (never a secret or PII)."""
    if isinstance(exc, ToolError):
        return ToolError(scrub_text(str(exc)))
    if isinstance(exc, Refused):
        return ToolError(scrub_text(f"Refused by {exc.stage}: {exc.reason}"))
    if isinstance(exc, HumanUnavailable):
        return ToolError(scrub_text(f"{spec.name} could not run: {exc}. Nothing was sent to the vendor."))
    if isinstance(exc, VendorError):
        return ToolError(scrub_text(str(exc)))
    if isinstance(exc, StateUnavailable):  # the store's message says what did not happen (e.g. nothing was sent)
        return ToolError(scrub_text(f"{spec.name} could not run: {exc} Retry in a few seconds."))
    if isinstance(exc, InvalidArgument):  # raised by a handler, which may have read from the vendor already
        return ToolError(scrub_text(f"Invalid arguments for {spec.name}; nothing was changed: {exc}"))
    if not isinstance(exc, Exception):
        return exc  # cancellation and interpreter exits propagate untouched
    log.error("tool %s failed unexpectedly (call %s)", spec.name, call.call_id, exc_info=exc)
    effect_note = "" if spec.effect == Effect.READ else " It is not known whether the vendor applied the change;"
    return ToolError(
        f"Internal error in collections-mcp while running {spec.name} (call {call.call_id}).{effect_note}"
        " check with a read tool before retrying."
    )


def _bind(stage: Stage, call: ToolCall, proceed: Proceed) -> Proceed:
    async def run() -> BaseModel:
        return await stage(call, proceed)

    return run
