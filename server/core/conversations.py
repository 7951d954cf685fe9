"""Relaying a tool's questions to a person, on both MCP protocol generations.

Vendor code runs a conversation as one coroutine, `run(ask, progress)`, and calls `ask(question)`
whenever the vendor needs an answer (tools/common/human.py). This module decides how a question
travels:

- up to 2025-11-25 (handshake era): the tool call stays open and each question is pushed to the
  client as an `elicitation/create` request; `run` executes inline in the request.
- from 2026-07-28: there are no server-to-client requests. `run` executes in the server's task group
  (it must outlive any one request); each question ends the current round with an
  `InputRequiredResult` carrying the conversation id and question number in `request_state` (sealed
  by the SDK), and the client's retry carries the answer. A duplicate retry of an answered round is
  recognised by the question number and does not answer twice.

Nothing waits for ever. A question the client never answers (the person walked away, or the client
stopped at its own limit of input rounds: the SDK `Client` allows `input_required_max_rounds`, 10 by
default, and then raises without telling the server) expires after the registry's `idle_timeout`
(default 600 s, the SDK's lifetime of a sealed `request_state`: no later retry could be accepted anyway).
Expiry cancels the conversation, so the vendor code unwinds (a Collect! plan closes its socket and Collect!
rolls the job back). Vendor code may time out sooner with its own `ask` timeout. An outcome (result or
error) no round picked up is kept for `idle_timeout` too, so a late retry still sees why the conversation
ended. Server shutdown cancels every live conversation.

Several replicas (server/core/round_relay.py): a conversation that needs a next round is claimed in the shared
owner table before its question leaves; a round for a conversation this process does not hold is handed to its
owner (`RoundRelay.forward`), which runs it like a local round (`Conversations.relayed_round`) and answers with the
next question or the rendered outcome. When the owner died, the round fails at once with an error that says what
is known (who asked the question decides whether anything can have reached the vendor).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar, cast

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import (
    CallToolResult,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitRequestURLParams,
    ElicitResult,
    InputRequiredResult,
)
from mcp.types.version import is_version_at_least

from collections_mcp.server.core.drain import Drain
from collections_mcp.server.core.round_relay import (
    OwnerLost,
    Phase,
    ProgressNote,
    RelayedAnswer,
    RelayedQuestion,
    RelayedRound,
    RoundRelay,
    RoundReply,
)
from collections_mcp.tools.common.human import Answer, Ask, HumanUnavailable, Progress, Question

T = TypeVar("T")
log = logging.getLogger("collections_mcp.human")

MODERN_ERA = "2026-07-28"
# How long one round waits for the vendor's next question (or the end) before asking the client to retry.
ROUND_WAIT_SECONDS = 120.0
# How long a question (or an outcome) waits for the client's next round: the SDK's request_state lifetime.
IDLE_TIMEOUT_SECONDS = 600.0


class InputRequired(Exception):
    """Ends this round of a 2026-era call with questions for the client; the pipeline returns `result`."""

    def __init__(self, result: InputRequiredResult) -> None:
        super().__init__("input required")
        self.result = result


class RoundAnswered(Exception):
    """This round's call finished on the replica holding its conversation: the pipeline returns `result` (rendered
    there, policy and all) as it is."""

    def __init__(self, result: CallToolResult) -> None:
        super().__init__("answered by the conversation's owner")
        self.result = result


class ConversationLost(ToolError):
    """The replica holding this round's conversation stopped or cannot be reached: the round ends with what is
    known (`owner_lost_message`). The pipeline audits it here, where the client is (the owner cannot)."""

    def __init__(self, message: str, *, stopped: bool) -> None:
        super().__init__(message)
        self.stopped = stopped


# Set while the tool's own handler runs (not a policy stage): a question asked then is the tool's, in the middle
# of its vendor work.
_TOOL_AT_WORK: ContextVar[bool] = ContextVar("collections_mcp_tool_at_work", default=False)


@contextmanager
def tool_at_work() -> Iterator[None]:
    """Questions asked inside this block are the tool's own (the pipeline wraps the handler in it)."""
    token = _TOOL_AT_WORK.set(True)
    try:
        yield
    finally:
        _TOOL_AT_WORK.reset(token)


