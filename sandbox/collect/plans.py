"""Contact plans and the websocket prompts they raise, as the simulator runs them.

Wire protocol (https://collect.org/cv13/Help/howtousetherestapi.html, "Web Sockets"; runplan:
https://collect.org/cv13/Help/howtousetherestapiendpointcontactplans.html):

    connect (Bearer token in the handshake)  <- {"type": "key", "message": "<websocket-id>"}
    POST /api/v1/collect/app/runplan {"plan", "<record>": rowid, "websocket-id"}   (stays open)
                                              <- {"websocket-id", "jobid", "type": "start"}
    per prompt                                <- {"websocket-id", "jobid", "type": "prompt", "subtype", ...}
                                              -> {"jobid", "button", "data"?}
                                              <- {"websocket-id", "jobid", "type": "end"}   (the answer's ack)
    plan finished                             POST answers {"status": 200}

Prompt subtypes. `button`: "message", "buttons"; the answer's `button` is the index in "buttons". `form`:
"message", "formid", "data" (the non-blank defaults); the answer's `button` is the button *value* from the
form definition (UI Forms endpoint) and `data` the submitted fields, merged over the defaults. The docs say
"Coming Soon" for the other two, so this simulator decides: `string` and `date` prompts carry "message" and
"buttons": ["OK", "Cancel"]; the answer is {"jobid", "button": 0, "data": {"value": "..."}} (button 1
cancels); a date value must be YYYY-MM-DD, and a malformed one fails the plan (status 400, rolled back)
rather than re-asking, because the docs make date validation the client's job. Since those two shapes are
undocumented, a client must not count on the buttons: the fault `value_prompt_without_buttons` sends one
without "buttons"; then the answer is {"jobid", "button": 0, "data": {"value"}} and, with no cancel
button, the only way to decline is to close the socket (abort).

A run's writes are staged and reach SQLite in one transaction when the plan completes: a cancel button, a
closed websocket, a prompt left unanswered for `prompt_timeout_seconds`, an invalid answer or a prompting
plan started without a websocket-id leave the database as it was ("rolled back", as the docs put it).
Outcomes of the runplan POST: completed {"status": 200}; cancelled at a prompt {"status": 200, "message":
"...cancelled..."} (the docs define no response body; the message is the simulator's); failures carry their
status (400 bad request or websocket, 404 unknown plan or record, 408 prompt timeout, 500 the fault
`http_error_after_prompts`) and a message. A caller that hangs up the runplan POST while the plan runs ends
the plan too (rolled back; outcome status 499): nothing is left running for nobody. `Activity` (on `app.state.activity`) lets tests wait, without polling, until every socket
is closed and every plan has ended, and lists each plan's outcome.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final, Literal

import anyio

from collections_mcp.sandbox.collect.demo_data import FORM_CANCEL, FORMS, SCHEDULE_NEXT_CONTACT
from collections_mcp.sandbox.collect.store import CollectDatabase, PendingWork, Row

RECORD_TYPES: Final = ("debtor", "client", "cosigner", "associate")
_OK_CANCEL: Final = ["OK", "Cancel"]


class PlanCancelled(Exception):
    """The person pressed a cancel button."""


class PlanFailed(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class WebSocketMessage:
    """One message on a simulator websocket, for tests: what was sent or received, on which socket."""

    direction: Literal["sent", "received"]
    websocket_id: str
    message: Any


@dataclass
class PlanFaults:
    """Misbehaviour planned by tests; each is used once, by the next plan run it applies to.

    - `drop_socket_after_prompts = n`: the server closes the socket instead of sending prompt n + 1 (0 drops
      before the first prompt); the plan fails at once (400, rolled back).
    - `silent_drop_after_prompts = n`: the server sends prompt n + 1, then closes the socket without the plan
      noticing: the plan waits for its answer until its prompt timeout or until the caller hangs up the
      runplan POST (a server that has not seen the disconnect yet). Rolled back either way.
    - `http_error_after_prompts = n`: after n answered prompts the plan fails on the server's side with
      HTTP 500 while the socket stays open (rolled back).
    - `value_prompt_without_buttons = True`: the next string or date prompt carries no "buttons".
    - `withhold_start = True`: the next plan run accepts the runplan POST and then never starts: no `start`,
      no prompt, no answer to the POST, until the caller hangs up (nothing is changed).
    """

    drop_socket_after_prompts: int | None = None
    silent_drop_after_prompts: int | None = None
    http_error_after_prompts: int | None = None
    value_prompt_without_buttons: bool = False
    withhold_start: bool = False

    def clear(self) -> None:
        self.drop_socket_after_prompts = self.silent_drop_after_prompts = self.http_error_after_prompts = None
        self.value_prompt_without_buttons = False
        self.withhold_start = False


@dataclass
class PlanOutcome:
    """How one plan run ended: "completed" (committed), "cancelled" or "failed" (both rolled back)."""

    code: str
    record_type: str
    rowid: int
    jobid: str | None
    outcome: Literal["completed", "cancelled", "failed"]
    status: int
    message: str = ""


class Activity:
    """Open websockets and running plans, for tests: wait until a condition holds without polling or sleeps."""

    def __init__(self) -> None:
        self.sockets: dict[str, Socket] = {}
        self.running: dict[str, PlanRun] = {}  # by a run id (the job id when the run has a socket)
        self.outcomes: list[PlanOutcome] = []
        self._changed: anyio.Event | None = None

    def changed(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def finished(self, outcome: PlanOutcome) -> None:
        self.outcomes.append(outcome)
        self.changed()

    @property
    def quiet(self) -> bool:
        return not self.sockets and not self.running

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Return once `condition()` holds; it is checked again at every change (socket or plan)."""
        while not condition():
            if self._changed is None:
                self._changed = anyio.Event()
            await self._changed.wait()

    async def wait_quiet(self) -> None:
        """Until every websocket is closed and every plan has ended."""
        await self.wait_until(lambda: self.quiet)


