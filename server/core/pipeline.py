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
from mcp.server.apps import client_supports_apps
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, InputRequiredResult, TextContent
from pydantic import BaseModel, ValidationError

from collections_mcp.server.core.call import (
    IDEMPOTENCY_ARGUMENT,
    Approval,
    PendingApproval,
    Proceed,
    Refused,
    ServerState,
    Stage,
    ToolCall,
    invalid_arguments,
    outcome_of,
    stage_name,
    stage_works_on,
)
from collections_mcp.server.core.caller import caller_of
from collections_mcp.server.core.conversations import (
    ConversationLost,
    InputRequired,
    McpHumanChannel,
    Rendering,
    RoundAnswered,
    tool_at_work,
)
from collections_mcp.server.core.drain import Drain, ShuttingDown
from collections_mcp.server.core.redaction import scrub, scrub_text
from collections_mcp.server.core.schemas import literal_type_problems, properties_of
from collections_mcp.server.telemetry.metrics import ServerMetrics
from collections_mcp.server.telemetry.tracing import (
    CALL_ID,
    EFFECT,
    OUTCOME,
    TOOL,
    TOOLSET,
    annotate_call,
    recording,
    run_traced_stage,
)
from collections_mcp.tools.common.errors import InvalidArgument, VendorError
from collections_mcp.tools.common.http import observing_vendor_requests
from collections_mcp.tools.common.human import NOBODY, Answer, Ask, HumanUnavailable, Person, Progress, Question
from collections_mcp.tools.common.resilience import CallDeadline, VendorBreakers, call_deadline, using_breakers
from collections_mcp.tools.common.spec import AnySpec, Effect, ProgressReporter, ToolContext
from collections_mcp.tools.common.state import StateUnavailable

log = logging.getLogger("collections_mcp.calls")

# The `_meta` key of a result that says the call was queued for a supervisor: {"id", "status", "resource", ...}.
APPROVAL_META = "collections-mcp/approval"


def validation_problems(spec: AnySpec, exc: ValidationError, *, skip: frozenset[str] = frozenset()) -> list[str]:
    """Pydantic's report as what was wrong and what is expected, one line per field (values not echoed);
    arguments in `skip` were reported already."""
    properties = properties_of(spec.input_model)
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in error["loc"]) or "arguments"
        top = str(error["loc"][0]) if error["loc"] else ""
        if top in skip:
            continue
        if error["type"] == "extra_forbidden":
            accepted = ", ".join(properties) or "none"
            lines.append(f"- {location}: unknown argument (accepted: {accepted})")
            continue
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "required"
        expected = properties.get(top, {}).get("description")
        lines.append(f"- {location}: {message}" + (f" (expected: {expected})" if expected else ""))
    return lines


