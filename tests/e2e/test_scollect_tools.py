"""Every Scollect tool through the SDK's real Client, against the simulator over loopback HTTP.

Each test checks what an MCP client sees and what the vendor received (or, for bad input, that it
received nothing).
"""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client
from mcp.types import ElicitResult

from collections_mcp.sandbox.runner import RunningSandbox
from collections_mcp.sandbox.scollect.demo_data import SPECIAL_ACCOUNTS
from tests.conftest import Wire
from tests.helpers import failed, ok, text_of

pytestmark = pytest.mark.anyio


def store(sandbox: RunningSandbox) -> Any:
    return sandbox.scollect.store


# ---------------------------------------------------------------------------------------------- catalog


async def test_every_catalog_tool_is_listed_with_schemas_and_effect_annotations(mcp: Client) -> None:
    tools = {tool.name: tool for tool in (await mcp.list_tools()).tools}
    scollect = {name for name in tools if name.startswith("scollect_")}
    assert len(scollect) == 27
    for tool in tools.values():
        assert tool.output_schema is not None, tool.name
        assert tool.description and len(tool.description) > 30, tool.name
        assert tool.annotations is not None
    get_account = tools["scollect_get_account"]
    assert get_account.annotations is not None
    assert get_account.annotations.read_only_hint is True
    assert get_account.input_schema["required"] == ["file_number"]
    overwrite = tools["scollect_update_account_field"].annotations
    assert overwrite is not None and overwrite.destructive_hint is True and overwrite.read_only_hint is False
    note = tools["scollect_add_note"].annotations
    assert note is not None and note.read_only_hint is False and note.destructive_hint is False


# ------------------------------------------------------------------------------------------------ reads


async def test_list_portfolios(mcp: Client, wire: Wire) -> None:
    data = await ok(mcp, "scollect_list_portfolios", {})
    assert data["total"] >= 5
    names = {portfolio["name"] for portfolio in data["portfolios"]}
    assert "C2CLA 12.1.22" in names
    assert wire.paths() == ["GET /getportfoliolist"]
    assert wire.requests()[0].headers["authorization"].startswith("Bearer ")


async def test_find_accounts_by_ssn_sends_vendor_format_and_masks_output(
    mcp: Client, sandbox: RunningSandbox, wire: Wire
) -> None:
    ssn = store(sandbox).account("R1000")["socialsecuritynumber"]
    result = await mcp.call_tool("scollect_find_accounts_by_ssn", {"ssn": ssn.replace("-", "")})
    assert not result.is_error, text_of(result)
    assert wire.paths() == [f"GET /getaccountbysocial/{ssn}"]
    assert result.structured_content is not None
    accounts = result.structured_content["accounts"]
    assert "R1000" in [account["file_number"] for account in accounts]
    assert all(account["ssn"] == f"***-**-{ssn[-4:]}" for account in accounts)
    assert ssn not in text_of(result) and ssn.replace("-", "") not in text_of(result)


async def test_unknown_ssn_is_an_error_that_does_not_echo_the_ssn(mcp: Client) -> None:
    message = await failed(mcp, "scollect_find_accounts_by_ssn", {"ssn": "999-88-7777"})
    assert "not found" in message
    assert "999-88-7777" not in message


async def test_list_portfolio_accounts_pages(mcp: Client, wire: Wire) -> None:
    first = await ok(mcp, "scollect_list_portfolio_accounts", {"portfolio": "C2CLA 12.1.22", "limit": 10})
    assert first["total"] > 10 and len(first["items"]) == 10 and first["next_offset"] == 10
    second = await ok(
        mcp, "scollect_list_portfolio_accounts", {"portfolio": "C2CLA 12.1.22", "limit": 10, "offset": 10}
    )
    assert {a["file_number"] for a in first["items"]}.isdisjoint({a["file_number"] for a in second["items"]})
    assert wire.requests()[0].json == {"portfolio": "C2CLA 12.1.22"}
    assert all(item["ssn"].startswith("***-**-") for item in first["items"] if "ssn" in item)