def new_websocket_id() -> str:
    return base64.b64encode(secrets.token_bytes(16)).decode("ascii")


class Socket:
    """A connected websocket and the plan jobs that prompt on it."""

    def __init__(
        self,
        websocket_id: str,
        database: str,
        send_text: Callable[[str], Awaitable[None]],
        close: Callable[[], Awaitable[None]],
        log: list[WebSocketMessage],
    ) -> None:
        self.id = websocket_id
        self.database = database
        self._send_text = send_text
        self._close = close
        self._log = log
        self._lock = anyio.Lock()
        self.closed = False
        self.silent = False  # closed by a silent-drop fault: waiting jobs are not told
        self.jobs: dict[str, Job] = {}

    async def send(self, message: dict[str, Any]) -> None:
        if self.closed:
            raise PlanFailed(400, "The Web Socket closed during the plan")
        async with self._lock:
            self._log.append(WebSocketMessage("sent", self.id, message))
            try:
                await self._send_text(json.dumps(message))
            except Exception:
                self.mark_closed()
                raise PlanFailed(400, "The Web Socket closed during the plan") from None

    def received(self, raw: str) -> None:
        try:
            message: Any = json.loads(raw)
        except ValueError:
            message = raw
        self._log.append(WebSocketMessage("received", self.id, message))
        if isinstance(message, dict):
            job = self.jobs.get(str(message.get("jobid")))
            if job is not None:
                job.deliver(message)

    def mark_closed(self) -> None:
        self.closed = True
        if not self.silent:
            for job in list(self.jobs.values()):
                job.wake()

    async def drop(self, *, silently: bool = False) -> None:
        self.silent = self.silent or silently
        self.mark_closed()
        async with self._lock:
            await self._close()


class Job:
    """One plan run's conversation on a socket: at most one prompt waits for its answer at a time."""

    def __init__(self, socket: Socket, jobid: str, timeout: Callable[[], float]) -> None:
        self.socket = socket
        self.id = jobid
        self._timeout = timeout
        self._event = anyio.Event()
        self._reply: dict[str, Any] | None = None
        self._waiting = False

    def deliver(self, message: dict[str, Any]) -> None:
        if self._waiting:
            self._reply = message
            self._waiting = False
            self._event.set()

    def wake(self) -> None:
        self._event.set()

    def envelope(self, kind: str) -> dict[str, Any]:
        return {"websocket-id": self.socket.id, "jobid": self.id, "type": kind}

    async def ask(self, prompt: dict[str, Any], *, then_drop_silently: bool = False) -> dict[str, Any]:
        self._event = anyio.Event()
        self._reply = None
        self._waiting = True
        await self.socket.send(self.envelope("prompt") | prompt)
        if then_drop_silently:
            await self.socket.drop(silently=True)
        timeout = self._timeout()
        with anyio.move_on_after(timeout) as scope:
            await self._event.wait()
        self._waiting = False
        if self._reply is not None:
            return self._reply
        if self.socket.closed:
            raise PlanFailed(400, "The Web Socket closed during the plan")
        if scope.cancelled_caught:
            raise PlanFailed(408, f"No answer to the prompt within {timeout:g} seconds")
        raise PlanFailed(400, "The prompt ended without an answer")  # pragma: no cover

    async def acknowledge(self) -> None:
        await self.socket.send(self.envelope("end"))