class ArgumentProblems(ValueError):
    """The arguments do not fit the tool: one line per problem, each naming its argument."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


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


def validate_arguments(spec: AnySpec, raw: dict[str, Any]) -> tuple[BaseModel, str | None]:
    """The one validation of a call's raw arguments: the tool's input model (the published schema is a lean
    description of it and never used to validate) and, for changing tools, the optional idempotency key.
    Returns (arguments, idempotency key), or raises `ArgumentProblems` listing every problem at once (each naming
    its argument): JSON types the published schema does not allow (a boolean or a number is never read as
    something else), what pydantic finds, and a bad idempotency key."""
    given = dict(raw)
    idempotency_key = given.pop(IDEMPOTENCY_ARGUMENT, None) if spec.effect != Effect.READ else None
    prepared = _pre_parse(spec, given)
    lines, mistyped = literal_type_problems(properties_of(spec.input_model), prepared)
    arguments: BaseModel | None = None
    try:
        arguments = spec.input_model.model_validate(prepared)
    except ValidationError as exc:
        lines += validation_problems(spec, exc, skip=mistyped)
    if idempotency_key is not None and not (isinstance(idempotency_key, str) and 0 < len(idempotency_key) <= 200):
        lines.append(f"- {IDEMPOTENCY_ARGUMENT}: must be a non-empty string of at most 200 characters")
    if lines or arguments is None:
        raise ArgumentProblems(lines)
    return arguments, idempotency_key


# (spec, toolset, call id, client, session, reason, outcome): a call refused before any stage ran.
RejectionListener = Callable[[AnySpec, str, str, str | None, str | None, str, str], Awaitable[None]]


class PolicyPipeline:
    def __init__(
        self,
        stages: Sequence[Stage],
        rejection_listeners: Sequence[RejectionListener] = (),
        drain: Drain | None = None,
        availability: Callable[[str], str | None] | None = None,
        metrics: ServerMetrics | None = None,
        *,
        deadline_seconds: float | None = None,
        breakers: VendorBreakers | None = None,
    ) -> None:
        self.stages = list(stages)
        self.drain = drain or Drain()
        # Why a tool may not be called now (its toolset is not enabled yet), or None: checked before anything else.
        self.availability = availability
        # Told about calls refused before any stage ran (bad arguments), so audit sees every call.
        self.rejection_listeners = list(rejection_listeners)
        # Calls that reach the stages are counted by the call log stage; those refused before, here.
        self.metrics = metrics
        # Each call's vendor work (not its waits for a person) is bounded by this (tools/common/resilience.py).
        self.deadline_seconds = deadline_seconds
        # The server's circuit breaker per vendor, for every vendor request a call makes.
        self.breakers = breakers

    async def run(
        self, spec: AnySpec, toolset: str, raw: dict[str, Any], ctx: Context[ServerState, Any]
    ) -> CallToolResult | InputRequiredResult:
        try:
            self.drain.enter(continuation=ctx.request_state is not None)
        except ShuttingDown as exc:
            await self._rejected(spec, toolset, ctx, uuid.uuid4().hex[:12], str(exc), "refused:shutdown")
            raise ToolError(str(exc)) from None
        try:
            # Every vendor request of the call (in a 2026-07-28 conversation's task too) reaches the metrics.
            with observing_vendor_requests(self.metrics.vendor_request if self.metrics is not None else None):
                return await self._run(spec, toolset, raw, ctx)
        finally:
            self.drain.leave()

    async def _rejected(
        self, spec: AnySpec, toolset: str, ctx: Context[ServerState, Any], call_id: str, reason: str, outcome: str
    ) -> None:
        """A call refused before any stage ran: audited (rejection listeners), counted, on the call's span."""
        client_name, session_id = caller_of(ctx.request_context)
        for listener in self.rejection_listeners:
            await listener(spec, toolset, call_id, client_name, session_id, reason, outcome)
        if self.metrics is not None:
            self.metrics.call_finished(spec.name, outcome, None)
        annotate_call({TOOL: spec.name, TOOLSET: toolset, EFFECT: str(spec.effect), CALL_ID: call_id, OUTCOME: outcome})

    async def _run(
        self, spec: AnySpec, toolset: str, raw: dict[str, Any], ctx: Context[ServerState, Any]
    ) -> CallToolResult | InputRequiredResult:
        state = ctx.request_context.lifespan_context
        call_id = uuid.uuid4().hex[:12]
        unavailable = self.availability(spec.name) if self.availability is not None else None
        if unavailable is not None:
            client_name, session_id = caller_of(ctx.request_context)
            for listener in self.rejection_listeners:
                await listener(spec, toolset, call_id, client_name, session_id, unavailable, "refused:not_enabled")
            raise ToolError(unavailable)
        try:
            arguments, idempotency_key = validate_arguments(spec, raw)
        except ArgumentProblems as exc:
            reason = scrub_text(invalid_arguments(spec.name, *exc.lines))
            await self._rejected(spec, toolset, ctx, call_id, reason, "invalid_arguments")
            raise ToolError(reason) from None

        channel = McpHumanChannel(ctx, state.conversations)
        client_name, session_id = caller_of(ctx.request_context)
        call = ToolCall(
            spec=spec, toolset=toolset, arguments=arguments, call_id=call_id, client_name=client_name,
            session_id=session_id, idempotency_key=idempotency_key, renders_views=client_supports_apps(ctx),
        )  # fmt: skip

        async def chain(ask: Ask, progress: Progress) -> tuple[BaseModel, ToolCall]:
            # Opened here, where the stages run (on 2026 rounds: once, in the conversation's own task).
            with call_deadline(self.deadline_seconds) as deadline, using_breakers(self.breakers):
                person = Person(ask=_pausing(ask, deadline), can_ask=channel.available(), can_open_urls=channel.opens_urls())
                # On 2026 rounds this runs once in the background; the call it annotated travels with the result.
                return await self._through_stages(call, state, person, _progress_reporter(progress)), call

        annotate_call({TOOL: spec.name, TOOLSET: toolset, EFFECT: str(spec.effect)})
        try:
            if _may_ask_a_person(spec) and channel.available():
                # A round handed over by another replica gets the outcome rendered here, exactly as below.
                rendering = Rendering(
                    result=lambda finished: _rendered(*finished),
                    error=lambda exc: str(_as_tool_error(spec, call, exc)),
                )
                result, call = await channel.converse(
                    chain, label=f"{spec.name}", rendering=rendering, stopped_while_asking=spec.stopped_while_asking
                )
            else:
                result, call = await chain(NOBODY.ask, _direct_progress(ctx))
        except InputRequired as more:  # a 2026-era round that needs answers from a person
            annotate_call({OUTCOME: "input_required"})
            return more.result
        except RoundAnswered as answered:  # the call finished on the replica holding its conversation
            annotate_call({OUTCOME: "relayed"})
            return answered.result
        except ConversationLost as lost:  # its replica died: the one record of how the call ended is written here
            reason = scrub_text(str(lost))
            await self._rejected(spec, toolset, ctx, call.call_id, reason,
                                 "replica_stopped" if lost.stopped else "replica_unreachable")  # fmt: skip
            raise ToolError(reason) from None
        except PendingApproval as queued:  # nothing was sent: an error result that says so, with the approval id
            annotate_call({CALL_ID: call.call_id, OUTCOME: "pending_approval"})
            return CallToolResult(
                content=[TextContent(type="text", text=scrub_text(str(queued)))], is_error=True,
                _meta={APPROVAL_META: queued.meta},
            )  # fmt: skip
        except BaseException as exc:
            annotate_call({CALL_ID: call.call_id, OUTCOME: outcome_of(exc)})
            raise _as_tool_error(spec, call, exc) from None
        annotate_call({CALL_ID: call.call_id, OUTCOME: "ok"})
        return _rendered(result, call)

    async def _through_stages(
        self, call: ToolCall, state: ServerState, person: Person, progress: ProgressReporter
    ) -> BaseModel:
        """Every stage, outermost first, then the handler: the one chain every call runs through."""
        call.context = ToolContext(
            client=state.clients.get(call.toolset),  # None for the server's own tools (toolsets on demand)
            report_progress=progress,
            now=state.clock,
            person=person,
            clients=state.clients,
            shared=state.shared,
            caller=call.client_name,
        )
        proceed: Proceed = lambda: self._invoke(call)  # noqa: E731 - the innermost step of the chain
        traced = recording()  # decided once per call: with tracing off no stage pays for a span
        for stage in reversed(self.stages):
            proceed = _bind(stage, call, proceed, traced=traced and stage_works_on(stage, call))
        return await proceed()

    async def run_approved(
        self, spec: AnySpec, toolset: str, raw: dict[str, Any], state: ServerState, *, approval: Approval,
        proposer: str | None, session_id: str | None,
    ) -> tuple[BaseModel, ToolCall]:  # fmt: skip
        """Run a call a supervisor approved (the approval inbox), later and without an MCP request: the same
        validation and the same stages as any call, with the supervisor's decision standing in for a person (nobody
        is asked). Raises what a call raises (`Refused`, a vendor error, ...), or `ArgumentProblems` when the stored
        arguments no longer fit the tool (audited like any refused call)."""
        self.drain.enter(continuation=False)  # a new call: refused while the server drains
        try:
            with observing_vendor_requests(self.metrics.vendor_request if self.metrics is not None else None):
                call_id = uuid.uuid4().hex[:12]
                try:
                    arguments, idempotency_key = validate_arguments(spec, raw)
                except ArgumentProblems as exc:
                    reason = scrub_text(invalid_arguments(spec.name, *exc.lines))
                    for listener in self.rejection_listeners:
                        await listener(spec, toolset, call_id, proposer, session_id, reason, "invalid_arguments")
                    raise
                call = ToolCall(
                    spec=spec, toolset=toolset, arguments=arguments, call_id=call_id, client_name=proposer,
                    session_id=session_id, idempotency_key=idempotency_key, approval=approval,
                )  # fmt: skip
                with call_deadline(self.deadline_seconds), using_breakers(self.breakers):
                    return await self._through_stages(call, state, NOBODY, _silent_progress), call
        finally:
            self.drain.leave()

    async def _invoke(self, call: ToolCall) -> BaseModel:
        spec = call.spec
        assert call.context is not None
        with tool_at_work():  # a question the handler asks is the tool's own, in the middle of its vendor work
            result = await spec.handler(call.context, call.arguments)
        if not isinstance(result, spec.output_model):
            raise TypeError(f"{spec.name} returned {type(result).__name__}, not {spec.output_model.__name__}")
        return cast(BaseModel, result)


