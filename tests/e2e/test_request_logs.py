"""Structured logs over real loopback HTTP: every line a request causes names that request and its client.

The lines are captured with a handler that formats each record on emission with the server's own `JsonLines`
formatter, i.e. exactly the text `serve` writes to stderr.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from pydantic import BaseModel

from collections_mcp.sandbox.http import serve_app
from collections_mcp.server.app import ServerConfig, build_server
from collections_mcp.server.core.access import TokenGrant
from collections_mcp.server.core.call import Proceed, ToolCall
from collections_mcp.server.transport.http import build_http_app
from collections_mcp.server.transport.logs import JsonLines
from tests.helpers import text_of

pytestmark = pytest.mark.anyio

IVR_TOKEN = "ivr-token-0123456789abcdefghijkl"
GRANTS = [TokenGrant.model_validate({"client": "ivr", "token": IVR_TOKEN, "effects": ["read"]})]
BROKEN_TOOL = "scollect_get_notes"
# Client-side loggers of this same process (the SDK client speaks httpx2; the vendor clients speak httpx).
CLIENT_SIDE = ("httpx2", "mcp.client")


class JsonCapture(logging.Handler):
    """Formats each record when it is emitted, in the emitting task's context, as the stderr handler does."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.formatter_ = JsonLines()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.formatter_.format(record))

    def server_lines(self, start: int) -> list[dict[str, Any]]:
        parsed = [json.loads(line) for line in self.lines[start:]]  # every line is one JSON object
        return [entry for entry in parsed if not entry["logger"].startswith(CLIENT_SIDE)]


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture) -> Iterator[JsonCapture]:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="httpx")  # the vendor clients' "HTTP Request: ..." lines
    handler = JsonCapture()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


class BreaksOnNotes:
    """A policy stage with a bug (and personal data in its message): the pipeline must log it as an error."""

    async def __call__(self, call: ToolCall, proceed: Proceed) -> BaseModel:
        if call.spec.name == BROKEN_TOOL:
            raise RuntimeError("stage bug while reading SSN 123-45-6789")
        return await proceed()


@pytest.fixture
async def base_url(server_config: ServerConfig) -> AsyncIterator[str]:
    settings = server_config.settings.model_copy(update={"http_tokens": GRANTS})
    server = build_server(replace(server_config, settings=settings, extra_stages=(BreaksOnNotes(),)))
    app = build_http_app(server, settings, "127.0.0.1", 0)
    async with server.session_manager.run(), serve_app(app) as url:
        yield url


@dataclass
class SeenIds:
    """`X-Request-Id` of every tools/call response the SDK client received, in order."""

    tool_calls: list[str] = field(default_factory=list)

    async def __call__(self, response: httpx2.Response) -> None:
        body = response.request.content
        if body and json.loads(body).get("method") == "tools/call":
            self.tool_calls.append(response.headers["x-request-id"])


def client_for(base_url: str, seen: SeenIds, mode: str, **headers: str) -> Client:
    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {IVR_TOKEN}", **headers}, event_hooks={"response": [seen]}
    )
    return Client(streamable_http_client(f"{base_url}/mcp", http_client=http), mode=mode)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_every_line_of_a_tool_call_carries_its_request_id_and_client(
    base_url: str, captured: JsonCapture, mode: str
) -> None:
    seen = SeenIds()
    async with client_for(base_url, seen, mode) as mcp:
        start = len(captured.lines)
        ok = await mcp.call_tool("scollect_get_phones", {"file_number": "R1000"})
        ok_lines = captured.server_lines(start)
        start = len(captured.lines)
        broken = await mcp.call_tool(BROKEN_TOOL, {"file_number": "R1000"})
        broken_lines = captured.server_lines(start)
    assert not ok.is_error and broken.is_error
    assert "Internal error" in text_of(broken)
    first_id, second_id = seen.tool_calls
    assert first_id != second_id

    # The read: the vendor client's HTTP line and the per-call line, both naming this request and client.
    assert any(entry["logger"] == "httpx" and "HTTP Request" in entry["message"] for entry in ok_lines), ok_lines
    assert any(entry["logger"] == "collections_mcp.calls" and entry.get("outcome") == "ok" for entry in ok_lines)
    assert {(entry.get("request_id"), entry.get("client")) for entry in ok_lines} == {(first_id, "ivr")}, ok_lines

    # The failure: the error line (with its traceback, scrubbed) and the per-call line, naming the second request.
    errors = [entry for entry in broken_lines if entry["level"] == "error"]
    assert errors and "RuntimeError" in errors[0]["error"]
    assert "123-45-6789" not in json.dumps(broken_lines) and "***-**-6789" in errors[0]["error"]
    assert {(entry.get("request_id"), entry.get("client")) for entry in broken_lines} == {(second_id, "ivr")}


async def test_a_sane_incoming_request_id_is_kept_and_an_odd_one_replaced(
    base_url: str, captured: JsonCapture
) -> None:
    kept, replaced = SeenIds(), SeenIds()
    async with client_for(base_url, kept, "auto", **{"X-Request-Id": "lb-7f3a.42"}) as mcp:
        start = len(captured.lines)
        await mcp.call_tool("scollect_get_phones", {"file_number": "R1000"})
        lines = captured.server_lines(start)
    assert kept.tool_calls == ["lb-7f3a.42"]
    assert lines and {entry.get("request_id") for entry in lines} == {"lb-7f3a.42"}

    odd = "not a request id; " + "x" * 200
    async with client_for(base_url, replaced, "auto", **{"X-Request-Id": odd}) as mcp:
        start = len(captured.lines)
        await mcp.call_tool("scollect_get_phones", {"file_number": "R1000"})
        lines = captured.server_lines(start)
    (generated,) = replaced.tool_calls
    assert generated != odd and generated.isalnum()
    assert {entry.get("request_id") for entry in lines} == {generated}