@dataclass(frozen=True)
class Rendering:
    """How a conversation's outcome reaches a client when the round that picks it up was handed over by another
    replica: the result as the pipeline renders it, and a failure as the tool error's text."""

    result: Callable[[Any], CallToolResult]
    error: Callable[[BaseException], str]


@dataclass
class _Event:
    kind: str  # "question" | "done" | "failed"
    seq: int = 0
    question: Question | None = None
    value: Any = None
    error: BaseException | None = None
    phase: Phase = "policy"


@dataclass
class Conversation:
    """One live conversation of the 2026 era, held between rounds.

    `current` is what the client must see next: the question waiting for an answer, or the outcome
    ("done" / "failed"). Rounds are serialised by `lock`; the vendor coroutine runs in `main`."""

    id: str
    label: str
    registry: Conversations
    rendering: Rendering | None = None
    claimed: bool = False  # recorded in the shared owner table (several replicas)
    seq: int = 0
    current: _Event | None = None
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    progress: Progress | None = None
    expired: bool = False

    def __post_init__(self) -> None:
        self._changed = anyio.Event()  # set (and replaced) whenever `current` changes
        self._answered = anyio.Event()
        self._answer: Answer | None = None
        self._outcome_taken = anyio.Event()

    async def main(self, run: Callable[[Ask, Progress], Awaitable[Any]]) -> None:
        try:
            with self.scope:
                try:
                    outcome = _Event("done", value=await run(self._ask, self._report))
                except anyio.get_cancelled_exc_class():
                    raise
                except Exception as exc:
                    outcome = _Event("failed", error=exc)
                self._show(outcome)
                # Kept for a round to pick up; nobody coming back within the idle time ends it anyway.
                with anyio.move_on_after(self.registry.idle_timeout):
                    await self._outcome_taken.wait()
        finally:  # however it ends (outcome, expiry, cancellation, shutdown): gone from the registry
            self.registry.forget(self.id)

    def _show(self, event: _Event | None) -> None:
        self.current = event
        self._changed.set()
        self._changed = anyio.Event()

    async def _ask(self, question: Question) -> Answer:
        self.seq += 1
        self._answer, self._answered = None, anyio.Event()
        phase: Phase = "tool" if _TOOL_AT_WORK.get() else "policy"
        self._show(_Event("question", seq=self.seq, question=question, phase=phase))
        with anyio.move_on_after(self.registry.idle_timeout):
            await self._answered.wait()
        if self._answer is None:
            # The client never came back with an answer (abandoned, or its round limit reached): end the
            # conversation. Cancelling (not raising) makes sure the vendor code cannot swallow it: it unwinds.
            log.warning("conversation %s (%s) expired waiting for answer %d", self.id, self.label, self.seq)
            self.expire()
            await anyio.lowlevel.checkpoint()
            raise TimeoutError(f"no answer within {self.registry.idle_timeout:g} s")  # only inside a shield
        return self._answer

    async def _report(self, progress: float, total: float | None, message: str | None) -> None:
        if self.progress is not None:
            await self.progress(progress, total, message)

    async def next_event(self, wait_seconds: float = ROUND_WAIT_SECONDS) -> _Event | None:
        """The pending question or the outcome; None if nothing happened within a round's wait."""
        with anyio.move_on_after(wait_seconds):
            while self.current is None:
                await self._changed.wait()
        return self.current

    async def take_round(self, seq: int | None, answer: Answer | None, progress: Progress | None) -> _Event | None:
        """One round: the answer to question `seq` (if given and still awaited), then the next question or the
        outcome (taken: the conversation ends), or None when nothing happened within a round's wait. Rounds are
        serialised; `progress` hears what the vendor code reports meanwhile."""
        async with self.lock:
            self.progress = progress
            try:
                if seq is not None and answer is not None:
                    self.answer(seq, answer)
                event = await self.next_event()
            finally:
                self.progress = None
            if event is not None and event.kind != "question":
                self.outcome_taken()
        return event

    def answer(self, seq: int, answer: Answer) -> bool:
        """Answer question `seq` if it is the one waiting; False for a stale or duplicate round."""
        current = self.current
        if current is None or current.kind != "question" or current.seq != seq or self._answer is not None:
            return False
        self._answer = answer
        self._show(None)
        self._answered.set()
        return True

    def outcome_taken(self) -> None:
        self.registry.forget(self.id)
        self._outcome_taken.set()

    def expire(self) -> None:
        self.expired = True
        self.cancel()

    def cancel(self) -> None:
        self.registry.forget(self.id)
        self.scope.cancel()