async def test_get_account_core_fields_are_compact(mcp: Client, sandbox: RunningSandbox) -> None:
    data = await ok(mcp, "scollect_get_account", {"file_number": " R1000 "})
    raw = store(sandbox).account("R1000")
    assert data["file_number"] == "R1000"
    assert data["ssn"] == f"***-**-{raw['socialsecuritynumber'][-4:]}"
    assert data["current_balance"] == f"{float(raw['currentbalance'].replace(',', '')):.2f}"
    assert "fields" not in data
    for value in data.values():
        assert value not in ("", " ", "null", None)
    assert "1900" not in text_of(await mcp.call_tool("scollect_get_account", {"file_number": "R1000"}))


async def test_get_account_field_selector(mcp: Client) -> None:
    # R1050 is the seed's CLAUDIA: custom1 "UNITED SOUTHERN BANK", SSN 111-22-3333, custom7 blank (" ").
    selector = ["custom1", "socialsecuritynumber", "custom7"]
    data = await ok(mcp, "scollect_get_account", {"file_number": "R1050", "fields": selector})
    assert data["fields"] == {"custom1": "UNITED SOUTHERN BANK", "socialsecuritynumber": "***-**-3333"}
    everything = await ok(mcp, "scollect_get_account", {"file_number": "R1050", "fields": ["*"]})
    assert everything["fields"]["employer"] == "SONSHINE SCHOOL"
    assert everything["fields"]["custom2"] == "*****5285"  # the seed's routing number in custom2, masked
    assert "custom7" not in everything["fields"] and len(everything["fields"]) > 50


async def test_get_account_unknown_fields_are_all_named_with_suggestions(mcp: Client, wire: Wire) -> None:
    message = await failed(mcp, "scollect_get_account", {"file_number": "R1000", "fields": ["custom01x", "employr"]})
    assert "nothing was sent to the vendor" in message
    assert "'custom01x' is not a Scollect account field. Did you mean custom1, " in message
    assert "'employr' is not a Scollect account field. Did you mean employer" in message
    assert wire.requests() == []


async def test_get_account_not_found(mcp: Client) -> None:
    message = await failed(mcp, "scollect_get_account", {"file_number": "R999999"})
    assert "not found" in message and "R999999" in message


async def test_account_summary(mcp: Client, wire: Wire) -> None:
    data = await ok(mcp, "scollect_get_account_summary", {"file_number": "R1000"})
    assert data["file_number"] == "R1000" and "current_balance" in data
    assert wire.requests()[0].json == {"FileNumber": "R1000"}
    message = await failed(mcp, "scollect_get_account_summary", {"file_number": "R999999"})
    assert "Scollect: not found: This file number does not exist in the system." in message


async def test_attempts_are_newest_first_and_paged(mcp: Client) -> None:
    data = await ok(mcp, "scollect_get_attempts", {"file_number": "R1000", "limit": 200})
    stamps = [item["at"] for item in data["items"]]
    assert stamps == sorted(stamps, reverse=True)
    empty = await ok(mcp, "scollect_get_attempts", {"file_number": SPECIAL_ACCOUNTS["no_attempts"]})
    assert empty["items"] == [] and empty["total"] == 0


async def test_emails_and_email_stats(mcp: Client, sandbox: RunningSandbox, wire: Wire) -> None:
    account = SPECIAL_ACCOUNTS["emails"]  # the seed's getemails tracking rows: one email, three events
    emails = await ok(mcp, "scollect_get_emails", {"file_number": account})
    assert (emails["total"], len(emails["items"]), emails.get("next_offset")) == (3, 3, None)
    assert [item["event"] for item in emails["items"]] == ["Open", "Delivery", "OkToSend"]  # newest first
    assert {item["to_address"] for item in emails["items"]} == {"egallagher@example.com"}
    paged = await ok(mcp, "scollect_get_emails", {"file_number": account, "limit": 2})
    assert (paged["total"], len(paged["items"]), paged["next_offset"]) == (3, 2, 2)
    stats = await ok(mcp, "scollect_get_email_stats", {"file_number": account})
    assert stats["file_number"] == account
    assert len(store(sandbox).emails(account)) == 3
    assert wire.paths() == [f"GET /getemails/{account}"] * 2 + [f"GET /getemailstats/{account}"]


async def test_phones_and_account_without_phones(mcp: Client) -> None:
    data = await ok(mcp, "scollect_get_phones", {"file_number": "R1000"})
    numbers = [phone["phone_number"] for phone in data["phones"]]
    assert {"123-456-7890", "222-333-4444"} <= set(numbers)
    none = await ok(mcp, "scollect_get_phones", {"file_number": SPECIAL_ACCOUNTS["no_phones"]})
    assert none["phones"] == []


