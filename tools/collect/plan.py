"""collect_run_contact_plan: run a Collect! contact plan and relay each websocket prompt to a person.

One websocket per run (its own `key`), the `runplan` POST in flight while the prompts arrive:

    connect -> {"type": "key", "message": <websocket-id>}
    POST /api/v1/collect/app/runplan {"plan", "<record_type>": rowid, "websocket-id"}   (stays open)
    <- {"type": "start", "jobid"}   <- {"type": "prompt", ...} -> ask a person -> {"jobid", "button", "data"?}
    <- {"type": "end"} (the plan continues) ... the POST returns: the plan is finished.

Declining a prompt presses its Cancel button when it has one; otherwise (a button prompt without a cancel
label, a string or date prompt without buttons) the job is aborted by closing the socket. Either way
Collect! rolls back everything the plan changed.

Every wait is bounded. Waiting for Collect! (opening the socket, each websocket message) is vendor work: it is
also bounded by what is left of the call's deadline (COLLECTIONS_MCP_CALL_DEADLINE_SECONDS), which stands still
while a person is asked. Each websocket message and each person's answer: COLLECT_PROMPT_TIMEOUT (T). The
runplan POST legitimately stays open as long as the plan runs, prompts included, so neither the per-request
COLLECT_TIMEOUT_SECONDS nor any fixed read timeout fits it; instead it may stay open only while the plan
makes progress: its deadline is 2 x T after the last message from Collect! or answer sent (one T for
Collect!'s next message plus one for a person's answer). The reader's own waits (at most T each) fail
first with clearer errors; the POST deadline is the bound for anything else that could stall (a blocked
send or progress notification). Any failure or cancellation closes the socket (shielded, so even a
cancelled run, e.g. an expired conversation, closes it) and cancels the POST, so nothing is left running
and Collect! rolls the plan back.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any, Literal

import anyio
from pydantic import Field
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from collections_mcp.tools.collect.client import CollectClient
from collections_mcp.tools.collect.forms import CollectForm, parse_form
from collections_mcp.tools.common.errors import VendorError, VendorUnavailable
from collections_mcp.tools.common.human import Ask, HumanUnavailable, Progress, Question
from collections_mcp.tools.common.models import Args, Out
from collections_mcp.tools.common.resilience import DEADLINE_SETTING, bounded_wait, guarded, outside_call_deadline
from collections_mcp.tools.common.spec import ToolContext

VENDOR = "Collect!"
# When the server process running a plan stops while the plan waits at a prompt, its websocket closes with it, and
# Collect! rolls back a job whose websocket closed before the plan finished.
STOPPED_AT_PROMPT = (
    "the replica running this plan stopped; nothing was committed in Collect!: the plan was waiting at a prompt, and "
    "Collect! rolls a plan back when its websocket closes, which it did with that replica's process. Run the plan "
    "again to start over."
)
RecordType = Literal["debtor", "client", "cosigner", "associate"]
_CANCEL = re.compile(r"^\s*cancel\s*$", re.IGNORECASE)
_DATE_ATTEMPTS = 3


class RunPlanArgs(Args):
    plan: Annotated[
        str, Field(pattern=r"^[A-Za-z0-9_-]{1,16}$", description="e.g. 'REV'.")
    ]
    record_type: RecordType = "debtor"
    rowid: Annotated[int, Field(gt=0, description="e.g. 201.")]


class PromptExchange(Out):
    number: int
    kind: str
    message: str | None = None
    answer: str | None = Field(default=None, description="The choice made (button label), or 'declined'.")
    values: dict[str, Any] | None = Field(default=None, description="Text, date or form values sent back.")


class PlanRun(Out):
    plan: str
    record_type: str
    rowid: int
    job_id: str | None = None
    status: Literal["completed", "cancelled"]
    prompts: list[PromptExchange]
    message: str

    def changed_vendor_state(self) -> bool:
        return self.status == "completed"  # a cancelled plan was rolled back by Collect!

    def audit_outcome(self) -> str:
        return "ok" if self.status == "completed" else "ok:cancelled"


@dataclass
class _Run:
    args: RunPlanArgs
    prompts: list[PromptExchange] = field(default_factory=list)
    job_id: str | None = None
    cancelled: bool = False


def _context(args: RunPlanArgs, number: int) -> str:
    return f"(Collect! contact plan {args.plan} on {args.record_type} {args.rowid}, prompt {number})"


def _choice_schema(labels: list[str], title: str = "Choice") -> dict[str, Any]:
    return {"type": "string", "title": title, "enum": labels}


def _cancel_index(labels: list[str]) -> int | None:
    return next((index for index, label in enumerate(labels) if _CANCEL.match(label)), None)


async def _ask_button(run: _Run, msg: dict[str, Any], ask: Ask, number: int) -> tuple[dict[str, Any] | None, PromptExchange]:
    labels = [str(label) for label in msg.get("buttons") or []]
    if not labels:
        raise VendorError(VENDOR, "a button prompt arrived without buttons")
    text = str(msg.get("message") or "Choose an option")
    answer = await ask(Question(f"{text}\n{_context(run.args, number)}", {
        "type": "object", "properties": {"choice": _choice_schema(labels)}, "required": ["choice"]}))
    exchange = PromptExchange(number=number, kind="button", message=text)
    choice = answer.content.get("choice") if answer.accepted else None
    if choice not in labels:
        return _declined(run, msg, labels, exchange)
    exchange.answer = str(choice)
    return {"jobid": msg["jobid"], "button": labels.index(str(choice))}, exchange


def _declined(run: _Run, msg: dict[str, Any], labels: list[str], exchange: PromptExchange) -> tuple[dict[str, Any] | None, PromptExchange]:
    run.cancelled = True
    exchange.answer = "declined"
    cancel = _cancel_index(labels)
    return ({"jobid": msg["jobid"], "button": cancel} if cancel is not None else None), exchange


async def _ask_value(run: _Run, msg: dict[str, Any], ask: Ask, number: int, kind: str) -> tuple[dict[str, Any] | None, PromptExchange]:
    # The docs say "Coming Soon" for string and date prompts; our reply shape is {"jobid", "button", "data":
    # {"value"}} with the first non-cancel button (0 when the prompt has no buttons). No buttons means no
    # cancel button, so a decline aborts the job (see sandbox/collect/plans.py for the shape we assume).
    labels = [str(label) for label in msg.get("buttons") or []]
    text = str(msg.get("message") or ("Enter a date" if kind == "date" else "Enter a value"))
    exchange = PromptExchange(number=number, kind=kind, message=text)
    proceed = next((index for index, label in enumerate(labels) if not _CANCEL.match(label)), 0)
    value_schema: dict[str, Any] = {"type": "string", "title": "Date (YYYY-MM-DD)" if kind == "date" else "Answer"}
    if kind == "date":
        value_schema["format"] = "date"
    prefix = ""
    for _ in range(_DATE_ATTEMPTS):
        answer = await ask(Question(f"{prefix}{text}\n{_context(run.args, number)}", {
            "type": "object", "properties": {"value": value_schema}, "required": ["value"]}))
        if not answer.accepted:
            return _declined(run, msg, labels, exchange)
        value = str(answer.content.get("value", "")).strip()
        if kind == "date":
            try:
                value = date.fromisoformat(value).isoformat()
            except ValueError:
                prefix = f"'{value}' is not a date in YYYY-MM-DD form. "
                continue
        exchange.answer = labels[proceed] if proceed < len(labels) else None
        exchange.values = {"value": value}
        return {"jobid": msg["jobid"], "button": proceed, "data": {"value": value}}, exchange
    raise VendorError(VENDOR, f"no valid date after {_DATE_ATTEMPTS} tries; the plan was stopped and rolled back")


async def _ask_form(
    run: _Run, msg: dict[str, Any], ask: Ask, number: int, client: CollectClient
) -> tuple[dict[str, Any] | None, PromptExchange]:
    formid = str(msg.get("formid") or "")
    form: CollectForm = parse_form(await client.form(formid))
    defaults = {str(key): value for key, value in (msg.get("data") or {}).items()}
    text = str(msg.get("message") or f"Confirm the details of '{form.title}'")
    exchange = PromptExchange(number=number, kind="form", message=text)
    proceed_buttons = [button for button in form.buttons if not _CANCEL.match(button.label)]
    properties = {f.name: f.schema(defaults.get(f.name)) for f in form.fields if not f.readonly}
    required = [f.name for f in form.fields if f.required and not f.readonly]
    if len(proceed_buttons) > 1:
        properties["button"] = _choice_schema([button.label for button in proceed_buttons], "Action")
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    answer = await ask(Question(f"{text}\n{_context(run.args, number)}", schema))
    if not answer.accepted or not proceed_buttons:
        cancel = next((button.value for button in form.buttons if _CANCEL.match(button.label)), None)
        run.cancelled = True
        exchange.answer = "declined"
        return ({"jobid": msg["jobid"], "button": cancel} if cancel is not None else None), exchange
    chosen = proceed_buttons[0]
    if len(proceed_buttons) > 1:
        chosen = next((b for b in proceed_buttons if b.label == answer.content.get("button")), proceed_buttons[0])
    # Collect! sends only non-blank defaults; every other form field must be sent back, blank if unset.
    data = {form_field.name: str(defaults.get(form_field.name, "") or "") for form_field in form.fields}
    data |= {key: str(defaults[key]) for key in defaults if key not in data}
    data |= {key: _as_text(value) for key, value in answer.content.items() if key != "button" and key in data}
    exchange.answer = chosen.label
    exchange.values = {key: value for key, value in data.items() if value != ""}
    return {"jobid": msg["jobid"], "button": chosen.value, "data": data}, exchange


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return "" if value is None else str(value)


async def _receive(ws: ClientConnection, wait_seconds: float) -> dict[str, Any]:
    """Collect!'s next message: vendor work, so bounded by the call's deadline as well as `wait_seconds`."""
    limit, by_deadline = bounded_wait(VENDOR, wait_seconds, "Collect!'s next websocket message arrived")
    try:
        with anyio.fail_after(limit):
            raw = await ws.recv()
    except TimeoutError:
        within = f"the call's deadline ({limit:.1f} s left of it, {DEADLINE_SETTING})" if by_deadline else f"{limit:g} s"
        raise VendorUnavailable(
            VENDOR, f"no websocket message within {within}; the plan was stopped and Collect! rolled it back"
        ) from None
    except ConnectionClosed:
        raise VendorUnavailable(
            VENDOR, "Collect! closed the websocket in the middle of the plan, so Collect! rolled the plan back"
        ) from None
    try:
        message = json.loads(raw)
    except ValueError:
        raise VendorError(VENDOR, "the websocket sent a message that is not JSON") from None
    if not isinstance(message, dict):
        raise VendorError(VENDOR, "the websocket sent a message that is not an object")
    return message


async def _open_socket(client: CollectClient, open_seconds: float) -> ClientConnection:
    """Connect with the current token; a refused handshake (expired token) logs in again once. Opening is
    vendor work (bounded by the call's deadline) and goes through Collect!'s circuit breaker."""
    for relogin in (False, True):
        headers = await client.websocket_headers(relogin=relogin)
        limit, _ = bounded_wait(VENDOR, open_seconds, "the websocket could be opened")
        refused: InvalidStatus | None = None
        with guarded(VENDOR):
            try:
                return await connect(client.settings.websocket_url, additional_headers=headers,
                                     open_timeout=limit, close_timeout=5, max_size=2**22)  # fmt: skip
            except InvalidStatus as exc:
                refused = exc  # an answer: Collect! is reachable
            except (InvalidHandshake, OSError, TimeoutError) as exc:
                raise VendorUnavailable(VENDOR, f"could not open the websocket ({type(exc).__name__})") from None
        status = refused.response.status_code
        if status in (401, 403) and not relogin:
            continue
        raise VendorUnavailable(VENDOR, f"the websocket handshake was refused (HTTP {status})")
    raise AssertionError("unreachable")  # pragma: no cover


async def _close(ws: ClientConnection) -> None:
    """Close the socket even inside a cancelled scope (an expired conversation, server shutdown): a socket
    left open would keep Collect!'s job waiting. The close handshake is bounded by the connection's own
    close_timeout."""
    with anyio.CancelScope(shield=True):
        await ws.close()


async def _conversation(client: CollectClient, args: RunPlanArgs, ask: Ask, progress: Progress) -> PlanRun:
    settings = client.settings
    timeout = settings.prompt_timeout
    run = _Run(args=args)
    ws = await _open_socket(client, min(timeout, 15))
    try:
        key = await _receive(ws, min(timeout, 15))
        if key.get("type") != "key" or not key.get("message"):
            raise VendorError(VENDOR, "the websocket did not start with its key message")
        await _drive(client, ws, str(key["message"]), run, ask, progress, timeout)
    finally:
        await _close(ws)
    status: Literal["completed", "cancelled"] = "cancelled" if run.cancelled else "completed"
    message = (
        "The plan was cancelled at a prompt; Collect! rolled back every change this plan made."
        if run.cancelled else f"The plan ran to the end ({len(run.prompts)} prompt(s) answered)."
    )
    await progress(1, 1, f"plan {args.plan} {status}")
    return PlanRun(plan=args.plan, record_type=args.record_type, rowid=args.rowid, job_id=run.job_id,
                   status=status, prompts=run.prompts, message=message)


async def _drive(client: CollectClient, ws: ClientConnection, websocket_id: str, run: _Run,
                 ask: Ask, progress: Progress, wait_seconds: float) -> None:
    args = run.args
    timeout = wait_seconds
    failure: BaseException | None = None
    post_error: BaseException | None = None
    plan_finished = anyio.Event()  # the POST ended: answered, failed or cancelled
    post_answered = False  # the POST ended with Collect!'s answer (or an error), not by our cancelling it
    reader = anyio.CancelScope()
    window = 2 * wait_seconds  # see the module docstring
    stall = anyio.CancelScope(deadline=anyio.current_time() + window)  # moved on by every sign of progress

    def progressed() -> None:
        stall.deadline = anyio.current_time() + window

    async def post() -> None:
        nonlocal post_error, post_answered
        try:
            # No fixed HTTP read timeout fits a request that is open for the whole plan, prompts (a person's time)
            # included, nor does the call's deadline: `stall` bounds it.
            with outside_call_deadline():
                await client.run_plan(args.plan, args.record_type, args.rowid, websocket_id, timeout=math.inf)
            post_answered = True
        except Exception as exc:
            post_error = exc
            post_answered = True
        finally:
            plan_finished.set()
            reader.cancel()

    with stall:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(post)
            await progress(0, None, f"plan {args.plan} started")
            with reader:
                try:
                    await _read_prompts(client, ws, websocket_id, run, ask, progress, timeout, progressed)
                except Exception as exc:  # recorded, re-raised outside the task group (no exception groups)
                    failure = exc
            if not plan_finished.is_set():
                tasks.cancel_scope.cancel()  # aborted or failed: stop waiting on the POST; closing the socket rolls back
    if failure is not None:
        raise failure
    if stall.cancelled_caught and not post_answered:
        raise VendorUnavailable(
            VENDOR, f"contact plan {args.plan} made no progress for {window:g} s (twice COLLECT_PROMPT_TIMEOUT); "
            "it was stopped and Collect! rolled it back",
        )
    if post_error is not None and not run.cancelled:
        raise post_error


async def _read_prompts(client: CollectClient, ws: ClientConnection, websocket_id: str, run: _Run,
                        ask: Ask, progress: Progress, wait_seconds: float, progressed: Callable[[], None]) -> None:
    timeout = wait_seconds
    while True:
        message = await _receive(ws, timeout)
        progressed()
        if message.get("websocket-id") not in (None, websocket_id):
            continue  # another job's message on a shared stream
        kind = message.get("type")
        if kind == "start":
            run.job_id = str(message.get("jobid") or "") or None
        elif kind == "prompt":
            number = len(run.prompts) + 1
            subtype = str(message.get("subtype") or "button")
            try:
                with anyio.fail_after(timeout):
                    if subtype == "form":
                        reply, exchange = await _ask_form(run, message, ask, number, client)
                    elif subtype in ("string", "date"):
                        reply, exchange = await _ask_value(run, message, ask, number, subtype)
                    else:
                        reply, exchange = await _ask_button(run, message, ask, number)
            except TimeoutError:
                raise VendorError(
                    VENDOR, f"nobody answered prompt {number} within {timeout:g} s; the plan was stopped and rolled back"
                ) from None
            run.prompts.append(exchange)
            if reply is None:  # declined and no cancel button: abort the job by closing the socket
                await ws.close()
                return
            try:
                await ws.send(json.dumps(reply))
                progressed()
            except ConnectionClosed:
                raise VendorUnavailable(
                    VENDOR, f"Collect! closed the websocket before the answer to prompt {number} could be sent, "
                    "so Collect! rolled the plan back",
                ) from None
            await progress(number, None, f"prompt {number} answered")


async def run_contact_plan(ctx: ToolContext[CollectClient], args: RunPlanArgs) -> PlanRun:
    """Run a Collect! contact plan (e.g. 'REV') on a record. The person answers each question the plan asks, one input
    round each; declining cancels and rolls back the plan. Returns each prompt with its answer and the outcome."""
    if not ctx.person.can_ask:
        raise HumanUnavailable(
            f"Collect! contact plan {args.plan} may stop to ask questions, and this MCP client does not support "
            "elicitation, so nobody could answer them. The plan was not started; use a client with elicitation"
        )
    return await _conversation(ctx.client, args, ctx.person.ask, _progress(ctx))


def _progress(ctx: ToolContext[CollectClient]) -> Progress:
    async def report(progress: float, total: float | None, message: str | None) -> None:
        await ctx.report_progress(progress, total, message)

    return report
