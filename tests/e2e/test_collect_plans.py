"""collect_run_contact_plan: Collect! websocket prompts relayed to a person, in both MCP protocol eras.

The test plays the person with the SDK Client's elicitation callback; the Collect! simulator runs the
plans over real loopback HTTP + websocket and applies their effects in one transaction.

After every test (and after every plan call, unless the test runs calls concurrently) nothing may be left
hanging: the simulator has no open socket and no running plan (`Activity.wait_quiet`, event-driven), and
the server's conversation registry (read through a public SDK middleware, `StateProbe`) holds nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client import InputRequiredRoundsExceededError
from mcp.types import CallToolResult, ElicitRequestFormParams, ElicitResult, InputRequiredResult
from pydantic import SecretStr

from collections_mcp.sandbox.collect.demo_data import FORM_CANCEL, FORM_OK
from collections_mcp.sandbox.collect.plans import Activity, PlanOutcome
from collections_mcp.sandbox.runner import RunningSandbox
from collections_mcp.server.app import ServerConfig, build_server
from collections_mcp.server.core.call import ServerState
from collections_mcp.server.state.audit_log import SqliteAuditLog, audit_path
from collections_mcp.tools.collect.settings import CollectSettings
from tests.helpers import text_of

pytestmark = pytest.mark.anyio
ERAS = pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
GUARD = 5.0  # a guard against a hang, never a synchronisation: every wait below ends on an event

Reply = ElicitResult | Callable[[ElicitRequestFormParams], ElicitResult | Awaitable[ElicitResult]]


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
        if not callable(reply):
            return reply
        answer = reply(params)
        return answer if isinstance(answer, ElicitResult) else await answer


class StateProbe:
    """SDK server middleware (public API) that keeps each server's lifespan state it sees, so a test can look
    at the conversation registry of the server it talks to."""

    def __init__(self) -> None:
        self.states: list[ServerState] = []

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        state = ctx.lifespan_context
        if isinstance(state, ServerState) and not any(seen is state for seen in self.states):
            self.states.append(state)
        return await call_next(ctx)

    @property
    def live(self) -> int:
        return sum(state.conversations.live for state in self.states)

    @property
    def latest(self) -> ServerState:
        assert self.states, "no request has reached the server yet"
        return self.states[-1]


PROBE = StateProbe()


def client(config: ServerConfig, mode: str, person: Person | None, **kwargs: Any) -> Client:
    server = build_server(config)
    server.middleware.append(PROBE)
    return Client(server, mode=mode, elicitation_callback=person, **kwargs)  # type: ignore[arg-type]


def activity(sandbox: RunningSandbox) -> Activity:
    found: Activity = sandbox.collect.app.state.activity
    return found


async def settled(sandbox: RunningSandbox) -> None:
    """Nothing left hanging: no socket open and no plan running at Collect!, no conversation held by a server."""
    with anyio.fail_after(GUARD):
        await activity(sandbox).wait_quiet()
    assert PROBE.live == 0, "a conversation is still held by the server"


async def outcome_after(sandbox: RunningSandbox, mark: int) -> PlanOutcome:
    """The first plan outcome Collect! records after `mark` outcomes (waits for it, event-driven)."""
    watched = activity(sandbox)
    with anyio.fail_after(GUARD):
        await watched.wait_until(lambda: len(watched.outcomes) > mark)
    return watched.outcomes[mark]


@pytest.fixture(autouse=True)
async def nothing_left_hanging(sandbox: RunningSandbox) -> AsyncIterator[None]:
    sandbox.collect.app.state.plan_faults.clear()
    sandbox.collect.app.state.faults.clear()
    PROBE.states.clear()
    await settled(sandbox)
    yield
    await settled(sandbox)


def db(sandbox: RunningSandbox) -> Any:
    return sandbox.collect.store.database()


def ws_replies(sandbox: RunningSandbox, since: int) -> list[dict[str, Any]]:
    messages = sandbox.collect.app.state.websocket_messages[since:]
    return [m.message for m in messages if m.direction == "received"]


def started_job(sandbox: RunningSandbox, since: int) -> str:
    """The jobid Collect! announced in its start message (the tool result's copy may come back partly masked
    by the redaction scrub when the GUID holds a long run of digits)."""
    messages = sandbox.collect.app.state.websocket_messages[since:]
    return str(next(m.message["jobid"] for m in messages if m.direction == "sent" and m.message.get("type") == "start"))


async def run(mcp: Client, plan: str, rowid: int, sandbox: RunningSandbox | None = None, **kwargs: Any) -> CallToolResult:
    """Run a plan; with `sandbox`, also check right away (client still open) that nothing was left hanging."""
    result = await mcp.call_tool("collect_run_contact_plan", {"plan": plan, "record_type": "debtor", "rowid": rowid}, **kwargs)
    if sandbox is not None:
        await settled(sandbox)
    return result


def collect_settings(config: ServerConfig, **changes: Any) -> ServerConfig:
    """The server config with some Collect! settings changed (e.g. a tiny COLLECT_PROMPT_TIMEOUT)."""
    settings = config.vendors["collect"].model_copy(update=changes)
    return replace(config, vendors=config.vendors | {"collect": settings})


@ERAS
async def test_plan_without_prompts_completes_with_progress(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    notes_before = len(db(sandbox).notes(201))
    progress: list[str | None] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(message)

    async with client(server_config, mode, Person()) as mcp:
        result = await run(mcp, "NOP", 201, sandbox, progress_callback=on_progress)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    assert result.structured_content["status"] == "completed"
    assert result.structured_content["job_id"]
    assert len(db(sandbox).notes(201)) == notes_before + 1
    assert progress == ["plan NOP started", "plan NOP completed"]


@ERAS
async def test_button_prompt_answer_is_the_button_index(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    person = Person(accept(choice="Yes"))
    contacts_before = len(db(sandbox).contacts(202))
    mark = len(sandbox.collect.app.state.websocket_messages)
    async with client(server_config, mode, person) as mcp:
        result = await run(mcp, "YN", 202, sandbox)
    assert not result.is_error, text_of(result)
    asked = person.asked[0]
    assert asked.requested_schema["properties"]["choice"]["enum"] == ["Yes", "No"]
    assert "Collect! contact plan YN on debtor 202" in asked.message
    replies = ws_replies(sandbox, mark)
    assert replies == [{"jobid": started_job(sandbox, mark), "button": 0}]
    assert len(db(sandbox).contacts(202)) == contacts_before + 1
    assert result.structured_content["prompts"][0]["answer"] == "Yes"  # type: ignore[index]


@ERAS
async def test_decline_presses_cancel_and_collect_rolls_back(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    notes_before, contacts_before = len(db(sandbox).notes(203)), len(db(sandbox).contacts(203))
    mark = len(sandbox.collect.app.state.websocket_messages)
    async with client(server_config, mode, Person(DECLINE)) as mcp:
        result = await run(mcp, "OKC", 203, sandbox)
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
    outcomes = len(activity(sandbox).outcomes)
    async with client(server_config, mode, Person(ElicitResult(action="cancel"))) as mcp:
        result = await run(mcp, "YN", 204, sandbox)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None and result.structured_content["status"] == "cancelled"
    assert ws_replies(sandbox, mark) == []  # nothing answered: the socket was closed instead
    assert (await outcome_after(sandbox, outcomes)).outcome == "failed"  # Collect! saw the abort: rolled back
    assert len(db(sandbox).contacts(204)) == contacts_before


@ERAS
@pytest.mark.parametrize("plan", ["STR", "DAT"])
async def test_declining_a_value_prompt_without_buttons_aborts_the_job(
    server_config: ServerConfig, sandbox: RunningSandbox, mode: str, plan: str
) -> None:
    """No buttons means no cancel button to press: the job is aborted (socket closed), not answered."""
    sandbox.collect.app.state.plan_faults.value_prompt_without_buttons = True
    notes_before, contacts_before = len(db(sandbox).notes(108)), len(db(sandbox).contacts(108))
    mark, outcomes = len(sandbox.collect.app.state.websocket_messages), len(activity(sandbox).outcomes)
    async with client(server_config, mode, Person(DECLINE)) as mcp:
        result = await run(mcp, plan, 108, sandbox)
    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert data is not None and data["status"] == "cancelled" and "rolled back" in data["message"]
    assert data["prompts"][0]["answer"] == "declined"
    prompt = next(m.message for m in sandbox.collect.app.state.websocket_messages[mark:] if m.message.get("type") == "prompt")
    assert "buttons" not in prompt  # the fault did apply
    assert ws_replies(sandbox, mark) == []  # no invented "Cancel" button was pressed
    finished = await outcome_after(sandbox, outcomes)
    assert finished.outcome == "failed" and "closed" in finished.message and "rolled back" in finished.message
    assert (len(db(sandbox).notes(108)), len(db(sandbox).contacts(108))) == (notes_before, contacts_before)


@ERAS
async def test_value_prompt_without_buttons_is_answered_with_button_0(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    sandbox.collect.app.state.plan_faults.value_prompt_without_buttons = True
    mark = len(sandbox.collect.app.state.websocket_messages)
    async with client(server_config, mode, Person(accept(value="Promised to pay Friday"))) as mcp:
        result = await run(mcp, "STR", 103, sandbox)
    assert not result.is_error, text_of(result)
    assert ws_replies(sandbox, mark) == [{"jobid": started_job(sandbox, mark), "button": 0,
                                          "data": {"value": "Promised to pay Friday"}}]  # fmt: skip
    assert any("Promised to pay Friday" in str(row) for row in db(sandbox).notes(103))


@ERAS
async def test_form_prompt_shows_defaults_and_sends_edited_values(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    def edit(params: ElicitRequestFormParams) -> ElicitResult:
        properties = params.requested_schema["properties"]
        return accept(co_type=properties["co_type"]["default"], co_description="Call back about the promise",
                      co_priority=25, co_who="SAL", co_date="2031-01-13")

    person = Person(edit)
    mark = len(sandbox.collect.app.state.websocket_messages)
    async with client(server_config, mode, person) as mcp:
        result = await run(mcp, "REV", 101, sandbox)
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
async def test_declining_a_form_presses_its_cancel_button(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    contacts_before = len(db(sandbox).contacts(101))
    mark, outcomes = len(sandbox.collect.app.state.websocket_messages), len(activity(sandbox).outcomes)
    async with client(server_config, mode, Person(DECLINE)) as mcp:
        result = await run(mcp, "REV", 101, sandbox)
    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert data is not None and data["status"] == "cancelled" and "rolled back" in data["message"]
    assert ws_replies(sandbox, mark) == [{"jobid": started_job(sandbox, mark), "button": FORM_CANCEL}]  # 4632
    assert (await outcome_after(sandbox, outcomes)).outcome == "cancelled"
    assert len(db(sandbox).contacts(101)) == contacts_before


@ERAS
async def test_string_and_date_prompts(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    mark = len(sandbox.collect.app.state.websocket_messages)
    date_person = Person(accept(value="next tuesday"), accept(value="2031-02-03"))
    async with client(server_config, mode, Person(accept(value="Debtor asked for a call after 5pm"))) as mcp:
        text_result = await run(mcp, "STR", 102, sandbox)
    async with client(server_config, mode, date_person) as mcp:
        date_result = await run(mcp, "DAT", 102, sandbox)
    assert not text_result.is_error and not date_result.is_error, text_of(date_result)
    assert "not a date" in date_person.asked[1].message
    replies = ws_replies(sandbox, mark)
    assert replies[0]["data"] == {"value": "Debtor asked for a call after 5pm"}
    assert replies[1]["data"] == {"value": "2031-02-03"}  # the invalid date never reached Collect!
    assert any("after 5pm" in str(row) for row in db(sandbox).notes(102))


@ERAS
async def test_twelve_prompt_plan_reports_each_answer_as_progress(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    person = Person(*[accept(choice="OK") for _ in range(12)])
    before = len(db(sandbox).contacts(104))
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))

    async with client(server_config, mode, person, input_required_max_rounds=50) as mcp:
        result = await run(mcp, "MANY", 104, sandbox, progress_callback=on_progress)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None and len(result.structured_content["prompts"]) == 12
    assert len(person.asked) == 12 and [p.message.split("prompt ")[-1].rstrip(")") for p in person.asked][-1] == "12"
    assert len(db(sandbox).contacts(104)) == before + 12
    assert [message for _, message in progress] == [
        "plan MANY started", *[f"prompt {n} answered" for n in range(1, 13)], "plan MANY completed"
    ]
    assert [value for value, _ in progress[1:-1]] == list(range(1, 13))


@ERAS
async def test_client_without_elicitation_is_refused_before_the_plan_starts(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    runs_before = len(sandbox.collect.app.state.request_log.matching("/runplan"))
    sockets_before = len(sandbox.collect.app.state.request_log.matching("^/websocket$"))
    async with client(server_config, mode, None) as mcp:
        result = await run(mcp, "NOP", 201, sandbox)
    assert result.is_error
    assert "does not support elicitation" in text_of(result) and "not started" in text_of(result)
    assert len(sandbox.collect.app.state.request_log.matching("/runplan")) == runs_before
    assert len(sandbox.collect.app.state.request_log.matching("^/websocket$")) == sockets_before


@ERAS
async def test_socket_dropped_mid_plan_is_a_clean_error(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    sandbox.collect.app.state.plan_faults.drop_socket_after_prompts = 1
    before = len(db(sandbox).contacts(104))
    async with client(server_config, mode, Person(*[accept(choice="OK") for _ in range(12)]), input_required_max_rounds=50) as mcp:
        result = await run(mcp, "MANY", 104, sandbox)
        assert result.is_error
        message = text_of(result).lower()
        # Either side may notice first: our reader (socket closed) or the runplan POST (Collect!'s error).
        assert "web socket closed" in message or "closed the websocket" in message
        assert "rolled" in message
        again = await run(mcp, "NOP", 201, sandbox)  # the server is fine afterwards
    assert not again.is_error
    assert len(db(sandbox).contacts(104)) == before


@ERAS
async def test_socket_closed_before_an_answer_is_sent_is_a_vendor_error(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    """Collect! drops the socket while prompt 2 waits for the person (and has not noticed yet itself): sending
    the answer fails, and that is a clear vendor error, not an internal one."""
    sandbox.collect.app.state.plan_faults.silent_drop_after_prompts = 1
    watched = activity(sandbox)

    async def answer_once_the_socket_is_gone(params: ElicitRequestFormParams) -> ElicitResult:
        with anyio.fail_after(GUARD):
            await watched.wait_until(lambda: not watched.sockets)
        return accept(choice="OK")

    before = len(db(sandbox).contacts(105))
    outcomes = len(watched.outcomes)
    async with client(server_config, mode, Person(accept(choice="OK"), answer_once_the_socket_is_gone)) as mcp:
        result = await run(mcp, "MANY", 105, sandbox)
    assert result.is_error
    assert "closed the websocket before the answer to prompt 2 could be sent" in text_of(result)
    assert "Internal error" not in text_of(result)
    assert (await outcome_after(sandbox, outcomes)).outcome == "failed"  # our hang-up ended Collect!'s job
    assert len(db(sandbox).contacts(105)) == before


@ERAS
async def test_runplan_http_error_mid_plan_is_a_clean_error(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    sandbox.collect.app.state.plan_faults.http_error_after_prompts = 1  # Collect! fails after one answer
    before = len(db(sandbox).contacts(106))
    person = Person(accept(choice="OK"), accept(choice="OK"))
    async with client(server_config, mode, person) as mcp:
        result = await run(mcp, "MANY", 106, sandbox)
    assert result.is_error
    assert "Internal Server Error; contact plan MANY was rolled back" in text_of(result)
    assert "Internal error in collections-mcp" not in text_of(result)
    assert len(person.asked) == 1 and len(db(sandbox).contacts(106)) == before


@ERAS
async def test_runplan_http_error_from_fault_injection_is_a_clean_error(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    sandbox.collect.app.state.faults.http_error("/runplan", status=502, body='{"message": "Bad Gateway"}')
    before = len(db(sandbox).contacts(106))
    person = Person()
    async with client(server_config, mode, person) as mcp:
        result = await run(mcp, "YN", 106, sandbox)
    assert result.is_error
    assert "Collect!" in text_of(result) and "Bad Gateway" in text_of(result)
    assert "Internal error in collections-mcp" not in text_of(result)
    assert person.asked == [] and len(db(sandbox).contacts(106)) == before


@ERAS
async def test_a_person_who_never_answers_times_out_and_collect_rolls_back(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    """COLLECT_PROMPT_TIMEOUT set tiny. The person would only answer after Collect! has recorded the plan's
    end, i.e. too late (on a legacy connection the SDK cancels the abandoned elicitation first)."""
    config = collect_settings(server_config, prompt_timeout=0.25)
    notes_before = len(db(sandbox).notes(203))
    outcomes = len(activity(sandbox).outcomes)

    async def too_late(params: ElicitRequestFormParams) -> ElicitResult:
        await outcome_after(sandbox, outcomes)
        return accept(choice="OK")

    async with client(config, mode, Person(too_late)) as mcp:
        result = await run(mcp, "OKC", 203, sandbox)
    assert result.is_error
    assert "nobody answered prompt 1 within 0.25 s" in text_of(result) and "rolled" in text_of(result)
    assert (await outcome_after(sandbox, outcomes)).outcome == "failed"  # Collect! ended the job: rolled back
    assert len(db(sandbox).notes(203)) == notes_before  # OKC's note, written before the prompt, is gone


async def test_a_stalled_run_ends_after_twice_the_prompt_timeout(server_config: ServerConfig, sandbox: RunningSandbox) -> None:
    """The runplan POST has no fixed read timeout (it stays open for the whole plan); a run that stops making
    progress ends 2 x COLLECT_PROMPT_TIMEOUT after its last progress. Here the stall is in our own reporting:
    on a 2026 in-memory connection the client's progress handler runs inline, and this one blocks until
    Collect! has recorded the plan's end."""
    config = collect_settings(server_config, prompt_timeout=0.25)
    outcomes = len(activity(sandbox).outcomes)

    async def blocking_progress(value: float, total: float | None, message: str | None) -> None:
        if message == "plan YN started":
            await outcome_after(sandbox, outcomes)

    person = Person(accept(choice="Yes"))
    async with client(config, "2026-07-28", person) as mcp:
        result = await run(mcp, "YN", 202, sandbox, progress_callback=blocking_progress)
    assert result.is_error
    assert "contact plan YN made no progress for 0.5 s" in text_of(result) and "rolled it back" in text_of(result)
    assert (await outcome_after(sandbox, outcomes)).outcome == "failed"


