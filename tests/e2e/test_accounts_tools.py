"""The cross-vendor `accounts` tools through the SDK's real Client, against the Scollect simulator.

The server's clock is fixed (ServerConfig.clock feeds ToolContext.now) at a moment chosen relative to when
the demo data was generated, so the special accounts' recent attempts and the calling hours are the same
on every run.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import tenacity
from mcp import Client
from pydantic import SecretStr

from collections_mcp.sandbox.runner import RunningSandbox
from collections_mcp.server.app import ServerConfig, build_server
from collections_mcp.server.ops.runtime import sandbox_vendor_settings
from collections_mcp.server.settings import ServerSettings
from collections_mcp.tools.accounts.settings import AccountsSettings, accounts_settings
from collections_mcp.tools.common.settings import VendorSettings
from tests.conftest import Wire
from tests.helpers import failed, text_of

pytestmark = pytest.mark.anyio


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now




async def ok(mcp: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await mcp.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    data: dict[str, Any] | None = result.structured_content
    assert data is not None
    return data




def store(sandbox: RunningSandbox) -> Any:
    return sandbox.scollect.store


def generated_at(sandbox: RunningSandbox) -> datetime:
    """When the demo data was generated: R1015's SPOKE TO DEBTOR was placed exactly one day before (to the minute)."""
    spoke = [a for a in store(sandbox).attempts("R1015") if a["dispo"] == "SPOKE TO DEBTOR"][-1]
    day = datetime.strptime(spoke["date"], "%a, %d %b %Y %H:%M:%S GMT").date()
    hour, minute = (int(part) for part in spoke["time"].split(":"))
    return datetime.combine(day, time(hour, minute), tzinfo=UTC) + timedelta(days=1)


def business_hours_after_generation(sandbox: RunningSandbox) -> datetime:
    """The first quarter hour after generation between 18:00 and 00:59 UTC: 8 a.m.-9 p.m. in every US zone the
    special accounts use, and less than 22 h after generation, so R1014's 7 calls are all still within 7 days."""
    moment = (generated_at(sandbox) + timedelta(minutes=5)).replace(second=0, microsecond=0)
    while not (moment.hour >= 18 or moment.hour == 0):
        moment += timedelta(minutes=15)
    return moment


@pytest.fixture
def clock(sandbox: RunningSandbox) -> Clock:
    return Clock(business_hours_after_generation(sandbox))


@pytest.fixture
def accounts_config(sandbox: RunningSandbox, tmp_path: Path, clock: Clock) -> ServerConfig:
    scollect = sandbox_vendor_settings(sandbox)["scollect"]
    accounts = accounts_settings({"scollect": scollect}, env_file=None)
    assert accounts is not None and accounts.enabled and accounts.scollect is scollect
    vendors: dict[str, VendorSettings] = {"scollect": scollect, "accounts": accounts}
    settings = ServerSettings(_env_file=None, state_dir=tmp_path / "state", read_only=False, toolsets=None, sandbox=True)
    return ServerConfig(settings=settings, vendors=vendors, sandbox=True, clock=clock)


@pytest.fixture
async def mcp(accounts_config: ServerConfig) -> AsyncIterator[Client]:
    async with Client(build_server(accounts_config)) as client:
        yield client


def assert_no_identity_leak(sandbox: RunningSandbox, file_number: str, *outputs: Any) -> None:
    account = store(sandbox).account(file_number)
    ssn, birth = str(account["socialsecuritynumber"]), str(account["birthdate"]).strip()
    month, day, year = birth.split("/") if birth.count("/") == 2 else ("", "", "")
    forbidden = {ssn, ssn.replace("-", ""), birth, f"{year}-{int(month):02d}-{int(day):02d}" if year else ""} - {""}
    for output in outputs:
        shown = output if isinstance(output, str) else json.dumps(output)
        for value in forbidden:
            assert value not in shown, f"{value!r} leaked"


# ---------------------------------------------------------------------------------------------- catalog


def test_accounts_settings_follow_scollect() -> None:
    assert not AccountsSettings(_env_file=None).enabled
    assert accounts_settings({}) is None


