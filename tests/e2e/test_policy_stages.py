"""Idempotency and audit as pipeline stages, through the SDK's real Client against the Scollect simulator.

What the vendor received is read off the simulator (`Wire`); what an operator sees is read off the audit log
and the `collections-mcp audit` command.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult

from collections_mcp.server.app import ServerConfig, build_server
from collections_mcp.server.ops.cli import main
from collections_mcp.server.policy.idempotency import request_key
from collections_mcp.server.state.audit_log import SqliteAuditLog, audit_path
from collections_mcp.server.state.idempotency_store import idempotency_path
from collections_mcp.tools.scollect.models import AddNoteArgs
from tests.conftest import Wire
from tests.helpers import text_of

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)




def note_args(message: str | None = None) -> dict[str, Any]:
    return {"file_number": "R1004", "collector_name": "agent-ai", "message": message or f"note {uuid.uuid4().hex[:8]}"}


Serve = Callable[..., AbstractAsyncContextManager[Client]]


@pytest.fixture
def state_dir(server_config: ServerConfig) -> Path:
    return server_config.settings.state_dir


@pytest.fixture
def serve(server_config: ServerConfig, state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Serve:
    """Start a server with fresh audit + idempotency stores on the test's state files (a 'process')."""

    @asynccontextmanager
    async def start(cross_process_wait: float = 30.0, mode: str = "auto") -> AsyncIterator[Client]:
        """A server as `serve` builds it: audit + idempotency stages on the state files, clock fixed at T0."""
        settings = server_config.settings.model_copy(update={"idempotency_wait_seconds": cross_process_wait})
        config = dataclasses.replace(server_config, settings=settings, clock=lambda: T0)
        async with Client(build_server(config), mode=mode) as client:  # type: ignore[arg-type]
            yield client

    return start


async def audit_records(state_dir: Path, tool: str | None = None) -> list[Any]:
    audit = SqliteAuditLog(audit_path(state_dir))
    try:
        return await audit.query(None, tool, 1000)
    finally:
        audit.close()


async def test_a_retried_write_reaches_the_vendor_once_and_says_it_was_replayed(
    serve: Serve, wire: Wire, state_dir: Path
) -> None:
    arguments = note_args()
    async with serve() as mcp:
        first = await mcp.call_tool("scollect_add_note", arguments)
        second = await mcp.call_tool("scollect_add_note", arguments)
    assert not first.is_error and not second.is_error, text_of(second)
    assert wire.paths() == ["POST /InsertNoteline"]
    assert "Replayed" not in text_of(first)
    assert "Replayed: an identical call at 2026-11-25T10:00:00Z already did this" in text_of(second)
    assert "the vendor was not called again" in text_of(second)
    assert second.structured_content == first.structured_content
    assert second.meta is not None and second.meta.get("collections-mcp/replayed") is True
    records = await audit_records(state_dir, "scollect_add_note")
    assert [(r.outcome, r.replayed) for r in records] == [("ok", False), ("ok", True)]


async def test_a_new_idempotency_key_does_it_again_on_purpose(serve: Serve, wire: Wire) -> None:
    arguments = note_args()
    async with serve() as mcp:
        for key in ("a", "a", "b"):
            result = await mcp.call_tool("scollect_add_note", arguments | {"idempotency_key": key})
            assert not result.is_error, text_of(result)
    assert wire.paths() == ["POST /InsertNoteline", "POST /InsertNoteline"]


async def test_concurrent_identical_calls_reach_the_vendor_once(serve: Serve, wire: Wire, state_dir: Path) -> None:
    arguments = note_args()
    results: list[CallToolResult] = []
    async with serve() as mcp:

        async def call() -> None:
            results.append(await mcp.call_tool("scollect_add_note", arguments))

        async with anyio.create_task_group() as group:
            for _ in range(4):
                group.start_soon(call)
    assert all(not result.is_error for result in results)
    assert wire.paths() == ["POST /InsertNoteline"]
    assert sum("Replayed" in text_of(result) for result in results) == 3
    records = await audit_records(state_dir, "scollect_add_note")
    assert len(records) == 4 and sum(r.replayed for r in records) == 3


