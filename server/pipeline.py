"""The one policy pipeline. Every tool call, whatever its vendor, goes through `PolicyPipeline.run`:

    parse + validate arguments (pydantic, clear messages)
    -> stages, outermost first (each may refuse, or wrap the call: see `Stage`)
    -> the tool's handler (vendor client call)
    -> output model -> compact JSON -> redaction scrub -> MCP result

Vendor errors become MCP tool errors (`isError`) with the vendor's message; nothing a vendor refused is
ever reported as success. Later policy (confirmation, idempotency, audit, compliance) are more stages.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, InputRequiredResult, TextContent
from pydantic import BaseModel, ValidationError

from server.human import Conversations, InputRequired, McpHumanChannel
from server.redaction import scrub, scrub_text
from tools.common.errors import InvalidArgument, VendorError
from tools.common.human import HumanUnavailable
from tools.common.spec import AnySpec, ToolContext

log = logging.getLogger("collections_mcp.calls")


@dataclass
class ServerState:
    """Lifespan state: one open client per enabled vendor, the clock policy uses, live conversations."""

    clients: dict[str, Any]
    clock: Callable[[], datetime]
    conversations: Conversations


@dataclass
class ToolCall:
    """One call on its way through the pipeline."""

    spec: AnySpec
    toolset: str
    arguments: BaseModel
    call_id: str
    client_name: str | None
    started: float = field(default_factory=time.perf_counter)
    outcome: str = "pending"


Proceed = Callable[[], Awaitable[BaseModel]]


class Stage(Protocol):
    """A policy step. Call `proceed()` to go on (and see the result), or raise `Refused` to stop the call."""

    async def __call__(self, call: ToolCall, proceed: Proceed) -> BaseModel: ...


class Refused(Exception):
    """A stage stopped the call before the vendor was reached."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(reason)
        self.stage = stage
        self.reason = reason


def outcome_of(exc: BaseException | None) -> str:
    """How a call ended, for logs and audit: ok, refused:<stage>, vendor_error, invalid_arguments, ..."""
    if exc is None:
        return "ok"
    if isinstance(exc, Refused):
        return f"refused:{exc.stage}"
    if isinstance(exc, VendorError):
        return "vendor_error"
    if isinstance(exc, InvalidArgument):
        return "invalid_arguments"
    if isinstance(exc, InputRequired):
        return "input_required"
    if isinstance(exc, HumanUnavailable):
        return "refused:no_elicitation"
    if isinstance(exc, ToolError):
        return "tool_error"
    return "internal_error" if isinstance(exc, Exception) else "cancelled"


class CallLog:
    """Logs one line per call: tool, outcome, duration. Never the arguments (they can hold personal data)."""

    async def __call__(self, call: ToolCall, proceed: Proceed) -> BaseModel:
        failure: BaseException | None = None
        try:
            return await proceed()
        except BaseException as exc:
            failure = exc
            raise
        finally:
            elapsed_ms = round((time.perf_counter() - call.started) * 1000, 1)
            log.info(
                "tool call %s %s %sms",
                call.spec.name,
                outcome_of(failure),
                elapsed_ms,
                extra={"tool": call.spec.name, "call_id": call.call_id, "outcome": outcome_of(failure)},
            )


def describe_validation_error(spec: AnySpec, exc: ValidationError) -> str:
    """Turn pydantic's report into what was wrong and what is expected, field by field (values not echoed)."""
    properties = spec.input_model.model_json_schema().get("properties", {})
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
    return f"Invalid arguments for {spec.name}; nothing was sent to the vendor.\n" + "\n".join(lines)


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


class PolicyPipeline:
    def __init__(self, stages: Sequence[Stage]) -> None:
        self.stages = list(stages)

    async def run(
        self, spec: AnySpec, toolset: str, raw: dict[str, Any], ctx: Context[ServerState, Any]
    ) -> CallToolResult | InputRequiredResult:
        try:
            arguments = spec.input_model.model_validate(_pre_parse(spec, raw))
        except ValidationError as exc:
            raise ToolError(scrub_text(describe_validation_error(spec, exc))) from None

        state = ctx.request_context.lifespan_context
        call = ToolCall(spec=spec, toolset=toolset, arguments=arguments, call_id=uuid.uuid4().hex[:12], client_name=None)
        tool_ctx = ToolContext(
            client=state.clients[toolset],
            report_progress=ctx.report_progress,
            now=state.clock,
            human=McpHumanChannel(ctx, state.conversations),
        )

        async def invoke() -> BaseModel:
            result = await spec.handler(tool_ctx, arguments)
            if not isinstance(result, spec.output_model):
                raise TypeError(f"{spec.name} returned {type(result).__name__}, not {spec.output_model.__name__}")
            return cast(BaseModel, result)

        chain: Proceed = invoke
        for stage in reversed(self.stages):
            chain = _bind(stage, call, chain)
        try:
            result = await chain()
        except InputRequired as more:  # a 2026-era round that needs answers from a person
            return more.result
        except HumanUnavailable as exc:
            raise ToolError(scrub_text(str(exc))) from None
        except Refused as exc:
            call.outcome = outcome_of(exc)
            raise ToolError(scrub_text(f"Refused by {exc.stage}: {exc.reason}")) from None
        except VendorError as exc:
            call.outcome = "vendor_error"
            raise ToolError(scrub_text(str(exc))) from None
        except InvalidArgument as exc:
            call.outcome = "invalid_arguments"
            raise ToolError(scrub_text(f"Invalid arguments for {spec.name}; nothing was changed: {exc}")) from None
        except ToolError:
            raise
        except Exception:
            call.outcome = "internal_error"
            log.exception("tool %s failed unexpectedly (call %s)", spec.name, call.call_id)
            effect_note = "" if spec.effect == "read" else " It is not known whether the vendor applied the change;"
            raise ToolError(
                f"Internal error in collections-mcp while running {spec.name} (call {call.call_id}).{effect_note}"
                " check with a read tool before retrying."
            ) from None
        structured = scrub(result.model_dump(mode="json", exclude_none=True))
        text = json.dumps(structured, separators=(",", ":"), ensure_ascii=False)
        return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)


def _bind(stage: Stage, call: ToolCall, proceed: Proceed) -> Proceed:
    async def run() -> BaseModel:
        return await stage(call, proceed)

    return run