async def test_tools_are_listed_read_only_with_schemas(mcp: Client) -> None:
    tools = {tool.name: tool for tool in (await mcp.list_tools()).tools}
    assert {"accounts_snapshot", "accounts_check_contact", "accounts_verify_identity"} <= set(tools)
    for name in ("accounts_snapshot", "accounts_check_contact", "accounts_verify_identity"):
        tool = tools[name]
        assert tool.output_schema is not None and tool.description and len(tool.description) > 100
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
    check = tools["accounts_check_contact"].input_schema
    assert check["required"] == ["file_number", "channel"]
    verify = tools["accounts_verify_identity"].input_schema
    assert set(verify["properties"]) == {"file_number", "ssn_last4", "date_of_birth", "zip"}


# ---------------------------------------------------------------------------------------------- snapshot


async def test_snapshot_is_compact_and_masked(mcp: Client, sandbox: RunningSandbox, wire: Wire) -> None:
    result = await mcp.call_tool("accounts_snapshot", {"file_number": "R1000"})
    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert data is not None
    raw = store(sandbox).account("R1000")
    assert data["identity"] == {"full_name": "IVANA LAST NAME", "ssn": f"***-**-{raw['socialsecuritynumber'][-4:]}",
                                "city": "MORIARTY", "state": "NM"}  # fmt: skip
    # Other tests in the session change R1000 (payments, notes), so expectations come from the simulator's store.
    assert data["balance"]["status"] == "ACTIVE"
    assert data["balance"]["current_balance"] == f"{Decimal(str(raw['currentbalance']).replace(',', '')):.2f}"
    assert data["balance"]["minimum_one_time_payment"] == "100.00"
    assert {phone["number"] for phone in data["phones"]} == {p["phonenumber"] for p in store(sandbox).phones("R1000")}
    assert all("status" in phone for phone in data["phones"])
    assert data["permissions"]["readable"] is False and "Not readable from Scollect" in data["permissions"]["note"]
    assert data["notes_total"] == store(sandbox).count_notes("R1000") and len(data["recent_notes"]) == 5
    stamps = [note.get("at", "") for note in data["recent_notes"]]
    assert stamps == sorted(stamps, reverse=True)
    assert data["attempts_total"] == len(store(sandbox).attempts("R1000")) and len(data["recent_attempts"]) <= 5
    payments = store(sandbox).payments("R1000")
    assert data["payments_total"] == len(payments) and len(data["recent_payments"]) == min(5, len(payments))
    paid_on = [p["paid_on"] for p in data["recent_payments"]]
    assert paid_on == sorted(paid_on, reverse=True) and "2024-03-20" in paid_on
    methods = store(sandbox).payment_methods("R1000")
    assert data["payment_methods"] == [{"method": m["paymentmethod"], "last4": m["last4card"]} for m in methods]
    assert {"last4": "1111", "method": "CREDIT CARD"} in data["payment_methods"]
    assert data["unavailable"] == []
    call_now = data["call_now"]
    assert call_now["channel"] == "call" and "INCONVENIENT_TIME" not in [r["code"] for r in call_now["reasons"]]
    local = next(r for r in call_now["reasons"] if r["code"] == "LOCAL_TIME")
    assert "America/Denver" in local["detail"]
    # Identity details that verify a caller are not shown: no date of birth, no ZIP, no street.
    assert_no_identity_leak(sandbox, "R1000", text_of(result), data)
    assert "87035" not in json.dumps(data) and "PO BOX" not in json.dumps(data)
    assert sorted(wire.paths()) == sorted([
        "GET /getaccount/R1000", "POST /getAlaccountdata", "GET /getphones/R1000", "GET /getnotes/R1000",
        "GET /getattempts/R1000", "GET /getpayments/R1000", "POST /getAlpaymentdata",
    ])  # fmt: skip