async def test_abandoned_conversation_expires_and_collect_rolls_back(server_config: ServerConfig, sandbox: RunningSandbox) -> None:
    """2026 era: the client takes the first question and never comes back. The registry's idle expiry (tiny
    here) ends the conversation: the plan's socket closes and Collect! rolls the job back."""
    arguments = {"plan": "OKC", "record_type": "debtor", "rowid": 204}
    notes_before = len(db(sandbox).notes(204))
    outcomes = len(activity(sandbox).outcomes)
    async with client(server_config, "2026-07-28", Person()) as mcp:
        await mcp.list_tools()
        PROBE.latest.conversations.idle_timeout = 0.01
        first = await mcp.session.call_tool("collect_run_contact_plan", arguments, allow_input_required=True)
        assert isinstance(first, InputRequiredResult) and list(first.input_requests or {}) == ["q1"]
        finished = await outcome_after(sandbox, outcomes)  # nobody answers: Collect! sees the job end
        assert finished.outcome == "failed"  # socket closed / POST hung up: either way rolled back
        await settled(sandbox)  # the registry let go of the conversation too
        late = await mcp.session.call_tool(
            "collect_run_contact_plan", arguments, allow_input_required=True,
            input_responses={"q1": accept(choice="OK")}, request_state=first.request_state,
        )
    assert isinstance(late, CallToolResult) and late.is_error
    assert "ended or expired" in text_of(late)
    assert len(db(sandbox).notes(204)) == notes_before