async def test_notes_newest_first_with_hundreds_paged(mcp: Client) -> None:
    account = SPECIAL_ACCOUNTS["many_notes"]
    first = await ok(mcp, "scollect_get_notes", {"file_number": account})
    assert first["total"] >= 300 and len(first["items"]) == 25 and first["next_offset"] == 25
    stamps = [note["at"] for note in first["items"]]
    assert stamps == sorted(stamps, reverse=True)
    older = await ok(mcp, "scollect_get_notes", {"file_number": account, "offset": 25, "limit": 25})
    assert older["items"][0]["at"] <= first["items"][-1]["at"]


async def test_payments_methods_and_last_payment(mcp: Client, wire: Wire) -> None:
    payments = await ok(mcp, "scollect_get_payments", {"file_number": "R1000"})
    assert all(item["amount"].count(".") == 1 for item in payments["items"])
    methods = await ok(mcp, "scollect_get_payment_methods", {"file_number": "R1000", "payment_method": "CREDIT CARD"})
    assert all(method["method"] == "CREDIT CARD" for method in methods["methods"])
    last = await ok(mcp, "scollect_get_last_payment", {"file_number": "R1000"})
    assert last == {
        "file_number": "R1000", "found": True, "paid_on": "2024-03-20", "payor_name": "Ivana Last Name",
        "card": "****1111", "card_expiration": "07/2028",
    }  # fmt: skip
    none = await ok(mcp, "scollect_get_last_payment", {"file_number": SPECIAL_ACCOUNTS["no_payment_method"]})
    assert none == {"file_number": SPECIAL_ACCOUNTS["no_payment_method"], "found": False}
    assert wire.requests()[1].json == {"FileNumber": "R1000", "paymentMethod": "CREDIT CARD"}
    assert wire.requests()[2].json == {"filenumber": "R1000"}


async def test_payment_method_filter_is_validated(mcp: Client, wire: Wire) -> None:
    message = await failed(mcp, "scollect_get_payment_methods", {"file_number": "R1000", "card_last4": "11"})
    assert "card_last4" in message
    assert wire.requests() == []


async def test_search_by_phone_normalises_the_number(mcp: Client, sandbox: RunningSandbox, wire: Wire) -> None:
    data = await ok(mcp, "scollect_search_by_phone", {"phone_number": "(123) 456-7890"})
    assert wire.requests()[0].json == {"PhoneNumber": "123-456-7890"}
    ssn = str(store(sandbox).account("R1000")["socialsecuritynumber"])
    assert [(match["file_number"], match["ssn_last4"]) for match in data["matches"]] == [("R1000", f"***-**-{ssn[-4:]}")]
    message = await failed(mcp, "scollect_search_by_phone", {"phone_number": "555-000-0001"})
    assert "Scollect: not found: This phone number does not exist in the system." in message


# ----------------------------------------------------------------------------------------------- writes


async def test_add_phone_lands_in_the_vendor(mcp: Client, sandbox: RunningSandbox, wire: Wire) -> None:
    data = await ok(
        mcp,
        "scollect_add_phone",
        {"file_number": "R1002", "phone_number": "+1 (716) 555-0142", "phone_type": "CELL", "phone_status": "Good Number"},
    )
    assert data["done"] is True and data["changed"]["phone_number"] == "716-555-0142"
    assert wire.requests()[0].json == {
        "filenumber": "R1002",
        "phonenumber": "716-555-0142",
        "phonetype": "CELL",
        "phonestatus": "Good Number",
        "source": "USER",
    }
    phones = await ok(mcp, "scollect_get_phones", {"file_number": "R1002"})
    assert "716-555-0142" in [phone["phone_number"] for phone in phones["phones"]]


async def test_add_phone_to_unknown_account_reports_the_vendor_error(mcp: Client) -> None:
    message = await failed(mcp, "scollect_add_phone", {"file_number": "R999999", "phone_number": "716-555-0100"})
    assert "Data not found for this filenumber" in message