async def test_a_restart_between_retries_still_reaches_the_vendor_once(
    serve: Serve, wire: Wire, state_dir: Path
) -> None:
    arguments = note_args()
    async with serve() as mcp:
        assert not (await mcp.call_tool("scollect_add_note", arguments)).is_error
    async with serve() as mcp:  # a new server and new stores on the same files
        again = await mcp.call_tool("scollect_add_note", arguments)
    assert not again.is_error and "Replayed" in text_of(again)
    assert wire.paths() == ["POST /InsertNoteline"]
    assert len(await audit_records(state_dir, "scollect_add_note")) == 2


async def test_a_read_is_never_replayed(serve: Serve, wire: Wire, state_dir: Path) -> None:
    async with serve() as mcp:
        for _ in range(2):
            result = await mcp.call_tool("scollect_get_account", {"file_number": "R1000"})
            assert not result.is_error and "Replayed" not in text_of(result)
    assert wire.paths() == ["GET /getaccount/R1000"] * 2
    records = await audit_records(state_dir, "scollect_get_account")
    assert [(r.outcome, r.replayed, r.effect) for r in records] == [("ok", False, "read")] * 2


async def test_every_call_has_one_audit_record_with_its_outcome(serve: Serve, wire: Wire, state_dir: Path) -> None:
    phone = {"file_number": "R999999", "phone_number": "716-555-0100"}
    async with serve() as mcp:
        ok = await mcp.call_tool("scollect_add_note", note_args("Promised $50 Friday, SSN 123-45-6789"))
        vendor_error = await mcp.call_tool("scollect_add_phone", phone)
        retried_error = await mcp.call_tool("scollect_add_phone", phone)
        invalid = await mcp.call_tool("scollect_add_note", {"file_number": "R1004", "ssn": "123-45-6789"})
    assert not ok.is_error
    assert vendor_error.is_error and retried_error.is_error and invalid.is_error
    # A vendor error is not cached: the retry went to the vendor again. Invalid arguments sent nothing.
    assert wire.paths() == ["POST /InsertNoteline", "POST /insertphone", "POST /insertphone"]

    records = await audit_records(state_dir)
    assert [(r.tool, r.outcome) for r in records] == [
        ("scollect_add_note", "ok"),
        ("scollect_add_phone", "vendor_error"),
        ("scollect_add_phone", "vendor_error"),
        ("scollect_add_note", "invalid_arguments"),
    ]
    note, error, _, rejected = records
    assert note.arguments["message"] == "Promised $50 Friday, SSN ***-**-6789" and note.error is None
    assert note.effect == "write" and note.toolset == "scollect" and note.duration_ms > 0
    assert error.error is not None and "Data not found for this filenumber" in error.error
    assert error.arguments == {
        "file_number": "R999999",
        "phone_number": "716-555-0100",
        "phone_type": "UNKNOWN",
        "phone_status": "UNKNOWN",
        "source": "USER",
    }
    assert rejected.arguments == {} and rejected.error is not None and "collector_name" in rejected.error
    assert "123-45-6789" not in json.dumps([r.model_dump(mode="json") for r in records])
    assert len({r.call_id for r in records}) == 4
    # Who: the client's declared name (no token here). Where: on this era every request is its own connection.
    assert {r.client_name for r in records} == {"mcp (declared)"}
    assert all(r.session_id and r.session_id.startswith("conn-") for r in records)
    # What the vendor answered: 200 for the note; the vendor's error status; nothing for what never left us.
    assert note.vendor_status == 200
    assert error.vendor_status is not None and rejected.vendor_status is None


