"""The approval inbox as people use it: an overnight agent (an HTTP token marked for automation) queues texts; a
supervisor signs in to /approvals in a real browser (Debian's Chromium, driven by Playwright), approves two and rejects
one; the Scollect simulator receives exactly the two. An approval re-checked after calling hours closed is refused
when it runs, and the page says why. A wrong or missing supervisor token sees and approves nothing; a forged form
post without the page's CSRF token changes nothing.

Screenshot for the README: `UPDATE_SCREENSHOTS=1 .venv/bin/pytest tests/e2e/test_approvals_browser.py` writes
docs/approvals-inbox.png (without it, to a temporary folder).
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from playwright.async_api import Browser, Page, expect

from collections_mcp.sandbox.http import serve_app
from collections_mcp.sandbox.runner import RunningSandbox
from collections_mcp.server.app import CollectionsServer, ServerConfig
from collections_mcp.server.core.access import SupervisorGrant, TokenGrant
from collections_mcp.server.state.audit_log import SqliteAuditLog, audit_path
from collections_mcp.server.transport.http import build_http_app
from tests.conftest import Wire
from tests.e2e.test_accounts_tools import Clock, business_hours_after_generation
from tests.e2e.test_approvals import after_hours_in, approval_of
from tests.helpers import ok

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

DOCS = Path(__file__).resolve().parents[2] / "docs"
UPDATE_SCREENSHOTS = os.environ.get("UPDATE_SCREENSHOTS", "").lower() in ("1", "true", "yes")
AGENT_TOKEN = "overnight-agent-token-0123456789abcdef"
SUPERVISOR_TOKEN = "supervisor-morgan-token-0123456789abcdef"
OVERRIDE = "Permissions checked in Scollect: texts allowed for these debtors"
ACCOUNTS = ("R1000", "R1066", "R1088")  # active accounts whose texts only the unreadable permissions block


@dataclass
class Site:
    url: str
    built: CollectionsServer
    clock: Clock
    config: ServerConfig


def free_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = int(probe.getsockname()[1])
    probe.close()
    return port


@pytest.fixture
async def site(server_config: ServerConfig, sandbox: RunningSandbox) -> AsyncIterator[Site]:
    clock = Clock(business_hours_after_generation(sandbox))
    port = free_port()
    settings = server_config.settings.model_copy(update={
        "approvals": "inbox",
        "http_tokens": [TokenGrant(client="overnight-agent", token=AGENT_TOKEN, effects=["read", "contact", "money"],  # type: ignore[arg-type]
                                   automation=True)],
        "supervisor_tokens": [SupervisorGrant(supervisor="Morgan", token=SUPERVISOR_TOKEN)],  # type: ignore[arg-type]
    })  # fmt: skip
    config = replace(server_config, settings=settings, clock=clock, http_url=f"http://127.0.0.1:{port}")
    built = CollectionsServer(config)
    server = built.mcp_server()
    app = build_http_app(server, settings, "127.0.0.1", port)
    async with server.session_manager.run(), serve_app(app, port=port) as url:
        yield Site(url=url, built=built, clock=clock, config=config)


@asynccontextmanager
async def overnight_agent(site: Site, asked: list[Any]) -> AsyncIterator[Client]:
    """The automated agent: its client could ask a person, but its token is marked for automation."""

    async def person(context: Any, params: Any) -> Any:
        asked.append(params)
        raise AssertionError("nobody is asked on behalf of an automated agent")

    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {AGENT_TOKEN}"})
    async with http, Client(streamable_http_client(f"{site.url}/mcp", http_client=http), elicitation_callback=person) as agent:  # type: ignore[arg-type]
        yield agent


@pytest.fixture
async def page(chromium: Browser, leak_watch: list[str]) -> AsyncIterator[Page]:
    context = await chromium.new_context(viewport={"width": 1280, "height": 1000})
    opened = await context.new_page()
    problems: list[str] = []
    opened.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    yield opened
    leak_watch.append(await opened.content())  # what a supervisor saw goes into the suite-wide leak check
    await context.close()
    assert not [text for text in problems if "Content Security Policy" in text], problems


async def sign_in(page: Page, url: str, token: str = SUPERVISOR_TOKEN) -> None:
    await page.goto(f"{url}/approvals")
    await page.get_by_label("Supervisor token").fill(token)
    await page.get_by_role("button", name="Sign in").click()


def texts(wire: Wire) -> list[str]:
    return [entry.json["filenumber"] for entry in wire.requests() if entry.path == "/send_text"]


async def test_a_supervisor_approves_two_texts_and_rejects_one_and_the_vendor_receives_exactly_two(
    site: Site, page: Page, wire: Wire, tmp_path: Path
) -> None:
    asked: list[Any] = []
    async with overnight_agent(site, asked) as agent:
        queued = {number: approval_of(await agent.call_tool("scollect_send_text", {"file_number": number,
                                                                                      "template": "PAYREMIND"}))
                  for number in ACCOUNTS}  # fmt: skip
        assert texts(wire) == [] and asked == []

        await sign_in(page, site.url)
        await expect(page.get_by_role("heading", name="Waiting for a decision (3)")).to_be_visible()
        await expect(page.get_by_text("Signed in as")).to_contain_text("Morgan")
        for number, approval in queued.items():
            verdict = page.get_by_test_id(f"verdict-{approval}")
            await expect(verdict).to_contain_text(f"{number}: blocked, a supervisor may override now")
            await expect(verdict).to_contain_text("PERMISSION_UNKNOWN")
        await expect(page.get_by_test_id(f"pending-{queued['R1000']}")).to_contain_text("overnight-agent")
        shots = DOCS if UPDATE_SCREENSHOTS else tmp_path
        await page.screenshot(path=str(shots / "approvals-inbox.png"), full_page=True)

        for number in ("R1000", "R1066"):
            await page.get_by_role("checkbox", name=re.compile(f"account {number}")).check()
        await page.get_by_label("Reason", exact=True).fill(OVERRIDE)
        await page.get_by_label(re.compile("^Override")).check()
        await page.get_by_role("button", name="Approve selected").click()
        await expect(page.get_by_role("heading", name="Waiting for a decision (1)")).to_be_visible()
        for number in ("R1000", "R1066"):
            await expect(page.get_by_test_id(f"state-{queued[number]}")).to_have_text("done")
            await expect(page.get_by_test_id(f"status-{queued[number]}")).to_contain_text("sent to the vendor")

        await page.get_by_role("checkbox", name=re.compile("account R1088")).check()
        await page.get_by_label("Reason", exact=True).fill("The debtor asked for a call instead")
        await page.get_by_role("button", name="Reject selected").click()
        await expect(page.get_by_test_id("no-pending")).to_be_visible()
        await expect(page.get_by_test_id(f"state-{queued['R1088']}")).to_have_text("rejected")
        assert sorted(texts(wire)) == ["R1000", "R1066"], "exactly the two approved texts; the rejected one never"

        views = {view["id"]: view for view in (await ok(agent, "approvals_status", {}))["approvals"]}
        assert [views[queued[number]]["state"] for number in ACCOUNTS] == ["done", "done", "rejected"]
        assert views[queued["R1000"]]["result"]["sent"] is True and views[queued["R1000"]]["decided_by"] == "Morgan"

        # Queued while the debtor's calling hours were open; approved after they closed: refused when it runs.
        late = approval_of(await agent.call_tool("scollect_send_text", {"file_number": "R1000", "template": "Missed 1"}))
        site.clock.now = after_hours_in("America/Denver", site.clock.now)  # R1000 is in New Mexico
        await page.reload()
        verdict = page.get_by_test_id(f"verdict-{late}")
        await expect(verdict).to_contain_text("R1000: blocked now")
        await expect(verdict).to_contain_text("INCONVENIENT_TIME")
        await page.get_by_role("checkbox", name=re.compile("account R1000")).check()
        await page.get_by_label("Reason", exact=True).fill(OVERRIDE)
        await page.get_by_label(re.compile("^Override")).check()
        await page.get_by_role("button", name="Approve selected").click()
        await expect(page.get_by_test_id(f"state-{late}")).to_have_text("refused")
        await expect(page.get_by_test_id(f"status-{late}")).to_contain_text("INCONVENIENT_TIME")
        (view,) = (await ok(agent, "approvals_status", {"approval_id": late}))["approvals"]
    assert view["state"] == "refused" and "Outside 8:00 a.m.-9:00 p.m." in view["status"]
    assert sorted(texts(wire)) == ["R1000", "R1066"], "the late one never reached the vendor"
    assert asked == []
    log = SqliteAuditLog(audit_path(site.config.settings.state_dir))
    try:
        sent = [record for record in await log.query(None, "scollect_send_text", 50) if record.outcome == "ok"]
    finally:
        log.close()
    assert len(sent) == 2
    for record in sent:
        assert record.client_name == "overnight-agent", "the proposer"
        assert record.approval is not None and record.approval["approver"] == "Morgan" and record.approval["override"]
        assert record.override is not None and OVERRIDE in record.override["reason"]


async def test_without_a_supervisor_token_nothing_is_seen_and_a_forged_post_changes_nothing(
    site: Site, page: Page, wire: Wire
) -> None:
    async with overnight_agent(site, []) as agent:
        approval = approval_of(await agent.call_tool("scollect_send_text", {"file_number": "R1000", "template": "PAYREMIND"}))
    signed_out = await page.goto(f"{site.url}/approvals")
    assert signed_out is not None and signed_out.status == 200
    csp = signed_out.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "unsafe" not in csp and "frame-ancestors 'none'" in csp
    await expect(page.get_by_label("Supervisor token")).to_be_visible()
    assert approval not in await page.content() and "R1000" not in await page.content()

    for token in ("not-the-supervisor-token-0123456789", AGENT_TOKEN):  # an MCP client token does not sign in here
        await sign_in(page, site.url, token)
        await expect(page.get_by_role("alert")).to_contain_text("not a supervisor token")
        assert approval not in await page.content()

    async with httpx.AsyncClient(base_url=site.url) as stranger:
        unsigned = await stranger.post("/approvals/decide", data={"id": approval, "decision": "approve", "override": "yes",
                                                                 "reason": OVERRIDE})  # fmt: skip
    assert unsigned.status_code == 401 and approval not in unsigned.text

    await sign_in(page, site.url)
    await expect(page.get_by_role("heading", name="Waiting for a decision (1)")).to_be_visible()
    csrf = await page.locator("form[action='/approvals/decide'] input[name=csrf]").get_attribute("value")
    assert csrf
    forged = {"id": approval, "decision": "approve", "override": "yes", "reason": OVERRIDE}
    # The browser sends the session cookie with these (a script on this origin could): only the form token is wrong.
    missing = await page.request.post(f"{site.url}/approvals/decide", form=forged)
    wrong = await page.request.post(f"{site.url}/approvals/decide", form=forged | {"csrf": "0" * len(csrf)})
    other_site = await page.request.post(f"{site.url}/approvals/decide", form=forged | {"csrf": csrf},
                                         headers={"Origin": "http://evil.example"})  # fmt: skip
    assert [missing.status, wrong.status, other_site.status] == [403, 403, 403]
    assert "Nothing was changed" in await missing.text()
    record = await site.built.stores.approvals.get(approval)
    assert record is not None and record.state == "pending" and record.decided_by is None
    assert texts(wire) == []

    # The page itself, with its token, works; a refused bulk decision changes nothing and says why.
    await page.get_by_role("checkbox", name=re.compile("account R1000")).check()
    await page.get_by_role("button", name="Approve selected").click()
    await expect(page.get_by_role("alert")).to_contain_text("which a supervisor may override: tick override")
    assert (await site.built.stores.approvals.get(approval)).state == "pending"  # type: ignore[union-attr]
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("Supervisor token")).to_be_visible()
    again = await page.goto(f"{site.url}/approvals")
    assert again is not None and approval not in await page.content()
    assert json.dumps(texts(wire)) == "[]"
