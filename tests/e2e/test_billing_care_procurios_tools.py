"""Every Billing Care and Procurios tool through the SDK's real Client, against the simulators over loopback.

Each test checks what an MCP client sees and what the vendor received (or, for bad input, that it
received nothing).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from pydantic import SecretStr
from starlette.applications import Starlette

from collections_mcp.sandbox.billing_care.app import INTERNAL_ERROR, build_billing_care_app
from collections_mcp.sandbox.billing_care.config import DEMO_PASSWORD, DEMO_USERNAME, BillingCareSandboxConfig
from collections_mcp.sandbox.billing_care.store import (
    FOLLOWUP_ACTION,
    SEED_ACCOUNT,
    SEED_ACTION,
    SEED_PATH_ACTION,
    BillingCareStore,
)
from collections_mcp.sandbox.http import RecordedRequest, serve_app
from collections_mcp.sandbox.procurios.app import RECIPIENTS_UNAVAILABLE, SENDER_UNAVAILABLE, build_procurios_app
from collections_mcp.sandbox.procurios.config import DEMO_TOKEN, ProcuriosSandboxConfig
from collections_mcp.sandbox.procurios.store import SEED_RECIPIENT, SEED_SENDER, UNKNOWN_RELATION, ProcuriosStore
from collections_mcp.server.app import ServerConfig, build_server
from collections_mcp.server.settings import ServerSettings
from collections_mcp.tools.billing_care.settings import BillingCareSettings
from collections_mcp.tools.procurios.settings import ProcuriosSettings
from tests.helpers import PROCURIOS_SEED_CALL, Clock, failed, text_of

pytestmark = pytest.mark.anyio

START = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


@dataclass
class Vendor:
    app: Starlette
    base_url: str

    @property
    def store(self) -> Any:
        return self.app.state.store

    @property
    def requests(self) -> list[RecordedRequest]:
        return list(self.app.state.request_log)

    def calls(self) -> list[str]:
        return [f"{request.method} {request.path}" for request in self.requests]


@dataclass
class Vendors:
    billing_care: Vendor
    procurios: Vendor


@pytest.fixture(scope="module")
async def served() -> AsyncIterator[Vendors]:
    billing_care = build_billing_care_app(BillingCareStore(clock=Clock(START)), BillingCareSandboxConfig())
    procurios = build_procurios_app(ProcuriosStore(clock=Clock(START)), ProcuriosSandboxConfig())
    async with serve_app(billing_care) as bc_url, serve_app(procurios) as p_url:
        yield Vendors(Vendor(billing_care, bc_url), Vendor(procurios, p_url))


@pytest.fixture
def vendors(served: Vendors) -> Iterator[Vendors]:
    served.billing_care.app.state.store = BillingCareStore(clock=Clock(START))
    served.procurios.app.state.store = ProcuriosStore(clock=Clock(START))
    for vendor in (served.billing_care, served.procurios):
        vendor.app.state.request_log.clear()
        vendor.app.state.faults.clear()
    yield served
    for vendor in (served.billing_care, served.procurios):
        vendor.app.state.faults.clear()


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
async def mcp(vendors: Vendors, clock: Clock, tmp_path: Path) -> AsyncIterator[Client]:
    config = ServerConfig(
        settings=ServerSettings(_env_file=None, state_dir=tmp_path / "state"),  # type: ignore[call-arg]
        vendors={
            "billing_care": BillingCareSettings(
                _env_file=None,
                base_url=vendors.billing_care.base_url,
                username=DEMO_USERNAME,
                password=SecretStr(DEMO_PASSWORD),
                timeout_seconds=5.0,
            ),
            "procurios": ProcuriosSettings(
                _env_file=None, base_url=vendors.procurios.base_url, token=SecretStr(DEMO_TOKEN), timeout_seconds=5.0
            ),
        },
        clock=clock,
    )
    async with Client(build_server(config)) as client:
        yield client


async def ok(mcp: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await mcp.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    data: dict[str, Any] | None = result.structured_content
    assert data is not None
    return data


# ---------------------------------------------------------------------------------------------- catalog


async def test_tools_are_listed_with_effects_and_guidance(mcp: Client) -> None:
    tools = {tool.name: tool for tool in (await mcp.list_tools()).tools}
    assert {name for name in tools if name.startswith(("billing_care_", "procurios_"))} == {
        "billing_care_get_account_collections",
        "billing_care_get_collections_action_history",
        "billing_care_update_collections_action",
        "procurios_list_contact_moments",
        "procurios_list_contact_moment_types",
        "procurios_get_contact_moment_schema",
        "procurios_list_contact_moment_tags",
        "procurios_create_contact_moment",
    }
    for name in ("billing_care_update_collections_action", "procurios_create_contact_moment"):
        annotations = tools[name].annotations
        assert annotations is not None and annotations.read_only_hint is False and annotations.destructive_hint is False
        meta = tools[name].meta or {}
        assert meta["collections-mcp/effect"] == "write"
    listing = tools["procurios_list_contact_moments"].annotations
    assert listing is not None and listing.read_only_hint is True
    create = tools["procurios_create_contact_moment"]
    assert create.description and "procurios_get_contact_moment_schema" in create.description
    assert create.input_schema["required"] == ["type", "subject", "sender_id", "recipients"]
    update = tools["billing_care_update_collections_action"]
    assert update.input_schema["required"] == ["action_id"]
    assert "note" in update.input_schema["properties"] and "slip_by_days" in update.input_schema["properties"]
    for tool in tools.values():
        assert tool.output_schema is not None, tool.name


# ------------------------------------------------------------------------------------------ Billing Care


async def test_get_account_collections(mcp: Client, vendors: Vendors) -> None:
    data = await ok(mcp, "billing_care_get_account_collections", {"account_id": SEED_ACCOUNT})
    unit = data["bill_units"][0]
    assert unit["overdue_amount"] == "231.71"
    assert [action["action_id"] for action in unit["actions"]][:2] == [SEED_PATH_ACTION, SEED_ACTION]
    assert vendors.billing_care.calls() == [f"GET /bcws/webresources/v1.0/collections/account/{SEED_ACCOUNT}"]


async def test_update_then_read_the_history(mcp: Client, vendors: Vendors) -> None:
    data = await ok(
        mcp,
        "billing_care_update_collections_action",
        {
            "action_id": SEED_ACTION,
            "reschedule_date": "2025-04-01T09:30:00+02:00",
            "cancel_followup_actions": True,
            "note": "Debtor promised to pay on April 1st.",
            "account_id": SEED_ACCOUNT,
        },
    )
    assert data["reference_id"] == SEED_ACTION
    assert data["uri"].endswith(f"/bc/webresources/v1.0/collections/{SEED_ACTION}")
    [put] = vendors.billing_care.requests
    assert put.json == {
        "rescheduleDate": "2025-04-01T07:30:00.000Z",
        "rescheduleAction": True,
        "cancelFollowupActions": True,
        "notes": {"accountId": SEED_ACCOUNT, "comments": [{"comment": "Debtor promised to pay on April 1st."}]},
    }
    history = await ok(mcp, "billing_care_get_collections_action_history", {"action_id": SEED_ACTION})
    latest = history["history"][0]
    assert (latest["description"], latest["due_date"], latest["agent"]) == (
        "Action updated",
        "2025-04-01T07:30:00Z",
        DEMO_USERNAME,
    )
    followup = await ok(mcp, "billing_care_get_collections_action_history", {"action_id": FOLLOWUP_ACTION})
    assert followup["history"][0]["description"] == "Action cancelled"


async def test_an_id_with_spaces_for_plus_signs_is_repaired(mcp: Client, vendors: Vendors) -> None:
    spaced = SEED_PATH_ACTION.replace("+", " ")
    data = await ok(mcp, "billing_care_update_collections_action", {"action_id": spaced, "status": "0"})
    assert data["reference_id"] == SEED_PATH_ACTION
    assert vendors.billing_care.requests[0].path.endswith(SEED_PATH_ACTION)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"action_id": SEED_ACTION}, "nothing to change"),
        ({"action_id": "0.0.0.1+-account+130964", "status": "0"}, "action_id"),
        ({"action_id": SEED_ACTION, "note": "why"}, "a note needs account_id"),
        ({"action_id": SEED_ACTION, "status": "0", "note_type": 900}, "give the note text in note"),
        ({"action_id": SEED_ACTION, "reschedule_action": True}, "needs reschedule_date or slip_by_days"),
        ({"action_id": SEED_ACTION, "slip_by_days": 0}, "slip_by_days"),
        ({"action_id": SEED_ACTION, "status": "pending"}, "status"),
    ],
    ids=[
        "no-change",
        "wrong-id-kind",
        "note-without-account",
        "note-details-without-note",
        "reschedule-without-date",
        "zero-slip",
        "status-not-a-code",
    ],
)
async def test_bad_update_arguments_never_reach_the_vendor(
    mcp: Client, vendors: Vendors, arguments: dict[str, Any], expected: str
) -> None:
    message = await failed(mcp, "billing_care_update_collections_action", arguments)
    assert expected in message and "nothing was sent" in message
    assert vendors.billing_care.requests == []


async def test_unknown_action_names_the_id(mcp: Client) -> None:
    missing = "0.0.0.1+-collections_action-manual_action+77"
    message = await failed(mcp, "billing_care_update_collections_action", {"action_id": missing, "status": "0"})
    assert f"not found: no collections action {missing}" in message


async def test_vendor_500_is_reported_as_internal_server_error(mcp: Client, vendors: Vendors) -> None:
    vendors.billing_care.app.state.faults.http_error(
        "/collections/task/", 500, body=INTERNAL_ERROR, content_type="text/plain"
    )
    message = await failed(mcp, "billing_care_update_collections_action", {"action_id": SEED_ACTION, "status": "0"})
    assert "internal server error" in message and "check whether it landed" in message
    assert len(vendors.billing_care.requests) == 1


# ---------------------------------------------------------------------------------------------- Procurios


async def test_a_full_last_page_says_may_have_more_and_the_next_page_is_empty(mcp: Client, vendors: Vendors) -> None:
    """Procurios gives no total: a full page (25) is all there is to go on. With exactly 75 contact moments the
    third page is full and the last one, so may_have_more is true and page 4 comes back empty. Documented."""
    store = vendors.procurios.store
    while store.count() < 75:
        body = {"subject": "Filler", "senderId": SEED_SENDER, "recipients": [SEED_RECIPIENT]}
        store.create("ContactMomentPhone", body, {}, "2024-01-01T00:00:00")
    third = await ok(mcp, "procurios_list_contact_moments", {"page": 3})
    assert (third["count"], third["may_have_more"], third["next_page"]) == (25, True, 4)
    fourth = await ok(mcp, "procurios_list_contact_moments", {"page": 4})
    assert (fourth["count"], fourth["may_have_more"], fourth["contact_moments"]) == (0, False, [])
    assert "next_page" not in fourth
    assert [request.query for request in vendors.procurios.requests] == [{"page": "3"}, {"page": "4"}]
    tools = {tool.name: tool for tool in (await mcp.list_tools()).tools}
    schema = tools["procurios_list_contact_moments"].output_schema
    assert schema is not None and "the next page may then come back empty" in schema["properties"]["may_have_more"]["description"]


async def test_list_contact_moments_pages(mcp: Client, vendors: Vendors) -> None:
    first = await ok(mcp, "procurios_list_contact_moments", {})
    assert (first["count"], first["may_have_more"], first["next_page"]) == (25, True, 2)
    last = await ok(mcp, "procurios_list_contact_moments", {"page": 3})
    assert (last["count"], last["may_have_more"]) == (11, False) and "next_page" not in last
    filtered = await ok(
        mcp, "procurios_list_contact_moments", {"since": "2025-03-01", "relation_ids": [SEED_RECIPIENT]}
    )
    assert filtered["count"] >= 1
    assert all(SEED_RECIPIENT in moment["recipients"] for moment in filtered["contact_moments"])
    assert vendors.procurios.requests[-1].query == {
        "page": "1",
        "since": "2025-03-01T00:00:00",
        "relationIds": "429000",
    }


async def test_types_schema_and_tags(mcp: Client) -> None:
    types = await ok(mcp, "procurios_list_contact_moment_types", {})
    assert [t["id"] for t in types["types"]] == ["ContactMomentPhone", "ContactMomentVisit", "ContactMomentEmail"]
    schema = await ok(mcp, "procurios_get_contact_moment_schema", {"type": "ContactMomentEmail"})
    fields = {field["name"]: field for field in schema["fields"]}
    assert fields["senderId"]["argument"] == "sender_id" and fields["senderId"]["required"] is True
    assert fields["emailAddress"]["argument"] == "fields.emailAddress" and fields["emailAddress"]["required"] is True
    assert fields["reference"]["constraints"] == {"maxLength": 255}
    assert fields["recipients"]["type"] == "array of integer"
    assert "contactMomentId" not in fields
    assert schema["json_schema"]["$schema"] == "http://json-schema.org/draft-07/schema#"
    tags = await ok(mcp, "procurios_list_contact_moment_tags", {})
    assert {"id": 99, "name": "Tag name"} in tags["tags"]


async def test_create_the_seeds_phone_call(mcp: Client, vendors: Vendors) -> None:
    data = await ok(
        mcp,
        "procurios_create_contact_moment",
        PROCURIOS_SEED_CALL | {"tag_ids": [3]},
    )
    assert data["type"] == "ContactMomentPhone"
    stored = vendors.procurios.store.stored(data["contact_moment_id"])
    assert stored["fields"] == {"contents": "We had a good call and the person decided to stay a member"}
    assert stored["tags"] == {"3": "Label 1"}
    assert vendors.procurios.calls()[-1] == "POST /l/contact_moment_api/contact_moment/type/ContactMomentPhone"


async def test_schema_violations_are_one_error_and_no_post(mcp: Client, vendors: Vendors) -> None:
    message = await failed(
        mcp,
        "procurios_create_contact_moment",
        {
            "type": "ContactMomentEmail",
            "subject": "Reminder",
            "sender_id": SEED_SENDER,
            "recipients": [],
            "tag_ids": [3, 3],
            "reference": "x" * 256,
            "fields": {"direction": "sideways"},
        },
    )
    assert "nothing was sent to Procurios" in message
    for problem in (
        "- fields.emailAddress: required by the schema",
        "- fields.direction: must be one of",
        "- recipients: at least 1 item(s) needed",
        "- tag_ids: must not contain duplicates",
        "- reference: at most 255 characters allowed (256 given)",
    ):
        assert problem in message
    assert [request.method for request in vendors.procurios.requests] == ["GET"]  # the schema, and no POST


async def test_argument_and_schema_problems_are_one_error_and_no_post(mcp: Client, vendors: Vendors) -> None:
    """Bad common arguments no longer hide the schema's findings (and "1516" is not coerced to 1516), once the
    type's schema is known (the agent read it first, as the tool description asks)."""
    await mcp.call_tool("procurios_get_contact_moment_schema", {"type": "ContactMomentEmail"})
    message = await failed(
        mcp,
        "procurios_create_contact_moment",
        {
            "type": "ContactMomentEmail",
            "subject": "Reminder",
            "sender_id": str(SEED_SENDER),
            "recipients": [SEED_RECIPIENT, "429000"],
            "date_time": "13/11/2018",
            "tag_ids": [3, 3],
            "fields": {"direction": "sideways", "emailAddress": "not an address"},
            "channel": "email",
        },
    )
    assert message.startswith("Error executing tool procurios_create_contact_moment: Invalid arguments for ")
    assert "nothing was sent to Procurios (7 problems)" in message
    for problem in (
        "- sender_id: must be of type integer",
        "- recipients[1]: must be of type integer",
        "- date_time: Input should be a valid datetime or date",
        "- tag_ids: must not contain duplicates",
        "- fields.direction: must be one of",
        "- fields.emailAddress: must be a valid email",
        "- channel: unknown argument",
    ):
        assert problem in message
    assert [request.method for request in vendors.procurios.requests] == ["GET"]  # the schema, and no POST
    assert vendors.procurios.store.count() == 61


