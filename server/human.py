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

A conversation whose person stops answering times out in the vendor code's own `ask` timeout; server
shutdown cancels every live conversation, so no vendor job is left running.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar, cast

import anyio
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

from tools.common.human import Answer, Ask, HumanUnavailable, Progress, Question

T = TypeVar("T")

MODERN_ERA = "2026-07-28"
# How long one round waits for the vendor's next question (or the end) before asking the client to retry.
ROUND_WAIT_SECONDS = 120.0


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
    """One live conversation of the 2026 era, held between rounds."""

    id: str
    label: str
    registry: Conversations
    seq: int = 0
    current: _Event | None = None
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    progress: Progress | None = None

    def __post_init__(self) -> None:
        self._events_tx, self._events_rx = anyio.create_memory_object_stream[_Event](1)
        self._answers_tx, self._answers_rx = anyio.create_memory_object_stream[Answer](1)

    async def main(self, run: Callable[[Ask, Progress], Awaitable[Any]]) -> None:
        with self.scope:
            try:
                value = await run(self._ask, self._report)
            except anyio.get_cancelled_exc_class():
                raise
            except Exception as exc:
                self.registry.forget(self.id)
                await self._events_tx.send(_Event("failed", error=exc))
                return
            self.registry.forget(self.id)
            await self._events_tx.send(_Event("done", value=value))
        self.registry.forget(self.id)

    async def _ask(self, question: Question) -> Answer:
        self.seq += 1
        await self._events_tx.send(_Event("question", seq=self.seq, question=question))
        return await self._answers_rx.receive()

    async def _report(self, progress: float, total: float | None, message: str | None) -> None:
        if self.progress is not None:
            await self.progress(progress, total, message)

    async def next_event(self) -> _Event | None:
        """The pending question, or the next event; None if nothing happened within a round's wait."""
        if self.current is None:
            with anyio.move_on_after(ROUND_WAIT_SECONDS):
                self.current = await self._events_rx.receive()
        return self.current

    async def answer(self, answer: Answer) -> None:
        self.current = None
        await self._answers_tx.send(answer)

    def cancel(self) -> None:
        self.scope.cancel()


class Conversations:
    """The registry of 2026-era conversations; lives in the MCP lifespan and its task group."""

    def __init__(self, task_group: TaskGroup) -> None:
        self._task_group = task_group
        self._live: dict[str, Conversation] = {}

    def start(self, run: Callable[[Ask, Progress], Awaitable[Any]], label: str) -> Conversation:
        conversation = Conversation(id=uuid.uuid4().hex, label=label, registry=self)
        self._live[conversation.id] = conversation
        self._task_group.start_soon(conversation.main, run)
        return conversation

    def get(self, conversation_id: str) -> Conversation | None:
        return self._live.get(conversation_id)

    def forget(self, conversation_id: str) -> None:
        self._live.pop(conversation_id, None)

    @property
    def live(self) -> int:
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
                    await self._take_answer(conversation, int(state.get("seq", 0)))
                event = await conversation.next_event()
            finally:
                conversation.progress = None
        if event is None or event.kind == "question":
            if event is not None and event.question is not None and event.question.url and not self.opens_urls():
                conversation.cancel()  # nobody can answer it: end the conversation rather than leave it waiting
            self._ask_client(conversation, event)
        if event.kind == "failed":
            assert event.error is not None
            raise event.error
        return cast(T, event.value)

    async def _take_answer(self, conversation: Conversation, seq: int) -> None:
        current = conversation.current
        # Only the round that asked the pending question may answer it: a duplicate retry of an
        # earlier round (its response was lost) just gets the current question again.
        if current is None or current.kind != "question" or current.seq != seq:
            return
        response = (self._ctx.input_responses or {}).get(f"q{seq}")
        if isinstance(response, ElicitResult):
            await conversation.answer(Answer(action=response.action, content=dict(response.content or {})))

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
