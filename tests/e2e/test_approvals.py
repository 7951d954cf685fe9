"""The approval inbox through the SDK's real Client (in memory, both protocol eras), against the simulators: an agent
that cannot ask a person has its money, destructive and blocked contact calls queued, never sent; a supervisor's
decision runs them through the whole pipeline again (compliance re-checked at that moment, idempotency, audit with
proposer and approver); the agent learns the outcome with approvals_status and resource update notifications; a
decision made by the command line (another process) reaches the server by NOTIFY (PostgreSQL) or its check
interval (SQLite).

The supervisors' web page is tested in a real browser in test_approvals_browser.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import pytest
from mcp import Client
from mcp.types import Implementation, ResourceUpdatedNotification

from collections_mcp.sandbox.runner import RunningSandbox
from collections_mcp.server.app import CollectionsServer, ServerConfig
from collections_mcp.server.ops.cli import main as cli
from collections_mcp.server.policy.approvals import DecisionProblem
from collections_mcp.server.state.audit_log import AuditRecord, SqliteAuditLog, audit_path
from tests.conftest import Wire, fresh_database
from tests.e2e.test_accounts_tools import Clock, business_hours_after_generation
from tests.helpers import failed, ok, text_of

pytestmark = [
    pytest.mark.anyio,
    # 2025-11-25 clients subscribe with resources/subscribe, which the SDK warns is gone from 2026-07-28 on.
    pytest.mark.filterwarnings("ignore:resources/subscribe is removed"),
]

ERAS = ["legacy", "2026-07-28"]
TEXT = {"file_number": "R1000", "template": "PAYREMIND"}
OVERRIDE = "Permissions checked in Scollect: texts allowed"


@pytest.fixture
def clock(sandbox: RunningSandbox) -> Clock:
    return Clock(business_hours_after_generation(sandbox))


@pytest.fixture
def inbox_config(server_config: ServerConfig, clock: Clock) -> ServerConfig:
    settings = server_config.settings.model_copy(update={"approvals": "inbox", "approvals_check_seconds": 30.0})
    return replace(server_config, settings=settings, clock=clock)


@asynccontextmanager
async def serving(config: ServerConfig, mode: str = "auto", **client: Any) -> AsyncIterator[tuple[CollectionsServer, Client]]:
    built = CollectionsServer(config)
    async with Client(built.mcp_server(), mode=mode, **client) as agent:
        yield built, agent


def approval_of(result: Any) -> str:
    assert result.is_error, "a queued call is not a success: nothing was sent"
    meta = (result.meta or {})["collections-mcp/approval"]
    assert meta["status"] == "pending" and meta["resource"] == f"approvals://{meta['id']}"
    return str(meta["id"])


def sent(wire: Wire, path: str) -> list[Any]:
    return [entry for entry in wire.requests() if entry.path == path]


async def audit(config: ServerConfig) -> list[AuditRecord]:
    log = SqliteAuditLog(audit_path(config.settings.state_dir))
    try:
        return await log.query(None, None, 200)
    finally:
        log.close()


def after_hours_in(zone: str, moment: datetime) -> datetime:
    """23:00 local in `zone`, after `moment`: outside 8 a.m.-9 p.m."""
    local = moment.astimezone(ZoneInfo(zone)).replace(hour=23, minute=0, second=0, microsecond=0)
    return local if local > moment else local + timedelta(days=1)


@pytest.mark.parametrize("mode", ERAS)
async def test_a_call_that_needs_a_person_is_queued_not_sent_and_a_retry_finds_it(
    inbox_config: ServerConfig, wire: Wire, mode: str
) -> None:
    async with serving(inbox_config, mode) as (_, agent):
        first = await agent.call_tool("scollect_send_text", TEXT)
        retry = await agent.call_tool("scollect_send_text", TEXT)
        payment = await agent.call_tool("scollect_run_payment", {"file_number": "R1000", "amount": "25.00"})
        status = await ok(agent, "approvals_status", {"approval_id": approval_of(first)})
    approval = approval_of(first)
    assert approval_of(retry) == approval, "an identical call returns the same approval"
    text = text_of(first)
    assert "Not sent yet" in text and "nothing was sent to the vendor" in text and "PERMISSION_UNKNOWN" in text
    assert f'approvals_status {{"approval_id": "{approval}"}}' in text and f"approvals://{approval}" in text
    assert "moves money and must be confirmed" in text_of(payment)
    assert sent(wire, "/send_text") == [] and sent(wire, "/run_payment_external") == []
    (view,) = status["approvals"]
    assert view["state"] == "pending" and view["status"].startswith("Waiting for a supervisor; nothing was sent")
    assert view["summary"] == "Text template 'PAYREMIND' (Multicast) to the debtor of Scollect account R1000."
    queued = [record for record in await audit(inbox_config) if record.outcome == "pending_approval"]
    assert len(queued) == 3 and {record.approval["id"] for record in queued} == {approval, approval_of(payment)}  # type: ignore[index]
    assert all(record.error is None and record.approval == {"id": record.approval["id"], "state": "pending"}  # type: ignore[index]
               for record in queued)  # fmt: skip


async def test_with_the_inbox_off_the_refusal_stays(server_config: ServerConfig, wire: Wire) -> None:
    async with serving(server_config) as (_, agent):
        error = await failed(agent, "scollect_send_text", TEXT)
        tools = {tool.name for tool in (await agent.list_tools()).tools}
    assert "Refused by compliance: this text would break contact rules; nothing was sent" in error
    assert sent(wire, "/send_text") == []
    assert "approvals_status" not in tools


async def test_what_can_never_be_queued_stays_refused_with_the_reason(inbox_config: ServerConfig, wire: Wire) -> None:
    async with serving(inbox_config) as (built, agent):
        card = await failed(agent, "scollect_record_payment", {"file_number": "R1000", "amount": "10.00"})
        new_method = await failed(agent, "scollect_update_pending_payment", {"file_number": "R1011", "new_payment_method": True})
        moved = await agent.call_tool("scollect_update_pending_payment", {"file_number": "R1011", "invoice": "INV-9"})
        plan = await failed(agent, "collect_run_contact_plan", {"plan": "REV", "rowid": 201})
        deceased = await failed(agent, "scollect_send_text", {"file_number": "R1002", "template": "PAYREMIND"})
        looks_like_ssn = await failed(agent, "scollect_update_account_field",
                                      {"file_number": "R1000", "field": "custom7", "value": "123456789"})  # fmt: skip
        note = await ok(agent, "scollect_add_note", {"file_number": "R1000", "collector_name": "BOT", "message": "hi"})
        pending = await built.stores.approvals.find()
    for refusal in (card, new_method):
        assert "Refused by payment_capture" in refusal and "never wait in an approval queue" in refusal
    approval_of(moved)  # the same tool without new details (a pending payment's invoice) is queued
    assert "Refused by approvals" in plan and "cannot wait for a supervisor's approval" in plan
    assert "no supervisor may override ahead of time (DECEASED)" in deceased and "nothing was queued" in deceased
    assert "looks like a card, bank account or Social Security number" in looks_like_ssn
    assert note["file_number"] == "R1000", "a write needs no person: it runs as always"
    assert [record.tool for record in pending] == ["scollect_update_pending_payment"]
    assert sent(wire, "/insert_payments_external") == sent(wire, "/update_payment_external") == []
    assert len(sent(wire, "/InsertNoteline")) == 1


async def test_an_approved_call_runs_through_the_whole_pipeline_once_with_proposer_and_approver_in_the_audit(
    inbox_config: ServerConfig, wire: Wire
) -> None:
    arguments = {"file_number": "R1000", "amount": "25.00"}
    async with serving(inbox_config) as (built, agent):
        assert built.inbox is not None
        approval = approval_of(await agent.call_tool("scollect_run_payment", arguments))
        (outcome,) = await built.inbox.decide([approval], "approve", supervisor="Morgan", reason="Promised on the 3rd")
        again = await agent.call_tool("scollect_run_payment", arguments)
        status = (await ok(agent, "approvals_status", {}))["approvals"]
    assert outcome.record is not None and outcome.record.state == "done"
    assert len(sent(wire, "/run_payment_external")) == 1, "run once; the identical call afterwards is a replay"
    assert not again.is_error and (again.meta or {}).get("collections-mcp/replayed") is True
    (view,) = status
    assert view["state"] == "done" and view["decided_by"] == "Morgan" and view["result"]["amount"] == "25.00"
    assert view["status"].startswith("Approved by Morgan") and "Promised on the 3rd" in view["status"]
    ran = [record for record in await audit(inbox_config) if record.tool == "scollect_run_payment" and record.outcome == "ok"]
    assert len(ran) == 2 and ran[1].replayed
    executed = ran[0]
    assert executed.client_name is not None and executed.client_name.endswith("(declared)"), "the proposer"
    assert executed.approval is not None and executed.approval["id"] == approval
    assert executed.approval["approver"] == "Morgan" and executed.approval["reason"] == "Promised on the 3rd"
    assert executed.vendor_status == 200


async def test_rejected_and_expired_approvals_never_reach_the_vendor(
    inbox_config: ServerConfig, wire: Wire, clock: Clock
) -> None:
    async with serving(inbox_config) as (built, agent):
        assert built.inbox is not None
        rejected = approval_of(await agent.call_tool("scollect_run_payment", {"file_number": "R1000", "amount": "5.00"}))
        expiring = approval_of(await agent.call_tool("scollect_run_payment", {"file_number": "R1000", "amount": "6.00"}))
        await built.inbox.decide([rejected], "reject", supervisor="Morgan", reason="The debtor asked us to wait")
        clock.now += timedelta(days=1, seconds=1)
        await built.inbox.check()
        with pytest.raises(DecisionProblem, match="expired"):
            await built.inbox.decide([expiring], "approve", supervisor="Morgan")
        with pytest.raises(DecisionProblem, match="already rejected by Morgan"):
            await built.inbox.decide([rejected], "approve", supervisor="Riley")
        views = {view["id"]: view for view in (await ok(agent, "approvals_status", {}))["approvals"]}
    assert views[rejected]["state"] == "rejected" and "do not repeat it" in views[rejected]["status"]
    assert views[expiring]["state"] == "expired" and "Nothing was sent" in views[expiring]["status"]
    assert sent(wire, "/run_payment_external") == []


async def test_compliance_is_checked_again_when_the_approved_contact_runs(
    inbox_config: ServerConfig, wire: Wire, clock: Clock
) -> None:
    async with serving(inbox_config) as (built, agent):
        assert built.inbox is not None
        approval = approval_of(await agent.call_tool("scollect_send_text", TEXT))
        with pytest.raises(DecisionProblem, match=r"PERMISSION_UNKNOWN\), which a supervisor may override"):
            await built.inbox.decide([approval], "approve", supervisor="Morgan")
        with pytest.raises(DecisionProblem, match="at least 10 characters"):
            await built.inbox.decide([approval], "approve", supervisor="Morgan", override=True, reason="ok")
        clock.now = after_hours_in("America/Denver", clock.now)  # R1000 is in New Mexico
        (outcome,) = await built.inbox.decide([approval], "approve", supervisor="Morgan", override=True, reason=OVERRIDE)
        (view,) = (await ok(agent, "approvals_status", {"approval_id": approval}))["approvals"]
    assert outcome.record is not None and outcome.record.state == "refused"
    assert "INCONVENIENT_TIME" in view["status"] and "cannot be overridden ahead of time" in view["status"]
    assert view["state"] == "refused" and sent(wire, "/send_text") == []
    (refused,) = [record for record in await audit(inbox_config) if record.outcome == "refused:compliance"]
    assert refused.approval is not None and refused.approval["override"] is True and refused.override is None


@pytest.mark.parametrize("mode", ERAS)
async def test_the_agent_is_told_when_its_approval_changes(inbox_config: ServerConfig, wire: Wire, mode: str) -> None:
    updates: list[str] = []
    heard = anyio.Event()

    async def notices(message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            updates.append(str(message.params.uri))
            heard.set()

    async with serving(inbox_config, mode, message_handler=notices) as (built, agent):
        assert built.inbox is not None
        approval = approval_of(await agent.call_tool("scollect_send_text", TEXT))
        uri = f"approvals://{approval}"
        if mode == "legacy":
            await agent.subscribe_resource(uri)
            await built.inbox.decide([approval], "approve", supervisor="Morgan", override=True, reason=OVERRIDE)
            with anyio.fail_after(5):
                await heard.wait()
            assert set(updates) == {uri}
        else:
            async with agent.listen(resource_subscriptions=[uri]) as events:
                await built.inbox.decide([approval], "approve", supervisor="Morgan", override=True, reason=OVERRIDE)
                with anyio.fail_after(5):
                    event = await events.__anext__()
            assert type(event).__name__ == "ResourceUpdated" and event.uri == uri  # type: ignore[attr-defined]
        read = await agent.read_resource(uri)
        state = json.loads(read.contents[0].text)  # type: ignore[union-attr]
        async with Client(built.mcp_server(), client_info=Implementation(name="someone-else", version="1")) as stranger:
            error = await failed(stranger, "approvals_status", {"approval_id": approval})
    assert state["state"] == "done" and state["decided_by"] == "Morgan" and len(sent(wire, "/send_text")) == 1
    assert "no approval" in error and "of yours" in error


@pytest.mark.parametrize("backend_name", ["sqlite", "postgresql"])
async def test_a_decision_from_the_command_line_runs_in_the_server(
    inbox_config: ServerConfig, wire: Wire, backend_name: str, request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The command line is another process: it records the decision; the server learns of it by PostgreSQL's NOTIFY
    (its check interval here is a minute, so only the notification can make it run in time) or, with SQLite, at its
    next check (0.2 s here). The test waits for the agent's update notification, not for time to pass."""
    changes = {"approvals_check_seconds": 60.0 if backend_name == "postgresql" else 0.2}
    if backend_name == "postgresql":
        changes["database_url"] = fresh_database(request.getfixturevalue("postgres"))
    config = replace(inbox_config, settings=inbox_config.settings.model_copy(update=changes))
    monkeypatch.setenv("COLLECTIONS_MCP_STATE_DIR", str(config.settings.state_dir))
    config.settings.state_dir.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(config.settings.state_dir)  # no stray .env
    monkeypatch.setattr("collections_mcp.server.ops.cli.configure_logging", lambda level: None)  # keep the test's
    if backend_name == "postgresql":
        monkeypatch.setenv("COLLECTIONS_MCP_DATABASE_URL", str(changes["database_url"]))
    updated = anyio.Event()

    async def notices(message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            updated.set()

    async with serving(config, "legacy", message_handler=notices) as (_, agent):
        approval = approval_of(await agent.call_tool("scollect_send_text", TEXT))
        payment = approval_of(await agent.call_tool("scollect_run_payment", {"file_number": "R1000", "amount": "9.00"}))
        await agent.subscribe_resource(f"approvals://{approval}")
        rejected = await anyio.to_thread.run_sync(cli, ["approvals", "reject", payment, "--reason", "Not this month"])
        assert rejected == 0 and f"{payment}: rejected by" in capsys.readouterr().out
        assert await anyio.to_thread.run_sync(cli, ["approvals", "list"]) == 0
        listed = capsys.readouterr().out
        assert approval in listed and "scollect_send_text" in listed and "PERMISSION_UNKNOWN" in listed
        assert payment not in listed, "pending only"
        refused = await anyio.to_thread.run_sync(cli, ["approvals", "approve", approval, "--as", "Morgan"])
        assert refused == 1 and "override" in capsys.readouterr().err
        decided = await anyio.to_thread.run_sync(
            cli, ["approvals", "approve", approval, "--as", "Morgan", "--override", "--reason", OVERRIDE]
        )
        assert decided == 0 and f"{approval}: approved" in capsys.readouterr().out
        while True:
            with anyio.fail_after(10):
                await updated.wait()
            updated = anyio.Event()
            (view,) = (await ok(agent, "approvals_status", {"approval_id": approval}))["approvals"]
            if view["state"] in ("done", "refused", "failed"):
                break
        assert await anyio.to_thread.run_sync(cli, ["approvals", "show", approval, "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        (never,) = (await ok(agent, "approvals_status", {"approval_id": payment}))["approvals"]
    assert view["state"] == "done" and view["decided_by"] == "Morgan (command line)"
    assert len(sent(wire, "/send_text")) == 1
    assert never["state"] == "rejected" and never["reason"] == "Not this month" and sent(wire, "/run_payment_external") == []
    assert shown["state"] == "done" and shown["override_reason"] == OVERRIDE and "execution" not in shown


def test_settings_explain_themselves(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from collections_mcp.server.settings import ServerSettings

    with pytest.raises(ValidationError, match="give exactly one of token or token_sha256"):
        ServerSettings(_env_file=None, state_dir=tmp_path, supervisor_tokens=[{"supervisor": "Morgan"}])  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="at least 24 characters"):
        ServerSettings(_env_file=None, state_dir=tmp_path, supervisor_tokens=[{"supervisor": "Morgan", "token": "short"}])  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        ServerSettings(_env_file=None, state_dir=tmp_path, approvals="maybe")  # type: ignore[call-arg]


async def test_a_token_is_marked_for_automation_by_its_grant_or_its_oauth_scope() -> None:
    from pydantic import SecretStr
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from collections_mcp.sandbox.http import serve_app
    from collections_mcp.server.core.access import AUTOMATION_SCOPE, TokenGrant
    from collections_mcp.server.transport.auth import IntrospectionTokenVerifier

    scopes = {"night": "collections:read collections:contact collections:automation", "day": "collections:read"}

    async def introspect(request: Request) -> JSONResponse:
        token = str((await request.form())["token"])
        return JSONResponse({"active": True, "client_id": token, "scope": scopes[token]})

    async with serve_app(Starlette(routes=[Route("/introspect", introspect, methods=["POST"])])) as issuer:
        verifier = IntrospectionTokenVerifier(f"{issuer}/introspect", "mcp-server", SecretStr("s3cret"))
        try:
            night, day = await verifier.verify_token("night"), await verifier.verify_token("day")
        finally:
            await verifier.aclose()
    assert night is not None and AUTOMATION_SCOPE in night.scopes and "effect:contact" in night.scopes
    assert day is not None and AUTOMATION_SCOPE not in day.scopes
    static = TokenGrant(client="bot", token=SecretStr("b" * 24), effects=["read"], automation=True)
    assert AUTOMATION_SCOPE in static.scopes() and AUTOMATION_SCOPE not in TokenGrant(
        client="desk", token=SecretStr("d" * 24), effects=["*"]).scopes()  # fmt: skip
