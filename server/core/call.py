"""The call model every layer above shares: one tool call on its way through the policy stages.

`ToolCall` is what a stage sees; `Stage` is the shape of a stage; `Refused` is how a stage stops a call;
`outcome_of` names how a call ended (the same word in the call log line, the audit record and the metrics).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

from collections_mcp.server.core.conversations import Conversations, InputRequired
from collections_mcp.tools.common.errors import InvalidArgument, VendorError
from collections_mcp.tools.common.human import HumanUnavailable
from collections_mcp.tools.common.spec import AnySpec, ToolContext
from collections_mcp.tools.common.state import SharedState, StateUnavailable

# The optional argument every changing tool accepts: retrying with the same key replays the first result.
IDEMPOTENCY_ARGUMENT = "idempotency_key"


def utc_now() -> datetime:
    """The server's default clock (tests inject their own)."""
    return datetime.now(UTC)


def invalid_arguments(tool: str, *problems: str) -> str:
    """The one wording of a refusal for unusable arguments: what was wrong, and that nothing was sent."""
    return f"Invalid arguments for {tool}; nothing was sent to the vendor.\n" + "\n".join(problems)


@dataclass
class ServerState:
    """Lifespan state: one open client per enabled vendor, the clock policy uses, live conversations, and the
    state the server shares with the tools (it holds across restarts and processes)."""

    clients: dict[str, Any]
    clock: Callable[[], datetime]
    conversations: Conversations
    shared: SharedState


@dataclass(frozen=True)
class Override:
    """A person let the call through although a stage would have refused it: which stage, why, and what it
    would have refused for. It goes into the call's one audit record."""

    stage: str
    reason: str
    overridden: tuple[str, ...]


@dataclass
class ToolCall:
    """One call on its way through the pipeline; stages read it and may annotate it."""

    spec: AnySpec
    toolset: str
    arguments: BaseModel
    call_id: str
    client_name: str | None
    session_id: str | None = None
    idempotency_key: str | None = None
    # The client negotiated MCP Apps (it renders our views), so view-only helpers are offered to it.
    renders_views: bool = False
    started: float = field(default_factory=time.perf_counter)
    replayed: bool = False
    notes: list[str] = field(default_factory=list)
    context: ToolContext[Any] | None = None
    override: Override | None = None


Proceed = Callable[[], Awaitable[BaseModel]]


class Stage(Protocol):
    """A policy step. Call `proceed()` to go on (and see the result), or raise `Refused` to stop the call.

    A stage may also have a `name` (its span in a trace: `policy <name>`) and `works_on(call) -> bool`: whether it
    does work of its own for this call before letting it go on. Stages that pass a call straight through (a read
    at the confirmation stage) or do their work only afterwards (the audit record, which has its own span) say
    False, and get no span; without the method a stage always gets one.
    """

    async def __call__(self, call: ToolCall, proceed: Proceed) -> BaseModel: ...


def stage_name(stage: Stage) -> str:
    return str(getattr(stage, "name", None) or type(stage).__name__)


def stage_works_on(stage: Stage, call: ToolCall) -> bool:
    """See `Stage`: whether `stage` has work of its own to do (and so a span) for `call`."""
    works_on = getattr(stage, "works_on", None)
    return True if works_on is None else bool(works_on(call))


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
    if isinstance(exc, StateUnavailable):
        return "state_unavailable"
    if isinstance(exc, ToolError):
        return "tool_error"
    return "internal_error" if isinstance(exc, Exception) else "cancelled"
