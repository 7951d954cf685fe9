"""The fault suite: vendors that misbehave on demand (the simulators' own fault injection, over real loopback
HTTP and websockets), reached through the SDK's real Client.

Every fault ends within the call's deadline (short here: DEADLINE) with a clear tool error, a write is sent
exactly once (never retried), and nothing is left running: no request held open at the simulator, no socket,
no Collect! job, no conversation, no task of ours.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import ElicitResult

from collections_mcp.sandbox.http import FaultInjector, silent_listener
from collections_mcp.sandbox.runner import RunningSandbox
from collections_mcp.server.app import CollectionsServer, ServerConfig
from tests.conftest import Wire
from tests.helpers import text_of

pytestmark = pytest.mark.anyio
ERAS = pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])

DEADLINE = 0.5  # COLLECTIONS_MCP_CALL_DEADLINE_SECONDS for these tests
# A guard against a hang, and the bound "within its deadline" is checked against: a call that ignored the
# deadline (a 15 s vendor timeout, three attempts) would blow it; scheduling noise on a busy CI machine does not.
GUARD = DEADLINE + 2.0
READ = ("scollect_get_account", {"file_number": "R1000"})
READ_PATH = "^/getaccount/"
WRITE_PATH = "^/InsertNoteline$"


def write_call() -> tuple[str, dict[str, Any]]:
    return "scollect_add_note", {"file_number": "R1004", "collector_name": "fault-suite", "message": uuid.uuid4().hex}


def with_deadline(config: ServerConfig, **changes: Any) -> ServerConfig:
    settings = config.settings.model_copy(update={"call_deadline_seconds": DEADLINE} | changes)
    return replace(config, settings=settings)


def _ours(task: asyncio.Task[Any]) -> bool:
    code = getattr(task.get_coro(), "cr_code", None)
    filename = code.co_filename if code is not None else ""
    return any(part in filename for part in ("/collections_mcp/tools/", "/collections_mcp/server/core/"))


def our_tasks() -> set[asyncio.Task[Any]]:
    """Tasks running vendor or pipeline code (a Collect! plan's POST, a conversation, a fan-out read)."""
    return {task for task in asyncio.all_tasks() if not task.done() and _ours(task)}


@asynccontextmanager
async def serving(
    config: ServerConfig, mode: str = "2026-07-28", person: Any = None
) -> AsyncIterator[tuple[CollectionsServer, Client]]:
    built = CollectionsServer(config)
    async with Client(built.mcp_server(), mode=mode, elicitation_callback=person) as client:  # type: ignore[arg-type]
        yield built, client


async def nothing_left_running(sandbox: RunningSandbox, built: CollectionsServer) -> None:
    """No request held at any simulator, no Collect! socket or job, no conversation, no task of ours."""
    with anyio.fail_after(GUARD):
        for vendor in sandbox.vendors():
            await vendor.app.state.in_flight.wait_idle()  # type: ignore[attr-defined]
        await sandbox.collect.app.state.activity.wait_quiet()
    state = built.state
    assert state is not None and state.conversations.live == 0
    assert built.pipeline.drain.idle
    await anyio.wait_all_tasks_blocked()
    assert our_tasks() == set()


async def timed_call(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    """The call must fail, and end within the deadline (GUARD); its error text."""
    with anyio.fail_after(GUARD):
        result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    text = text_of(result)
    assert "Internal error" not in text and "Traceback" not in text
    return text


@pytest.fixture(autouse=True)
def clean_faults(sandbox: RunningSandbox) -> Any:
    for vendor in sandbox.vendors():
        vendor.app.state.faults.clear()  # type: ignore[attr-defined]
    sandbox.collect.app.state.plan_faults.clear()
    yield
    for vendor in sandbox.vendors():
        vendor.app.state.faults.clear()  # type: ignore[attr-defined]
    sandbox.collect.app.state.plan_faults.clear()


# What each HTTP fault looks like to the caller. The injector plans it for `times` requests to `path`.
FAULTS: dict[str, tuple[Callable[[FaultInjector, str], Any], str]] = {
    "silent vendor": (lambda faults, path: faults.silent(path, times=5), "no answer within the call's deadline"),
    "5xx storm": (lambda faults, path: faults.http_error(path, 503, times=50), "server error HTTP 503"),
    # A byte every 0.2 s: each read gets one within httpx's read timeout, so only the bound on the whole request
    # ends it (a byte per second, the example, against a deadline of a few seconds is the same case).
    "body trickling in": (
        lambda faults, path: faults.trickle(path, '{"result": [{"filenumber": "R1000"}]}', interval=0.2, times=5),
        "no answer within the call's deadline",
    ),
    "truncated body": (lambda faults, path: faults.truncated(path, times=5), "connection failed (RemoteProtocolError)"),
    "non-JSON body": (lambda faults, path: faults.non_json(path, times=5), "not JSON"),
}


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_read_against_a_misbehaving_vendor_ends_within_its_deadline(
    server_config: ServerConfig, sandbox: RunningSandbox, wire: Wire, fault: str
) -> None:
    plan, expected = FAULTS[fault]
    plan(sandbox.scollect.app.state.faults, READ_PATH)
    async with serving(with_deadline(server_config)) as (built, client):
        text = await timed_call(client, *READ)
        assert "Scollect is unavailable" in text and expected in text, text
        attempts = [path for path in wire.paths() if path.startswith("GET /getaccount/")]
        assert 1 <= len(attempts) <= 3  # retried only while the deadline leaves room
        await nothing_left_running(sandbox, built)


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_write_against_a_misbehaving_vendor_is_sent_once_and_ends_within_its_deadline(
    server_config: ServerConfig, sandbox: RunningSandbox, wire: Wire, fault: str
) -> None:
    plan, expected = FAULTS[fault]
    plan(sandbox.scollect.app.state.faults, WRITE_PATH)
    async with serving(with_deadline(server_config)) as (built, client):
        text = await timed_call(client, *write_call())
        assert expected in text and "check whether it landed before retrying" in text, text
        assert wire.paths().count("POST /InsertNoteline") == 1  # a write is never retried
        await nothing_left_running(sandbox, built)


@pytest.mark.parametrize("call", ["read", "write"])
async def test_a_tls_handshake_that_never_completes_ends_within_the_deadline(
    server_config: ServerConfig, sandbox: RunningSandbox, call: str
) -> None:
    async with silent_listener("https") as vendor:
        scollect = server_config.vendors["scollect"].model_copy(update={"base_url": vendor.url})
        config = with_deadline(replace(server_config, vendors=server_config.vendors | {"scollect": scollect}))
        async with serving(config) as (built, client):
            tool, arguments = READ if call == "read" else write_call()
            text = await timed_call(client, tool, arguments)
            assert "Scollect is unavailable" in text and "no answer within the call's deadline" in text, text
            assert vendor.accepted == 1  # the login's connection; nothing was retried past the deadline
            with anyio.fail_after(GUARD):
                await vendor.wait_all_closed()  # we hung up: no socket left half-open
            await nothing_left_running(sandbox, built)


async def person_saying(choice: str, asked: list[Any]) -> Any:
    async def person(context: Any, params: Any) -> ElicitResult:
        asked.append(params)
        return ElicitResult(action="accept", content={"choice": choice})

    return person


@ERAS
async def test_a_collect_websocket_dropped_mid_prompt_ends_with_a_clear_error(
    server_config: ServerConfig, sandbox: RunningSandbox, mode: str
) -> None:
    """Collect! sends the prompt, then drops the socket while the person considers it: the answer cannot be
    sent, the plan is rolled back, and the person's time did not count against the deadline."""
    sandbox.collect.app.state.plan_faults.silent_drop_after_prompts = 0
    activity = sandbox.collect.app.state.activity
    mark = len(activity.outcomes)
    asked: list[Any] = []
    async with serving(with_deadline(server_config), mode, await person_saying("Yes", asked)) as (built, client):
        text = await timed_call(client, "collect_run_contact_plan", {"plan": "YN", "record_type": "debtor", "rowid": 202})
        assert "Collect! closed the websocket before the answer to prompt 1 could be sent" in text, text
        assert len(asked) == 1
        await nothing_left_running(sandbox, built)
    assert [outcome.outcome for outcome in activity.outcomes[mark:]] == ["failed"]  # rolled back


@ERAS
async def test_a_collect_job_that_never_starts_ends_within_the_deadline(
    server_config: ServerConfig, sandbox: RunningSandbox, mode: str
) -> None:
    """The runplan POST is accepted and the socket stays open, but no `start` (or anything else) comes."""
    sandbox.collect.app.state.plan_faults.withhold_start = True
    activity = sandbox.collect.app.state.activity
    mark = len(activity.outcomes)
    asked: list[Any] = []
    async with serving(with_deadline(server_config), mode, await person_saying("Yes", asked)) as (built, client):
        text = await timed_call(client, "collect_run_contact_plan", {"plan": "YN", "record_type": "debtor", "rowid": 202})
        assert "Collect! is unavailable: no websocket message within the call's deadline" in text, text
        assert asked == []
        await nothing_left_running(sandbox, built)
    (outcome,) = activity.outcomes[mark:]
    assert (outcome.outcome, outcome.status) == ("failed", 499)  # the POST was hung up: nothing changed
