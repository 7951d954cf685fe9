"""collect_run_contact_plan: Collect! websocket prompts relayed to a person, in both MCP protocol eras.

The test plays the person with the SDK Client's elicitation callback; the Collect! simulator runs the
plans over real loopback HTTP + websocket and applies their effects in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult, ElicitRequestFormParams, ElicitResult, InputRequiredResult
from pydantic import SecretStr

from sandbox.collect.demo_data import FORM_OK
from sandbox.runner import RunningSandbox
from server.app import ServerConfig, build_server
from tests.helpers import text_of
from tools.collect.settings import CollectSettings

pytestmark = pytest.mark.anyio
ERAS = pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])

Reply = ElicitResult | Callable[[ElicitRequestFormParams], ElicitResult]


def accept(**content: Any) -> ElicitResult:
    return ElicitResult(action="accept", content=content)


DECLINE = ElicitResult(action="decline")


class Person:
    """Answers elicitations from a script and remembers what was asked."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.asked: list[ElicitRequestFormParams] = []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        assert isinstance(params, ElicitRequestFormParams)
        self.asked.append(params)
        reply = self.replies.pop(0)
        return reply(params) if callable(reply) else reply




def client(config: ServerConfig, mode: str, person: Person | None, **kwargs: Any) -> Client:
    return Client(build_server(config), mode=mode, elicitation_callback=person, **kwargs)  # type: ignore[arg-type]


def db(sandbox: RunningSandbox) -> Any:
    return sandbox.collect.store.database()


def ws_replies(sandbox: RunningSandbox, since: int) -> list[dict[str, Any]]:
    messages = sandbox.collect.app.state.websocket_messages[since:]
    return [m.message for m in messages if m.direction == "received"]


async def run(mcp: Client, plan: str, rowid: int, **kwargs: Any) -> CallToolResult:
    return await mcp.call_tool("collect_run_contact_plan", {"plan": plan, "record_type": "debtor", "rowid": rowid}, **kwargs)


