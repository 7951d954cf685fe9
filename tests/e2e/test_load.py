"""A bounded load test (loopback only, a few seconds): many concurrent streamable HTTP sessions against one
server, mixing reads, writes and Collect! contact plans answered by a person.

What must hold under load: no errors; every write reached the vendor exactly once; the audit log has exactly
one record per call; afterwards nothing is left behind (no plan, websocket, conversation or task).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import replace
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import ElicitResult

from collections_mcp.sandbox.http import serve_app
from collections_mcp.sandbox.runner import RunningSandbox
from collections_mcp.server.app import ServerConfig, build_server
from collections_mcp.server.state.audit_log import SqliteAuditLog, audit_path
from collections_mcp.server.transport.http import build_http_app
from tests.helpers import text_of

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SESSIONS = 50
PLAN_EVERY = 5  # every 5th session also runs a Collect! plan with one prompt (10 plans)
READS = ("scollect_get_account", "scollect_get_phones", "scollect_get_notes")


async def answer_yes(context: Any, params: Any) -> ElicitResult:
    return ElicitResult(action="accept", content={"choice": "Yes"})


async def test_fifty_concurrent_sessions_mixing_reads_writes_and_plans(
    server_config: ServerConfig, sandbox: RunningSandbox
) -> None:
    scollect, collect = sandbox.scollect.store, sandbox.collect.store.database()
    file_numbers = [number for number in scollect.file_numbers() if number.startswith("R1")][:SESSIONS]
    debtors = [int(row["de_rowid"]) for row in collect.rows("debtor")][: SESSIONS // PLAN_EVERY]
    assert len(file_numbers) == SESSIONS and len(debtors) == SESSIONS // PLAN_EVERY
    contacts_before = {rowid: len(collect.contacts(rowid)) for rowid in debtors}
    run_tag = uuid.uuid4().hex[:8]
    tasks_before = set(asyncio.all_tasks())

    server = build_server(replace(server_config))
    app = build_http_app(server, server_config.settings, "127.0.0.1", 0)
    calls: Counter[str] = Counter()
    errors: list[str] = []

    async def session(index: int, url: str) -> None:
        number = file_numbers[index]
        mode = "legacy" if index % 2 else "auto"  # both protocol eras at once
        async with Client(url, mode=mode, elicitation_callback=answer_yes) as client:  # type: ignore[arg-type]
            steps: list[tuple[str, dict[str, Any]]] = [(tool, {"file_number": number}) for tool in READS]
            message = f"load {run_tag} session {index}"
            steps.append(("scollect_add_note", {"file_number": number, "collector_name": "load", "message": message}))
            if index % PLAN_EVERY == 0:
                steps.append(("collect_run_contact_plan",
                              {"plan": "YN", "record_type": "debtor", "rowid": debtors[index // PLAN_EVERY]}))  # fmt: skip
            for tool, arguments in steps:
                result = await client.call_tool(tool, arguments)
                calls[tool] += 1
                if result.is_error:
                    errors.append(f"{tool} {number}: {text_of(result)[:200]}")

    with anyio.fail_after(60):
        async with server.session_manager.run(), serve_app(app) as base_url:
            async with anyio.create_task_group() as group:
                for index in range(SESSIONS):
                    group.start_soon(session, index, f"{base_url}/mcp")
            await sandbox.collect.app.state.activity.wait_quiet()

    assert errors == []
    # Every write exactly once at the vendor.
    for index, number in enumerate(file_numbers):
        mine = [note for note in scollect.notes(number) if f"load {run_tag} session {index}" in str(note)]
        assert len(mine) == 1, (number, mine)
    for rowid in debtors:
        assert len(collect.contacts(rowid)) == contacts_before[rowid] + 1  # each plan's contact, once
    # One audit record per call, each ok.
    audit = SqliteAuditLog(audit_path(server_config.settings.state_dir))
    try:
        records = await audit.query(None, None, 10_000)
    finally:
        audit.close()
    assert Counter(record.tool for record in records) == calls
    assert {record.outcome for record in records} == {"ok"}
    assert sum(calls.values()) == SESSIONS * (len(READS) + 1) + SESSIONS // PLAN_EVERY
    # Nothing left behind: no websocket or plan at the vendor, no task of ours still running.
    activity = sandbox.collect.app.state.activity
    assert activity.sockets == {} and activity.running == {}
    # sse_starlette starts one shutdown watcher per event loop on its first stream: the library's, for the loop's life.
    left = [task for task in asyncio.all_tasks() - tasks_before
            if task is not asyncio.current_task() and task.get_coro().__name__ != "_shutdown_watcher"]  # type: ignore[union-attr]  # fmt: skip
    assert left == [], [task.get_coro() for task in left]
