"""The Scollect client against the simulator over loopback HTTP: every endpoint, every error shape."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from pydantic import SecretStr

from collections_mcp.sandbox.http import serve_app
from collections_mcp.sandbox.runner import RunningSandbox
from collections_mcp.sandbox.scollect.app import build_scollect_app
from collections_mcp.sandbox.scollect.config import ScollectSandboxConfig
from collections_mcp.sandbox.scollect.demo_data import SHARED_SSN_TWIN, SPECIAL_ACCOUNTS
from collections_mcp.sandbox.scollect.responses import werkzeug_page
from collections_mcp.tools.common.errors import VendorAuthError, VendorError, VendorNotFound, VendorUnavailable
from collections_mcp.tools.scollect.client import ScollectClient
from collections_mcp.tools.scollect.settings import ScollectSettings
from tests.conftest import Wire
from tests.helpers import Clock

pytestmark = pytest.mark.anyio


def settings_for(sandbox: RunningSandbox, **overrides: Any) -> ScollectSettings:
    values: dict[str, Any] = {
        "base_url": sandbox.scollect.base_url,
        "api_key": SecretStr(sandbox.scollect.api_key),
        "pin": SecretStr(sandbox.scollect.pin),
        "timeout_seconds": 5.0,
    }
    return ScollectSettings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]


@pytest.fixture
async def client(sandbox: RunningSandbox) -> AsyncIterator[ScollectClient]:
    async with ScollectClient.open(settings_for(sandbox)) as opened:
        yield opened


@pytest.fixture
def faults(sandbox: RunningSandbox) -> Any:
    injector = sandbox.scollect.app.state.faults
    yield injector
    injector.clear()


async def test_login_is_lazy_and_shared(client: ScollectClient, wire: Wire) -> None:
    assert wire.requests(include_login=True) == []
    await client.list_portfolios()
    await client.phones("R1000")
    logins = [entry for entry in wire.requests(include_login=True) if entry.path == "/login"]
    assert len(logins) == 1 and client.logins == 1
    assert logins[0].json["pin"] and logins[0].json["apikey"]
    assert all(entry.headers["authorization"].startswith("Bearer ") for entry in wire.requests())
    assert all(entry.headers["content-type"] == "application/json" for entry in wire.requests() if entry.json is not None)


async def test_wrong_credentials_are_an_auth_error(sandbox: RunningSandbox) -> None:
    async with ScollectClient.open(settings_for(sandbox, api_key=SecretStr("wrong"))) as bad:
        with pytest.raises(VendorAuthError, match="Invalid API Credentials"):
            await bad.list_portfolios()


async def test_expired_token_relogs_in_once_and_retries(client: ScollectClient, sandbox: RunningSandbox, wire: Wire) -> None:
    await client.list_portfolios()
    sandbox.scollect.app.state.tokens.expire_all()
    rows = await client.phones("R1000")
    assert rows
    sequence = [(entry.path, entry.status) for entry in wire.requests(include_login=True)]
    assert sequence == [
        ("/login", 200),
        ("/getportfoliolist", 200),
        ("/getphones/R1000", 401),
        ("/login", 200),
        ("/getphones/R1000", 200),
    ]


async def test_expiry_in_the_vendors_envelope_relogs_in_once_and_retries(
    client: ScollectClient, sandbox: RunningSandbox, wire: Wire
) -> None:
    """/getportfoliolist and /getaccountbysocial handle token expiry in the view: HTTP 200, code 401 inside."""
    await client.phones("R1000")
    sandbox.scollect.app.state.tokens.expire_all()
    assert [row["portfolio"] for row in await client.list_portfolios()][:1] == ["C2CLA 12.1.22"]
    ssn = str(sandbox.scollect.store.account("R1000")["socialsecuritynumber"])
    sandbox.scollect.app.state.tokens.expire_all()
    assert [row["filenumber"] for row in await client.accounts_by_ssn(ssn)] == ["R1000"]
    sequence = [(entry.path, entry.status) for entry in wire.requests(include_login=True)]
    assert sequence == [
        ("/login", 200),
        ("/getphones/R1000", 200),
        ("/getportfoliolist", 200),  # {"result": [{"error": "Token has expired"}, 401], ...}
        ("/login", 200),
        ("/getportfoliolist", 200),
        (f"/getaccountbysocial/{ssn}", 200),
        ("/login", 200),
        (f"/getaccountbysocial/{ssn}", 200),
    ]
    assert client.logins == 3


async def test_a_fresh_token_refused_again_is_an_auth_error_after_one_relogin(
    client: ScollectClient, sandbox: RunningSandbox, faults: Any, wire: Wire
) -> None:
    expired = json.dumps({"result": [{"error": "Token has expired"}, 401], "state": "SUCCESS"})
    faults.http_error("^/getportfoliolist$", status=200, body=expired, times=2)
    with pytest.raises(VendorAuthError, match="refused a fresh token"):
        await client.list_portfolios()
    assert [entry.path for entry in wire.requests(include_login=True)] == [
        "/login", "/getportfoliolist", "/login", "/getportfoliolist",
    ]  # fmt: skip


@pytest.fixture
async def short_lived(sandbox: RunningSandbox) -> AsyncIterator[tuple[Any, Clock, ScollectClient]]:
    """A Scollect simulator (over the session's demo data) whose tokens live 60 s on a clock the test moves."""
    clock = Clock(datetime(2030, 1, 7, 9, 0, tzinfo=UTC))
    app = build_scollect_app(sandbox.scollect.store, ScollectSandboxConfig(token_ttl_seconds=60), clock=clock)
    async with serve_app(app) as base_url, ScollectClient.open(settings_for(sandbox, base_url=base_url)) as opened:
        yield app, clock, opened


async def test_a_token_outliving_its_ttl_is_renewed_once(short_lived: tuple[Any, Clock, ScollectClient]) -> None:
    app, clock, client = short_lived
    await client.phones("R1000")
    clock.now += timedelta(seconds=59)  # still valid: no new login
    await client.notes("R1000")
    clock.now += timedelta(seconds=1)  # 60 s after login: expired (HTTP 401 on /getphones)
    await client.phones("R1000")
    clock.now += timedelta(seconds=61)  # expired again (the envelope on /getportfoliolist)
    assert await client.list_portfolios()
    sequence = [(entry.path, entry.status) for entry in app.state.request_log]
    assert sequence == [
        ("/login", 200),
        ("/getphones/R1000", 200),
        ("/getnotes/R1000", 200),
        ("/getphones/R1000", 401),
        ("/login", 200),
        ("/getphones/R1000", 200),
        ("/getportfoliolist", 200),
        ("/login", 200),
        ("/getportfoliolist", 200),
    ]
    assert app.state.request_log[3].text == "" and client.logins == app.state.logins == 3


async def test_concurrent_calls_with_an_expired_token_log_in_once(client: ScollectClient, sandbox: RunningSandbox) -> None:
    await client.list_portfolios()
    sandbox.scollect.app.state.tokens.expire_all()
    before = client.logins
    async with anyio.create_task_group() as group:
        for number in range(1000, 1006):
            group.start_soon(client.phones, f"R{number}")
    assert client.logins == before + 1


async def test_reads_every_endpoint(client: ScollectClient, wire: Wire) -> None:
    assert await client.list_portfolios()
    assert (await client.account("R1000"))["filenumber"] == "R1000"
    assert (await client.account_summary("R1000"))["filenumber"] == "R1000"
    assert isinstance(await client.attempts("R1000"), list)
    assert isinstance(await client.emails("R1000"), list)
    assert isinstance(await client.email_stats("R1000"), list)
    assert await client.phones("R1000")
    assert await client.notes("R1000")
    assert isinstance(await client.payments("R1000"), list)
    assert isinstance(await client.payment_methods("R1000"), list)
    assert isinstance(await client.last_payment("R1000"), list)
    assert await client.search_by_phone("123-456-7890")
    assert await client.portfolio_accounts("C2CLA 12.1.22")
    assert wire.paths() == [
        "GET /getportfoliolist",
        "GET /getaccount/R1000",
        "POST /getAlaccountdata",
        "GET /getattempts/R1000",
        "GET /getemails/R1000",
        "GET /getemailstats/R1000",
        "GET /getphones/R1000",
        "GET /getnotes/R1000",
        "GET /getpayments/R1000",
        "POST /getAlpaymentdata",
        "POST /get_lastpayinfo",
        "POST /searchbyphone",
        "POST /get_accounts_in_portfolio",
    ]


async def test_accounts_by_social_security_number(client: ScollectClient, sandbox: RunningSandbox, wire: Wire) -> None:
    store = sandbox.scollect.store
    ssn = str(store.account("R1000")["socialsecuritynumber"])
    [row] = await client.accounts_by_ssn(ssn)
    assert row == store.account("R1000")  # the whole vendor row, as the seed shows it
    twin_ssn = str(store.account(SPECIAL_ACCOUNTS["shared_ssn"])["socialsecuritynumber"])
    twins = await client.accounts_by_ssn(twin_ssn)
    assert sorted(row["filenumber"] for row in twins) == sorted([SPECIAL_ACCOUNTS["shared_ssn"], SHARED_SSN_TWIN])
    assert wire.paths() == [f"GET /getaccountbysocial/{ssn}", f"GET /getaccountbysocial/{twin_ssn}"]


async def test_not_found_shapes(client: ScollectClient) -> None:
    with pytest.raises(VendorNotFound):  # {"result": {"result": []}}
        await client.account("R999999")
    with pytest.raises(VendorNotFound):  # [{"error": ...}, 404]
        await client.account_summary("R999999")
    with pytest.raises(VendorNotFound):  # {"result": {"error": "SSN of ... not found"}}
        await client.accounts_by_ssn("999-88-7777")
    with pytest.raises(VendorNotFound):
        await client.search_by_phone("555-000-0001")
    with pytest.raises(VendorNotFound):
        await client.payments("R999999")


async def test_empty_lists_are_not_errors(client: ScollectClient) -> None:
    assert await client.phones(SPECIAL_ACCOUNTS["no_phones"]) == []
    assert await client.attempts(SPECIAL_ACCOUNTS["no_attempts"]) == []


async def test_writes_every_endpoint(client: ScollectClient, sandbox: RunningSandbox, wire: Wire) -> None:
    assert "inserted" in await client.insert_phone("R1010", "716-555-0101", "CELL", "UNKNOWN", "USER")
    assert "updated" in await client.update_phone("R1010", "716-555-0101", None, "Good Number")
    assert "inserted" in await client.insert_attempt("R1010", "716-555-0101", "NO ANSWER", "bot", "MANUAL")
    assert "inserted" in await client.insert_note("R1010", "bot", "contract test note")
    assert "updated" in await client.update_permission("R1010", "cantext", "0")
    assert "updated" in await client.update_account_field("R1010", "employer", "CONTRACT CO")
    assert "uploaded" in await client.create_callback("R1010", "NAME", "mall", "2030-01-02", "9:15AM")
    assert (await client.send_email(["R1010"], "Reminder", False))["success"] is True
    assert (await client.send_text("R1010", "Missed 1", "Multicast", "TEST"))["success"] is True
    assert wire.paths() == [
        "POST /insertphone",
        "PUT /updatephone",
        "POST /insertattempt",
        "POST /InsertNoteline",
        "PUT /updatepermissions",
        "PUT /updatedbase",
        "POST /createCallback",
        "POST /send_email_c2c",
        "POST /send_text",
    ]
    assert sandbox.scollect.store.account("R1010")["employer"] == "CONTRACT CO"


async def test_write_error_shapes(client: ScollectClient) -> None:
    with pytest.raises(VendorNotFound, match=r"Data not found for this filenumber"):  # {"result": {"error"}}
        await client.insert_phone("R999999", "716-555-0101", "CELL", "UNKNOWN", "USER")
    with pytest.raises(VendorError, match="at least one field"):  # [{"error"}, 400]
        await client.update_phone("R1000", "123-456-7890", None, None)
    with pytest.raises(VendorError, match="does not exist in the dbase table"):  # [{"error"}, 404]
        await client.update_account_field("R1000", "nosuchfield", "x")
    with pytest.raises(VendorError, match="At least one update field must be provided"):  # {"state": "TIMEOUT"}
        await client.update_pending_payment({"filenumber": "R1000"})


async def refusal(call: Awaitable[Any]) -> tuple[type[VendorError], str, int | None]:
    """The error a client call raised: its class, the vendor's message as carried, and the vendor status."""
    with pytest.raises(VendorError) as caught:
        await call
    return type(caught.value), caught.value.message, caught.value.status


async def test_write_error_shapes_of_the_seed(client: ScollectClient, wire: Wire) -> None:
    """Each write endpoint's documented error envelope, from the simulator, as the error the client raises."""
    missing = "Data not found for this filenumber"
    # insertattempt and InsertNoteline: {"result": [{"error": ...}, 400]}
    attempt = await refusal(client.insert_attempt("R999999", "716-555-0101", "NO ANSWER", "bot", "MANUAL"))
    assert attempt == (VendorNotFound, missing, 400)
    assert await refusal(client.insert_note("R999999", "bot", "no such account")) == (VendorNotFound, missing, 400)
    # updatepermissions: {"result": {"error": ...}}
    assert await refusal(client.update_permission("R999999", "callspouse", "1")) == (VendorNotFound, missing, None)
    # createCallback: {"result": {"result": []}}, no message at all
    callback = await refusal(client.create_callback("R999999", "NAME", "mall", "2030-01-02", "9:15AM"))
    assert callback == (
        VendorNotFound, "no callback was created for R999999: the answer was empty, as for an unknown file number", None
    )
    bad_time = await refusal(client.create_callback("R1000", "NAME", "mall", "2030-01-02", "25:99"))
    assert bad_time == (VendorError, "Invalid Callbacktime format. Use h:mmAM or h:mmPM", 400)
    # send_email_c2c and send_text: "anything not in success"
    email = await refusal(client.send_email(["R1000", "R999999"], "Reminder", False))
    assert email == (VendorNotFound, "Reference number R999999 not found", None)
    assert await refusal(client.send_text("R999999", "Missed 1", "Multicast", "TEST")) == (VendorNotFound, missing, None)
    no_phones = SPECIAL_ACCOUNTS["no_phones"]
    text = await refusal(client.send_text(no_phones, "Missed 1", "Multicast", "TEST"))
    assert text == (VendorError, f"No active subscribers found for filenumber {no_phones}", None)
    assert wire.paths() == [
        "POST /insertattempt", "POST /InsertNoteline", "PUT /updatepermissions", "POST /createCallback",
        "POST /createCallback", "POST /send_email_c2c", "POST /send_text", "POST /send_text",
    ]  # fmt: skip
    assert all(entry.status == 200 for entry in wire.requests())  # every error above came at HTTP 200


async def test_send_email_to_an_account_without_an_address(client: ScollectClient, sandbox: RunningSandbox) -> None:
    address = str(sandbox.scollect.store.account("R1150")["emailaddress"])
    await client.update_account_field("R1150", "emailaddress", "")
    try:
        refused = await refusal(client.send_email(["R1150"], "Reminder", False))
    finally:
        await client.update_account_field("R1150", "emailaddress", address)
    assert refused == (VendorError, "No email address on file for reference number R1150", None)
    assert sandbox.scollect.store.emails_sent("R1150") == []


async def test_sends_refused_inside_a_success_answer(client: ScollectClient, faults: Any) -> None:
    """C2C and SBT answer HTTP 200 with the failure inside; nothing but "success": true is success."""
    refused = {"ErrorMessage": "Template Reminder is not set up", "Errors": None, "ResultObject": None,
               "Success": False, "SuccessRedirectUrl": None}  # fmt: skip
    body = {"result": {"response": refused, "success": True}, "state": "SUCCESS"}
    faults.http_error("^/send_email_c2c$", status=200, body=json.dumps(body))
    with pytest.raises(VendorError, match="the email was not sent: Template Reminder is not set up"):
        await client.send_email(["R1000"], "Reminder", False)
    faults.http_error("^/send_text$", status=200, body='{"result": {"success": false}, "state": "SUCCESS"}')
    with pytest.raises(VendorError, match="the text was not sent"):
        await client.send_text("R1000", "Missed 1", "Multicast", "TEST")


async def test_payment_endpoints_wire(client: ScollectClient, sandbox: RunningSandbox, wire: Wire) -> None:
    body = {
        "filenumber": "R1011", "paymentdate": "2030-04-15", "payorname": "John Doe", "paymentmethod": "CREDIT CARD",
        "paymentstatus": "PENDING", "typeofpayment": "Online", "checkaccountnumber": "", "checkroutingnumber": "",
        "cardtype": "Visa", "cardnumber": "4111111111111111", "threedigitnumber": "111", "cardexpirationmonth": "12",
        "cardexpirationyear": "2031", "cardexpirationdate": "12/2031", "paymentamount": "100.00",
        "checkaccounttype": "", "acceptedfees": "0", "printed": "false", "invoice": "INV1",
    }  # fmt: skip
    assert await client.insert_payment(body) == "Payment successfully inserted"
    plan = body | {"paymentdata": [{"paymentamount": "1.00", "paymentdate": "2030-09-01"}]}
    assert await client.insert_payment_plan(plan)
    assert await client.update_pending_payment({"filenumber": "R1011", "payorname": "Jane Doe"})
    with pytest.raises(VendorError, match="No payment info found"):
        await client.update_pending_payment({"filenumber": "R999999", "payorname": "Jane"})
    charged = await client.run_payment("R1000", "2030-04-15", "9.00")
    assert charged["approvalcode"]
    with pytest.raises(VendorError):
        await client.run_payment("R999999", "2030-04-15", "9.00")
    assert "POST /run_payment_external" in wire.paths()


async def test_reads_are_retried_on_5xx_and_non_json(client: ScollectClient, faults: Any, wire: Wire) -> None:
    faults.http_error("/getphones/R1000", status=502, times=1)
    faults.non_json("/getphones/R1000", times=1)
    assert await client.phones("R1000")
    assert [entry.status for entry in wire.requests()] == [502, 200, 200]
    assert [entry.fault for entry in wire.requests()][:2] == ["http_error", "non_json"]


async def test_reads_give_up_after_three_attempts(client: ScollectClient, faults: Any, wire: Wire) -> None:
    faults.http_error("/getnotes/R1000", status=503, times=5)
    with pytest.raises(VendorUnavailable, match="HTTP 503"):
        await client.notes("R1000")
    assert len(wire.requests()) == 3


async def test_writes_are_never_retried(client: ScollectClient, faults: Any, wire: Wire) -> None:
    faults.http_error("/InsertNoteline", status=500, times=1)
    with pytest.raises(VendorUnavailable):
        await client.insert_note("R1000", "bot", "must not be sent twice")
    assert wire.paths() == ["POST /InsertNoteline"]


@pytest.mark.parametrize("status", [400, 404, 405, 415])
async def test_a_4xx_page_that_is_not_json_is_not_retried(
    client: ScollectClient, faults: Any, wire: Wire, status: int
) -> None:
    page = bytes(werkzeug_page(status).body).decode()
    faults.http_error("^/getnotes/R1000$", status=status, body=page, content_type="text/html", times=3)
    with pytest.raises(VendorError, match=f"answered HTTP {status} with a page that is not JSON") as caught:
        await client.notes("R1000")
    assert not isinstance(caught.value, VendorUnavailable) and caught.value.status == status
    assert f"vendor status {status}" in str(caught.value)
    assert wire.paths() == ["GET /getnotes/R1000"]  # exactly one request: a 4xx is not retried


async def test_a_wrong_base_url_gets_werkzeugs_404_once(sandbox: RunningSandbox, wire: Wire) -> None:
    async with ScollectClient.open(settings_for(sandbox, base_url=sandbox.scollect.base_url + "/v2")) as misrouted:
        with pytest.raises(VendorError, match=r'HTTP 404 with a page that is not JSON \("404 Not Found"\)'):
            await misrouted.list_portfolios()
    assert [(entry.path, entry.status) for entry in wire.requests(include_login=True)] == [("/v2/login", 404)]


async def test_dropped_connection_is_unavailable(client: ScollectClient, faults: Any) -> None:
    faults.drop("/InsertNoteline", times=1)
    with pytest.raises(VendorUnavailable, match=r"connection|no answer"):
        await client.insert_note("R1000", "bot", "dropped")