async def test_plan_with_more_prompts_than_the_client_allows_rounds(server_config: ServerConfig, sandbox: RunningSandbox) -> None:
    """The SDK client stops after `input_required_max_rounds` and says so; it does not tell the server, so the
    question it never showed expires in the registry (tiny idle time, set once the last allowed answer is
    given), and Collect! rolls the job back instead of waiting for COLLECT_PROMPT_TIMEOUT."""

    def last_allowed(params: ElicitRequestFormParams) -> ElicitResult:
        PROBE.latest.conversations.idle_timeout = 0.01  # applies to the next question: the one never shown
        return accept(choice="OK")

    person = Person(accept(choice="OK"), accept(choice="OK"), last_allowed)
    before = len(db(sandbox).contacts(107))
    outcomes = len(activity(sandbox).outcomes)
    async with client(server_config, "2026-07-28", person, input_required_max_rounds=3) as mcp:
        await mcp.list_tools()
        with pytest.raises(InputRequiredRoundsExceededError, match="more than 3 rounds; raise input_required_max_rounds"):
            await run(mcp, "MANY", 107)
        finished = await outcome_after(sandbox, outcomes)
        await settled(sandbox)
    assert len(person.asked) == 3
    assert finished.outcome == "failed"  # socket closed / POST hung up: either way rolled back
    assert len(db(sandbox).contacts(107)) == before


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
        await settled(sandbox)
    assert isinstance(step, CallToolResult) and not step.is_error
    assert len(db(sandbox).contacts(105)) == before + 12  # twelve prompts, twelve rows: none answered twice