class Conversations:
    """The registry of 2026-era conversations; lives in the MCP lifespan and its task group."""

    def __init__(
        self,
        task_group: TaskGroup,
        *,
        idle_timeout: float = IDLE_TIMEOUT_SECONDS,
        drain: Drain | None = None,
        relay: RoundRelay | None = None,
    ) -> None:
        self._task_group = task_group
        self._live: dict[str, Conversation] = {}
        # Read at every wait, so it may be changed on a running registry.
        self.idle_timeout = idle_timeout
        # Told when a conversation starts and ends: shutdown waits for conversations between rounds too.
        self._drain = drain
        # Other replicas (None: this process serves alone): conversations are claimed, foreign rounds handed over.
        self.relay = relay

    def start(
        self, run: Callable[[Ask, Progress], Awaitable[Any]], label: str, rendering: Rendering | None = None
    ) -> Conversation:
        conversation = Conversation(id=uuid.uuid4().hex, label=label, registry=self, rendering=rendering)
        self._live[conversation.id] = conversation
        if self._drain is not None:
            self._drain.conversation_started()
        self._task_group.start_soon(conversation.main, run)
        return conversation

    def get(self, conversation_id: str) -> Conversation | None:
        return self._live.get(conversation_id)

    def forget(self, conversation_id: str) -> None:
        conversation = self._live.pop(conversation_id, None)
        if conversation is None:
            return
        if self._drain is not None:
            self._drain.conversation_ended()
        if conversation.claimed and self.relay is not None:
            self.relay.release(conversation_id)

    async def hold(self, conversation: Conversation) -> None:
        """Before a question leaves: with other replicas, record that this one holds the conversation, so whichever
        replica the next round reaches can hand it here. A conversation that cannot be recorded is cancelled (a
        round elsewhere could not find it): the error says the shared database is unreachable."""
        if self.relay is None or conversation.claimed:
            return
        try:
            await self.relay.claim(conversation.id)
        except BaseException:
            conversation.cancel()
            raise
        conversation.claimed = True

    async def relayed_round(self, relayed: RelayedRound) -> RoundReply:
        """A round another replica handed to this one (the owner): run like a local round, answered in full."""
        conversation = self.get(relayed.conversation)
        if conversation is None:
            return RoundReply(outcome="gone")
        notes: list[ProgressNote] = []

        async def collect(progress: float, total: float | None, message: str | None) -> None:
            notes.append(ProgressNote(progress=progress, total=total, message=message))

        answer = Answer(relayed.answer.action, dict(relayed.answer.content)) if relayed.answer is not None else None
        event = await conversation.take_round(relayed.seq, answer, collect)
        if event is None:
            return RoundReply(outcome="working", seq=conversation.seq, phase="working", progress=notes)
        rendering = conversation.rendering
        if event.kind == "question":
            question = event.question
            assert question is not None
            if question.url is not None and not relayed.opens_urls:
                conversation.cancel()  # nobody can answer it: end the conversation rather than leave it waiting
                error = HumanUnavailable("this MCP client cannot open a URL for the person (no URL-mode elicitation)")
                text = rendering.error(error) if rendering is not None else str(error)
                return RoundReply(outcome="error", error=text, progress=notes)
            shown = RelayedQuestion(message=question.message, form=dict(question.schema), url=question.url)
            return RoundReply(outcome="question", seq=event.seq, phase=event.phase, question=shown, progress=notes)
        if rendering is None:  # a conversation started without a way to render it for another replica
            return RoundReply(outcome="error", error=f"{conversation.label}: this call cannot be continued here")
        if event.kind == "failed":
            assert event.error is not None
            return RoundReply(outcome="error", error=rendering.error(event.error), progress=notes)
        rendered = rendering.result(event.value)
        return RoundReply(outcome="result", result=rendered.model_dump(mode="json", by_alias=True, exclude_none=True),
                          progress=notes)  # fmt: skip

    @property
    def live(self) -> int:
        """How many conversations are still held (running, or holding an outcome for a round to pick up)."""
        return len(self._live)

    def cancel_all(self) -> None:
        for conversation in list(self._live.values()):
            conversation.cancel()