def _rendered(result: BaseModel, call: ToolCall) -> CallToolResult:
    """A finished call's result as the client sees it: compact JSON of the output model, scrubbed, the stages'
    notes as extra text blocks, and whether it was replayed."""
    structured = scrub(result.model_dump(mode="json", exclude_none=True))
    text = pydantic_core.to_json(structured).decode()  # compact, UTF-8 kept; faster than json.dumps
    content = [TextContent(type="text", text=text)]
    content += [TextContent(type="text", text=scrub_text(note)) for note in call.notes]
    meta = {"collections-mcp/replayed": True} if call.replayed else None
    return CallToolResult(content=content, structured_content=structured, _meta=meta)
async def _silent_progress(progress: float, total: float | None = None, message: str | None = None) -> None:
    """An approved action runs with nobody watching: its progress goes nowhere."""


def _pausing(ask: Ask, deadline: CallDeadline | None) -> Ask:
    """Waiting for a person is not vendor work: the call's deadline stands still while they are asked."""
    if deadline is None:
        return ask

    async def paused_ask(question: Question) -> Answer:
        with deadline.paused():
            return await ask(question)

    return paused_ask


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


def _bind(stage: Stage, call: ToolCall, proceed: Proceed, *, traced: bool = False) -> Proceed:
    if traced:
        name = stage_name(stage)

        async def run_traced() -> BaseModel:
            return await run_traced_stage(name, lambda go_on: stage(call, go_on), proceed, outcome_of)

        return run_traced

    async def run() -> BaseModel:
        return await stage(call, proceed)

    return run