@ERAS
async def test_plan_without_prompts_completes_with_progress(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    notes_before = len(db(sandbox).notes(201))
    progress: list[str | None] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(message)

    async with client(server_config, mode, Person()) as mcp:
        result = await run(mcp, "NOP", 201, progress_callback=on_progress)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    assert result.structured_content["status"] == "completed"
    assert result.structured_content["job_id"]
    assert len(db(sandbox).notes(201)) == notes_before + 1
    assert progress[0] == "plan NOP started" and progress[-1] == "plan NOP completed"


@ERAS
async def test_button_prompt_answer_is_the_button_index(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    person = Person(accept(choice="Yes"))
    contacts_before = len(db(sandbox).contacts(202))
    mark = len(sandbox.collect.app.state.websocket_messages)
    async with client(server_config, mode, person) as mcp:
        result = await run(mcp, "YN", 202)
    assert not result.is_error, text_of(result)
    asked = person.asked[0]
    assert asked.requested_schema["properties"]["choice"]["enum"] == ["Yes", "No"]
    assert "Collect! contact plan YN on debtor 202" in asked.message
    replies = ws_replies(sandbox, mark)
    assert replies == [{"jobid": result.structured_content["job_id"], "button": 0}]  # type: ignore[index]
    assert len(db(sandbox).contacts(202)) == contacts_before + 1
    assert result.structured_content["prompts"][0]["answer"] == "Yes"  # type: ignore[index]


@ERAS
async def test_decline_presses_cancel_and_collect_rolls_back(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    notes_before, contacts_before = len(db(sandbox).notes(203)), len(db(sandbox).contacts(203))
    mark = len(sandbox.collect.app.state.websocket_messages)
    async with client(server_config, mode, Person(DECLINE)) as mcp:
        result = await run(mcp, "OKC", 203)
    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert data is not None and data["status"] == "cancelled"
    assert "rolled back" in data["message"]
    assert ws_replies(sandbox, mark)[0]["button"] == 1  # the CANCEL button
    # OKC writes a note before its prompt: the rollback removed it.
    assert (len(db(sandbox).notes(203)), len(db(sandbox).contacts(203))) == (notes_before, contacts_before)


@ERAS
async def test_decline_without_cancel_button_aborts_the_job(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    contacts_before = len(db(sandbox).contacts(204))
    mark = len(sandbox.collect.app.state.websocket_messages)
    async with client(server_config, mode, Person(ElicitResult(action="cancel"))) as mcp:
        result = await run(mcp, "YN", 204)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None and result.structured_content["status"] == "cancelled"
    assert ws_replies(sandbox, mark) == []  # nothing answered: the socket was closed instead
    assert len(db(sandbox).contacts(204)) == contacts_before


@ERAS
async def test_form_prompt_shows_defaults_and_sends_edited_values(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    def edit(params: ElicitRequestFormParams) -> ElicitResult:
        properties = params.requested_schema["properties"]
        return accept(co_type=properties["co_type"]["default"], co_description="Call back about the promise",
                      co_priority=25, co_who="SAL", co_date="2031-01-13")

    person = Person(edit)
    mark = len(sandbox.collect.app.state.websocket_messages)
    async with client(server_config, mode, person) as mcp:
        result = await run(mcp, "REV", 101)
    assert not result.is_error, text_of(result)
    properties = person.asked[0].requested_schema["properties"]
    assert properties["co_description"]["default"].startswith("Review file")
    assert properties["co_type"]["default"] == "5"
    assert "co_lock" not in properties  # read-only fields are not asked
    reply = ws_replies(sandbox, mark)[0]
    assert reply["button"] == FORM_OK
    assert reply["data"]["co_description"] == "Call back about the promise"
    assert reply["data"]["co_priority"] == "25" and reply["data"]["co_who"] == "SAL"
    assert reply["data"]["co_lock"] == "1024"  # defaults travel back untouched
    assert "co_time" in reply["data"]  # fields without a default go back blank
    scheduled = [row for row in db(sandbox).contacts(101) if row.get("co_description") == "Call back about the promise"]
    assert scheduled and str(scheduled[-1]["co_date"]).startswith("2031-01-13")


@ERAS
async def test_string_and_date_prompts(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    mark = len(sandbox.collect.app.state.websocket_messages)
    date_person = Person(accept(value="next tuesday"), accept(value="2031-02-03"))
    async with client(server_config, mode, Person(accept(value="Debtor asked for a call after 5pm"))) as mcp:
        text_result = await run(mcp, "STR", 102)
    async with client(server_config, mode, date_person) as mcp:
        date_result = await run(mcp, "DAT", 102)
    assert not text_result.is_error and not date_result.is_error, text_of(date_result)
    assert "not a date" in date_person.asked[1].message
    replies = ws_replies(sandbox, mark)
    assert replies[0]["data"] == {"value": "Debtor asked for a call after 5pm"}
    assert replies[1]["data"] == {"value": "2031-02-03"}  # the invalid date never reached Collect!
    assert any(row.get("no_text", "").find("after 5pm") >= 0 for row in db(sandbox).notes(102)) or any(
        "after 5pm" in str(row) for row in db(sandbox).notes(102)
    )


@ERAS
async def test_twelve_prompt_plan(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    person = Person(*[accept(choice="OK") for _ in range(12)])
    before = len(db(sandbox).contacts(104))
    async with client(server_config, mode, person, input_required_max_rounds=50) as mcp:
        result = await run(mcp, "MANY", 104)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None and len(result.structured_content["prompts"]) == 12
    assert len(person.asked) == 12 and [p.message.split("prompt ")[-1].rstrip(")") for p in person.asked][-1] == "12"
    assert len(db(sandbox).contacts(104)) == before + 12


async def test_client_without_elicitation_is_refused_before_the_plan_starts(server_config: ServerConfig, sandbox: RunningSandbox) -> None:
    runs_before = len(sandbox.collect.app.state.request_log.matching("/runplan"))
    async with Client(build_server(server_config)) as mcp:
        result = await run(mcp, "NOP", 201)
    assert result.is_error
    assert "does not support elicitation" in text_of(result)
    assert len(sandbox.collect.app.state.request_log.matching("/runplan")) == runs_before


@ERAS
async def test_socket_dropped_mid_plan_is_a_clean_error(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    sandbox.collect.app.state.plan_faults.drop_socket_after_prompts = 1
    before = len(db(sandbox).contacts(104))
    async with client(server_config, mode, Person(*[accept(choice="OK") for _ in range(12)]), input_required_max_rounds=50) as mcp:
        result = await run(mcp, "MANY", 104)
        assert result.is_error
        message = text_of(result).lower()
        # Either side may notice first: our reader (socket closed) or the runplan POST (Collect!'s error).
        assert "web socket closed" in message or "closed the websocket" in message
        assert "rolled" in message
        again = await run(mcp, "NOP", 201)  # the server is fine afterwards
    assert not again.is_error
    assert len(db(sandbox).contacts(104)) == before


async def test_retried_round_does_not_answer_twice(server_config: ServerConfig, sandbox: RunningSandbox) -> None:
    arguments = {"plan": "MANY", "record_type": "debtor", "rowid": 105}
    before = len(db(sandbox).contacts(105))
    async with client(server_config, "2026-07-28", Person()) as mcp:
        first = await mcp.session.call_tool("collect_run_contact_plan", arguments, allow_input_required=True)
        assert isinstance(first, InputRequiredResult) and list(first.input_requests or {}) == ["q1"]
        answer = {"q1": accept(choice="OK")}
        second = await mcp.session.call_tool(
            "collect_run_contact_plan", arguments, allow_input_required=True, input_responses=answer, request_state=first.request_state
        )
        duplicate = await mcp.session.call_tool(
            "collect_run_contact_plan", arguments, allow_input_required=True, input_responses=answer, request_state=first.request_state
        )
        assert isinstance(second, InputRequiredResult) and isinstance(duplicate, InputRequiredResult)
        assert list(second.input_requests or {}) == list(duplicate.input_requests or {}) == ["q2"]
        state = second.request_state
        for number in range(2, 13):
            step = await mcp.session.call_tool(
                "collect_run_contact_plan", arguments, allow_input_required=True,
                input_responses={f"q{number}": accept(choice="OK")}, request_state=state,
            )
            if number < 12:
                assert isinstance(step, InputRequiredResult)
                state = step.request_state
    assert isinstance(step, CallToolResult) and not step.is_error
    assert len(db(sandbox).contacts(105)) == before + 12  # twelve prompts, twelve rows: none answered twice


@ERAS
async def test_concurrent_plans_on_different_records_keep_their_answers(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    def answer_for(params: ElicitRequestFormParams) -> ElicitResult:
        rowid = params.message.split("on debtor ")[1].split(",")[0]
        return accept(value=f"note for {rowid}")

    person = Person(answer_for, answer_for)
    async with client(server_config, mode, person) as mcp, anyio.create_task_group() as group:
        results: dict[int, CallToolResult] = {}

        async def one(rowid: int) -> None:
            results[rowid] = await run(mcp, "STR", rowid)

        group.start_soon(one, 106)
        group.start_soon(one, 107)
    for rowid in (106, 107):
        assert not results[rowid].is_error, text_of(results[rowid])
        assert results[rowid].structured_content["prompts"][0]["values"] == {"value": f"note for {rowid}"}  # type: ignore[index]
        assert any(f"note for {rowid}" in str(row) for row in db(sandbox).notes(rowid))
        other = 107 if rowid == 106 else 106
        assert not any(f"note for {other}" in str(row) for row in db(sandbox).notes(rowid))


async def test_token_expiry_mid_session_relogs_in_once(server_config: ServerConfig, sandbox: RunningSandbox) -> None:
    async with client(server_config, "legacy", Person(accept(choice="Yes"), accept(choice="Yes"))) as mcp:
        assert not (await run(mcp, "YN", 201)).is_error
        logins = sandbox.collect.app.state.logins
        sandbox.collect.app.state.tokens.expire_all()
        result = await run(mcp, "YN", 202)  # another record: an identical call would be an idempotent replay
    assert not result.is_error, text_of(result)
    assert sandbox.collect.app.state.logins == logins + 1


async def test_database_header_on_every_request(server_config: ServerConfig, sandbox: RunningSandbox) -> None:
    collect = sandbox.collect
    settings = CollectSettings(_env_file=None, base_url=collect.base_url, operator_id=collect.operator_id,  # type: ignore[call-arg]
                               operator_password=SecretStr(collect.operator_password), database="demodb")
    config = replace(server_config, vendors=server_config.vendors | {"collect": settings})
    mark = len(collect.app.state.request_log)
    async with client(config, "legacy", Person(accept(choice="Yes"))) as mcp:
        result = await run(mcp, "YN", 1)
    assert not result.is_error, text_of(result)
    requests = collect.app.state.request_log[mark:]
    assert {entry.path for entry in requests} >= {"/api/v1/auth/login", "/api/v1/collect/app/runplan"}
    assert all(entry.headers.get("x-collect-database") == "cv_demodb" for entry in requests)
