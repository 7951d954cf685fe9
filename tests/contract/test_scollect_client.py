"""The Scollect client against the simulator over loopback HTTP: every endpoint, every error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from sandbox.runner import RunningSandbox
from sandbox.scollect.demo_data import SPECIAL_ACCOUNTS
from tests.conftest import Wire
from tools.common.errors import VendorAuthError, VendorError, VendorNotFound, VendorUnavailable
from tools.scollect.client import ScollectClient
from tools.scollect.settings import ScollectSettings

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


async def test_concurrent_calls_with_an_expired_token_log_in_once(client: ScollectClient, sandbox: RunningSandbox) -> None:
    import anyio

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


async def test_dropped_connection_is_unavailable(client: ScollectClient, faults: Any) -> None:
    faults.drop("/InsertNoteline", times=1)
    with pytest.raises(VendorUnavailable, match=r"connection|no answer"):
        await client.insert_note("R1000", "bot", "dropped")
