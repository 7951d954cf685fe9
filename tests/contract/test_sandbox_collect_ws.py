"""The Collect! simulator's websocket protocol driven directly with the `websockets` client, plan by plan.

Each test runs its own simulator (fresh demo data) with a fixed clock, so dates are known and rollback is
visible in the store.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx
import pytest
from anyio.abc import TaskGroup
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from collections_mcp.sandbox.collect.app import build_collect_app
from collections_mcp.sandbox.collect.config import CollectSandboxConfig
from collections_mcp.sandbox.collect.demo_data import FORM_CANCEL, FORM_OK, SCHEDULE_NEXT_CONTACT
from collections_mcp.sandbox.collect.store import CollectDatabase, CollectStore
from collections_mcp.sandbox.http import serve_app

pytestmark = pytest.mark.anyio

NOW = datetime(2025, 3, 10, 12, 0, 0, tzinfo=UTC)
RUN_PLAN = "/api/v1/collect/app/runplan"
WAIT = 5.0  # upper bound for any one message; a healthy run takes milliseconds


@dataclass
class Sim:
    app: Starlette
    url: str
    http: httpx.AsyncClient
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def db(self) -> CollectDatabase:
        store: CollectStore = self.app.state.store
        return store.database()

    def ws_url(self, path: str = "/websocket") -> str:
        return self.url.replace("http://", "ws://") + path


@pytest.fixture(scope="module")
async def served() -> AsyncIterator[tuple[Starlette, str]]:
    """One simulator for the module (a uvicorn shutdown costs 0.2 s); each test resets its state."""
    store = CollectStore.demo()
    app = build_collect_app(store, CollectSandboxConfig(prompt_timeout_seconds=WAIT), clock=NOW.timestamp)
    async with serve_app(app, websockets=True) as url:
        yield app, url
    store.close()


@pytest.fixture
async def sim(served: tuple[Starlette, str]) -> AsyncIterator[Sim]:
    app, url = served
    app.state.store.reset()
    app.state.websocket_messages.clear()
    app.state.plan_faults.clear()
    app.state.config.prompt_timeout_seconds = WAIT
    async with httpx.AsyncClient(base_url=url, timeout=WAIT * 2) as http:
        login = await http.post("/api/v1/auth/login", json={"op_id": "OWN", "op_password": "own"})
        yield Sim(app=app, url=url, http=http, token=login.json()["result"]["access_token"])


class Socket:
    def __init__(self, connection: ClientConnection, websocket_id: str) -> None:
        self.connection = connection
        self.id = websocket_id

    async def next(self) -> dict[str, Any]:
        with anyio.fail_after(WAIT):
            message = json.loads(await self.connection.recv())
        assert isinstance(message, dict)
        return message

    async def expect(self, kind: str) -> dict[str, Any]:
        message = await self.next()
        assert message["type"] == kind, message
        assert message["websocket-id"] == self.id
        return message

    async def answer(self, jobid: str, button: int, data: dict[str, Any] | None = None) -> None:
        reply: dict[str, Any] = {"jobid": jobid, "button": button}
        if data is not None:
            reply["data"] = data
        await self.connection.send(json.dumps(reply))

    async def answer_and_ack(self, prompt: dict[str, Any], button: int, data: dict[str, Any] | None = None) -> None:
        await self.answer(prompt["jobid"], button, data)
        assert (await self.expect("end"))["jobid"] == prompt["jobid"]


@pytest.fixture
async def socket(sim: Sim) -> AsyncIterator[Socket]:
    async with connect(sim.ws_url(), additional_headers=sim.headers) as connection:
        key = json.loads(await connection.recv())
        assert key["type"] == "key"
        yield Socket(connection, key["message"])


@dataclass
class PendingPlan:
    """A runplan POST in flight; `response` is set when it returns."""

    done: anyio.Event = field(default_factory=anyio.Event)
    response: httpx.Response | None = None

    async def result(self) -> httpx.Response:
        with anyio.fail_after(WAIT):
            await self.done.wait()
        assert self.response is not None
        return self.response


def start_plan(tasks: TaskGroup, sim: Sim, plan: str, rowid: int, websocket_id: str | None, record: str = "debtor") -> PendingPlan:
    pending = PendingPlan()
    body: dict[str, Any] = {"plan": plan, record: rowid}
    if websocket_id is not None:
        body["websocket-id"] = websocket_id

    async def post() -> None:
        try:
            pending.response = await sim.http.post(RUN_PLAN, json=body, headers=sim.headers)
        finally:
            pending.done.set()

    tasks.start_soon(post)
    return pending


def assert_ok(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.json() == {"status": 200}


# ---------------------------------------------------------------------------------------------- sockets


@pytest.mark.parametrize("path", ["/websocket", "/"])
async def test_connecting_sends_the_key_first(sim: Sim, path: str) -> None:
    async with connect(sim.ws_url(path), additional_headers=sim.headers) as connection:
        key = json.loads(await connection.recv())
    assert set(key) == {"type", "message"} and key["type"] == "key"
    assert len(base64.b64decode(key["message"])) == 16
    assert sim.app.state.websocket_messages[0].direction == "sent"
    assert sim.app.state.websocket_messages[0].message == key
    assert (sim.app.state.request_log[-1].path, sim.app.state.request_log[-1].status) == (path, 101)


async def test_handshake_needs_a_valid_token_for_the_database(sim: Sim) -> None:
    logged = len(sim.app.state.request_log)
    with pytest.raises(InvalidStatus) as missing:
        async with connect(sim.ws_url()):
            pass
    assert missing.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        async with connect(sim.ws_url(), additional_headers=sim.headers | {"x-collect-database": "cv_demodb"}):
            pass  # the token was issued for cv_masterdb
    with pytest.raises(InvalidStatus):
        async with connect(sim.ws_url(), additional_headers=sim.headers | {"x-collect-database": "cv_nowhere"}):
            pass
    handshakes = [entry for entry in sim.app.state.request_log[logged:] if entry.path == "/websocket"]
    assert [entry.status for entry in handshakes] == [403, 403, 403]
    assert [entry.headers.get("x-collect-database") for entry in handshakes] == [None, "cv_demodb", "cv_nowhere"]


# ---------------------------------------------------------------------------------------------- plans


async def test_plan_without_prompts_runs_without_a_socket(sim: Sim) -> None:
    response = await sim.http.post(RUN_PLAN, json={"plan": "NOP", "debtor": 201}, headers=sim.headers)
    assert_ok(response)
    [note] = sim.db.notes(201)
    assert note["no_text"] == "Contact plan NOP: account reviewed." and note["no_date"] == "2025-03-10"


async def test_plan_without_prompts_on_a_socket_sends_only_start(sim: Sim, socket: Socket) -> None:
    async with anyio.create_task_group() as tasks:
        pending = start_plan(tasks, sim, "STATUS", 201, socket.id)
        start = await socket.expect("start")
        assert set(start) == {"websocket-id", "jobid", "type"}
        assert_ok(await pending.result())
    debtor = sim.db.debtor(201)
    assert debtor is not None and debtor["de_status"] == "HLD"


@pytest.mark.parametrize(("button", "contacts"), [(0, 1), (1, 0)])
async def test_yes_no_button_prompt(sim: Sim, socket: Socket, button: int, contacts: int) -> None:
    async with anyio.create_task_group() as tasks:
        pending = start_plan(tasks, sim, "YN", 201, socket.id)
        start = await socket.expect("start")
        prompt = await socket.expect("prompt")
        assert prompt["jobid"] == start["jobid"]
        assert prompt["subtype"] == "button" and prompt["buttons"] == ["Yes", "No"] and prompt["message"]
        await socket.answer_and_ack(prompt, button)
        assert_ok(await pending.result())
    rows = sim.db.contacts(201)
    assert len(rows) == contacts
    if contacts:
        assert rows[0]["co_date"] == "2025-03-11" and rows[0]["co_type"] == "1"


async def test_ok_writes_and_cancel_rolls_back_what_the_plan_wrote_before(sim: Sim, socket: Socket) -> None:
    async with anyio.create_task_group() as tasks:
        pending = start_plan(tasks, sim, "OKC", 201, socket.id)
        await socket.expect("start")
        prompt = await socket.expect("prompt")
        assert prompt["buttons"] == ["OK", "CANCEL"]
        await socket.answer_and_ack(prompt, 0)
        assert_ok(await pending.result())
    assert len(sim.db.notes(201)) == 1 and len(sim.db.contacts(201)) == 1

    async with anyio.create_task_group() as tasks:
        pending = start_plan(tasks, sim, "OKC", 202, socket.id)
        await socket.expect("start")
        await socket.answer_and_ack(await socket.expect("prompt"), 1)
        response = await pending.result()
    assert response.status_code == 200
    assert "cancelled" in response.json()["message"] and "rolled back" in response.json()["message"]
    assert sim.db.notes(202) == [] and sim.db.contacts(202) == []


async def test_form_prompt_defaults_buttons_and_edited_values(sim: Sim, socket: Socket) -> None:
    form = (await sim.http.get(f"/api/v1/collect/ui/forms/{SCHEDULE_NEXT_CONTACT}", headers=sim.headers)).json()
    assert {button["label"]: button["value"] for button in form["data"]["buttons"]} == {"OK": FORM_OK, "Cancel": FORM_CANCEL}
    async with anyio.create_task_group() as tasks:
        pending = start_plan(tasks, sim, "REV", 201, socket.id)
        await socket.expect("start")
        prompt = await socket.expect("prompt")
        assert prompt["subtype"] == "form" and prompt["formid"] == SCHEDULE_NEXT_CONTACT
        assert "buttons" not in prompt
        defaults = prompt["data"]
        assert defaults["co_type"] == "5" and defaults["co_who"] == "OWN" and defaults["co_lock"] == "1024"
        assert defaults["co_creation_date"] == "2025-03-10" and "co_time" not in defaults  # only non-blank defaults
        edited = defaults | {"co_description": "Please review Sales account", "co_who": "SAL", "co_date": "2025-03-14"}
        await socket.answer_and_ack(prompt, FORM_OK, edited | {"co_time": "09:30:00"})
        assert_ok(await pending.result())
    [contact] = sim.db.contacts(201)
    assert contact["co_description"] == "Please review Sales account" and contact["co_who"] == "SAL"
    assert contact["co_date"] == "2025-03-14" and contact["co_time"] == "09:30:00" and contact["co_type"] == "5"


async def test_form_cancel_button_value_rolls_back(sim: Sim, socket: Socket) -> None:
    async with anyio.create_task_group() as tasks:
        pending = start_plan(tasks, sim, "REV", 201, socket.id)
        await socket.expect("start")
        prompt = await socket.expect("prompt")
        await socket.answer_and_ack(prompt, FORM_CANCEL)
        response = await pending.result()
    assert response.status_code == 200 and "cancelled" in response.json()["message"]
    assert sim.db.contacts(201) == []


async def test_form_answer_with_a_button_index_instead_of_its_value_fails(sim: Sim, socket: Socket) -> None:
    async with anyio.create_task_group() as tasks:
        pending = start_plan(tasks, sim, "REV", 201, socket.id)
        await socket.expect("start")
        await socket.answer((await socket.expect("prompt"))["jobid"], 0)
        response = await pending.result()
    assert response.status_code == 400 and str(FORM_OK) in response.json()["message"]
    assert sim.db.contacts(201) == []


async def test_string_prompt_writes_the_text_as_a_note(sim: Sim, socket: Socket) -> None:
    async with anyio.create_task_group() as tasks:
        pending = start_plan(tasks, sim, "STR", 201, socket.id)
        await socket.expect("start")
        prompt = await socket.expect("prompt")
        assert prompt["subtype"] == "string" and prompt["buttons"] == ["OK", "Cancel"] and prompt["message"]
        await socket.answer_and_ack(prompt, 0, {"value": "Debtor disputes the fee"})
        assert_ok(await pending.result())
    assert [note["no_text"] for note in sim.db.notes(201)] == ["Debtor disputes the fee"]


async def test_date_prompt_schedules_on_the_date_given(sim: Sim, socket: Socket) -> None:
    async with anyio.create_task_group() as tasks:
        pending = start_plan(tasks, sim, "DAT", 201, socket.id)
        await socket.expect("start")
        prompt = await socket.expect("prompt")
        assert prompt["subtype"] == "date" and prompt["buttons"] == ["OK", "Cancel"]
        await socket.answer_and_ack(prompt, 0, {"value": "2025-04-01"})
        assert_ok(await pending.result())
    [contact] = sim.db.contacts(201)
    assert contact["co_date"] == "2025-04-01" and contact["co_type"] == "5"


async def test_malformed_date_fails_the_plan_and_writes_nothing(sim: Sim, socket: Socket) -> None:
    async with anyio.create_task_group() as tasks:
        pending = start_plan(tasks, sim, "DAT", 201, socket.id)
        await socket.expect("start")
        await socket.answer((await socket.expect("prompt"))["jobid"], 0, {"value": "04/01/2025"})
        response = await pending.result()
    assert response.status_code == 400 and response.json()["status"] == 400
    assert "YYYY-MM-DD" in response.json()["message"]
    assert sim.db.contacts(201) == []


async def test_twelve_prompts_each_write_one_row_only_when_the_plan_completes(sim: Sim, socket: Socket) -> None:
    async with anyio.create_task_group() as tasks:
        pending = start_plan(tasks, sim, "MANY", 201, socket.id)
        await socket.expect("start")
        for number in range(1, 13):
            prompt = await socket.expect("prompt")
            assert prompt["message"].startswith(f"Letter {number} of 12")
            await socket.answer_and_ack(prompt, 0)
            if number == 6:
                assert sim.db.contacts(201) == []  # staged, not visible to other readers before the commit
        assert_ok(await pending.result())
    assert len(sim.db.contacts(201)) == 12


async def test_cancel_at_the_seventh_prompt_rolls_back_the_six_before(sim: Sim, socket: Socket) -> None:
    async with anyio.create_task_group() as tasks:
        pending = start_plan(tasks, sim, "MANY", 201, socket.id)
        await socket.expect("start")
        for _ in range(6):
            await socket.answer_and_ack(await socket.expect("prompt"), 0)
        await socket.answer_and_ack(await socket.expect("prompt"), 1)
        response = await pending.result()
    assert response.status_code == 200 and "cancelled" in response.json()["message"]
    assert sim.db.contacts(201) == []


async def test_client_disconnect_mid_plan_rolls_back(sim: Sim) -> None:
    async with anyio.create_task_group() as tasks:
        async with connect(sim.ws_url(), additional_headers=sim.headers) as connection:
            socket = Socket(connection, json.loads(await connection.recv())["message"])
            pending = start_plan(tasks, sim, "MANY", 201, socket.id)
            await socket.expect("start")
            for _ in range(3):
                await socket.answer_and_ack(await socket.expect("prompt"), 0)
            await socket.expect("prompt")
        response = await pending.result()
    assert response.status_code == 400 and "closed" in response.json()["message"]
    assert sim.db.contacts(201) == []


async def test_server_drops_the_socket_mid_plan(sim: Sim, socket: Socket) -> None:
    sim.app.state.plan_faults.drop_socket_after_prompts = 2
    async with anyio.create_task_group() as tasks:
        pending = start_plan(tasks, sim, "MANY", 201, socket.id)
        await socket.expect("start")
        for _ in range(2):
            await socket.answer_and_ack(await socket.expect("prompt"), 0)
        with pytest.raises(ConnectionClosed):
            await socket.next()
        response = await pending.result()
    assert response.status_code == 400 and "closed" in response.json()["message"]
    assert sim.db.contacts(201) == []
    assert sim.app.state.plan_faults.drop_socket_after_prompts is None  # used once


async def test_unanswered_prompt_times_out_and_rolls_back(sim: Sim, socket: Socket) -> None:
    sim.app.state.config.prompt_timeout_seconds = 0.05
    async with anyio.create_task_group() as tasks:
        pending = start_plan(tasks, sim, "OKC", 201, socket.id)
        await socket.expect("start")
        await socket.expect("prompt")
        response = await pending.result()
    assert response.status_code == 408 and "No answer" in response.json()["message"]
    assert sim.db.notes(201) == [] and sim.db.contacts(201) == []


async def test_prompting_plan_without_websocket_id_fails_at_once_and_writes_nothing(sim: Sim) -> None:
    response = await sim.http.post(RUN_PLAN, json={"plan": "OKC", "debtor": 201}, headers=sim.headers)
    assert response.status_code == 400
    assert response.json() == {"status": 400, "message": "Contact plan OKC prompts and needs a websocket-id; nothing was changed"}
    assert sim.db.notes(201) == [] and sim.db.contacts(201) == []
    assert sim.app.state.websocket_messages == []
    closed = await sim.http.post(RUN_PLAN, json={"plan": "NOP", "debtor": 201, "websocket-id": "bm9wZQ=="}, headers=sim.headers)
    assert closed.status_code == 400 and "websocket-id" in closed.json()["message"]


@pytest.mark.parametrize(
    ("body", "status", "wording"),
    [
        ({"plan": "NOPE", "debtor": 201}, 404, "No contact plan with code NOPE"),
        ({"plan": "NOP", "debtor": 999}, 404, "No debtor record with rowid 999"),
        ({"plan": "NOP"}, 400, "exactly one record"),
        ({"plan": "NOP", "debtor": "x"}, 400, "debtor must be a rowid"),
        ({"plan": "STATUS", "client": 1}, 400, "only runs on debtors"),
    ],
)
async def test_runplan_errors(sim: Sim, body: dict[str, Any], status: int, wording: str) -> None:
    response = await sim.http.post(RUN_PLAN, json=body, headers=sim.headers)
    assert response.status_code == status and response.json()["status"] == status
    assert wording in response.json()["message"]


async def test_plans_run_on_other_record_types(sim: Sim, socket: Socket) -> None:
    async with anyio.create_task_group() as tasks:
        pending = start_plan(tasks, sim, "YN", 1, socket.id, record="client")
        await socket.expect("start")
        await socket.answer_and_ack(await socket.expect("prompt"), 0)
        assert_ok(await pending.result())
    assert len(sim.db.rows("contact", co_rowid_client=1)) == 1


async def test_concurrent_plans_on_two_sockets_keep_their_answers_apart(sim: Sim) -> None:
    async with (
        connect(sim.ws_url(), additional_headers=sim.headers) as first_connection,
        connect(sim.ws_url(), additional_headers=sim.headers) as second_connection,
        anyio.create_task_group() as tasks,
    ):
        first = Socket(first_connection, json.loads(await first_connection.recv())["message"])
        second = Socket(second_connection, json.loads(await second_connection.recv())["message"])
        first_plan = start_plan(tasks, sim, "YN", 201, first.id)
        second_plan = start_plan(tasks, sim, "YN", 202, second.id)
        await first.expect("start")
        await second.expect("start")
        first_prompt, second_prompt = await first.expect("prompt"), await second.expect("prompt")
        assert first_prompt["jobid"] != second_prompt["jobid"]
        await second.answer_and_ack(second_prompt, 1)
        await first.answer_and_ack(first_prompt, 0)
        assert_ok(await first_plan.result())
        assert_ok(await second_plan.result())
    assert len(sim.db.contacts(201)) == 1 and sim.db.contacts(202) == []


async def test_every_message_is_recorded_with_its_direction(sim: Sim, socket: Socket) -> None:
    async with anyio.create_task_group() as tasks:
        pending = start_plan(tasks, sim, "YN", 201, socket.id)
        await socket.expect("start")
        await socket.answer_and_ack(await socket.expect("prompt"), 0)
        assert_ok(await pending.result())
    log = [(entry.direction, entry.message.get("type", "answer")) for entry in sim.app.state.websocket_messages]
    assert log == [("sent", "key"), ("sent", "start"), ("sent", "prompt"), ("received", "answer"), ("sent", "end")]
    assert all(entry.websocket_id == socket.id for entry in sim.app.state.websocket_messages)


# ---------------------------------------------------------------------------------------------- faults, activity


async def test_value_prompt_without_buttons_is_answered_with_button_0(sim: Sim, socket: Socket) -> None:
    sim.app.state.plan_faults.value_prompt_without_buttons = True
    async with anyio.create_task_group() as tasks:
        pending = start_plan(tasks, sim, "STR", 201, socket.id)
        await socket.expect("start")
        prompt = await socket.expect("prompt")
        assert prompt["subtype"] == "string" and "buttons" not in prompt
        await socket.answer_and_ack(prompt, 0, {"value": "Typed without buttons"})
        assert_ok(await pending.result())
    assert [note["no_text"] for note in sim.db.notes(201)] == ["Typed without buttons"]
    assert sim.app.state.plan_faults.value_prompt_without_buttons is False  # used once


async def test_value_prompt_without_buttons_has_no_cancel_button(sim: Sim, socket: Socket) -> None:
    sim.app.state.plan_faults.value_prompt_without_buttons = True
    async with anyio.create_task_group() as tasks:
        pending = start_plan(tasks, sim, "DAT", 201, socket.id)
        await socket.expect("start")
        prompt = await socket.expect("prompt")
        await socket.answer(prompt["jobid"], 1, {"value": "2031-01-01"})
        response = await pending.result()
    assert response.status_code == 400 and "without buttons is answered with button 0" in response.json()["message"]
    assert sim.db.contacts(201) == []


async def test_http_error_after_prompts_fails_the_plan_with_500_and_rolls_back(sim: Sim, socket: Socket) -> None:
    sim.app.state.plan_faults.http_error_after_prompts = 1
    async with anyio.create_task_group() as tasks:
        pending = start_plan(tasks, sim, "MANY", 201, socket.id)
        await socket.expect("start")
        await socket.answer_and_ack(await socket.expect("prompt"), 0)
        response = await pending.result()
    assert response.status_code == 500
    assert response.json()["message"] == "Internal Server Error; contact plan MANY was rolled back"
    assert sim.db.contacts(201) == []
    [outcome] = sim.app.state.activity.outcomes[-1:]
    assert (outcome.outcome, outcome.status, outcome.code, outcome.rowid) == ("failed", 500, "MANY", 201)


async def test_silent_drop_leaves_the_plan_waiting_until_the_caller_hangs_up(sim: Sim, socket: Socket) -> None:
    """The socket closes under a waiting prompt but the plan does not notice; hanging up the runplan POST
    ends it (rolled back), so nothing is left running."""
    sim.app.state.plan_faults.silent_drop_after_prompts = 0
    activity = sim.app.state.activity
    outcomes = len(activity.outcomes)
    async with anyio.create_task_group() as tasks:
        pending = start_plan(tasks, sim, "YN", 201, socket.id)
        await socket.expect("start")
        await socket.expect("prompt")
        with pytest.raises(ConnectionClosed):
            await socket.next()
        with anyio.fail_after(WAIT):
            await activity.wait_until(lambda: not activity.sockets)
        assert len(activity.outcomes) == outcomes and len(activity.running) == 1  # still waiting for its answer
        tasks.cancel_scope.cancel()  # hang up the POST
    with anyio.fail_after(WAIT):
        await activity.wait_quiet()
    assert pending.response is None  # hung up: no answer was read
    assert activity.outcomes[outcomes].outcome == "failed" and activity.outcomes[outcomes].status == 499
    assert sim.db.contacts(201) == []


async def test_hanging_up_the_runplan_post_ends_the_plan_and_rolls_back(sim: Sim, socket: Socket) -> None:
    activity = sim.app.state.activity
    outcomes = len(activity.outcomes)
    async with anyio.create_task_group() as tasks:
        start_plan(tasks, sim, "OKC", 201, socket.id)
        await socket.expect("start")
        await socket.expect("prompt")
        tasks.cancel_scope.cancel()
    with anyio.fail_after(WAIT):
        await activity.wait_until(lambda: not activity.running)
    assert activity.outcomes[outcomes].message == "the caller hung up"
    assert sim.db.notes(201) == []  # OKC's note, staged before its prompt


async def test_activity_lists_outcomes_and_becomes_quiet(sim: Sim) -> None:
    activity = sim.app.state.activity
    outcomes = len(activity.outcomes)
    async with connect(sim.ws_url(), additional_headers=sim.headers) as connection:
        socket = Socket(connection, json.loads(await connection.recv())["message"])
        assert socket.id in activity.sockets and not activity.quiet
        async with anyio.create_task_group() as tasks:
            pending = start_plan(tasks, sim, "OKC", 202, socket.id)
            await socket.expect("start")
            await socket.answer_and_ack(await socket.expect("prompt"), 1)
            assert (await pending.result()).status_code == 200
    with anyio.fail_after(WAIT):
        await activity.wait_quiet()
    outcome = activity.outcomes[outcomes]
    assert (outcome.code, outcome.record_type, outcome.rowid, outcome.outcome) == ("OKC", "debtor", 202, "cancelled")
    assert outcome.jobid and "rolled back" in outcome.message