@dataclass
class PlanRun:
    """What a plan's code works with: the record, the operator, prompts, and staged writes."""

    code: str
    database: CollectDatabase
    record_type: str
    rowid: int
    operator: str
    now: datetime
    job: Job | None
    faults: PlanFaults
    work: PendingWork = field(default_factory=PendingWork)
    answered: int = 0

    @property
    def today(self) -> date:
        return self.now.date()

    def link(self) -> Row:
        return {f"co_rowid_{self.record_type}": str(self.rowid)}

    def contact(self, kind: str, day: date, description: str, **fields: str) -> Row:
        stamp = self.now
        return self.link() | {
            "co_type": kind, "co_description": description, "co_priority": "30", "co_who": self.operator,
            "co_date": day.isoformat(), "co_originator": self.operator, "co_creation_date": stamp.date().isoformat(),
            "co_creation_time": stamp.strftime("%H:%M:%S"), "co_who_from": self.operator, "co_done": "0",
        } | fields  # fmt: skip

    def note(self, text: str) -> Row:
        if self.record_type != "debtor":
            raise PlanFailed(400, f"Contact plan {self.code} writes notes, which only debtors have")
        return {"no_rowid_debtor": str(self.rowid), "no_date": self.today.isoformat(),
                "no_time": self.now.strftime("%H:%M:%S"), "no_operator": self.operator, "no_text": text}  # fmt: skip

    async def _prompt(self, prompt: dict[str, Any]) -> dict[str, Any]:
        if self.job is None:
            raise PlanFailed(400, f"Contact plan {self.code} prompts and needs a websocket-id")
        faults = self.faults
        if faults.http_error_after_prompts is not None and self.answered >= faults.http_error_after_prompts:
            faults.http_error_after_prompts = None
            raise PlanFailed(500, "Internal Server Error")
        drop_after = faults.drop_socket_after_prompts
        if drop_after is not None and self.answered >= drop_after:
            faults.drop_socket_after_prompts = None
            await self.job.socket.drop()
            raise PlanFailed(400, "The Web Socket closed during the plan")
        silent = faults.silent_drop_after_prompts is not None and self.answered >= faults.silent_drop_after_prompts
        if silent:
            faults.silent_drop_after_prompts = None
        reply = await self.job.ask(prompt, then_drop_silently=silent)
        self.answered += 1
        return reply

    async def button(self, message: str, buttons: list[str]) -> int:
        reply = await self._prompt({"subtype": "button", "message": message, "buttons": buttons})
        index = _button_index(reply, len(buttons))
        await self._ack()
        return index

    async def text(self, subtype: Literal["string", "date"], message: str) -> str | None:
        """The value typed, or None for Cancel."""
        if self.faults.value_prompt_without_buttons:
            self.faults.value_prompt_without_buttons = False
            reply = await self._prompt({"subtype": subtype, "message": message})
            if reply.get("button", 0) != 0:
                raise PlanFailed(400, f"A {subtype} prompt without buttons is answered with button 0")
        else:
            reply = await self._prompt({"subtype": subtype, "message": message, "buttons": _OK_CANCEL})
            if _button_index(reply, len(_OK_CANCEL)) == 1:
                await self._ack()
                return None
        data = reply.get("data")
        value = data.get("value") if isinstance(data, dict) else None
        if not isinstance(value, str):
            raise PlanFailed(400, f"A {subtype} prompt answer needs data.value as a string")
        if subtype == "date":
            try:
                date.fromisoformat(value)
            except ValueError:
                raise PlanFailed(400, f"'{value}' is not a date as YYYY-MM-DD; the plan was rolled back") from None
        await self._ack()
        return value

    async def form(self, formid: str, defaults: Row, message: str) -> Row | None:
        """The submitted fields merged over the defaults, or None for the form's Cancel button."""
        form = FORMS[formid]
        values = {int(button["value"]) for button in form["buttons"]}
        reply = await self._prompt({"subtype": "form", "message": message, "formid": formid, "data": defaults})
        button = reply.get("button")
        if isinstance(button, str) and button.strip().isdigit():
            button = int(button)
        if isinstance(button, bool) or not isinstance(button, int) or button not in values:
            raise PlanFailed(400, f"A form prompt answer needs a button value from the form: {sorted(values)}")
        if button == FORM_CANCEL:
            await self._ack()
            return None
        data = reply.get("data") or {}
        if not isinstance(data, dict):
            raise PlanFailed(400, "A form prompt answer's data must be an object of field values")
        known = {str(item["name"]) for item in form["fields"]}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PlanFailed(400, f"Field(s) {', '.join(unknown)} are not on form {form['name']}")
        merged = dict(defaults) | {str(name): "" if value is None else str(value) for name, value in data.items()}
        try:
            date.fromisoformat(merged.get("co_date", ""))
        except ValueError:
            raise PlanFailed(400, f"co_date '{merged.get('co_date')}' is not a date as YYYY-MM-DD") from None
        await self._ack()
        return merged

    async def _ack(self) -> None:
        assert self.job is not None
        await self.job.acknowledge()