async def test_a_session_era_connection_keeps_one_id_across_its_calls(serve: Serve, state_dir: Path) -> None:
    async with serve(mode="legacy") as first:
        await first.call_tool("scollect_get_account", {"file_number": "R1000"})
        await first.call_tool("scollect_get_phones", {"file_number": "R1000"})
    async with serve(mode="legacy") as second:
        await second.call_tool("scollect_get_account", {"file_number": "R1000"})
    records = await audit_records(state_dir)
    assert [r.vendor_status for r in records] == [200, 200, 200]
    ids = [r.session_id for r in records]
    assert ids[0] == ids[1] and ids[2] != ids[0] and all(ids)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_call_for_a_tool_not_offered_is_audited_too(
    server_config: ServerConfig, state_dir: Path, wire: Wire, mode: str
) -> None:
    settings = server_config.settings.model_copy(update={"read_only": True})
    async with Client(build_server(dataclasses.replace(server_config, settings=settings)), mode=mode) as client:  # type: ignore[arg-type]
        try:  # the SDK answers an unknown tool itself: a protocol error or an error result, depending on the era
            result = await client.call_tool("scollect_add_note", note_args())
            answer = text_of(result) if result.is_error else "not refused"
        except Exception as exc:
            answer = str(exc)
    assert "scollect_add_note" in answer and answer != "not refused"
    assert wire.paths() == []
    [record] = await audit_records(state_dir)
    assert (record.tool, record.effect, record.outcome) == ("scollect_add_note", "unknown", "refused:unknown_tool")
    assert record.client_name == "mcp (declared)" and record.arguments == {}


async def test_a_call_refused_while_shutting_down_is_audited(server_config: ServerConfig, state_dir: Path) -> None:
    from collections_mcp.server.core.drain import Drain

    drain = Drain()
    async with Client(build_server(dataclasses.replace(server_config, drain=drain))) as client:
        assert await drain.wait_idle(1.0)  # nothing running: idle at once, and from now on draining
        refused = await client.call_tool("scollect_get_phones", {"file_number": "R1000"})
    assert refused.is_error and "shutting down" in text_of(refused)
    [record] = await audit_records(state_dir)
    assert (record.tool, record.outcome, record.vendor_status) == ("scollect_get_phones", "refused:shutdown", None)


async def test_a_call_still_running_in_another_process_is_refused_not_resent(
    serve: Serve, wire: Wire, state_dir: Path
) -> None:
    arguments = note_args()
    key = request_key("scollect_add_note", AddNoteArgs.model_validate(arguments), None)
    async with serve(cross_process_wait=0.02) as mcp:
        # Another process has claimed this call (pending) and is alive: it renews its lease.
        other = sqlite3.connect(idempotency_path(state_dir))
        try:
            other.execute(
                "INSERT INTO idempotency (key, state, created, owner, lease_until) VALUES (?, 'pending', ?, 'other', ?)",
                (key, T0.timestamp(), time.time() + 60),
            )
            other.commit()
        finally:
            other.close()
        result = await mcp.call_tool("scollect_add_note", arguments)
    assert result.is_error
    assert "Refused by idempotency" in text_of(result) and "still in progress in another" in text_of(result)
    assert wire.requests() == []
    [record] = await audit_records(state_dir)
    assert record.outcome == "refused:idempotency" and record.error is not None


async def cli(*argv: str) -> int:
    """The real `collections-mcp` entry point (it runs its own event loop, so in a worker thread)."""
    return await anyio.to_thread.run_sync(main, list(argv))


async def test_the_audit_command_prints_the_log(
    serve: Serve, state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with serve() as mcp:
        await mcp.call_tool("scollect_add_note", note_args())
        await mcp.call_tool("scollect_get_account", {"file_number": "R1000"})
    monkeypatch.setenv("COLLECTIONS_MCP_STATE_DIR", str(state_dir))
    monkeypatch.chdir(state_dir)  # no stray .env
    monkeypatch.setattr("collections_mcp.server.ops.cli.configure_logging", lambda level: None)

    assert await cli("audit") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["time", "(UTC)", "tool", "outcome", "client", "duration"]
    assert [line.split()[2:4] for line in table[1:]] == [["scollect_add_note", "ok"], ["scollect_get_account", "ok"]]

    assert await cli("audit", "--tool", "scollect_add_note", "--since", "2026-11-25T09:59:00Z", "--json") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["tool"] for line in lines] == ["scollect_add_note"]
    assert await cli("audit", "--since", "2999-01-01T00:00Z") == 0
    assert "(no matching records)" in capsys.readouterr().out
    assert await cli("audit", "--limit", "1", "--json") == 0
    assert [json.loads(line)["tool"] for line in capsys.readouterr().out.splitlines()] == ["scollect_get_account"]
    with pytest.raises(SystemExit):
        await cli("audit", "--since", "yesterday")
    assert "not a time" in capsys.readouterr().err