def _is_modern(ctx: Context[Any, Any]) -> bool:
    return is_version_at_least(ctx.protocol_version or "", MODERN_ERA)


class McpHumanChannel:
    """`HumanChannel` for one tool call, over whatever MCP connection it arrived on."""

    def __init__(self, ctx: Context[Any, Any], conversations: Conversations) -> None:
        self._ctx = ctx
        self._conversations = conversations

    def available(self) -> bool:
        capabilities = self._ctx.client_capabilities
        if capabilities is None or capabilities.elicitation is None:
            return False
        return _is_modern(self._ctx) or self._ctx.session.can_send_request

    def opens_urls(self) -> bool:
        capabilities = self._ctx.client_capabilities
        elicitation = capabilities.elicitation if capabilities is not None else None
        return self.available() and elicitation is not None and elicitation.url is not None

    async def converse(
        self,
        run: Callable[[Ask, Progress], Awaitable[T]],
        *,
        label: str,
        rendering: Rendering | None = None,
        stopped_while_asking: str | None = None,
    ) -> T:
        """Run `run(ask, progress)` with questions relayed to a person; returns what `run` returns.

        2026-07-28 with several replicas: `rendering` renders the outcome for a round another replica handed over;
        `stopped_while_asking` is what the tool knows when the replica running it stopped while the tool itself
        waited for an answer (e.g. a Collect! plan: rolled back)."""
        if not self.available():
            raise HumanUnavailable(
                f"{label} may need to ask a person questions while it runs, and this MCP client does not "
                "support elicitation (or this connection cannot carry it). Use a client with elicitation support."
            )
        if _is_modern(self._ctx):
            return await self._round(run, label, rendering, stopped_while_asking)
        return await run(self._push, self._progress)

    async def _progress(self, progress: float, total: float | None, message: str | None) -> None:
        await self._ctx.report_progress(progress, total, message)

    async def _push(self, question: Question) -> Answer:
        if question.url is not None:
            if not self.opens_urls():
                raise HumanUnavailable("this MCP client cannot open a URL for the person (no URL-mode elicitation)")
            consent = await self._ctx.session.elicit_url(
                question.message, question.url, question.elicitation_id or uuid.uuid4().hex,
                related_request_id=self._ctx.request_id,
            )
            return Answer(action=consent.action)
        result = await self._ctx.session.elicit_form(
            question.message, question.schema, related_request_id=self._ctx.request_id
        )
        return Answer(action=result.action, content=dict(result.content or {}))

    async def _round(
        self,
        run: Callable[[Ask, Progress], Awaitable[T]],
        label: str,
        rendering: Rendering | None,
        stopped_while_asking: str | None,
    ) -> T:
        raw_state = self._ctx.request_state
        seq: int | None = None
        if raw_state is None:
            conversation = self._conversations.start(run, label, rendering)
        else:
            state = json.loads(raw_state)
            seq = int(state.get("seq", 0))
            found = self._conversations.get(str(state.get("conversation")))
            if found is None:
                # Held by another replica (or ended): hand the round over. Always raises: the next question, the
                # owner's rendered outcome, or an error.
                await self._elsewhere(str(state.get("conversation")), seq, state.get("phase"), label, stopped_while_asking)
            assert found is not None
            conversation = found
        answer = self._answer(seq) if seq is not None else None
        event = await conversation.take_round(seq, answer, self._progress)
        if event is None or event.kind == "question":
            if event is not None and event.question is not None and event.question.url and not self.opens_urls():
                conversation.cancel()  # nobody can answer it: end the conversation rather than leave it waiting
            else:
                await self._conversations.hold(conversation)
            self._ask_client(conversation.id, conversation.seq if event is None else event.seq, event)
        if event.kind == "failed":
            assert event.error is not None
            raise event.error
        return cast(T, event.value)

    def _answer(self, seq: int) -> Answer | None:
        # Only the round that asked the pending question may answer it: a duplicate retry of an
        # earlier round (its response was lost) just gets the current question again.
        response = (self._ctx.input_responses or {}).get(f"q{seq}")
        if isinstance(response, ElicitResult):
            return Answer(action=response.action, content=dict(response.content or {}))
        return None

    async def _elsewhere(
        self, conversation_id: str, seq: int, phase: object, label: str, stopped_while_asking: str | None
    ) -> NoReturn:
        """A round for a conversation this process does not hold: hand it to the replica that does."""
        relay = self._conversations.relay
        if relay is None:
            raise ToolError(f"{label}: this conversation has ended or expired; call the tool again to restart.")
        answer = self._answer(seq)
        relayed = RelayedRound(
            conversation=conversation_id, seq=seq, opens_urls=self.opens_urls(),
            answer=RelayedAnswer(action=answer.action, content=answer.content) if answer is not None else None,
        )  # fmt: skip
        try:
            reply = await relay.forward(relayed)
        except OwnerLost as lost:
            known: Phase = phase if phase in ("policy", "tool", "working") else "working"
            message = owner_lost_message(label, known, lost, stopped_while_asking)
            raise ConversationLost(message, stopped=lost.stopped) from None
        for note in reply.progress:
            await self._progress(note.progress, note.total, note.message)
        if reply.outcome == "result" and reply.result is not None:
            raise RoundAnswered(CallToolResult.model_validate(reply.result))
        if reply.outcome == "error":
            raise ToolError(reply.error or f"{label} failed on the replica running it")
        if reply.outcome == "working":
            self._ask_client(conversation_id, reply.seq, None)
        if reply.outcome == "question" and reply.question is not None:
            shown = reply.question
            question = Question(message=shown.message, schema=dict(shown.form), url=shown.url)
            self._ask_client(conversation_id, reply.seq, _Event("question", seq=reply.seq, question=question,
                                                                 phase=reply.phase))  # fmt: skip
        raise ToolError(f"{label}: this conversation has ended or expired; call the tool again to restart.")

    def _ask_client(self, conversation_id: str, seq: int, event: _Event | None) -> NoReturn:
        if event is None:  # the vendor is still working: let the client come back for the next question
            state = json.dumps({"conversation": conversation_id, "seq": seq, "phase": "working"})
            raise InputRequired(InputRequiredResult(request_state=state))
        question = event.question
        assert question is not None
        if question.url is not None:
            if not self.opens_urls():
                # Answer the waiting conversation so it fails cleanly instead of waiting for nobody.
                raise HumanUnavailable("this MCP client cannot open a URL for the person (no URL-mode elicitation)")
            ask = ElicitRequest(params=ElicitRequestURLParams(message=question.message, url=question.url))
        else:
            ask = ElicitRequest(
                params=ElicitRequestFormParams(message=question.message, requested_schema=question.schema)
            )
        # Sealed by the SDK with the shared keys: the client can neither read nor change it.
        state = json.dumps({"conversation": conversation_id, "seq": event.seq, "phase": event.phase})
        raise InputRequired(InputRequiredResult(input_requests={f"q{event.seq}": ask}, request_state=state))


