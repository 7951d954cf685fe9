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
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar, cast

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import (
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitRequestURLParams,
    ElicitResult,
    InputRequiredResult,
)
from mcp.types.version import is_version_at_least

from collections_mcp.server.core.drain import Drain
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


@dataclass
class _Event:
    kind: str  # "question" | "done" | "failed"
    seq: int = 0
    question: Question | None = None
    value: Any = None
    error: BaseException | None = None


@dataclass
class Conversation:
    """One live conversation of the 2026 era, held between rounds.

    `current` is what the client must see next: the question waiting for an answer, or the outcome
    ("done" / "failed"). Rounds are serialised by `lock`; the vendor coroutine runs in `main`."""

    id: str
    label: str
    registry: Conversations
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
        self._show(_Event("question", seq=self.seq, question=question))
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
        self, task_group: TaskGroup, *, idle_timeout: float = IDLE_TIMEOUT_SECONDS, drain: Drain | None = None
    ) -> None:
        self._task_group = task_group
        self._live: dict[str, Conversation] = {}
        # Read at every wait, so it may be changed on a running registry.
        self.idle_timeout = idle_timeout
        # Told when a conversation starts and ends: shutdown waits for conversations between rounds too.
        self._drain = drain

    def start(self, run: Callable[[Ask, Progress], Awaitable[Any]], label: str) -> Conversation:
        conversation = Conversation(id=uuid.uuid4().hex, label=label, registry=self)
        self._live[conversation.id] = conversation
        if self._drain is not None:
            self._drain.conversation_started()
        self._task_group.start_soon(conversation.main, run)
        return conversation

    def get(self, conversation_id: str) -> Conversation | None:
        return self._live.get(conversation_id)

    def forget(self, conversation_id: str) -> None:
        if self._live.pop(conversation_id, None) is not None and self._drain is not None:
            self._drain.conversation_ended()

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

    async def converse(self, run: Callable[[Ask, Progress], Awaitable[T]], *, label: str) -> T:
        """Run `run(ask, progress)` with questions relayed to a person; returns what `run` returns."""
        if not self.available():
            raise HumanUnavailable(
                f"{label} may need to ask a person questions while it runs, and this MCP client does not "
                "support elicitation (or this connection cannot carry it). Use a client with elicitation support."
            )
        if _is_modern(self._ctx):
            return await self._round(run, label)
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

    async def _round(self, run: Callable[[Ask, Progress], Awaitable[T]], label: str) -> T:
        raw_state = self._ctx.request_state
        if raw_state is None:
            conversation = self._conversations.start(run, label)
            state: dict[str, Any] | None = None
        else:
            state = json.loads(raw_state)
            found = self._conversations.get(str(state.get("conversation")))
            if found is None:
                raise ToolError(f"{label}: this conversation has ended or expired; call the tool again to restart.")
            conversation = found
        async with conversation.lock:
            conversation.progress = self._progress
            try:
                if state is not None:
                    self._take_answer(conversation, int(state.get("seq", 0)))
                event = await conversation.next_event()
            finally:
                conversation.progress = None
            if event is not None and event.kind != "question":
                conversation.outcome_taken()
        if event is None or event.kind == "question":
            if event is not None and event.question is not None and event.question.url and not self.opens_urls():
                conversation.cancel()  # nobody can answer it: end the conversation rather than leave it waiting
            self._ask_client(conversation, event)
        if event.kind == "failed":
            assert event.error is not None
            raise event.error
        return cast(T, event.value)

    def _take_answer(self, conversation: Conversation, seq: int) -> None:
        # Only the round that asked the pending question may answer it: a duplicate retry of an
        # earlier round (its response was lost) just gets the current question again.
        response = (self._ctx.input_responses or {}).get(f"q{seq}")
        if isinstance(response, ElicitResult):
            conversation.answer(seq, Answer(action=response.action, content=dict(response.content or {})))

    def _ask_client(self, conversation: Conversation, event: _Event | None) -> NoReturn:
        if event is None:  # the vendor is still working: let the client come back for the next question
            state = json.dumps({"conversation": conversation.id, "seq": conversation.seq})
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
        state = json.dumps({"conversation": conversation.id, "seq": event.seq})
        raise InputRequired(InputRequiredResult(input_requests={f"q{event.seq}": ask}, request_state=state))