async def test_snapshot_sub_calls_run_concurrently(
    mcp: Client, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a small simulator latency, every sub-call must be in flight before any of them is answered."""
    log = sandbox.scollect.app.state.request_log
    start = len(log)
    in_flight: list[int] = []
    original_append = log.append

    def spy(record: Any) -> None:
        original_append(record)
        in_flight.append(sum(1 for r in list(log)[start:] if r.status is None and r.path != "/login"))

    monkeypatch.setattr(log, "append", spy)
    monkeypatch.setattr(sandbox.scollect.app.state.latency, "seconds", 0.2)
    await ok(mcp, "accounts_snapshot", {"file_number": "R1001"})
    assert max(in_flight) == 7, in_flight


async def test_a_failed_sub_call_is_reported_not_fatal(
    mcp: Client, sandbox: RunningSandbox, wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The client still retries the read 3 times; only the jittered pauses between tries are skipped.
    monkeypatch.setattr("collections_mcp.tools.common.http.wait_exponential_jitter", lambda **_: tenacity.wait_none())
    faults = sandbox.scollect.app.state.faults
    fault = faults.http_error("/getnotes/R1000", status=500, times=3)
    try:
        data = await ok(mcp, "accounts_snapshot", {"file_number": "R1000"})
    finally:
        faults.clear()
    assert fault.hits == 3  # the client's read retries, then gives up on this part only
    assert [u["part"] for u in data["unavailable"]] == ["notes"]
    assert "unavailable" in data["unavailable"][0]["error"]
    assert "recent_notes" not in data and "notes_total" not in data
    assert data["identity"]["full_name"] == "IVANA LAST NAME"
    assert data["phones"] and data["recent_payments"] and data["call_now"]["channel"] == "call"
    assert wire.paths().count("GET /getnotes/R1000") == 3


async def test_snapshot_without_the_attempts_log_has_no_verdict(mcp: Client, sandbox: RunningSandbox) -> None:
    faults = sandbox.scollect.app.state.faults
    faults.http_error("/getattempts/R1001", status=400)  # a vendor refusal: not retried, so the test stays fast
    try:
        data = await ok(mcp, "accounts_snapshot", {"file_number": "R1001"})
    finally:
        faults.clear()
    assert {u["part"] for u in data["unavailable"]} == {"attempts", "call_now"}
    assert "call_now" not in data


async def test_snapshot_of_empty_parts_and_of_an_unknown_account(mcp: Client) -> None:
    no_method = await ok(mcp, "accounts_snapshot", {"file_number": "R1013"})  # the vendor answers 404: none stored
    assert no_method["payment_methods"] == [] and no_method["unavailable"] == []
    no_phones = await ok(mcp, "accounts_snapshot", {"file_number": "R1006"})
    assert no_phones["phones"] == [] and no_phones["recent_attempts"] == [] and no_phones["unavailable"] == []
    message = await failed(mcp, "accounts_snapshot", {"file_number": "R999999"})
    assert "not found" in message and "R999999" in message


# ------------------------------------------------------------------------------------------ check contact


async def test_holds_block_every_channel(mcp: Client) -> None:
    holds = {"R1001": "BANKRUPTCY", "R1002": "DECEASED", "R1003": "CEASE_AND_DESIST", "R1004": "ATTORNEY_REPRESENTED"}
    for file_number, code in holds.items():
        for channel in ("call", "text", "email"):
            verdict = await ok(mcp, "accounts_check_contact", {"file_number": file_number, "channel": channel})
            assert verdict["allowed"] is False
            blocking = [r for r in verdict["reasons"] if r["blocking"]]
            assert code in [r["code"] for r in blocking], (file_number, channel)
            assert "next_allowed_at" not in verdict


async def test_seven_calls_in_seven_days_blocks_the_eighth(mcp: Client, clock: Clock, wire: Wire) -> None:
    verdict = await ok(mcp, "accounts_check_contact", {"file_number": "R1014", "channel": "call"})
    assert verdict["allowed"] is False
    assert [r["code"] for r in verdict["reasons"] if r["blocking"]] == ["REG_F_7_IN_7"]
    block = next(r for r in verdict["reasons"] if r["code"] == "REG_F_7_IN_7")
    assert block["rule"] == "12 CFR 1006.14(b)(2)(i)" and "7 calls placed in the last 7 days" in block["detail"]
    next_allowed = datetime.fromisoformat(verdict["next_allowed_at"])
    assert clock.now < next_allowed <= clock.now + timedelta(days=2)
    assert sorted(wire.paths()) == ["GET /getaccount/R1014", "GET /getattempts/R1014"]
    # Texts are not counted against the call limit (permissions being unreadable is what blocks them).
    text = await ok(mcp, "accounts_check_contact", {"file_number": "R1014", "channel": "text"})
    assert [r["code"] for r in text["reasons"] if r["blocking"]] == ["PERMISSION_UNKNOWN"]


async def test_a_conversation_a_day_ago_blocks_calls_for_seven_days(mcp: Client, sandbox: RunningSandbox) -> None:
    verdict = await ok(mcp, "accounts_check_contact", {"file_number": "R1015", "channel": "call"})
    assert [r["code"] for r in verdict["reasons"] if r["blocking"]] == ["REG_F_7_DAYS_AFTER_CONVERSATION"]
    spoke = generated_at(sandbox) - timedelta(days=1)
    until = datetime.fromisoformat(next(r["until"] for r in verdict["reasons"] if r["blocking"]))
    assert until == spoke + timedelta(minutes=1) + timedelta(days=7)  # minute precision rounds up


async def test_ordinary_call_is_allowed_and_permissions_gap_is_stated(mcp: Client) -> None:
    verdict = await ok(mcp, "accounts_check_contact", {"file_number": "R1008", "channel": "call"})
    assert verdict["allowed"] is True
    unknown = next(r for r in verdict["reasons"] if r["code"] == "PERMISSION_UNKNOWN")
    assert unknown["blocking"] is False and "not readable from Scollect" in unknown["detail"]


async def test_texts_and_emails_fail_closed_on_unreadable_permissions(mcp: Client) -> None:
    # R1009 has donottext 1 and R1010 donotemail 1 in the vendor, but Scollect offers no read of them.
    for file_number, channel in (("R1009", "text"), ("R1010", "email")):
        verdict = await ok(mcp, "accounts_check_contact", {"file_number": file_number, "channel": channel})
        assert verdict["allowed"] is False
        assert [r["code"] for r in verdict["reasons"] if r["blocking"]] == ["PERMISSION_UNKNOWN"]


async def test_a_phone_number_is_checked_against_the_account(mcp: Client, wire: Wire) -> None:
    verdict = await ok(
        mcp, "accounts_check_contact", {"file_number": "R1050", "channel": "call", "phone_number": "(222) 333-4444"}
    )
    assert verdict["phone_number"] == "222-333-4444"
    blocking = {r["code"] for r in verdict["reasons"] if r["blocking"]}
    assert "BAD_NUMBER" in blocking  # 'Disconnected'
    assert "ATTORNEY_REPRESENTED" in blocking  # the seed's CLAUDIA has an attorney on file
    assert "GET /getphones/R1050" in wire.paths()
    other = await ok(mcp, "accounts_check_contact", {"file_number": "R1008", "channel": "call", "phone_number": "716-555-0101"})
    assert "PHONE_NOT_ON_FILE" in [r["code"] for r in other["reasons"]]


async def test_check_contact_errors(mcp: Client, wire: Wire) -> None:
    assert "not found" in await failed(mcp, "accounts_check_contact", {"file_number": "R999999", "channel": "call"})
    message = await failed(mcp, "accounts_check_contact", {"file_number": "R1000", "channel": "fax"})
    assert "channel" in message
    assert all(path.startswith("GET /get") for path in wire.paths())
    assert "GET /getaccount/R1000" not in wire.paths()


async def test_snapshot_and_check_contact_agree(mcp: Client) -> None:
    snapshot = await ok(mcp, "accounts_snapshot", {"file_number": "R1014"})
    verdict = await ok(mcp, "accounts_check_contact", {"file_number": "R1014", "channel": "call"})
    assert snapshot["call_now"] == verdict


# ---------------------------------------------------------------------------------------- verify identity


def identity_of(sandbox: RunningSandbox, file_number: str) -> dict[str, str]:
    account = store(sandbox).account(file_number)
    month, day, year = (int(part) for part in str(account["birthdate"]).split("/"))
    return {"ssn_last4": str(account["socialsecuritynumber"])[-4:], "date_of_birth": f"{year}-{month:02d}-{day:02d}",
            "zip": str(account["zip"])}  # fmt: skip


async def test_verify_identity_matches_without_revealing(mcp: Client, sandbox: RunningSandbox, wire: Wire) -> None:
    given = identity_of(sandbox, "R1000")
    result = await mcp.call_tool("accounts_verify_identity", {"file_number": "R1000", **given})
    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert data is not None
    assert data["verified"] is True and data["locked"] is False
    assert (data["ssn_last4"], data["date_of_birth"], data["zip"]) == ("match", "match", "match")
    assert data["attempts_remaining"] == 3
    for value in given.values():
        assert value not in text_of(result) and value not in json.dumps(data)
    assert_no_identity_leak(sandbox, "R1000", text_of(result), data)
    assert wire.paths() == ["GET /getaccount/R1000"]

    partial = await ok(mcp, "accounts_verify_identity", {"file_number": "R1000", "zip": given["zip"] + "-1234"})
    assert partial["verified"] is True and partial["ssn_last4"] == "not_given" and partial["date_of_birth"] == "not_given"


async def test_details_not_on_file(mcp: Client) -> None:
    # R1001's birthdate is the vendor's 1/1/1900 placeholder; R1005 has none.
    for file_number in ("R1001", "R1005"):
        data = await ok(mcp, "accounts_verify_identity", {"file_number": file_number, "date_of_birth": "1900-01-01"})
        assert data["date_of_birth"] == "not_on_file" and data["verified"] is False
        assert data["attempts_remaining"] == 3  # nothing mismatched: not a failure


async def test_failed_checks_are_rate_limited_per_account(mcp: Client, sandbox: RunningSandbox, clock: Clock, wire: Wire) -> None:
    given = identity_of(sandbox, "R1000")
    wrong = "0000" if given["ssn_last4"] != "0000" else "1111"
    start = clock.now
    first = await ok(mcp, "accounts_verify_identity", {"file_number": "R1000", "ssn_last4": wrong, "zip": given["zip"]})
    assert (first["verified"], first["ssn_last4"], first["zip"], first["attempts_remaining"]) == (False, "mismatch", "match", 2)
    clock.now = start + timedelta(minutes=1)
    second = await ok(mcp, "accounts_verify_identity", {"file_number": "R1000", "ssn_last4": wrong})
    assert second["attempts_remaining"] == 1 and "retry_at" not in second
    # A success does not reset the count (else one known field would allow unlimited guesses at another).
    assert (await ok(mcp, "accounts_verify_identity", {"file_number": "R1000", "zip": given["zip"]}))["verified"] is True
    clock.now = start + timedelta(minutes=2)
    third = await ok(mcp, "accounts_verify_identity", {"file_number": "R1000", "date_of_birth": "1999-12-31"})
    assert third["attempts_remaining"] == 0 and "locked until" in third["message"]
    retry_at = datetime.fromisoformat(third["retry_at"])
    assert retry_at == start + timedelta(minutes=15)  # when the first failure leaves the 15-minute window

    before = len(wire.paths())
    for number in ("R1000", "r1000"):  # the same account however it is spelled
        locked = await ok(mcp, "accounts_verify_identity", {"file_number": number, **given})
        assert locked["locked"] is True and locked["verified"] is False and locked["attempts_remaining"] == 0
        assert locked["ssn_last4"] == locked["date_of_birth"] == locked["zip"] == "not_checked"
        assert datetime.fromisoformat(locked["retry_at"]) == retry_at
    assert len(wire.paths()) == before  # nothing was read or compared while locked

    other = await ok(mcp, "accounts_verify_identity", {"file_number": "R1005", "zip": "00000"})
    assert other["locked"] is False and other["attempts_remaining"] == 2  # other accounts are unaffected

    clock.now = retry_at - timedelta(seconds=1)
    assert (await ok(mcp, "accounts_verify_identity", {"file_number": "R1000", **given}))["locked"] is True
    clock.now = retry_at
    again = await ok(mcp, "accounts_verify_identity", {"file_number": "R1000", **given})
    assert again["verified"] is True and again["attempts_remaining"] == 1  # two failures are still in the window


async def test_the_lockout_survives_a_restart_and_holds_across_servers(
    sandbox: RunningSandbox, accounts_config: ServerConfig, backend_url: str | None
) -> None:
    """Failures are kept in the shared state (SQLite under the state directory, or the shared PostgreSQL
    database): a restarted server (or a second one sharing it) still refuses to compare until the window has
    passed."""
    if backend_url is not None:
        shared = accounts_config.settings.model_copy(update={"database_url": SecretStr(backend_url)})
        accounts_config = dataclasses.replace(accounts_config, settings=shared)
    given = identity_of(sandbox, "R1002")
    wrong = "0000" if given["ssn_last4"] != "0000" else "1111"
    async with Client(build_server(accounts_config)) as first:
        for _ in range(3):
            await ok(first, "accounts_verify_identity", {"file_number": "R1002", "ssn_last4": wrong})
    async with Client(build_server(accounts_config)) as restarted, Client(build_server(accounts_config)) as other:
        for mcp in (restarted, other):
            locked = await ok(mcp, "accounts_verify_identity", {"file_number": "R1002", **given})
            assert locked["locked"] is True and locked["verified"] is False and locked["retry_at"]
        fresh = await ok(restarted, "accounts_verify_identity", {"file_number": "R1003", "zip": "00000"})
        assert fresh["locked"] is False  # only that account


async def test_identity_checks_are_audited_with_what_happened(
    mcp: Client, sandbox: RunningSandbox, accounts_config: ServerConfig
) -> None:
    from collections_mcp.server.state.audit_log import SqliteAuditLog, audit_path

    given = identity_of(sandbox, "R1001")
    wrong = "0000" if given["ssn_last4"] != "0000" else "1111"
    await ok(mcp, "accounts_verify_identity", {"file_number": "R1001", "zip": given["zip"]})
    for _ in range(3):
        await ok(mcp, "accounts_verify_identity", {"file_number": "R1001", "ssn_last4": wrong})
    await ok(mcp, "accounts_verify_identity", {"file_number": "R1001", **given})
    audit = SqliteAuditLog(audit_path(accounts_config.settings.state_dir))
    try:
        records = await audit.query(None, "accounts_verify_identity", 100)
    finally:
        audit.close()
    assert [r.outcome for r in records] == ["ok:identity_verified", *["ok:identity_mismatch"] * 3, "ok:identity_locked"]
    assert {r.arguments["file_number"] for r in records} == {"R1001"}
    assert all(given["ssn_last4"] not in str(r.arguments.get("ssn_last4", "")) for r in records)


async def test_verify_identity_argument_errors(mcp: Client, wire: Wire) -> None:
    cases = [
        ({"file_number": "R1000"}, "at least one of ssn_last4, date_of_birth, zip"),
        ({"file_number": "R1000", "ssn_last4": "12a4"}, "ssn_last4"),
        ({"file_number": "R1000", "ssn_last4": "123-45-6789"}, "ssn_last4"),
        ({"file_number": "R1000", "date_of_birth": "04/22/1958"}, "date_of_birth"),
        ({"file_number": "R1000", "zip": "8703"}, "zip"),
    ]
    for arguments, expected in cases:
        message = await failed(mcp, "accounts_verify_identity", arguments)
        assert expected in message
        assert "123-45-6789" not in message
    assert wire.paths() == []


def test_identity_arguments_serialise_masked() -> None:
    from collections_mcp.tools.accounts.models import VerifyIdentityArgs

    args = VerifyIdentityArgs.model_validate({"file_number": "R1", "ssn_last4": "1234", "date_of_birth": "1958-04-22", "zip": "87035"})
    assert args.ssn_last4 == "1234"  # the handler sees the value ...
    dumped = args.model_dump(mode="json")  # ... audit records and logs built from arguments do not
    assert dumped == {"file_number": "R1", "ssn_last4": "****", "date_of_birth": "****-**-**", "zip": "*****"}