async def test_create_advertises_the_strict_draft_schema(mcp: Client) -> None:
    tools = {tool.name: tool for tool in (await mcp.list_tools()).tools}
    schema = tools["procurios_create_contact_moment"].input_schema
    assert schema["additionalProperties"] is False
    assert schema["properties"]["sender_id"]["type"] == "integer"
    assert schema["properties"]["recipients"] == {
        "description": "Relation ids contacted (at least one, no repeats).",
        "items": {"type": "integer"},
        "type": "array",
    }
    assert "idempotency_key" in schema["properties"]


@pytest.mark.parametrize(
    ("changes", "vendor_text"),
    [
        ({"sender_id": UNKNOWN_RELATION}, SENDER_UNAVAILABLE),
        ({"recipients": [UNKNOWN_RELATION]}, RECIPIENTS_UNAVAILABLE),
    ],
    ids=["sender", "recipients"],
)
async def test_vendor_400_is_an_error_with_its_text(mcp: Client, changes: dict[str, Any], vendor_text: str) -> None:
    arguments = {"type": "ContactMomentPhone", "subject": "Retention call", "sender_id": SEED_SENDER,
                 "recipients": [SEED_RECIPIENT]} | changes  # fmt: skip
    assert vendor_text in await failed(mcp, "procurios_create_contact_moment", arguments)