async def test_update_phone_needs_a_change_and_sends_nothing_without_one(mcp: Client, wire: Wire) -> None:
    message = await failed(mcp, "scollect_update_phone", {"file_number": "R1000", "phone_number": "123-456-7890"})
    assert "nothing was sent" in message and "phone_type, phone_status" in message
    assert wire.requests() == []
    data = await ok(
        mcp,
        "scollect_update_phone",
        {"file_number": "R1000", "phone_number": "1234567890", "phone_status": "Disconnected"},
    )
    assert data["changed"] == {"phone_number": "123-456-7890", "phone_status": "Disconnected"}
    assert wire.requests()[0].json == {"filenumber": "R1000", "phonenumber": "123-456-7890", "phonestatus": "Disconnected"}


async def test_log_attempt_adds_to_the_attempts_log(mcp: Client) -> None:
    before = (await ok(mcp, "scollect_get_attempts", {"file_number": "R1003"}))["total"]
    await ok(
        mcp,
        "scollect_log_attempt",
        {"file_number": "R1003", "phone_number": "716-628-9899", "disposition": "NO ANSWER", "agent": "ivr-bot"},
    )
    after = await ok(mcp, "scollect_get_attempts", {"file_number": "R1003"})
    assert after["total"] == before + 1
    assert after["items"][0]["disposition"] == "NO ANSWER" and after["items"][0]["agent"] == "ivr-bot"


async def test_add_note_is_newest_note(mcp: Client, wire: Wire) -> None:
    await ok(mcp, "scollect_add_note", {"file_number": "R1004", "collector_name": "agent-ai", "message": "Promised $50 Friday"})
    assert wire.requests()[0].json == {"filenumber": "R1004", "collectorname": "agent-ai", "logmessage": "Promised $50 Friday"}
    notes = await ok(mcp, "scollect_get_notes", {"file_number": "R1004", "limit": 1})
    assert notes["items"][0]["message"] == "Promised $50 Friday"


async def test_update_permission_checks_value_type(mcp: Client, sandbox: RunningSandbox, wire: Wire) -> None:
    bad = await failed(mcp, "scollect_update_permission", {"file_number": "R1005", "field": "donottext", "value": "maybe"})
    assert "donottext takes 1 or 0" in bad
    unknown = await failed(mcp, "scollect_update_permission", {"file_number": "R1005", "field": "favourite", "value": "1"})
    assert "field" in unknown and "donottext" in unknown
    bad_date = await failed(mcp, "scollect_update_permission", {"file_number": "R1005", "field": "nexttext", "value": "soon"})
    assert "YYYY-MM-DD" in bad_date
    assert wire.requests() == []
    await ok(mcp, "scollect_update_permission", {"file_number": "R1005", "field": "donottext", "value": "yes"})
    assert wire.requests()[0].json == {"filenumber": "R1005", "fieldname": "donottext", "fieldvalue": "1"}
    assert str(store(sandbox).permissions("R1005")["donottext"]) == "1"


async def test_update_account_field_guards_and_writes(server_config: Any, sandbox: RunningSandbox, wire: Wire) -> None:
    from collections_mcp.server.app import build_server

    shown: list[str] = []

    async def approve(context: Any, params: Any) -> ElicitResult:
        shown.append(params.message)
        return ElicitResult(action="accept", content={"confirm": True})

    async with Client(build_server(server_config), elicitation_callback=approve) as mcp:
        await _update_account_field(mcp, sandbox, wire)
    assert "overwrite 'employer' from" in shown[0] and "to 'ACME BAKERY'" in shown[0]


async def _update_account_field(mcp: Client, sandbox: RunningSandbox, wire: Wire) -> None:
    protected = await failed(mcp, "scollect_update_account_field", {"file_number": "R1006", "field": "socialsecuritynumber", "value": "x"})
    assert "cannot be changed" in protected
    typo = await failed(mcp, "scollect_update_account_field", {"file_number": "R1006", "field": "employr", "value": "x"})
    assert "Did you mean employer" in typo
    assert wire.requests() == []
    await ok(mcp, "scollect_update_account_field", {"file_number": "R1006", "field": "Employer", "value": "ACME BAKERY"})
    assert wire.paths() == ["GET /getaccount/R1006", "PUT /updatedbase"]  # read for the confirmation, then write
    assert wire.requests()[1].json == {"filenumber": "R1006", "fieldname": "employer", "fieldvalue": "ACME BAKERY"}
    assert store(sandbox).account("R1006")["employer"] == "ACME BAKERY"