def _button_index(reply: dict[str, Any], count: int) -> int:
    button = reply.get("button")
    if isinstance(button, bool) or not isinstance(button, int) or not 0 <= button < count:
        raise PlanFailed(400, f"A button answer must be the button's position, 0 to {count - 1}")
    return button


# -- the demo plans (cp_code -> code); the contact_plan table describes them ---------------------------


async def _nop(run: PlanRun) -> None:
    run.work.insert("notes", run.note("Contact plan NOP: account reviewed."))


async def _yes_no(run: PlanRun) -> None:
    if await run.button("Schedule a phone call to the debtor for tomorrow?", ["Yes", "No"]) == 0:
        run.work.insert("contact", run.contact("1", run.today + timedelta(days=1), "Phone call scheduled by plan YN"))


async def _ok_cancel(run: PlanRun) -> None:
    run.work.insert("notes", run.note("Contact plan OKC: demand letter prepared."))
    if await run.button("Send the demand letter?", ["OK", "CANCEL"]) == 1:
        raise PlanCancelled
    run.work.insert("contact", run.contact("2", run.today, "Demand letter"))


async def _review(run: PlanRun) -> None:
    stamp = run.now
    defaults = {
        "co_type": "5", "co_description": "Review file...", "co_priority": "30", "co_who": run.operator,
        "co_date": (run.today + timedelta(days=1)).isoformat(), "co_originator": run.operator,
        "co_creation_date": stamp.date().isoformat(), "co_creation_time": stamp.strftime("%H:%M:%S"),
        "co_who_from": run.operator, "co_lock": "1024",
    }  # fmt: skip
    submitted = await run.form(SCHEDULE_NEXT_CONTACT, defaults, "Confirm the details of the next contact")
    if submitted is None:
        raise PlanCancelled
    run.work.insert("contact", run.link() | {"co_done": "0"} | submitted)


async def _string(run: PlanRun) -> None:
    value = await run.text("string", "Enter a note for this account")
    if value is None:
        raise PlanCancelled
    run.work.insert("notes", run.note(value))


async def _date(run: PlanRun) -> None:
    value = await run.text("date", "Date of the next review")
    if value is None:
        raise PlanCancelled
    run.work.insert("contact", run.contact("5", date.fromisoformat(value), "Review scheduled by plan DAT"))


async def _many(run: PlanRun) -> None:
    for number in range(1, 13):
        if await run.button(f"Letter {number} of 12: schedule it?", ["OK", "CANCEL"]) == 1:
            raise PlanCancelled
        day = run.today + timedelta(days=7 * number)
        run.work.insert("contact", run.contact("2", day, f"Letter {number} of 12"))


async def _promise(run: PlanRun) -> None:
    if await run.button("Did the debtor promise to pay?", ["Yes", "No"]) == 1:
        raise PlanCancelled
    amount = await run.text("string", "Amount promised")
    if amount is None:
        raise PlanCancelled
    when = await run.text("date", "Date promised")
    if when is None:
        raise PlanCancelled
    run.work.insert("notes", run.note(f"Promise to pay {amount} on {when}."))
    run.work.insert("contact", run.contact("1", date.fromisoformat(when), "Promise to pay follow-up (plan PTP)"))


async def _status(run: PlanRun) -> None:
    if run.record_type != "debtor":
        raise PlanFailed(400, "Contact plan STATUS only runs on debtors")
    run.work.update("debtor", run.rowid, {"de_status": "HLD"})
    run.work.insert("notes", run.note("Contact plan STATUS: status set to HLD."))


@dataclass(frozen=True)
class PlanCode:
    run: Callable[[PlanRun], Awaitable[None]]
    prompts: bool


PLANS: Final[dict[str, PlanCode]] = {
    "NOP": PlanCode(_nop, prompts=False),
    "YN": PlanCode(_yes_no, prompts=True),
    "OKC": PlanCode(_ok_cancel, prompts=True),
    "REV": PlanCode(_review, prompts=True),
    "STR": PlanCode(_string, prompts=True),
    "DAT": PlanCode(_date, prompts=True),
    "MANY": PlanCode(_many, prompts=True),
    "STATUS": PlanCode(_status, prompts=False),
    "PTP": PlanCode(_promise, prompts=True),
}


def new_job_id() -> str:
    return str(uuid.uuid4()).upper()
