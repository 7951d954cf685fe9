"""The approval inbox (COLLECTIONS_MCP_APPROVALS=inbox): supervised automation.

An agent that works a portfolio with nobody behind it (a client that cannot ask a person, or an HTTP token marked
for automation) used to be refused every call that needs a person: money, destructive and blocked contact calls. With
the inbox on, such a call waits for a supervisor instead:

    the approvals stage (after idempotency, before compliance) marks the call `deferrable` and lets it go on; the stage
    that would have asked a person (compliance: an override; confirmation: a yes) raises `NeedsApproval` with what the
    person would have been shown, before anything is sent
    -> the call is queued (server/state/approvals.py): proposer, tool, redacted arguments, the plain-language summary,
       the compliance verdict; the agent's result (an error result: nothing was sent) gives the approval id and how to
       learn the outcome (`approvals_status`, the `approvals://<id>` resource and its update notifications)
    -> a supervisor approves or rejects it (the /approvals page, server/inbox/; or `collections-mcp approvals`)
    -> an approved call runs through the whole pipeline again (`PolicyPipeline.run_approved`): audit (proposer as the
       client, the approver in the record), idempotency, compliance checked again at that moment (calling hours may have
       closed, a cease-and-desist may have arrived; the supervisor's override covers only the blocks a supervisor may
       override ahead of time), and the supervisor's decision stands in for the person's confirmation.

What can never be queued: calls whose work itself asks a person (a Collect! plan's prompts), calls that need new card
or bank details (the capture stage refuses them: no card data waits in a queue), and calls whose arguments hold a
value that looks like a card, bank account or Social Security number. A rejected, expired or re-check-refused call
never reaches the vendor.

How the server learns of a decision: one made on the page runs at once, in this process. One made by the command
line (another process) is announced by PostgreSQL (NOTIFY; the server LISTENs) or, with SQLite, found at the next
check (COLLECTIONS_MCP_APPROVALS_CHECK_SECONDS, default 5 s); the same check expires approvals past their time.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from weakref import WeakSet

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.server.subscriptions import InMemorySubscriptionBus, ResourceUpdated
from mcp.types import EmptyResult, SubscribeRequestParams, UnsubscribeRequestParams
from pydantic import BaseModel, Field

from collections_mcp.server.core.call import (
    IDEMPOTENCY_ARGUMENT,
    Approval,
    NeedsApproval,
    PendingApproval,
    Proceed,
    Refused,
    ServerState,
    ToolCall,
    invalid_arguments,
    utc_now,
)
from collections_mcp.server.core.caller import caller_of, is_automation
from collections_mcp.server.core.drain import ShuttingDown
from collections_mcp.server.core.pipeline import ArgumentProblems, PolicyPipeline, validate_arguments
from collections_mcp.server.core.redaction import scrub, scrub_text
from collections_mcp.server.policy.audit import redact_arguments
from collections_mcp.server.policy.compliance import ComplianceStage
from collections_mcp.server.policy.idempotency import request_key, sensitive_values
from collections_mcp.server.state.approvals import (
    ApprovalRecord,
    ApprovalStore,
    Decision,
    Execution,
)
from collections_mcp.tools.common.contact_rules import SUPERVISOR_OVERRIDABLE, ContactVerdict
from collections_mcp.tools.common.errors import InvalidArgument, VendorError
from collections_mcp.tools.common.human import NOBODY
from collections_mcp.tools.common.models import Args, Out
from collections_mcp.tools.common.spec import AnySpec, Effect, ToolContext, ToolSpec
from collections_mcp.tools.common.state import StateUnavailable

log = logging.getLogger("collections_mcp.approvals")

STAGE = "approvals"
APPROVALS_TOOLSET = "approvals"
STATUS_TOOL = "approvals_status"
RESOURCE_SCHEME = "approvals://"
RESOURCE_TEMPLATE = RESOURCE_SCHEME + "{approval_id}"
MIN_REASON = 10
MAX_REASON = 500
# Letters only: an id travels through the scrub of every result and page, which masks runs of digits that could be an
# SSN, card or routing number (a hex id would now and then lose nine of its digits to it).
APPROVAL_ID = r"^ap_[a-z]{16}$"
_ID_LETTERS = "abcdefghijkmnpqrstuvwxyz"


def new_approval_id() -> str:
    """`ap_` and 16 random letters (about 2^73 possibilities)."""
    return "ap_" + "".join(secrets.choice(_ID_LETTERS) for _ in range(16))


def resource_uri(approval_id: str) -> str:
    return f"{RESOURCE_SCHEME}{approval_id}"


def _stamp(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "-"


# --------------------------------------------------------------------------------------------- what people see


def blocking_codes(verdicts: Sequence[Mapping[str, Any]] | None) -> set[str]:
    """The blocking reason codes of stored (JSON) compliance verdicts."""
    return {str(reason.get("code")) for verdict in verdicts or [] for reason in verdict.get("reasons", [])
            if reason.get("blocking")}  # fmt: skip


def needs_override(verdicts: Sequence[Mapping[str, Any]] | None) -> list[str]:
    """The blocks of these verdicts that a supervisor may override (and must, to approve the contact)."""
    overridable = {code.value for code in SUPERVISOR_OVERRIDABLE}
    return sorted(blocking_codes(verdicts) & overridable)


def status_text(record: ApprovalRecord) -> str:
    """The state of an approval in words an agent (or a supervisor) acts on."""
    by = f"{record.decided_by} at {_stamp(record.decided_at)}"
    reason = f" ({record.decision_reason})" if record.decision_reason else ""
    return {
        "pending": f"Waiting for a supervisor; nothing was sent. It expires at {_stamp(record.expires_at)}.",
        "approved": f"Approved by {by}{reason}; about to run.",
        "running": f"Approved by {by}{reason}; running now.",
        "done": f"Approved by {by}{reason} and done: {record.outcome or 'it ran'}",
        "rejected": f"Rejected by {by}{reason}. Nothing was sent; do not repeat it.",
        "expired": f"Expired at {_stamp(record.expires_at)} without running. Nothing was sent.",
        "refused": f"Approved by {by}{reason}, but not sent: {record.outcome}",
        "failed": f"Approved by {by}{reason}, but it did not go through: {record.outcome}",
    }[record.state]


class ApprovalView(Out):
    id: str
    tool: str
    state: Literal["pending", "approved", "rejected", "expired", "running", "done", "refused", "failed"]
    status: str = Field(description="The state in words: what happened and what to do.")
    summary: str
    arguments: dict[str, Any] = Field(default_factory=dict, description="As given, sensitive values masked.")
    created_at: datetime
    expires_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    outcome: str | None = None
    result: dict[str, Any] | None = Field(default=None, description="The tool's result when it ran.")
    resource: str = Field(description="Read it (or subscribe to it) for the outcome.")


def view_of(record: ApprovalRecord) -> ApprovalView:
    return ApprovalView(
        id=record.id, tool=record.tool, state=record.state, status=status_text(record), summary=record.summary,
        arguments=record.arguments, created_at=record.created_at, expires_at=record.expires_at,
        decided_by=record.decided_by, decided_at=record.decided_at, reason=record.decision_reason,
        outcome=record.outcome, result=record.result, resource=resource_uri(record.id),
    )  # fmt: skip


class StatusArgs(Args):
    approval_id: Annotated[
        str | None, Field(pattern=APPROVAL_ID, description="One approval, e.g. 'ap_kqfzwmbtrxhcpnde'; none: all yours.")
    ] = None


class ApprovalsStatus(Out):
    approvals: list[ApprovalView] = Field(description="Newest first.")


# ---------------------------------------------------------------------------------------------------- decisions


class DecisionProblem(ValueError):
    """A decision that cannot be recorded as asked (nothing was changed): what was wrong, what is expected."""


def check_decision(
    record: ApprovalRecord | None, approval_id: str, decision: Decision, *, reason: str | None, override: bool,
    now: datetime, verdicts: Sequence[Mapping[str, Any]] | None = None,
) -> str | None:  # fmt: skip
    """Why this decision cannot be recorded, or None. `verdicts`: the compliance verdicts as they stand now, when
    known (the page reads them); else the ones stored when the call was queued."""
    if record is None:
        return f"{approval_id}: no such approval"
    if record.state != "pending":
        return f"{approval_id}: already {record.state}" + (f" by {record.decided_by}" if record.decided_by else "")
    if record.expires_at <= now:
        return f"{approval_id}: expired at {_stamp(record.expires_at)}; nothing can be decided any more"
    if reason is not None and len(reason) > MAX_REASON:
        return f"{approval_id}: the reason is longer than {MAX_REASON} characters"
    if decision == "approve" and override and len((reason or "").strip()) < MIN_REASON:
        return (f"{approval_id}: an override needs its reason, at least {MIN_REASON} characters (why the contact is "
                "lawful, e.g. 'permissions checked in Scollect: texts allowed')")  # fmt: skip
    blocked = needs_override(verdicts if verdicts is not None else record.verdict)
    if decision == "approve" and blocked and not override:
        return (f"{approval_id}: contact rules block it ({', '.join(blocked)}), which a supervisor may override: tick "
                "override and give the reason, or reject it")  # fmt: skip
    return None


@dataclass(frozen=True)
class DecisionOutcome:
    approval_id: str
    record: ApprovalRecord | None
    problem: str | None = None


# -------------------------------------------------------------------------------------------------- notices


class ApprovalNotices:
    """Tells clients that an approval changed: a `ResourceUpdated` event on every `subscriptions/listen` stream
    (2026-07-28) and `notifications/resources/updated` to every 2025-11-25 session that subscribed to its URI."""

    def __init__(self) -> None:
        self.bus = InMemorySubscriptionBus()
        self._sessions: dict[str, WeakSet[Any]] = {}

    @staticmethod
    def _connection(ctx: Any) -> Any:
        # The request's session object lives as long as the request; its connection as long as the client's.
        session = ctx.session
        return getattr(session, "_connection", session)

    async def subscribe(self, ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
        if str(params.uri).startswith(RESOURCE_SCHEME):
            self._sessions.setdefault(str(params.uri), WeakSet()).add(self._connection(ctx))
        return EmptyResult()

    async def unsubscribe(self, ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
        self._sessions.get(str(params.uri), WeakSet()).discard(self._connection(ctx))
        return EmptyResult()

    async def updated(self, record: ApprovalRecord) -> None:
        uri = resource_uri(record.id)
        await self.bus.publish(ResourceUpdated(uri=uri))
        for session in list(self._sessions.get(uri, ())):
            try:
                await session.send_resource_updated(uri)
            except Exception:  # a session that went away: it no longer listens
                self._sessions.get(uri, WeakSet()).discard(session)


# ------------------------------------------------------------------------------------------------------ inbox


class ApprovalInbox:
    """The inbox of one server: queues calls (the stage), takes decisions, runs approved calls, tells agents."""

    def __init__(
        self, store: ApprovalStore, *, ttl_seconds: float, check_seconds: float, compliance: ComplianceStage,
        offered: Mapping[str, tuple[str, AnySpec]], clock: Callable[[], datetime] = utc_now,
    ) -> None:  # fmt: skip
        self.store = store
        self.ttl = timedelta(seconds=ttl_seconds)
        self.check_seconds = check_seconds
        self.compliance = compliance
        self.offered = dict(offered)  # tool name -> (toolset, spec): what an approved call may run
        self.clock = clock
        self.notices = ApprovalNotices()
        self.pipeline: PolicyPipeline | None = None  # set once the pipeline (which holds the stage) is built
        self.state: ServerState | None = None  # set while the server runs: approved calls run only then
        self._seen = 0  # the last change (seq) notified

    # -- queueing (the stage) -------------------------------------------------------------------------------

    async def queue(self, call: ToolCall, needed: NeedsApproval) -> ApprovalRecord:
        spec, context = call.spec, call.context
        assert context is not None
        raw = call.arguments.model_dump(mode="json")
        if sensitive_values(call.arguments) or scrub(raw) != raw:
            raise Refused(STAGE, (
                f"{spec.name}'s arguments hold a value that looks like a card, bank account or Social Security number; "
                "such values never wait in an approval queue, so it cannot be queued for a supervisor. Nothing was sent."
            ))  # fmt: skip
        summary = needed.summary
        if summary is None and spec.summarize is not None:
            summary = await spec.summarize(context, call.arguments)
        arguments = redact_arguments({key: value for key, value in raw.items() if value is not None})
        if summary is None:
            shown = ", ".join(f"{key}={value}" for key, value in arguments.items() if value is not None)
            summary = f"{spec.title}: {shown}"
        now = self.clock()
        verdicts = [verdict.model_dump(mode="json") for verdict in needed.verdicts if isinstance(verdict, ContactVerdict)]
        record = ApprovalRecord(
            id=new_approval_id(), created_at=now, expires_at=now + self.ttl, updated_at=now,
            proposer=call.client_name, session_id=call.session_id, tool=spec.name, toolset=call.toolset,
            effect=str(spec.effect), arguments=arguments if isinstance(arguments, dict) else {},
            summary=scrub_text(summary), needs=needed.stage, verdict=scrub(verdicts) if verdicts else None,
            request_key=request_key(spec.name, call.arguments, call.idempotency_key),
        )  # fmt: skip
        stored = await self.store.add(record, Execution(arguments=raw, idempotency_key=call.idempotency_key))
        call.queued_as = stored.id
        await self.notices.updated(stored)
        return stored

    def pending_message(self, call: ToolCall, record: ApprovalRecord, needed: NeedsApproval) -> PendingApproval:
        spec = call.spec
        if needed.stage == "compliance":
            codes = ", ".join(sorted({r.code.value for v in needed.verdicts if isinstance(v, ContactVerdict) for r in v.blocking}))
            why = f"contact rules block it ({codes}) and a supervisor must decide whether it may be sent"
        else:
            why = f"it {'moves money' if spec.effect == Effect.MONEY else 'overwrites data'} and must be confirmed"
        message = (
            f"Not sent yet: {spec.name} needs a person's approval ({why}), and nobody can be asked on this connection. "
            f"It is queued for a supervisor as approval {record.id}; nothing was sent to the vendor. If nobody decides, "
            f"it expires at {_stamp(record.expires_at)}. Learn the outcome with {STATUS_TOOL} "
            f'{{"approval_id": "{record.id}"}}, or read or subscribe to the resource {resource_uri(record.id)}. Do not '
            "repeat the call: an identical call returns this same approval."
        )
        meta = {"id": record.id, "status": record.state, "resource": resource_uri(record.id),
                "expires_at": record.expires_at.isoformat()}  # fmt: skip
        return PendingApproval(message, record.id, meta)

    # -- deciding -------------------------------------------------------------------------------------------

    async def decide(
        self, approval_ids: Sequence[str], decision: Decision, *, supervisor: str, reason: str | None = None,
        override: bool = False, verdicts: Mapping[str, Sequence[Mapping[str, Any]] | None] | None = None,
    ) -> list[DecisionOutcome]:  # fmt: skip
        """Record one decision on every approval named; approved ones run at once when this server is running. All
        are checked first: if any cannot be decided as asked, nothing changes and the problems come back."""
        reason = (reason or "").strip() or None
        now = self.clock()
        records = {approval_id: await self.store.get(approval_id) for approval_id in dict.fromkeys(approval_ids)}
        problems = [problem for approval_id, record in records.items()
                    if (problem := check_decision(record, approval_id, decision, reason=reason, override=override,
                                                  now=now, verdicts=(verdicts or {}).get(approval_id))) is not None]  # fmt: skip
        if not records:
            problems = ["choose at least one approval"]
        if problems:
            raise DecisionProblem("; ".join(problems))
        outcomes: list[DecisionOutcome] = []
        for approval_id, record in records.items():
            assert record is not None
            override_reason = reason if decision == "approve" and override and record.needs == "compliance" else None
            decided = await self.store.decide(approval_id, decision, supervisor=supervisor, at=now, reason=reason,
                                              override_reason=override_reason)  # fmt: skip
            if decided is None:  # someone else decided it in the meantime (or it just expired)
                outcomes.append(DecisionOutcome(approval_id, await self.store.get(approval_id), "decided elsewhere first"))
                continue
            await self.notices.updated(decided)
            if decision == "approve" and self.state is not None:
                decided = await self.execute(approval_id) or decided
            outcomes.append(DecisionOutcome(approval_id, decided))
        return outcomes

    # -- running approved calls -----------------------------------------------------------------------------

    async def execute(self, approval_id: str) -> ApprovalRecord | None:
        """Run an approved call through the whole pipeline, once (another process may take it first)."""
        state, pipeline = self.state, self.pipeline
        if state is None or pipeline is None or pipeline.drain.draining:
            # Not now (not running, or shutting down): it stays approved for the next look, here or on a replica.
            return await self.store.get(approval_id)
        claimed = await self.store.claim(approval_id, self.clock())
        if claimed is None:
            return await self.store.get(approval_id)
        record, execution = claimed
        await self.notices.updated(record)
        assert record.decided_by is not None and record.decided_at is not None
        decision = Approval(id=record.id, approver=record.decided_by, decided_at=record.decided_at,
                            reason=record.decision_reason, override_reason=record.override_reason)  # fmt: skip
        raw = dict(execution.arguments)
        if execution.idempotency_key is not None:
            raw[IDEMPOTENCY_ARGUMENT] = execution.idempotency_key
        final: Literal["done", "refused", "failed"] = "failed"
        result: dict[str, Any] | None = None
        try:
            offered = self.offered.get(record.tool)
            if offered is None:
                final, outcome = "refused", f"{record.tool} is no longer offered by this server; nothing was sent."
            else:
                toolset, spec = offered
                produced, call = await pipeline.run_approved(spec, toolset, raw, state, approval=decision,
                                                             proposer=record.proposer, session_id=record.session_id)  # fmt: skip
                result = scrub(produced.model_dump(mode="json", exclude_none=True))
                final = "done"
                outcome = ("an identical call had already done it; the vendor was not called again." if call.replayed
                           else "sent to the vendor.")  # fmt: skip
        except Refused as refused:
            final, outcome = "refused", f"refused when it was about to run ({refused.stage}): {refused.reason}"
        except ArgumentProblems as problems:
            final, outcome = "refused", invalid_arguments(record.tool, *problems.lines)
        except ShuttingDown:
            final, outcome = "refused", "the server was shutting down when it was about to run; nothing was sent."
        except VendorError as error:
            outcome = f"the vendor did not do it: {error}"
        except StateUnavailable as error:
            outcome = f"the server's state could not be reached ({error}); nothing was sent."
        except Exception:
            log.exception("approved call %s (%s) failed unexpectedly", record.id, record.tool)
            outcome = ("internal error while it ran: it is not known whether the vendor applied it; check with a read "
                       "tool before deciding anything else.")  # fmt: skip
        finished = await self.store.finish(record.id, final, at=self.clock(), outcome=scrub_text(outcome), result=result)
        if finished is not None:
            await self.notices.updated(finished)
        return finished

    # -- watching for what other processes did ----------------------------------------------------------------

    async def check(self) -> None:
        """One look: expire what is due, run what was approved elsewhere, tell agents of every change."""
        now = self.clock()
        for record in await self.store.expire(now):
            await self.notices.updated(record)
        for approval_id in await self.store.approved_waiting(now):
            await self.execute(approval_id)
        for record in await self.store.changed_after(self._seen):
            self._seen = max(self._seen, record.seq)
            await self.notices.updated(record)

    async def watch(self) -> None:
        """For as long as the server runs (its lifespan's task group)."""
        changed = await self.store.changed_after(0) if self._seen == 0 else []
        self._seen = max([self._seen, *(record.seq for record in changed)])
        while True:
            try:
                await self.check()
            except StateUnavailable as exc:  # the database is away: look again next time
                log.warning("approval inbox: %s", exc)
            await self.store.wait_for_change(self.check_seconds)

    # -- what the page and the agent read ---------------------------------------------------------------------

    async def verdict_now(self, record: ApprovalRecord) -> tuple[list[dict[str, Any]] | None, str | None]:
        """The compliance verdicts of a queued contact as they stand now (vendor reads), or why they could not be read."""
        offered, state = self.offered.get(record.tool), self.state
        if offered is None or state is None or record.needs != "compliance":
            return None, None
        toolset, spec = offered
        try:
            arguments, _ = validate_arguments(spec, dict(record_arguments(record)))
        except ArgumentProblems:
            return None, None
        assert spec.contact is not None
        try:
            verdicts = await self.compliance.verdicts(toolset, spec.contact(arguments), state.clients.get(toolset),
                                                      self.clock())  # fmt: skip
        except (VendorError, Refused, StateUnavailable) as exc:
            return None, scrub_text(str(getattr(exc, "reason", None) or exc))
        return [scrub(verdict.model_dump(mode="json")) for verdict in verdicts], None

    def status_spec(self) -> AnySpec:
        return ToolSpec(STATUS_TOOL, "Approval status", Effect.READ, "(this server)", StatusArgs, ApprovalsStatus,
                        self._status)  # fmt: skip

    async def _status(self, ctx: ToolContext[Any], args: StatusArgs) -> ApprovalsStatus:
        """The outcome of calls you queued for a supervisor: one approval by id, or all of yours, newest first. Each says
        whether it is waiting, was approved and done (with the result), rejected, expired or refused when it was to
        run; nothing rejected, expired or refused was sent."""
        if args.approval_id is not None:
            record = await self.store.get(args.approval_id)
            records = [record] if record is not None and record.proposer == ctx.caller else []
            if not records:
                raise InvalidArgument(f"approval_id: no approval {args.approval_id} of yours (see {STATUS_TOOL} without it)")
        else:
            records = await self.store.find(proposer=ctx.caller, limit=50) if ctx.caller is not None else []
        return ApprovalsStatus(approvals=[view_of(record) for record in records])

    async def read_resource(self, approval_id: str, ctx: Context[Any, Any]) -> str:
        record = await self.store.get(approval_id)
        if record is None or record.proposer != caller_of(ctx.request_context)[0]:
            raise ResourceNotFoundError(f"no approval {approval_id} of yours")
        return view_of(record).model_dump_json(exclude_none=True)


def record_arguments(record: ApprovalRecord) -> dict[str, Any]:
    """The redacted arguments, for re-checking a queued contact's verdict (file numbers and channel are never
    redacted; a masked value would only make the check refuse, never allow)."""
    return dict(record.arguments)


class ApprovalsStage:
    """Queues a call that needs a person when nobody can be asked (or the token is marked for automation), instead
    of letting a later stage refuse it. Place it after idempotency (an agent's retry finds its approval through the
    store, and a queued call stores no result) and before compliance, capture and confirmation, whose questions it
    turns into an approval."""

    name = STAGE

    def __init__(self, inbox: ApprovalInbox) -> None:
        self.inbox = inbox

    def works_on(self, call: ToolCall) -> bool:
        return call.spec.effect != Effect.READ and call.approval is None

    async def __call__(self, call: ToolCall, proceed: Proceed) -> BaseModel:
        context = call.context
        assert context is not None
        if not self.works_on(call):
            return await proceed()
        automation = is_automation()
        if context.person.can_ask and not automation:
            return await proceed()  # a person decides, as always
        if call.spec.asks_person:
            raise Refused(STAGE, (
                f"{call.spec.name} asks a person questions while it runs, which cannot be answered ahead of time, so it "
                "cannot wait for a supervisor's approval. Nothing was sent. Run it with a person in the conversation."
            ))  # fmt: skip
        if automation and context.person.can_ask:
            call.context = replace(context, person=NOBODY)  # nobody in an automated agent's chat decides for it
        call.deferrable = True
        try:
            return await proceed()
        except NeedsApproval as needed:
            record = await self.inbox.queue(call, needed)
            if record.state != "pending":  # pragma: no cover - the store returns only a pending twin
                raise Refused(STAGE, f"approval {record.id} is {record.state}") from None
            raise self.inbox.pending_message(call, record, needed) from None