async def test_create_callback_normalises_time(mcp: Client, wire: Wire) -> None:
    data = await ok(
        mcp,
        "scollect_create_callback",
        {"file_number": "R1000", "name": "IVANA LAST NAME", "assigned_to": "mall", "callback_date": "2030-03-17", "callback_time": "1:43 pm"},
    )
    assert data["changed"]["callback_time"] == "1:43PM"
    assert wire.requests()[0].json == {
        "FileNumber": "R1000",
        "Name": "IVANA LAST NAME",
        "Assignedto": "mall",
        "Callbackdate": "2030-03-17",
        "Callbacktime": "1:43PM",
        "Callbackdatemysql": "2030-03-17",
    }
    bad = await failed(
        mcp,
        "scollect_create_callback",
        {"file_number": "R1000", "name": "X", "assigned_to": "mall", "callback_date": "17/03/2030", "callback_time": "25:00"},
    )
    assert "callback_date" in bad and "callback_time" in bad


async def test_send_email_and_text_pass_the_compliance_guard_only_with_an_audited_override(
    server_config: Any, wire: Wire
) -> None:
    from collections_mcp.server.app import build_server
    from collections_mcp.server.state.audit_log import SqliteAuditLog, audit_path

    shown: list[str] = []

    async def person(context: Any, params: Any) -> ElicitResult:
        shown.append(params.message)
        return ElicitResult(action="accept", content={"override": True, "reason": "Debtor asked in writing for reminders"})

    async with Client(build_server(server_config), elicitation_callback=person) as mcp:
        email = await ok(mcp, "scollect_send_email", {"file_numbers": ["R1000", "R1001"], "template": "Payment Reminder"})
        text = await ok(mcp, "scollect_send_text", {"file_number": "R1000", "template": "Missed 1"})
    assert email["sent"] is True and email["channel"] == "email" and text["channel"] == "text"
    # Scollect permissions cannot be read, so texts and emails are blocked until a person overrides.
    assert "PERMISSION_UNKNOWN" in shown[0] and "R1001: BANKRUPTCY" in shown[0]
    sends = [entry for entry in wire.requests() if entry.path in ("/send_email_c2c", "/send_text")]
    assert [entry.json for entry in sends] == [
        {"sendType": "email", "emailTemplate": "Payment Reminder", "referenceNumbers": ["R1000", "R1001"], "updateap": False},
        {"filenumber": "R1000", "textTemplate": "Missed 1", "messageType": "Multicast", "sbt_env": "LIVE"},
    ]
    audit = SqliteAuditLog(audit_path(server_config.settings.state_dir))
    try:
        records = await audit.query(None, None, 100)
    finally:
        audit.close()
    # One record per call, the override and its reason inside it (no second record of its own).
    assert [(record.tool, record.outcome) for record in records] == [("scollect_send_email", "ok"), ("scollect_send_text", "ok")]
    assert len({record.call_id for record in records}) == 2
    email_record, text_record = records
    assert email_record.override is not None and text_record.override is not None
    assert email_record.override["reason"] == "Debtor asked in writing for reminders"
    assert email_record.override["stage"] == "compliance"
    assert any("R1001: BANKRUPTCY" in line for line in email_record.override["overridden"])
    assert email_record.arguments == {"file_numbers": ["R1000", "R1001"], "template": "Payment Reminder", "update_permissions": False}


async def test_blocked_contact_without_a_person_sends_nothing(mcp: Client, wire: Wire) -> None:
    message = await failed(mcp, "scollect_send_text", {"file_number": "R1001", "template": "Missed 1"})
    assert "Refused by compliance" in message and "BANKRUPTCY" in message and "nothing was sent" in message
    assert "POST /send_text" not in wire.paths()


async def test_send_email_needs_at_least_one_account(mcp: Client, wire: Wire) -> None:
    message = await failed(mcp, "scollect_send_email", {"file_numbers": [], "template": "x"})
    assert "file_numbers" in message and wire.requests() == []


