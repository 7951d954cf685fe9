"""The server as users run it: the console script over stdio and over streamable HTTP, in sandbox mode."""

from __future__ import annotations

import json
import logging
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from collections_mcp.sandbox.http import serve_app
from collections_mcp.sandbox.runner import RunningSandbox
from collections_mcp.server.app import ServerConfig, build_server
from tests.e2e.console import ANNOUNCEMENT, SCRIPT, serve_http

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def sandbox_env(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SCOLLECT_", "COLLECTIONS_MCP_"))}
    env |= {"COLLECTIONS_MCP_SANDBOX": "1", "COLLECTIONS_MCP_STATE_DIR": str(tmp_path / "state")}
    return env


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_stdio_console_script_serves_the_sandbox(tmp_path: Path) -> None:
    """stdout carries nothing but MCP; the server's lines go to stderr as JSON, each request's with its id."""
    params = StdioServerParameters(
        command=SCRIPT, args=["serve", "--transport", "stdio"], env=sandbox_env(tmp_path), cwd=str(tmp_path)
    )
    client_side = Records()  # the SDK's stdio client logs every stdout line that is not a JSON-RPC message
    logging.getLogger("mcp.client.stdio").addHandler(client_side)
    stderr_path = tmp_path / "stderr.log"
    try:
        with stderr_path.open("w") as stderr:
            async with Client(stdio_client(params, errlog=stderr)) as client:
                names = {tool.name for tool in (await client.list_tools()).tools}
                assert "scollect_get_account" in names
                result = await client.call_tool("scollect_get_account", {"file_number": "R1000"})
                second = await client.call_tool("scollect_get_phones", {"file_number": "R1000"})
    finally:
        logging.getLogger("mcp.client.stdio").removeHandler(client_side)
    assert not result.is_error and not second.is_error
    assert result.structured_content is not None and result.structured_content["file_number"] == "R1000"
    assert not [r.getMessage() for r in client_side.records if r.levelno >= logging.WARNING]

    lines = [json.loads(line) for line in stderr_path.read_text().splitlines() if line.strip()]  # JSON, every one
    assert all(isinstance(entry, dict) and {"time", "level", "message"} <= set(entry) for entry in lines)
    assert "speaking MCP on stdio" in lines[0]["message"]
    calls = {entry["tool"]: entry for entry in lines if entry.get("logger") == "collections_mcp.calls"}
    get_account, get_phones = calls["scollect_get_account"], calls["scollect_get_phones"]
    assert get_account["request_id"] and get_phones["request_id"]
    assert get_account["request_id"] != get_phones["request_id"]
    # No token on stdio: the name the SDK client declared, marked so (as in the audit log).
    assert get_account["client"] == get_phones["client"] == "mcp (declared)"


@pytest.fixture
async def http_server(tmp_path: Path) -> AsyncIterator[tuple[str, Process]]:
    async with serve_http(["--host", "127.0.0.1", "--port", "0"], sandbox_env(tmp_path), tmp_path) as served:
        announcement = served.stderr_json()[-1]["message"]
        assert "sandbox mode" in announcement.split(ANNOUNCEMENT, 1)[0]
        yield served.url, served.process


async def test_http_console_script_announces_sandbox_and_serves(http_server: tuple[str, Process]) -> None:
    url, process = http_server
    assert url.startswith("http://127.0.0.1:") and url.endswith("/mcp")
    async with Client(url) as client:
        result = await client.call_tool("scollect_get_phones", {"file_number": "R1000"})
    assert not result.is_error
    assert result.structured_content is not None
    assert "123-456-7890" in [phone["phone_number"] for phone in result.structured_content["phones"]]
    process.send_signal(signal.SIGTERM)
    with anyio.fail_after(15):
        assert await process.wait() == 0


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_streamable_http_in_process_both_protocol_eras(server_config: ServerConfig, mode: str) -> None:
    server = build_server(server_config)
    app = server.streamable_http_app(streamable_http_path="/mcp")
    async with (
        server.session_manager.run(),
        serve_app(app) as base_url,
        Client(f"{base_url}/mcp", mode=mode) as client,  # type: ignore[arg-type]
    ):
        result = await client.call_tool("scollect_get_account_summary", {"file_number": "R1000"})
        bad = await client.call_tool("scollect_get_account", {"file_number": "R999999"})
    assert not result.is_error and result.structured_content is not None
    assert result.structured_content["file_number"] == "R1000"
    assert bad.is_error


async def test_sigterm_lets_the_running_call_finish_then_exits_zero(http_server: tuple[str, Process]) -> None:
    """SIGTERM arrives while a contact plan waits on a person: the call still completes, the process exits 0.
    (On 2026-07-28 the person is asked between rounds: test_draining_waits_for_a_conversation_between_rounds.)"""
    from mcp.types import ElicitResult

    url, process = http_server

    async def person(context: object, params: object) -> ElicitResult:
        process.send_signal(signal.SIGTERM)  # the call is certainly in flight: the server is asking us
        return ElicitResult(action="accept", content={"choice": "Yes"})

    async with Client(url, mode="legacy", elicitation_callback=person) as client:
        result = await client.call_tool(
            "collect_run_contact_plan", {"plan": "YN", "record_type": "debtor", "rowid": 203}
        )
    assert not result.is_error, result.content
    assert result.structured_content is not None and result.structured_content["status"] == "completed"
    with anyio.fail_after(20):
        assert await process.wait() == 0


async def test_draining_waits_for_a_conversation_between_rounds(server_config: ServerConfig) -> None:
    """2026-07-28: while the person considers a Collect! prompt no request is open, yet the call is not done:
    draining waits for the conversation, the answer round (a continuation) is still served, and only then is
    the server idle."""
    from dataclasses import replace

    from mcp.types import ElicitResult

    from collections_mcp.server.core.drain import Drain

    drain = Drain()
    events: list[str] = []

    async def drained() -> None:
        events.append(f"idle={await drain.wait_idle(10.0)}")

    async with anyio.create_task_group() as background:

        async def person(context: object, params: object) -> ElicitResult:
            background.start_soon(drained)  # SIGTERM while the person is being asked
            await anyio.wait_all_tasks_blocked()  # the drain has looked, and is waiting (or already done)
            events.append("answered")
            return ElicitResult(action="accept", content={"choice": "Yes"})

        async with Client(build_server(replace(server_config, drain=drain)), mode="2026-07-28", elicitation_callback=person) as client:
            result = await client.call_tool("collect_run_contact_plan", {"plan": "YN", "record_type": "debtor", "rowid": 202})
            events.append("completed")
            refused = await client.call_tool("scollect_get_phones", {"file_number": "R1000"})
    assert not result.is_error, result.content
    assert result.structured_content is not None and result.structured_content["status"] == "completed"
    # Idle only after the answer round (before the fix: at once, while the person was still being asked).
    assert events[0] == "answered" and sorted(events[1:]) == ["completed", "idle=True"]
    assert refused.is_error and "shutting down" in refused.content[0].text  # type: ignore[union-attr]


async def test_a_draining_server_refuses_new_calls(server_config: ServerConfig) -> None:
    from dataclasses import replace

    from collections_mcp.server.core.drain import Drain

    drain = Drain()
    async with Client(build_server(replace(server_config, drain=drain))) as client:
        assert not (await client.call_tool("scollect_get_phones", {"file_number": "R1000"})).is_error
        assert await drain.wait_idle(1.0)  # nothing running: idle at once, and from now on draining
        refused = await client.call_tool("scollect_get_phones", {"file_number": "R1000"})
    assert refused.is_error
    assert "shutting down" in refused.content[0].text  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_shutdown_cancels_a_plan_still_waiting_on_a_person_and_collect_rolls_back(
    server_config: ServerConfig, sandbox: RunningSandbox, mode: str
) -> None:
    """Past the grace period the server stops with a Collect! plan mid-prompt: the plan is cancelled (Collect!
    rolls its changes back) and nothing is left running at the vendor."""
    from mcp.types import ElicitResult

    activity = sandbox.collect.app.state.activity
    database = sandbox.collect.store.database()
    notes_before = len(database.notes(204))
    finished_before = len(activity.outcomes)
    asked = anyio.Event()

    async def absent_person(context: object, params: object) -> ElicitResult:
        asked.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    server = build_server(server_config)
    app = server.streamable_http_app(streamable_http_path="/mcp")
    with anyio.fail_after(20):
        async with serve_app(app) as base_url, anyio.create_task_group() as callers:
            async with server.session_manager.run():

                async def call() -> None:
                    async with Client(f"{base_url}/mcp", mode=mode, elicitation_callback=absent_person) as client:  # type: ignore[arg-type]
                        await client.call_tool(
                            "collect_run_contact_plan", {"plan": "OKC", "record_type": "debtor", "rowid": 204}
                        )

                callers.start_soon(call)
                await asked.wait()  # the plan has written its note and waits on the prompt
            # The MCP side is gone (shutdown past the grace period); the caller gives up too.
            callers.cancel_scope.cancel()
        await activity.wait_until(lambda: len(activity.outcomes) > finished_before and activity.quiet)
    (outcome,) = activity.outcomes[finished_before:]
    assert (outcome.code, outcome.rowid) == ("OKC", 204) and outcome.outcome in ("cancelled", "failed")
    assert len(database.notes(204)) == notes_before  # OKC's note, written before its prompt, was rolled back
    assert activity.sockets == {} and activity.running == {}
