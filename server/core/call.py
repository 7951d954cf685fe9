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


@dataclass(frozen=True)
class Approval:
    """A supervisor's decision that lets a queued call run later (the approval inbox, server/policy/approvals.py).
    It stands in for the person's confirmation; `override_reason` is the supervisor's override of the contact blocks
    a person may override ahead of time (`SUPERVISOR_OVERRIDABLE` in tools/common/contact_rules.py)."""

    id: str
    approver: str
    decided_at: datetime
    reason: str | None = None
    override_reason: str | None = None


class NeedsApproval(Exception):
    """A stage would ask a person, and the call may wait for a supervisor instead (`ToolCall.deferrable`): what the
    person would have been asked. Raised before anything is sent; the approvals stage queues the call."""

    def __init__(self, stage: str, summary: str | None = None, verdicts: list[Any] | None = None) -> None:
        super().__init__(f"{stage} needs a person")
        self.stage = stage
        self.summary = summary  # the plain-language summary a confirmation would have shown
        self.verdicts = verdicts or []  # the compliance verdicts (ContactVerdict) that block the contact


class PendingApproval(Exception):
    """The call was queued for a supervisor's decision; nothing was sent. `str()` says so in words an agent acts on."""

    def __init__(self, message: str, approval_id: str, meta: dict[str, Any]) -> None:
        super().__init__(message)
        self.approval_id = approval_id
        self.meta = meta


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
    # Set by the approvals stage when nobody can be asked and the call may wait for a supervisor instead.
    deferrable: bool = False
    # The supervisor's decision when this call runs as an approved action of the approval inbox.
    approval: Approval | None = None
    # The approval this call was queued as (it did not run).
    queued_as: str | None = None


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
    if isinstance(exc, PendingApproval):
        return "pending_approval"
    if isinstance(exc, HumanUnavailable):
        return "refused:no_elicitation"
    if isinstance(exc, StateUnavailable):
        return "state_unavailable"
    if isinstance(exc, ToolError):
        return "tool_error"
    return "internal_error" if isinstance(exc, Exception) else "cancelled"