# --------------------------------------------------------------------------------- bad input, auth, modes


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("scollect_get_account", {}, "file_number: required"),
        ("scollect_get_account", {"file_number": "R1000", "filenumber": "R1000"}, "filenumber: unknown argument"),
        ("scollect_get_notes", {"file_number": "R1000", "limit": 0}, "limit"),
        ("scollect_find_accounts_by_ssn", {"ssn": "12-345"}, "###-##-####"),
        ("scollect_search_by_phone", {"phone_number": "12345"}, "716-628-9899"),
        ("scollect_get_account", {"file_number": "R1000; DROP"}, "file_number"),
        # pydantic alone would read true as 1 and 5 as text or a Unix time; the published schema says otherwise.
        ("scollect_get_notes", {"file_number": "R1000", "limit": True}, "- limit: expected a whole number, not true/false"),
        ("scollect_add_note", {"file_number": "R1000", "collector_name": "x", "message": "y", "idempotency_key": ""},
         "- idempotency_key: must be a non-empty string"),
        ("scollect_add_note", {"file_number": 1000, "collector_name": "x", "message": 7},
         "- file_number: expected text, not a number\n- message: expected text, not a number"),
    ],
)
async def test_bad_input_is_explained_and_nothing_is_sent(
    mcp: Client, wire: Wire, tool: str, arguments: dict[str, Any], expected: str
) -> None:
    message = await failed(mcp, tool, arguments)
    assert expected in message
    assert "nothing was sent to the vendor" in message
    assert wire.requests() == []


async def test_json_encoded_list_arguments_are_accepted(mcp: Client) -> None:
    data = await ok(mcp, "scollect_get_account", {"file_number": "R1000", "fields": '["employer"]'})
    assert "fields" in data


async def test_expired_token_mid_session_relogs_in_exactly_once(mcp: Client, sandbox: RunningSandbox) -> None:
    await ok(mcp, "scollect_get_phones", {"file_number": "R1000"})
    logins_before = sandbox.scollect.app.state.logins
    after_first_call = Wire(sandbox)
    sandbox.scollect.app.state.tokens.expire_all()
    await ok(mcp, "scollect_get_phones", {"file_number": "R1000"})
    await ok(mcp, "scollect_get_notes", {"file_number": "R1000"})
    assert sandbox.scollect.app.state.logins == logins_before + 1
    sequence = [(entry.path, entry.status) for entry in after_first_call.requests(include_login=True)]
    assert sequence == [
        ("/getphones/R1000", 401),
        ("/login", 200),
        ("/getphones/R1000", 200),
        ("/getnotes/R1000", 200),
    ]


async def test_expiry_reported_in_the_vendors_envelope_relogs_in_exactly_once(
    mcp: Client, sandbox: RunningSandbox
) -> None:
    """/getportfoliolist answers an expired token at HTTP 200: {"result": [{"error": "Token has expired"}, 401]}."""
    await ok(mcp, "scollect_get_phones", {"file_number": "R1000"})
    after_first_call = Wire(sandbox)
    sandbox.scollect.app.state.tokens.expire_all()
    data = await ok(mcp, "scollect_list_portfolios", {})
    assert data["total"] == len(store(sandbox).portfolios())
    sequence = [(entry.path, entry.status) for entry in after_first_call.requests(include_login=True)]
    assert sequence == [("/getportfoliolist", 200), ("/login", 200), ("/getportfoliolist", 200)]


async def test_a_4xx_html_page_is_one_request_and_a_clear_error(mcp: Client, sandbox: RunningSandbox, wire: Wire) -> None:
    from collections_mcp.sandbox.scollect.responses import werkzeug_page

    page = bytes(werkzeug_page(400).body).decode()
    sandbox.scollect.app.state.faults.http_error("^/getnotes/R1000$", 400, page, content_type="text/html", times=3)
    try:
        message = await failed(mcp, "scollect_get_notes", {"file_number": "R1000"})
    finally:
        sandbox.scollect.app.state.faults.clear()
    assert "Scollect refused the request (vendor status 400)" in message
    assert 'answered HTTP 400 with a page that is not JSON ("400 Bad Request")' in message
    assert "unavailable" not in message
    assert wire.paths() == ["GET /getnotes/R1000"]


async def test_read_only_mode_registers_only_reads(server_config: Any, sandbox: RunningSandbox) -> None:
    from dataclasses import replace

    from collections_mcp.server.app import build_server

    settings = server_config.settings.model_copy(update={"read_only": True})
    async with Client(build_server(replace(server_config, settings=settings))) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "scollect_get_account" in names
        assert not {"scollect_add_note", "scollect_update_account_field", "scollect_send_text"} & names
        attempt = await client.call_tool("scollect_add_note", {"file_number": "R1000", "collector_name": "x", "message": "y"})
        assert attempt.is_error and "Unknown tool" in text_of(attempt)