@ERAS
async def test_concurrent_plans_on_different_records_keep_their_answers(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    def answer_for(params: ElicitRequestFormParams) -> ElicitResult:
        rowid = params.message.split("on debtor ")[1].split(",")[0]
        return accept(value=f"note for {rowid}")

    person = Person(answer_for, answer_for)
    async with client(server_config, mode, person) as mcp:
        results: dict[int, CallToolResult] = {}

        async def one(rowid: int) -> None:
            results[rowid] = await run(mcp, "STR", rowid)  # no per-call check: the other run may be live

        async with anyio.create_task_group() as group:
            group.start_soon(one, 106)
            group.start_soon(one, 107)
        await settled(sandbox)
    for rowid in (106, 107):
        assert not results[rowid].is_error, text_of(results[rowid])
        assert results[rowid].structured_content["prompts"][0]["values"] == {"value": f"note for {rowid}"}  # type: ignore[index]
        assert any(f"note for {rowid}" in str(row) for row in db(sandbox).notes(rowid))
        other = 107 if rowid == 106 else 106
        assert not any(f"note for {other}" in str(row) for row in db(sandbox).notes(rowid))


@ERAS
async def test_token_expiry_mid_session_relogs_in_once(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    async with client(server_config, mode, Person(accept(choice="Yes"), accept(choice="Yes"))) as mcp:
        assert not (await run(mcp, "YN", 201, sandbox)).is_error
        logins = sandbox.collect.app.state.logins
        sandbox.collect.app.state.tokens.expire_all()
        result = await run(mcp, "YN", 202, sandbox)  # another record: an identical call would be an idempotent replay
    assert not result.is_error, text_of(result)
    assert sandbox.collect.app.state.logins == logins + 1


@ERAS
async def test_database_header_on_every_request(server_config: ServerConfig, sandbox: RunningSandbox, mode: str) -> None:
    collect = sandbox.collect
    settings = CollectSettings(_env_file=None, base_url=collect.base_url, operator_id=collect.operator_id,  # type: ignore[call-arg]
                               operator_password=SecretStr(collect.operator_password), database="demodb")
    config = replace(server_config, vendors=server_config.vendors | {"collect": settings})
    mark = len(collect.app.state.request_log)
    async with client(config, mode, Person(accept(choice="Yes"))) as mcp:
        result = await run(mcp, "YN", 1, sandbox)
    assert not result.is_error, text_of(result)
    requests = collect.app.state.request_log[mark:]
    assert {entry.path for entry in requests} >= {"/api/v1/auth/login", "/api/v1/collect/app/runplan", "/websocket"}
    assert all(entry.headers.get("x-collect-database") == "cv_demodb" for entry in requests)


@ERAS
async def test_a_plan_cancelled_at_a_prompt_is_not_replayed_to_an_identical_retry(
    server_config: ServerConfig, sandbox: RunningSandbox, mode: str
) -> None:
    """The person declines, changes their mind, and the agent runs the same plan again: the person is asked
    again and the plan runs; the first run's "cancelled" (nothing changed at Collect!) is not replayed."""
    person = Person(DECLINE, accept(choice="OK"))
    mark = len(activity(sandbox).outcomes)
    contacts_before = len(db(sandbox).contacts(203))
    async with client(server_config, mode, person) as mcp:
        first = await run(mcp, "OKC", 203, sandbox)
        second = await run(mcp, "OKC", 203, sandbox)
    assert first.structured_content is not None and first.structured_content["status"] == "cancelled"
    assert not second.is_error, text_of(second)
    assert second.structured_content is not None and second.structured_content["status"] == "completed"
    assert not (second.meta or {}).get("collections-mcp/replayed")
    assert len(person.asked) == 2
    assert [outcome.outcome for outcome in activity(sandbox).outcomes[mark:]] == ["cancelled", "completed"]
    assert len(db(sandbox).contacts(203)) == contacts_before + 1
    audit = SqliteAuditLog(audit_path(server_config.settings.state_dir))
    try:
        records = await audit.query(None, "collect_run_contact_plan", 10)
    finally:
        audit.close()
    assert [(record.outcome, record.replayed) for record in records] == [("ok:cancelled", False), ("ok", False)]