async def test_the_schema_cache_follows_the_server_clock(mcp: Client, vendors: Vendors, clock: Clock) -> None:
    arguments = {
        "type": "ContactMomentPhone",
        "subject": "Call",
        "sender_id": SEED_SENDER,
        "recipients": [SEED_RECIPIENT],
    }
    # Distinct subjects: identical calls would be idempotent replays that never reach the vendor.
    await ok(mcp, "procurios_create_contact_moment", arguments | {"subject": "Call 1"})
    await ok(mcp, "procurios_create_contact_moment", arguments | {"subject": "Call 2"})
    clock.now += timedelta(minutes=6)
    await ok(mcp, "procurios_create_contact_moment", arguments | {"subject": "Call 3"})
    schema_reads = [call for call in vendors.procurios.calls() if call.endswith("/schema")]
    assert len(schema_reads) == 2


async def test_bad_list_arguments_never_reach_the_vendor(mcp: Client, vendors: Vendors) -> None:
    assert "page" in await failed(mcp, "procurios_list_contact_moments", {"page": 0})
    assert "since" in await failed(mcp, "procurios_list_contact_moments", {"since": "last tuesday"})
    assert "type" in await failed(mcp, "procurios_get_contact_moment_schema", {"type": "../types"})
    assert vendors.procurios.requests == []
