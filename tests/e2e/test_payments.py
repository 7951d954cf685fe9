"""Scollect money tools end to end: card/bank details captured out of band by URL-mode elicitation.

The test plays the person with the SDK Client's elicitation callback: it receives the URL, opens the
secure page with httpx, submits the form, accepts, then answers the confirmation. Both protocol eras.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

import httpx
import pytest
from mcp import Client
from mcp.client.session import ClientSession
from mcp.types import (
    ClientCapabilities,
    ElicitationCapability,
    ElicitRequestFormParams,
    ElicitRequestURLParams,
    ElicitResult,
    FormElicitationCapability,
)

from collections_mcp.sandbox.runner import RunningSandbox
from collections_mcp.sandbox.scollect.demo_data import SHARED_SSN_TWIN, SPECIAL_ACCOUNTS
from collections_mcp.server.app import ServerConfig, build_server
from collections_mcp.server.payments.service import CaptureService
from collections_mcp.server.policy.capture import CaptureStage
from collections_mcp.server.settings import ServerSettings
from tests.conftest import Wire, server_state_texts
from tests.helpers import text_of

pytestmark = pytest.mark.anyio
ERAS = pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])

CARD = {"method": "card", "card_number": "4111 1111 1111 1111", "expiry": "12/2031", "cvv": "739",
        "name": "Jane Q Payor", "zip": "87035"}  # fmt: skip
BANK = {"method": "bank", "routing_number": "021000021", "account_number": "000123456789",
        "account_type": "checking", "name": "Jane Q Payor"}  # fmt: skip
FULL_NUMBERS = ("4111111111111111", "4111 1111 1111 1111", "4111111111111112", "000123456789", "021000021", "021000022")
CVV = re.compile(r"(?<![\w.])739(?![\w.])")
CONFIRM = ElicitResult(action="accept", content={"confirm": True})
SOON = date.today() + timedelta(days=30)




def assert_nothing_sensitive(*texts: str) -> None:
    for text in texts:
        for number in FULL_NUMBERS:
            assert number not in text, f"full number ending {number[-4:]} leaked"
        assert CVV.search(text) is None, "the CVV leaked"


class Payor:
    """Plays the person: opens the secure page, submits the forms in order, then answers the confirmation."""

    def __init__(
        self,
        *forms: dict[str, str],
        url_reply: Literal["accept", "decline", "cancel"] = "accept",
        confirm: ElicitResult = CONFIRM,
    ) -> None:
        self.forms = list(forms)
        self.url_reply = url_reply
        self.confirm = confirm
        self.urls: list[ElicitRequestURLParams] = []
        self.pages: list[httpx.Response] = []
        self.confirmations: list[ElicitRequestFormParams] = []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        if isinstance(params, ElicitRequestURLParams):
            self.urls.append(params)
            if self.url_reply != "accept":
                return ElicitResult(action=self.url_reply)
            async with httpx.AsyncClient(trust_env=False) as http:
                self.pages.append(await http.get(params.url))
                for form in self.forms:
                    self.pages.append(await http.post(params.url, data=form))
            return ElicitResult(action="accept")
        assert isinstance(params, ElicitRequestFormParams)
        self.confirmations.append(params)
        return self.confirm

    def everything_shown(self) -> list[str]:
        return [p.message for p in self.urls] + [p.message for p in self.confirmations] + [p.text for p in self.pages]


@pytest.fixture(scope="module")
async def capture(anyio_backend: str) -> AsyncIterator[CaptureService]:
    """One payment page for the module (each capture is its own token, so tests do not share state)."""
    settings = ServerSettings(_env_file=None)
    async with CaptureService.running(settings, ServerConfig(settings=settings, vendors={}).clock) as service:
        yield service


@pytest.fixture
def paying_config(server_config: ServerConfig) -> ServerConfig:
    """The server exactly as built for users: its own capture stage and payment page (opened on first use)."""
    return server_config


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="collections_mcp")
    return caplog


@pytest.fixture
def form_only_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    """SDK clients with an elicitation callback declare form AND url; this makes them declare form only."""
    original = ClientSession._build_capabilities

    def form_only(self: ClientSession, version: str) -> ClientCapabilities:
        capabilities = original(self, version)
        if capabilities.elicitation is None:
            return capabilities
        return capabilities.model_copy(update={"elicitation": ElicitationCapability(form=FormElicitationCapability())})

    monkeypatch.setattr(ClientSession, "_build_capabilities", form_only)


def client(config: ServerConfig, mode: str, person: Any) -> Client:
    return Client(build_server(config), mode=mode, elicitation_callback=person)


def log_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    texts = []
    for record in caplog.records:
        texts.append(record.getMessage())
        if record.exc_info:
            texts.append(logging.Formatter().formatException(record.exc_info))
    return texts


def sent(wire: Wire, path: str) -> list[Any]:
    return [entry for entry in wire.requests() if entry.path == path]


async def statuses_after(person: Payor) -> list[int]:
    """GET and POST on the first link the person was sent, once the call is over."""
    return [await status_of(person.urls[0].url), await status_of(person.urls[0].url, "POST")]


async def status_of(url: str, method: str = "GET") -> int:
    async with httpx.AsyncClient(trust_env=False) as http:
        response = await http.request(method, url, data=CARD if method == "POST" else None)
    return response.status_code


# ------------------------------------------------------------------------------------------ record a payment


@ERAS
async def test_card_payment_through_the_secure_page(
    paying_config: ServerConfig, sandbox: RunningSandbox, wire: Wire, logs: pytest.LogCaptureFixture, mode: str
) -> None:
    stored_before = len(sandbox.scollect.store.external_payments("R1060"))
    person = Payor(CARD)
    arguments = {"file_number": "R1060", "amount": "100.00", "payment_date": SOON.isoformat()}
    async with client(paying_config, mode, person) as mcp:
        result = await mcp.call_tool("scollect_record_payment", arguments)
        later = await statuses_after(person)  # while the server still serves the page
    assert not result.is_error, text_of(result)

    # The person was sent to the page, which says what it is for, then confirmed a summary with the last 4.
    (url,) = person.urls
    assert "/pay/" in url.url and "R1060" in url.message and "never in the chat" in url.message
    page, accepted = person.pages
    assert page.status_code == 200 and "R1060" in page.text and "$100.00" in page.text
    assert accepted.status_code == 200 and "ending in 1111" in accepted.text
    (confirmation,) = person.confirmations
    assert "card ****1111 exp 12/2031 (Visa)" in confirmation.message
    assert "$100.00" in confirmation.message and SOON.isoformat() in confirmation.message
    assert "payor Jane Q Payor" in confirmation.message

    # Exactly one vendor write, with the card fields; the CVV only there.
    (posted,) = sent(wire, "/insert_payments_external")
    body = posted.json
    assert body["cardnumber"] == "4111111111111111" and body["threedigitnumber"] == "739"
    assert (body["cardexpirationmonth"], body["cardexpirationyear"], body["cardexpirationdate"]) == (
        "12",
        "2031",
        "12/2031",
    )
    assert (body["paymentmethod"], body["cardtype"], body["paymentamount"]) == ("CREDIT CARD", "Visa", "100.00")
    assert (body["payorname"], body["paymentstatus"], body["paymentdate"]) == (
        "Jane Q Payor",
        "PENDING",
        SOON.isoformat(),
    )
    assert len(sandbox.scollect.store.external_payments("R1060")) == stored_before + 1

    data = result.structured_content
    assert data is not None
    assert data["method"] == "card ****1111 exp 12/2031" and data["amount"] == "100.00" and data["status"] == "PENDING"

    # The link is single-use: anything later is 410 Gone.
    assert later == [410, 410]
    assert_nothing_sensitive(text_of(result), str(data), *log_texts(logs), url.message, confirmation.message,
                             page.text, accepted.text)  # fmt: skip
    # Nor in what the server keeps: the audit record and the stored result for replays (CVV not even masked).
    state = server_state_texts(paying_config.settings.state_dir)
    assert len(state) >= 2 and any("scollect_record_payment" in text for text in state)
    assert_nothing_sensitive(*state)


@ERAS
async def test_bank_payment_plan_shows_every_date_and_the_total(
    paying_config: ServerConfig, sandbox: RunningSandbox, wire: Wire, logs: pytest.LogCaptureFixture, mode: str
) -> None:
    schedule = [{"payment_date": (SOON + timedelta(days=30 * i)).isoformat(), "amount": "75.50"} for i in range(3)]
    stored_before = len(sandbox.scollect.store.external_payments("R1061"))
    person = Payor(BANK)
    async with client(paying_config, mode, person) as mcp:
        result = await mcp.call_tool("scollect_record_payment_plan", {"file_number": "R1061", "schedule": schedule})
    assert not result.is_error, text_of(result)

    (confirmation,) = person.confirmations
    for item in schedule:
        assert f"{item['payment_date']} $75.50" in confirmation.message
    assert (
        "total $226.50" in confirmation.message and "bank ****6789 routing ****0021 (Checking)" in confirmation.message
    )
    assert "$226.50" in person.pages[0].text  # the page shows what the details are for

    (posted,) = sent(wire, "/insert_payplan_external")
    body = posted.json
    assert body["paymentmethod"] == "ACH" and body["checkroutingnumber"] == "021000021"
    assert body["checkaccountnumber"] == "000123456789" and body["checkaccounttype"] == "Checking"
    assert body["cardnumber"] == "" and body["threedigitnumber"] == ""
    assert body["paymentdata"] == [{"paymentamount": "75.50", "paymentdate": item["payment_date"]} for item in schedule]
    rows = sandbox.scollect.store.external_payments("R1061")[stored_before:]
    assert [(row["kind"], row["paymentdate"]) for row in rows] == [
        ("payplan", item["payment_date"]) for item in schedule
    ]

    data = result.structured_content
    assert data is not None
    assert (data["count"], data["total"], data["method"]) == (3, "226.50", "bank ****6789 routing ****0021")
    assert_nothing_sensitive(text_of(result), str(data), *log_texts(logs), *person.everything_shown())


# ------------------------------------------------------------------------------------------ refusals


@ERAS
@pytest.mark.parametrize("reply", ["decline", "cancel"])
async def test_declining_the_page_sends_nothing(
    paying_config: ServerConfig, wire: Wire, mode: str, reply: Literal["decline", "cancel"]
) -> None:
    person = Payor(CARD, url_reply=reply)
    async with client(paying_config, mode, person) as mcp:
        result = await mcp.call_tool("scollect_record_payment", {"file_number": "R1062", "amount": "20.00"})
        later = await statuses_after(person)
    assert result.is_error
    assert "did not open the secure payment page" in text_of(result) and "nothing was sent" in text_of(result)
    assert person.pages == [] and person.confirmations == []
    assert sent(wire, "/insert_payments_external") == []
    assert later == [410, 410]  # the link died with the call


@ERAS
async def test_declining_the_confirmation_sends_nothing(
    paying_config: ServerConfig, wire: Wire, logs: pytest.LogCaptureFixture, mode: str
) -> None:
    person = Payor(CARD, confirm=ElicitResult(action="decline"))
    async with client(paying_config, mode, person) as mcp:
        result = await mcp.call_tool("scollect_record_payment", {"file_number": "R1062", "amount": "20.00"})
        later = await statuses_after(person)
    assert result.is_error
    assert "did not confirm" in text_of(result) and "nothing was sent" in text_of(result)
    assert "card ****1111" in person.confirmations[0].message
    assert sent(wire, "/insert_payments_external") == []
    assert later == [410, 410]
    assert_nothing_sensitive(text_of(result), *log_texts(logs), *person.everything_shown())


@ERAS
async def test_client_without_url_mode_gets_a_clear_error(
    paying_config: ServerConfig, wire: Wire, form_only_clients: None, mode: str
) -> None:
    person = Payor(CARD)
    async with client(paying_config, mode, person) as mcp:
        result = await mcp.call_tool("scollect_record_payment", {"file_number": "R1063", "amount": "20.00"})
    assert result.is_error
    message = text_of(result)
    assert "Refused by payment_capture" in message and "no URL-mode elicitation" in message
    assert "Nothing was sent" in message
    assert person.urls == [] and person.confirmations == []
    assert wire.paths() == []


async def test_client_without_elicitation_gets_the_same_error(paying_config: ServerConfig, wire: Wire) -> None:
    async with Client(build_server(paying_config)) as mcp:
        result = await mcp.call_tool("scollect_record_payment", {"file_number": "R1063", "amount": "20.00"})
    assert result.is_error and "no URL-mode elicitation" in text_of(result)
    assert wire.paths() == []


@ERAS
async def test_invalid_details_are_reshown_with_errors_then_corrected(
    paying_config: ServerConfig, wire: Wire, logs: pytest.LogCaptureFixture, mode: str
) -> None:
    bad_luhn = CARD | {"card_number": "4111111111111112"}
    expired = CARD | {"expiry": "01/2020"}
    bad_routing = BANK | {"routing_number": "021000022"}
    person = Payor(bad_luhn, expired, bad_routing, CARD)
    async with client(paying_config, mode, person) as mcp:
        result = await mcp.call_tool("scollect_record_payment", {"file_number": "R1064", "amount": "12.34"})
    assert not result.is_error, text_of(result)
    _, luhn, expiry, routing, accepted = person.pages
    assert luhn.status_code == 422 and "check digit does not match" in luhn.text
    assert expiry.status_code == 422 and "expired at the end of 01/2020" in expiry.text
    assert 'value="Jane Q Payor"' in expiry.text  # what is not secret is kept in the re-shown form
    assert routing.status_code == 422 and "routing number is not valid" in routing.text
    assert accepted.status_code == 200
    (posted,) = sent(wire, "/insert_payments_external")
    assert posted.json["cardnumber"] == "4111111111111111" and posted.json["paymentamount"] == "12.34"
    assert_nothing_sensitive(text_of(result), *log_texts(logs), *person.everything_shown())


async def test_details_not_entered_in_time_send_nothing(
    server_config: ServerConfig, capture: CaptureService, wire: Wire
) -> None:
    impatient = replace(server_config, extra_stages=(CaptureStage(capture, 0.2),))
    person = Payor()  # opens the page, submits nothing
    async with client(impatient, "legacy", person) as mcp:
        result = await mcp.call_tool("scollect_record_payment", {"file_number": "R1065", "amount": "20.00"})
    assert result.is_error and "no valid payment details were entered" in text_of(result)
    assert person.confirmations == [] and sent(wire, "/insert_payments_external") == []
    assert await status_of(person.urls[0].url) == 410  # this test's page is the module's, still serving


@ERAS
async def test_payment_plan_with_a_past_date_is_refused_before_anything_is_asked(
    paying_config: ServerConfig, wire: Wire, mode: str
) -> None:
    person = Payor(CARD)
    schedule = [
        {"payment_date": "2020-01-15", "amount": "10.00"},
        {"payment_date": SOON.isoformat(), "amount": "10.00"},
    ]
    async with client(paying_config, mode, person) as mcp:
        result = await mcp.call_tool("scollect_record_payment_plan", {"file_number": "R1066", "schedule": schedule})
    assert result.is_error
    assert "2020-01-15 is in the past" in text_of(result) and "Nothing was sent" in text_of(result)
    assert person.urls == [] and person.confirmations == []
    assert wire.paths() == []


async def test_plan_arguments_are_checked(paying_config: ServerConfig, wire: Wire) -> None:
    async with client(paying_config, "legacy", Payor(CARD)) as mcp:
        empty = await mcp.call_tool("scollect_record_payment_plan", {"file_number": "R1066", "schedule": []})
        cents = await mcp.call_tool("scollect_record_payment_plan", {
            "file_number": "R1066", "schedule": [{"payment_date": SOON.isoformat(), "amount": "10.001"}]})  # fmt: skip
        twice = await mcp.call_tool("scollect_record_payment_plan", {
            "file_number": "R1066", "schedule": [{"payment_date": SOON.isoformat(), "amount": "1.00"}] * 2})  # fmt: skip
    assert empty.is_error and "schedule" in text_of(empty)
    assert cents.is_error and "decimal" in text_of(cents)
    assert twice.is_error and "each date may appear once" in text_of(twice)
    assert wire.paths() == []


# ------------------------------------------------------------------------------------------ update pending payments


@ERAS
async def test_update_without_a_new_method_needs_no_url_mode(
    paying_config: ServerConfig, sandbox: RunningSandbox, wire: Wire, form_only_clients: None, mode: str
) -> None:
    person = Payor()
    new_day = (SOON + timedelta(days=3)).isoformat()
    async with client(paying_config, mode, person) as mcp:
        result = await mcp.call_tool(
            "scollect_update_pending_payment", {"file_number": "R1011", "payment_date": new_day}
        )
    assert not result.is_error, text_of(result)
    assert person.urls == []
    assert f"payment date → {new_day}" in person.confirmations[0].message
    assert "every PENDING payment" in person.confirmations[0].message
    (posted,) = sent(wire, "/update_payment_external")
    assert posted.json == {"filenumber": "R1011", "paymentdate": new_day}
    pending = [p for p in sandbox.scollect.store.external_payments("R1011") if p["paymentstatus"] == "PENDING"]
    assert pending and all(p["paymentdate"] == new_day for p in pending)


@ERAS
async def test_update_with_a_new_card_captures_it_on_the_page(
    paying_config: ServerConfig, sandbox: RunningSandbox, wire: Wire, logs: pytest.LogCaptureFixture, mode: str
) -> None:
    person = Payor(CARD)
    async with client(paying_config, mode, person) as mcp:
        result = await mcp.call_tool(
            "scollect_update_pending_payment", {"file_number": "R1011", "new_payment_method": True}
        )
    assert not result.is_error, text_of(result)
    assert "payment method → card ****1111 exp 12/2031 (Visa)" in person.confirmations[0].message
    (posted,) = sent(wire, "/update_payment_external")
    assert posted.json["cardnumber"] == "4111111111111111" and posted.json["threedigitnumber"] == "739"
    assert posted.json["payorname"] == "Jane Q Payor" and posted.json["paymentmethod"] == "CREDIT CARD"
    assert "checkaccountnumber" not in posted.json  # blanks are not sent
    data = result.structured_content
    assert data is not None and data["changed"]["payment_method"] == "card ****1111 exp 12/2031 (Visa)"
    assert_nothing_sensitive(text_of(result), *log_texts(logs), *person.everything_shown())


async def test_update_needs_at_least_one_change(paying_config: ServerConfig, wire: Wire) -> None:
    async with client(paying_config, "legacy", Payor()) as mcp:
        result = await mcp.call_tool("scollect_update_pending_payment", {"file_number": "R1011"})
    assert result.is_error and "give at least one change" in text_of(result)
    assert wire.paths() == []


# ------------------------------------------------------------------------------------------ run a stored method


@ERAS
async def test_declined_charge_is_an_error(
    paying_config: ServerConfig, sandbox: RunningSandbox, wire: Wire, mode: str
) -> None:
    person = Payor()
    runs_before = len(sandbox.scollect.store.payment_runs("R1012"))
    async with client(paying_config, mode, person) as mcp:
        result = await mcp.call_tool("scollect_run_payment", {"file_number": "R1012", "amount": "10.00"})
    assert result.is_error
    assert "declined" in text_of(result)
    assert person.urls == []  # a stored method needs no card details
    assert "CREDIT CARD ****0002" in person.confirmations[0].message and "$10.00" in person.confirmations[0].message
    assert wire.paths() == ["POST /getAlpaymentdata", "POST /run_payment_external"]
    runs = sandbox.scollect.store.payment_runs("R1012")[runs_before:]
    assert [run["result"] for run in runs] == ["DECLINED"]


def _account_with_one_good_card(sandbox: RunningSandbox) -> tuple[str, str]:
    store = sandbox.scollect.store
    special = {*SPECIAL_ACCOUNTS.values(), SHARED_SSN_TWIN}
    for file_number in reversed(store.file_numbers()):  # the generated accounts other tests leave alone
        if file_number in special:
            continue
        methods = store.payment_methods(file_number)
        balance = Decimal(str(store.account(file_number)["currentbalance"]).replace("$", "").replace(",", "") or "0")
        if len(methods) == 1 and methods[0]["paymentmethod"] == "CREDIT CARD" and balance >= 10:
            return file_number, str(methods[0]["last4card"])
    raise AssertionError("the sandbox has no account with exactly one stored card")


async def test_charging_a_stored_card(paying_config: ServerConfig, sandbox: RunningSandbox, wire: Wire) -> None:
    file_number, last4 = _account_with_one_good_card(sandbox)
    person = Payor()
    async with client(paying_config, "legacy", person) as mcp:
        result = await mcp.call_tool("scollect_run_payment", {"file_number": file_number, "amount": "5.00"})
    assert not result.is_error, text_of(result)
    assert f"the stored CREDIT CARD ****{last4}" in person.confirmations[0].message
    data = result.structured_content
    assert data is not None and data["approved"] is True and data["approval_code"] and data["amount"] == "5.00"
    assert sent(wire, "/run_payment_external")[0].json["paymentamount"] == "5.00"


@ERAS
async def test_a_retried_payment_reaches_the_vendor_once(
    paying_config: ServerConfig, sandbox: RunningSandbox, wire: Wire, mode: str
) -> None:
    """Agents retry (a dropped connection, an impatient loop): the same payment, same arguments, is replayed
    from the first result: no second page, no second confirmation, no second vendor call."""
    stored_before = len(sandbox.scollect.store.external_payments("R1061"))
    person = Payor(CARD)
    arguments = {"file_number": "R1061", "amount": "42.00", "payment_date": SOON.isoformat()}
    async with client(paying_config, mode, person) as mcp:
        first = await mcp.call_tool("scollect_record_payment", arguments)
        retried = await mcp.call_tool("scollect_record_payment", arguments)
    assert not first.is_error and not retried.is_error, text_of(retried)
    assert retried.structured_content == first.structured_content
    assert (retried.meta or {}).get("collections-mcp/replayed") is True
    assert len(person.urls) == 1 and len(person.confirmations) == 1
    assert len(sent(wire, "/insert_payments_external")) == 1
    assert len(sandbox.scollect.store.external_payments("R1061")) == stored_before + 1


async def test_a_retried_charge_of_a_stored_card_reaches_the_vendor_once(
    paying_config: ServerConfig, sandbox: RunningSandbox, wire: Wire
) -> None:
    file_number, _ = _account_with_one_good_card(sandbox)
    person = Payor()
    async with client(paying_config, "legacy", person) as mcp:
        results = [await mcp.call_tool("scollect_run_payment", {"file_number": file_number, "amount": "6.00"})
                   for _ in range(3)]  # fmt: skip
    assert not any(result.is_error for result in results), [text_of(result) for result in results]
    assert len(sent(wire, "/run_payment_external")) == 1 and len(person.confirmations) == 1
    assert [bool((result.meta or {}).get("collections-mcp/replayed")) for result in results] == [False, True, True]


async def test_charging_without_a_stored_method_asks_nothing(paying_config: ServerConfig, wire: Wire) -> None:
    person = Payor()
    async with client(paying_config, "legacy", person) as mcp:
        result = await mcp.call_tool("scollect_run_payment", {"file_number": "R1013", "amount": "5.00"})
    assert result.is_error and "no stored payment method" in text_of(result)
    assert person.confirmations == [] and wire.paths() == ["POST /getAlpaymentdata"]


async def test_money_tools_declare_capture_and_confirmation(paying_config: ServerConfig) -> None:
    async with Client(build_server(paying_config)) as mcp:
        tools = {tool.name: tool for tool in (await mcp.list_tools()).tools}
    for name in ("scollect_record_payment", "scollect_record_payment_plan", "scollect_update_pending_payment",
                 "scollect_run_payment"):  # fmt: skip
        tool = tools[name]
        assert tool.meta is not None and tool.meta["collections-mcp/effect"] == "money"
        properties = tool.input_schema["properties"]
        assert not any(word in key for key in properties for word in ("card", "cvv", "routing", "account_number"))


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_over_http_the_page_is_served_by_the_mcp_app_itself(
    server_config: ServerConfig, wire: Wire, mode: str
) -> None:
    """A remote HTTP client's person must reach the page: it is at <server URL>/pay/<token>, not on loopback."""
    import socket

    from collections_mcp.sandbox.http import serve_app

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    server = build_server(replace(server_config, http_url=f"http://127.0.0.1:{port}"))
    app = server.streamable_http_app(streamable_http_path="/mcp")
    person = Payor(CARD)
    arguments = {"file_number": "R1063", "amount": "15.00", "payment_date": SOON.isoformat()}
    async with (
        server.session_manager.run(),
        serve_app(app, port=port) as base_url,
        Client(f"{base_url}/mcp", mode=mode, elicitation_callback=person) as mcp,  # type: ignore[arg-type]
    ):
        result = await mcp.call_tool("scollect_record_payment", arguments)
        later = await statuses_after(person)
    assert not result.is_error, text_of(result)
    assert person.urls[0].url.startswith(f"http://127.0.0.1:{port}/pay/")
    assert person.pages[0].status_code == 200 and later == [410, 410]
    assert len(sent(wire, "/insert_payments_external")) == 1