def owner_lost_message(label: str, phase: Phase, lost: OwnerLost, stopped_while_asking: str | None) -> str:
    """What is known when the replica holding a conversation did not take its next round. Who asked the pending
    question decides: a policy stage asks before anything is sent to the vendor; a tool asks in the middle of its
    vendor work, where only the tool knows what happens to work left unfinished (`stopped_while_asking`)."""
    if not lost.stopped:
        return (
            f"{label}: the collections-mcp replica running this call could not be reached (it still renews its "
            "lease), so this answer was not passed on. Whether the call goes on there is not known; it ends by itself "
            "if nobody answers. Check with a read tool before calling it again."
        )
    stopped = f"{label}: the collections-mcp replica running this call stopped (its process ended)"
    if lost.delivered is False and phase == "policy":
        return (
            f"{stopped} while it waited for this answer, before anything was sent to the vendor: nothing was "
            "changed. Call the tool again to start over."
        )
    if lost.delivered is False and phase == "tool":
        if stopped_while_asking:
            return f"{label}: {stopped_while_asking}"
        return (
            f"{stopped} while the tool waited for this answer in the middle of its vendor work; whether the vendor "
            "kept any of that work is not known. Check with a read tool before calling it again."
        )
    return (
        f"{stopped} while it handled this answer or its vendor work; whether the call completed at the vendor is "
        "not known. Check with a read tool before calling it again (an identical call waits until the stopped "
        "replica's claim on it lapses, then runs)."
    )
