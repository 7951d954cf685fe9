"""What most end-to-end tests need to read a tool result the way an MCP client sees it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mcp import Client
from mcp.types import CallToolResult, TextContent

from collections_mcp.sandbox.procurios.store import SEED_RECIPIENT, SEED_SENDER


def text_of(result: CallToolResult) -> str:
    """Every text block of a result, as the LLM reads it."""
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


async def ok(mcp: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Call a tool that must succeed; its structured content."""
    result = await mcp.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


async def failed(mcp: Client, tool: str, arguments: dict[str, Any]) -> str:
    """Call a tool that must fail; the error text the client sees."""
    result = await mcp.call_tool(tool, arguments)
    assert result.is_error, f"expected an error, got {result.structured_content}"
    return text_of(result)


class Clock:
    """A settable clock to inject where the server or a simulator asks for the time."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# The seed's POST example (a ContactMomentPhone from 1516 to 429000) as procurios_create_contact_moment arguments.
PROCURIOS_SEED_CALL: dict[str, Any] = {
    "type": "ContactMomentPhone",
    "subject": "Retention call",
    "date_time": "2018-11-13T20:20:39+02:00",
    "sender_id": SEED_SENDER,
    "recipients": [SEED_RECIPIENT],
    "fields": {"contents": "We had a good call and the person decided to stay a member"},
    "action_code": 2,
    "reference": "MyRefernce0123",
}
