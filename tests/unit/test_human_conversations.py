"""server/core/conversations.py on its own: the 2026-era conversation registry any tool can use to ask a person.

A minimal MCP server with one tool whose "vendor" asks one question; the SDK Client drives the rounds by
hand (`allow_input_required=True`) so each round is explicit. Every wait ends on an event; `GUARD` only
stops a hang.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ElicitResult, InputRequiredResult, TextContent
from pydantic import BaseModel

from collections_mcp.server.core.conversations import (
    IDLE_TIMEOUT_SECONDS,
    Conversations,
    InputRequired,
    McpHumanChannel,
)
from collections_mcp.tools.common.human import Ask, Progress, Question

pytestmark = pytest.mark.anyio
GUARD = 5.0


class Said(BaseModel):
    text: str


@dataclass
class Vendor:
    """What the tool's vendor coroutine does, and what the test can see of it."""

    idle_timeout: float = IDLE_TIMEOUT_SECONDS
    give_up: anyio.CancelScope = field(default_factory=anyio.CancelScope)  # the test cancels: the vendor fails
    failed: anyio.Event = field(default_factory=anyio.Event)
    ended: anyio.Event = field(default_factory=anyio.Event)
    cancelled: bool = False
    registry: Conversations | None = None

    async def run(self, ask: Ask, progress: Progress) -> Said:
        try:
            with self.give_up:
                answer = await ask(Question("Your name?", {"type": "object", "properties": {"name": {"type": "string"}}}))
                return Said(text=f"hello {answer.content.get('name')}")
            self.failed.set()
            raise ToolError("the vendor gave up waiting for question 1")
        except anyio.get_cancelled_exc_class():
            self.cancelled = True
            raise
        finally:
            self.ended.set()


def build(vendor: Vendor) -> MCPServer[Conversations]:
    @asynccontextmanager
    async def lifespan(_: MCPServer[Conversations]) -> AsyncIterator[Conversations]:
        async with anyio.create_task_group() as tasks:
            vendor.registry = Conversations(tasks, idle_timeout=vendor.idle_timeout)
            yield vendor.registry
            tasks.cancel_scope.cancel()

    server: MCPServer[Conversations] = MCPServer("human-test", lifespan=lifespan)

    @server.tool()
    async def interview(ctx: Context[Conversations]) -> Said | InputRequiredResult:
        """Ask the person one question."""
        channel = McpHumanChannel(ctx, ctx.request_context.lifespan_context)
        try:
            return await channel.converse(vendor.run, label="interview")
        except InputRequired as more:
            return more.result

    return server


async def nobody(context: Any, params: Any) -> ElicitResult:
    raise AssertionError("rounds are driven by hand in these tests")


async def call(mcp: Client, **kwargs: Any) -> CallToolResult | InputRequiredResult:
    result = await mcp.session.call_tool("interview", {}, allow_input_required=True, **kwargs)
    assert isinstance(result, CallToolResult | InputRequiredResult)
    return result


def text(result: CallToolResult | InputRequiredResult) -> str:
    assert isinstance(result, CallToolResult)
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


NAME = {"q1": ElicitResult(action="accept", content={"name": "Ada"})}


async def test_answered_question_completes_and_the_registry_lets_go() -> None:
    vendor = Vendor()
    async with Client(build(vendor), mode="2026-07-28", elicitation_callback=nobody) as mcp:
        first = await call(mcp)
        assert isinstance(first, InputRequiredResult) and list(first.input_requests or {}) == ["q1"]
        done = await call(mcp, input_responses=NAME, request_state=first.request_state)
        assert isinstance(done, CallToolResult) and done.structured_content == {"text": "hello Ada"}
        assert vendor.registry is not None and vendor.registry.live == 0


async def test_a_failure_while_the_client_is_away_reaches_its_late_round() -> None:
    """The vendor fails while question 1 waits; the client's next round gets that failure, not 'expired'."""
    vendor = Vendor()
    async with Client(build(vendor), mode="2026-07-28", elicitation_callback=nobody) as mcp:
        first = await call(mcp)
        assert isinstance(first, InputRequiredResult)
        vendor.give_up.cancel()
        with anyio.fail_after(GUARD):
            await vendor.failed.wait()
        late = await call(mcp, input_responses=NAME, request_state=first.request_state)
        assert isinstance(late, CallToolResult) and late.is_error
        assert "the vendor gave up waiting for question 1" in text(late)
        assert vendor.registry is not None and vendor.registry.live == 0
        again = await call(mcp, input_responses=NAME, request_state=first.request_state)
        assert "ended or expired" in text(again)


async def test_an_unanswered_question_expires_and_cancels_the_vendor_work() -> None:
    """The client never comes back: after the idle time the conversation is cancelled (the vendor unwinds,
    so e.g. a socket it holds is closed) and forgotten; a retry after that is told it expired."""
    vendor = Vendor(idle_timeout=0.01)
    async with Client(build(vendor), mode="2026-07-28", elicitation_callback=nobody) as mcp:
        first = await call(mcp)
        assert isinstance(first, InputRequiredResult)
        with anyio.fail_after(GUARD):
            await vendor.ended.wait()
        assert vendor.cancelled
        assert vendor.registry is not None and vendor.registry.live == 0
        late = await call(mcp, input_responses=NAME, request_state=first.request_state)
        assert isinstance(late, CallToolResult) and late.is_error and "ended or expired" in text(late)


async def test_shutdown_cancels_and_forgets_every_live_conversation() -> None:
    vendor = Vendor()
    async with Client(build(vendor), mode="2026-07-28", elicitation_callback=nobody) as mcp:
        assert isinstance(await call(mcp), InputRequiredResult)
        assert vendor.registry is not None and vendor.registry.live == 1
    assert vendor.ended.is_set() and vendor.cancelled
    assert vendor.registry.live == 0
