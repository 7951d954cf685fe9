"""The account view in a real browser: headless Chromium shows a host page built on ext-apps's AppBridge, which
renders our `ui://collections/account.html` with the result of the model's tool call, and relays the view's own
tool calls to the server (sandbox vendors) through the SDK's `Client` (tests/e2e/apps_host.py).

Assertions are on what a person sees (the view's DOM, its computed style) and on what the vendor simulators
received. Every test also checks that the view fetched nothing (no request left the host page) and broke no
content-security rule. The DOM of every view shown goes into the suite-wide leak check.

Screenshots for the README (light and dark): `UPDATE_SCREENSHOTS=1 .venv/bin/pytest tests/e2e/test_account_view_browser.py`
writes docs/account-view-light.png and docs/account-view-dark.png (without it they go to a temporary folder).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import ElicitRequestFormParams, ElicitRequestURLParams, ElicitResult
from playwright.async_api import Browser, Page, expect

from collections_mcp.sandbox.runner import RunningSandbox
from collections_mcp.server.app import ServerConfig, build_server
from tests.conftest import Wire
from tests.e2e.apps_host import APPS_HOST, DARK_STYLES, ViewHost, bundle, install, missing_node

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
DOCS = Path(__file__).resolve().parents[2] / "docs"
UPDATE_SCREENSHOTS = os.environ.get("UPDATE_SCREENSHOTS", "").lower() in ("1", "true", "yes")

Person = Callable[[Any, Any], Awaitable[ElicitResult]]


@pytest.fixture(scope="session")
def browser(chromium: Browser) -> Browser:
    """The session's Chromium (tests/e2e/conftest.py), once the test host's npm packages are installed."""
    if (reason := missing_node()) is not None:
        pytest.fail(reason)  # a missing tool is a broken machine, never a silent pass
    install()
    return chromium


@pytest.fixture(scope="session")
def host_js(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> str:
    return bundle(tmp_path_factory.mktemp("apps-host"))


@pytest.fixture
async def page(browser: Browser, leak_watch: list[str]) -> AsyncIterator[Page]:
    # Tall enough for the whole card: Chromium paints only what is inside the viewport into a screenshot.
    context = await browser.new_context(viewport={"width": 900, "height": 2600})
    opened = await context.new_page()
    yield opened
    for frame in opened.frames:  # everything the view showed a person is checked for leaks with the rest
        leak_watch.append(await frame.content())
    await context.close()


@asynccontextmanager
async def hosting(
    page: Page, host_js: str, config: ServerConfig, *, mode: str = "auto", person: Person | None = None
) -> AsyncIterator[ViewHost]:
    async with Client(build_server(config), mode=mode, extensions=[APPS_HOST], elicitation_callback=person) as client:  # type: ignore[arg-type]
        host = await ViewHost(page, client, host_js).start()
        yield host
        assert host.foreign_requests == [], "the view loads nothing from anywhere (no CDN, font or script)"
        assert not [text for text in host.console_errors if "Content Security Policy" in text]


def posts(wire: Wire, path: str) -> list[Any]:
    return [entry for entry in wire.requests() if entry.method == "POST" and entry.path == path]


def rgb(hex_colour: str) -> str:
    red, green, blue = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


async def test_the_card_shows_masked_identity_holds_and_verdict_in_light_dark_and_narrow_frames(
    page: Page, host_js: str, server_config: ServerConfig, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    full_ssn = str(sandbox.scollect.store.account("R1000")["socialsecuritynumber"])
    digits = re.sub(r"\D", "", full_ssn)
    assert len(digits) == 9
    async with hosting(page, host_js, server_config) as host:
        view = await host.show("accounts_snapshot", {"file_number": "R1000"}, theme="light")
        await expect(view.get_by_test_id("ssn")).to_have_text(f"***-**-{digits[-4:]}")
        await expect(view.get_by_role("heading", name="IVANA LAST NAME")).to_be_visible()
        await expect(view.get_by_test_id("verdict")).to_contain_text("May call now")
        dom = await view.content()
        assert full_ssn not in dom and digits not in dom and f"{digits[:3]} {digits[3:5]} {digits[5:]}" not in dom
        shots = DOCS if UPDATE_SCREENSHOTS else tmp_path
        await host.settled_height(view)
        await page.locator("#view").screenshot(path=str(shots / "account-view-light.png"))

        # The host switches to dark: the view follows the host's theme variables.
        await page.evaluate("update => changeHostContext(update)", {"theme": "dark", "styles": {"variables": DARK_STYLES}})
        await expect(view.locator("html")).to_have_attribute("data-theme", "dark")
        background = await view.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert background == rgb(DARK_STYLES["--color-background-primary"])
        await host.settled_height(view)
        await page.locator("#view").screenshot(path=str(shots / "account-view-dark.png"))

        # R1002 is deceased: the hold is on top, the verdict blocks, with the reason.
        view = await host.show("accounts_snapshot", {"file_number": "R1002"})
        await expect(view.get_by_test_id("hold")).to_contain_text("Deceased: do not contact")
        await expect(view.get_by_test_id("verdict")).to_contain_text("Do not call now")
        reasons = view.get_by_test_id("reasons")
        await expect(reasons).to_contain_text("BLOCKS · DECEASED")
        await expect(reasons).to_contain_text("The debtor is deceased")
        await expect(view.get_by_test_id("status")).to_have_text("DECEASED")

        # The narrow inline frame a chat gives: nothing scrolls sideways, every control stays inside, text readable.
        view = await host.show("accounts_snapshot", {"file_number": "R1000"}, width=300)
        await expect(view.get_by_role("button", name="Log attempt")).to_be_visible()
        overflow = await view.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, "nothing scrolls sideways in a 300 px frame"
        outside = await view.evaluate(
            """() => [...document.querySelectorAll('button, input, select, textarea')]
                   .filter(e => { const r = e.getBoundingClientRect(); return r.left < 0 || r.right > document.documentElement.clientWidth + 0.5; })
                   .map(e => e.outerHTML.slice(0, 80))"""
        )
        assert outside == []
        smallest = await view.evaluate(
            "() => Math.min(...[...document.querySelectorAll('body *')].filter(e => e.childNodes.length && e.innerText)"
            ".map(e => parseFloat(getComputedStyle(e).fontSize)))"
        )
        assert smallest >= 12
        assert host.view_calls == [], "showing the card calls nothing: it renders the model's result"


async def test_log_attempt_reaches_scollect_once_and_the_card_refreshes(
    page: Page, host_js: str, server_config: ServerConfig, wire: Wire
) -> None:
    mode = "2026-07-28"  # the relay in the other era: the payment tests
    async with hosting(page, host_js, server_config, mode=mode) as host:
        view = await host.show("accounts_snapshot", {"file_number": "R1000"})
        attempts = view.get_by_test_id("attempts")
        before = await attempts.locator("li").count()
        total = int(re.search(r"of (\d+)\)", await view.get_by_role("heading", name=re.compile("Latest attempts")).text_content() or "").group(1))  # type: ignore[union-attr]
        await view.get_by_label("Your name").fill(f"Card Tester {mode}")
        form = view.get_by_role("form", name="Log attempt")
        await form.get_by_label("Phone").select_option("222-333-4444")
        await form.get_by_label("Outcome").select_option("LEFT MESSAGE MACHINE")
        await form.get_by_role("button", name="Log attempt").click()

        await expect(view.get_by_test_id("message")).to_have_text("Attempt logged.")
        await expect(view.get_by_role("heading", name=re.compile("Latest attempts"))).to_contain_text(f"of {total + 1})")
        await expect(attempts.locator("li").first).to_contain_text("LEFT MESSAGE MACHINE · 222-333-4444")
        assert await attempts.locator("li").count() == min(before + 1, 5)
    inserted = posts(wire, "/insertattempt")
    assert len(inserted) == 1
    assert inserted[0].json["filenumber"] == "R1000" and inserted[0].json["agent"] == f"Card Tester {mode}"
    paths = wire.paths()
    assert "GET /getattempts/R1000" in paths[paths.index("POST /insertattempt") :], "the card re-read the account"
    assert [call["name"] for call in host.view_calls] == ["scollect_log_attempt", "accounts_snapshot"]


async def test_a_callback_and_a_disconnected_phone_from_the_card_each_land_once(
    page: Page, host_js: str, server_config: ServerConfig, sandbox: RunningSandbox, wire: Wire
) -> None:
    store = sandbox.scollect.store
    # An account no other test works on, with a phone that is not disconnected yet.
    file_number, phone = next((number, row["phonenumber"]) for number in store.file_numbers()[150:]
                              for row in store.phones(number) if "DISCONNECTED" not in str(row["phonestatus"]).upper())  # fmt: skip
    due = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    async with hosting(page, host_js, server_config) as host:
        view = await host.show("accounts_snapshot", {"file_number": file_number})
        await view.get_by_label("Your name").fill("Card Tester")
        callback = view.get_by_role("form", name="Schedule callback")
        await callback.get_by_label("Date").fill(due)
        await callback.get_by_label("Debtor's local time").fill("14:30")
        await callback.get_by_role("button", name="Schedule callback").click()
        await expect(view.get_by_test_id("message")).to_have_text(f"Callback scheduled for {due} 14:30.")

        row = view.get_by_test_id("phones").locator("li", has_text=phone)
        await row.get_by_role("button", name="Mark disconnected").click()
        await expect(view.get_by_test_id("message")).to_have_text(f"{phone} marked disconnected.")
        await expect(row).to_contain_text("Disconnected")
        await expect(row.get_by_role("button")).to_have_count(0)
    [scheduled] = posts(wire, "/createCallback")
    assert (scheduled.json["FileNumber"], scheduled.json["Callbackdate"], scheduled.json["Callbacktime"]) == (file_number, due, "2:30PM")
    assert scheduled.json["Assignedto"] == "Card Tester"
    [changed] = [entry for entry in wire.requests() if entry.method == "PUT" and entry.path == "/updatephone"]
    assert changed.json["phonestatus"] == "Disconnected" and changed.json["filenumber"] == file_number


class PaymentPerson:
    """The person at the host: opens the secure page in the browser and types the card there; confirms or not."""

    def __init__(self, page: Page, confirm: bool) -> None:
        self.page = page
        self.confirm = confirm
        self.confirmations: list[str] = []
        self.urls: list[str] = []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        if isinstance(params, ElicitRequestURLParams):
            self.urls.append(params.url)
            secure = await self.page.context.new_page()
            await secure.goto(params.url)
            await secure.fill("#card-card_number", "4111 1111 1111 1111")
            await secure.fill("#card-expiry", "12/2031")
            await secure.fill("#card-cvv", "739")
            await secure.fill("#card-name", "Jane Q Payor")
            await secure.fill("#card-zip", "87035")
            await secure.get_by_role("button", name="Use this card").click()
            await expect(secure.get_by_role("heading")).not_to_have_text("Secure payment details")
            await secure.close()
            return ElicitResult(action="accept")
        assert isinstance(params, ElicitRequestFormParams)
        self.confirmations.append(params.message)
        return ElicitResult(action="accept", content={"confirm": True}) if self.confirm else ElicitResult(action="decline")


# Accepted in the legacy era here, and in 2026-07-28 by the new-card test below (URL then confirmation).
@pytest.mark.parametrize(("mode", "confirm"), [("legacy", True), ("2026-07-28", False)])
async def test_charging_the_stored_method_from_the_card_is_confirmed_by_the_person(
    mode: str, confirm: bool, page: Page, host_js: str, server_config: ServerConfig, wire: Wire
) -> None:
    person = PaymentPerson(page, confirm)
    async with hosting(page, host_js, server_config, mode=mode, person=person) as host:
        view = await host.show("accounts_snapshot", {"file_number": "R1000"})
        payment = view.get_by_role("form", name="Take payment")
        await payment.get_by_label("Amount (USD)").fill("25.00")
        await payment.get_by_role("button", name=re.compile("Charge the stored method")).click()
        message = view.get_by_test_id("message")
        if confirm:
            await expect(message).to_have_text("Payment done.")
        else:
            await expect(message).to_have_text("Refused by confirmation: the person did not confirm (decline); nothing was sent")
    assert len(person.confirmations) == 1 and "$25.00" in person.confirmations[0]
    assert len(posts(wire, "/run_payment_external")) == (1 if confirm else 0)


async def test_a_new_card_from_the_card_is_typed_on_the_secure_page_only(
    page: Page, host_js: str, server_config: ServerConfig, wire: Wire
) -> None:
    person = PaymentPerson(page, confirm=True)
    async with hosting(page, host_js, server_config, person=person) as host:
        view = await host.show("accounts_snapshot", {"file_number": "R1000"})
        payment = view.get_by_role("form", name="Take payment")
        await payment.get_by_label("Amount (USD)").fill("30.00")
        await payment.get_by_role("button", name="New card or bank account…").click()
        await expect(view.get_by_test_id("message")).to_have_text("Payment done.")
        assert "4111" not in re.sub(r"\*+1111", "", await view.content())
    assert len(person.urls) == 1 and len(person.confirmations) == 1
    recorded = posts(wire, "/insert_payments_external")
    assert len(recorded) == 1 and recorded[0].json["filenumber"] == "R1000"
    assert [call["name"] for call in host.view_calls][:1] == ["scollect_record_payment"]


async def test_a_collect_debtor_uses_the_view_only_helper_and_a_note_lands_once(
    page: Page, host_js: str, server_config: ServerConfig, sandbox: RunningSandbox
) -> None:
    log = sandbox.collect.app.state.request_log
    start = len(log)
    note = f"Card note {datetime.now(UTC).isoformat()}"
    async with hosting(page, host_js, server_config) as host:
        view = await host.show("collect_get_debtor", {"rowid": 101})
        await expect(view.get_by_test_id("ssn")).to_have_text("***-**-3456")
        await expect(view.get_by_test_id("verdict")).to_contain_text("No verdict for Collect! records")
        await expect(view.get_by_test_id("attempts")).to_contain_text("Review file")
        form = view.get_by_role("form", name="Add note")
        await form.get_by_label("Note").fill(note)
        await form.get_by_role("button", name="Add note").click()
        await expect(view.get_by_test_id("message")).to_have_text("Note added.")
        await expect(view.get_by_role("heading", name=re.compile("Latest notes")).locator("xpath=..")).to_contain_text(note)
    written = [entry for entry in list(log)[start:] if entry.method == "POST" and entry.path.endswith("/data/notes")]
    assert len(written) == 1
    assert [call["name"] for call in host.view_calls] == [
        "collect_get_debtor_activity", "collect_add_note", "collect_get_debtor", "collect_get_debtor_activity"]
