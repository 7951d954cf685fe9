"""The Billing Care client against its simulator over loopback HTTP: every endpoint, success and errors,
checked against what the simulator received."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from collections_mcp.sandbox.billing_care.app import INTERNAL_ERROR, build_billing_care_app
from collections_mcp.sandbox.billing_care.config import (
    DEMO_PASSWORD,
    DEMO_TOKEN,
    DEMO_USERNAME,
    TOKEN_AGENT,
    BillingCareSandboxConfig,
)
from collections_mcp.sandbox.billing_care.store import (
    ACCOUNT_WITHOUT_COLLECTIONS,
    CANCELLED,
    FOLLOWUP_ACTION,
    SEED_ACCOUNT,
    SEED_ACTION,
    SEED_BILL_UNIT,
    SEED_NOTE,
    SEED_PATH_ACTION,
    BillingCareStore,
)
from collections_mcp.sandbox.http import RecordedRequest, serve_app
from collections_mcp.tools.billing_care.client import BillingCareClient, segment
from collections_mcp.tools.billing_care.models import UpdateCollectionsActionArgs
from collections_mcp.tools.billing_care.settings import BillingCareSettings
from collections_mcp.tools.common.errors import VendorAuthError, VendorError, VendorNotFound, VendorUnavailable
from collections_mcp.tools.common.settings import VendorConfigError
from tests.helpers import Clock

pytestmark = pytest.mark.anyio

START = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
TASK = "/bcws/webresources/v1.0/collections/task/"

# The seed's example request body, verbatim (with its missing comma after "reasonId" restored).
SEED_BODY: dict[str, Any] = {
    "rescheduleDate": "2021-02-08T13:31:29.735Z",
    "rescheduleAction": True,
    "status": "0",
    "slipByDays": "1",
    "cancelFollowupActions": False,
    "actionFlag": "0",
    "notes": {
        "billUnitId": "0.0.0.1+-billinfo+128084",
        "accountId": "0.0.0.1+-account+130964",
        "domainId": 9,
        "type": 900,
        "subType": 901,
        "status": 101,
        "effectiveDate": "2021-02-08",
        "id": "0.0.0.1+-note+278620",
        "reasonId": "3",
        "comments": [{"comment": "Rescheduling action."}],
    },
}
SEED_ARGS: dict[str, Any] = {
    "action_id": SEED_ACTION,
    "reschedule_date": "2021-02-08T13:31:29.735Z",
    "reschedule_action": True,
    "status": "0",
    "slip_by_days": 1,
    "cancel_followup_actions": False,
    "action_flag": "0",
    "note": "Rescheduling action.",
    "bill_unit_id": SEED_BILL_UNIT,
    "account_id": SEED_ACCOUNT,
    "domain_id": 9,
    "note_type": 900,
    "note_sub_type": 901,
    "note_status": 101,
    "effective_date": "2021-02-08",
    "note_id": SEED_NOTE,
    "reason_id": 3,
}


@dataclass
class Simulator:
    app: Starlette
    base_url: str

    @property
    def store(self) -> BillingCareStore:
        store: BillingCareStore = self.app.state.store
        return store

    @property
    def requests(self) -> list[RecordedRequest]:
        return list(self.app.state.request_log)

    @property
    def faults(self) -> Any:
        return self.app.state.faults


@pytest.fixture(scope="module")
async def served() -> AsyncIterator[tuple[Starlette, str]]:
    app = build_billing_care_app(BillingCareStore(clock=Clock(START)), BillingCareSandboxConfig())
    async with serve_app(app) as base_url:
        yield app, base_url


@pytest.fixture
def sim(served: tuple[Starlette, str]) -> Iterator[Simulator]:
    app, base_url = served
    app.state.store = BillingCareStore(clock=Clock(START))  # fresh demo data for every test
    app.state.request_log.clear()
    app.state.faults.clear()
    yield Simulator(app, base_url)
    app.state.faults.clear()


def settings_for(base_url: str, **values: Any) -> BillingCareSettings:
    defaults: dict[str, Any] = {"base_url": base_url, "timeout_seconds": 5.0}
    if "token" not in values:
        defaults |= {"username": DEMO_USERNAME, "password": SecretStr(DEMO_PASSWORD)}
    return BillingCareSettings(_env_file=None, **(defaults | values))


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[BillingCareClient]:
    async with BillingCareClient.open(settings_for(sim.base_url)) as opened:
        yield opened


def update_args(**values: Any) -> UpdateCollectionsActionArgs:
    return UpdateCollectionsActionArgs.model_validate(values)


# --------------------------------------------------------------------------------------------- the PUT


async def test_update_sends_the_seeds_body_and_headers(client: BillingCareClient, sim: Simulator) -> None:
    args = update_args(**SEED_ARGS)
    reference = await client.update_collections_action(args.action_id, args.change())

    assert reference.reference_id == SEED_ACTION
    assert reference.uri == f"{sim.base_url}/bc/webresources/v1.0/collections/{SEED_ACTION}"
    [put] = sim.requests
    assert (put.method, put.path, put.status) == ("PUT", TASK + SEED_ACTION, 200)
    assert put.json == SEED_BODY
    assert put.headers["content-type"] == "application/json"
    assert put.headers["accept"] == "application/json"
    basic = base64.b64encode(f"{DEMO_USERNAME}:{DEMO_PASSWORD}".encode()).decode()
    assert put.headers["authorization"] == f"Basic {basic}"
    action = sim.store.action(SEED_ACTION)
    assert action is not None
    expected_due = datetime(2021, 2, 9, 13, 31, 29, 735000, tzinfo=UTC)  # rescheduled, then slipped one day
    assert action["due_ms"] == int(expected_due.timestamp() * 1000)
    note = sim.store.note(SEED_NOTE)
    assert note is not None and note["comments"][-1] == "Rescheduling action."


async def test_an_action_id_with_plus_signs_round_trips_intact(client: BillingCareClient, sim: Simulator) -> None:
    # The simulator decodes paths form-style ('+' -> ' '): the id is only found if '+' went out as %2B.
    assert segment(SEED_PATH_ACTION) == "0.0.0.1%2B-collections_action-manual_action%2B3456789"
    reference = await client.update_collections_action(
        SEED_PATH_ACTION, update_args(action_id=SEED_PATH_ACTION, status="0").change()
    )

    assert reference.reference_id == SEED_PATH_ACTION
    assert sim.requests[-1].path == TASK + SEED_PATH_ACTION  # as the server decoded it: '+' intact
    history = await client.action_history(SEED_PATH_ACTION)
    assert history.action_id == SEED_PATH_ACTION
    assert history.history[0].description == "Action updated" and history.history[0].status == 0


async def test_a_bare_plus_in_the_path_is_read_as_a_space_by_such_a_server(sim: Simulator) -> None:
    """Why the client encodes '+': the same request with a literal '+' misses the action."""
    auth = httpx.BasicAuth(DEMO_USERNAME, DEMO_PASSWORD)
    async with httpx.AsyncClient(base_url=sim.base_url, auth=auth, timeout=5) as raw:
        bare = await raw.put(TASK + SEED_PATH_ACTION, json={"status": "0"})
        encoded = await raw.put(TASK + segment(SEED_PATH_ACTION), json={"status": "0"})
    assert (bare.status_code, encoded.status_code) == (404, 200)


async def test_encoded_ids_also_work_where_plus_stays_plus() -> None:
    app = build_billing_care_app(
        BillingCareStore(clock=Clock(START)), BillingCareSandboxConfig(plus_in_path_is_space=False)
    )
    async with serve_app(app) as base_url, BillingCareClient.open(settings_for(base_url)) as client:
        reference = await client.update_collections_action(
            SEED_ACTION, update_args(action_id=SEED_ACTION, action_flag="1").change()
        )
    assert reference.reference_id == SEED_ACTION
    assert app.state.store.action(SEED_ACTION)["action_flag"] == 1


async def test_bearer_token_is_sent_and_recorded_as_the_agent(sim: Simulator) -> None:
    settings = settings_for(sim.base_url, token=SecretStr(DEMO_TOKEN))
    async with BillingCareClient.open(settings) as client:
        await client.update_collections_action(SEED_ACTION, update_args(action_id=SEED_ACTION, slip_by_days=2).change())
    [put] = sim.requests
    assert put.headers["authorization"] == f"Bearer {DEMO_TOKEN}"
    assert put.json == {"slipByDays": "2"}
    assert sim.store.action_history(SEED_ACTION)["actionHistory"][0]["agentName"] == TOKEN_AGENT


async def test_cancel_followups_and_a_new_note(client: BillingCareClient, sim: Simulator) -> None:
    args = update_args(
        action_id=SEED_ACTION, cancel_followup_actions=True, note="Paid in full at the desk.", account_id=SEED_ACCOUNT
    )
    await client.update_collections_action(args.action_id, args.change())
    assert sim.requests[0].json == {
        "cancelFollowupActions": True,
        "notes": {"accountId": SEED_ACCOUNT, "comments": [{"comment": "Paid in full at the desk."}]},
    }
    followup = sim.store.action(FOLLOWUP_ACTION)
    assert followup is not None and followup["status"] == CANCELLED
    new_notes = [note for note in sim.store.notes_of(SEED_ACCOUNT) if note["id"] != SEED_NOTE]
    assert [note["comments"] for note in new_notes] == [["Paid in full at the desk."]]


async def test_unknown_action_is_not_found_naming_the_id(client: BillingCareClient, sim: Simulator) -> None:
    missing = "0.0.0.1+-collections_action-manual_action+1"
    with pytest.raises(VendorNotFound, match=r"collections action 0\.0\.0\.1\+-collections_action-manual_action\+1"):
        await client.update_collections_action(missing, update_args(action_id=missing, status="0").change())
    assert [request.status for request in sim.requests] == [404]


async def test_vendor_500_is_unavailable_with_the_seeds_text_and_the_put_is_not_retried(
    client: BillingCareClient, sim: Simulator
) -> None:
    sim.faults.http_error("/collections/task/", 500, body=INTERNAL_ERROR, content_type="text/plain")
    with pytest.raises(VendorUnavailable, match=r"internal server error.*An internal server error occurred"):
        await client.update_collections_action(SEED_ACTION, update_args(action_id=SEED_ACTION, status="0").change())
    assert [(request.method, request.status) for request in sim.requests] == [("PUT", 500)]


async def test_vendor_400_is_an_error_with_the_vendors_message(client: BillingCareClient, sim: Simulator) -> None:
    stranger = "0.0.0.1+-account+999"
    args = update_args(action_id=SEED_ACTION, note="x", account_id=stranger)
    with pytest.raises(VendorError, match=r"notes\.accountId 0\.0\.0\.1\+-account\+999 does not exist") as caught:
        await client.update_collections_action(args.action_id, args.change())
    assert caught.value.status == 400


@pytest.mark.parametrize(
    "credentials",
    [{"password": SecretStr("wrong")}, {"token": SecretStr("wrong-token")}],
    ids=["basic", "bearer"],
)
async def test_wrong_credentials_are_an_auth_error(sim: Simulator, credentials: dict[str, Any]) -> None:
    async with BillingCareClient.open(settings_for(sim.base_url, **credentials)) as client:
        with pytest.raises(VendorAuthError) as caught:
            await client.account_collections(SEED_ACCOUNT)
    assert caught.value.status == 401
    assert [request.status for request in sim.requests] == [401]


# ---------------------------------------------------------------------------------------------- reads


async def test_account_collections(client: BillingCareClient, sim: Simulator) -> None:
    collections = await client.account_collections(SEED_ACCOUNT)

    assert sim.requests[0].path == f"/bcws/webresources/v1.0/collections/account/{SEED_ACCOUNT}"
    assert sim.requests[0].headers["accept"] == "application/json"
    unit = collections.bill_units[0]
    assert (unit.bill_unit_id, unit.overdue_amount, unit.minimum_due, unit.overdue_days) == (
        SEED_BILL_UNIT,
        "231.71",
        "49.95",
        38,
    )
    assert [action.action_id for action in unit.actions] == [SEED_PATH_ACTION, SEED_ACTION, FOLLOWUP_ACTION]
    seed_action = unit.actions[1]
    assert seed_action.kind == "inactivate_billinfo" and seed_action.status == 0
    assert seed_action.due_date == "2025-03-14T08:00:00Z"
    assert unit.aging_buckets == [{"bucket": "0-30", "amount": 49.95}, {"bucket": "31-60", "amount": 181.76}]


async def test_updates_show_in_reads(client: BillingCareClient) -> None:
    new_date = datetime(2025, 4, 1, 9, 30, tzinfo=UTC)
    await client.update_collections_action(
        SEED_ACTION, update_args(action_id=SEED_ACTION, reschedule_date=new_date).change()
    )
    collections = await client.account_collections(SEED_ACCOUNT)
    [action] = [a for unit in collections.bill_units for a in unit.actions if a.action_id == SEED_ACTION]
    assert action.due_date == "2025-04-01T09:30:00Z"


async def test_account_without_collections_and_unknown_account(client: BillingCareClient) -> None:
    assert (await client.account_collections(ACCOUNT_WITHOUT_COLLECTIONS)).bill_units == []
    with pytest.raises(VendorNotFound, match=r"account 0\.0\.0\.1\+-account\+5"):
        await client.account_collections("0.0.0.1+-account+5")


async def test_action_history_newest_first(client: BillingCareClient, sim: Simulator) -> None:
    history = await client.action_history(SEED_PATH_ACTION)
    assert sim.requests[0].path == f"/bcws/webresources/v1.0/collections/history/action/{SEED_PATH_ACTION}"
    assert [entry.description for entry in history.history] == ["Action completed", "Action scheduled"]
    assert history.history[1].changed_at == "2025-02-08T09:00:00Z"
    assert history.history[1].agent == "AgentSmith"


async def test_reads_are_retried_after_a_500(client: BillingCareClient, sim: Simulator) -> None:
    sim.faults.http_error("/collections/history/", 500, body=INTERNAL_ERROR, content_type="text/plain")
    history = await client.action_history(SEED_ACTION)
    assert history.history
    assert [request.status for request in sim.requests] == [500, 200]


HTML_400 = "<html><head><title>400 Bad Request</title></head><body><h1>Bad Request</h1></body></html>"


async def test_a_4xx_html_page_on_a_read_is_one_request_and_an_error_naming_the_status(
    client: BillingCareClient, sim: Simulator
) -> None:
    sim.faults.http_error("/collections/history/", 400, body=HTML_400, content_type="text/html", times=3)
    with pytest.raises(VendorError) as caught:
        await client.action_history(SEED_ACTION)
    assert type(caught.value) is VendorError and caught.value.status == 400
    assert str(caught.value).startswith("Oracle Billing Care refused the request (vendor status 400): HTTP 400")
    assert [request.status for request in sim.requests] == [400]  # not retried, unlike a 5xx


async def test_history_of_unknown_action_is_not_found(client: BillingCareClient) -> None:
    with pytest.raises(VendorNotFound, match="no collections action"):
        await client.action_history("0.0.0.1+-collections_action-manual_action+2")


async def test_base_url_may_already_name_the_rest_root(sim: Simulator) -> None:
    settings = settings_for(sim.base_url + "/bcws/webresources/v1.0/")
    async with BillingCareClient.open(settings) as client:
        await client.account_collections(SEED_ACCOUNT)
    assert sim.requests[0].path == f"/bcws/webresources/v1.0/collections/account/{SEED_ACCOUNT}"


async def test_timeouts_are_unavailable(sim: Simulator) -> None:
    sim.app.state.latency.seconds = 0.3
    try:
        async with BillingCareClient.open(settings_for(sim.base_url, timeout_seconds=0.05)) as client:
            with pytest.raises(VendorUnavailable, match="no answer within the timeout"):
                await client.update_collections_action(
                    SEED_ACTION, update_args(action_id=SEED_ACTION, status="0").change()
                )
    finally:
        sim.app.state.latency.seconds = 0.0


# ------------------------------------------------------------------------------------------- settings


def bc_settings(**values: Any) -> BillingCareSettings:
    return BillingCareSettings(_env_file=None, **values)


def test_settings_need_a_url_and_exactly_one_kind_of_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("URL", "USERNAME", "PASSWORD", "TOKEN"):
        monkeypatch.delenv(f"BILLING_CARE_{name}", raising=False)
    assert not bc_settings().enabled
    assert bc_settings(base_url="https://bc:8080", username="u", password="p").auth_mode == "basic"
    assert bc_settings(base_url="https://bc:8080", token="t").auth_mode == "bearer"
    assert bc_settings(base_url="https://bc:8080", token="t").enabled
    cases = {
        "BILLING_CARE_USERNAME \\+ BILLING_CARE_PASSWORD and BILLING_CARE_TOKEN": {
            "base_url": "https://bc:8080",
            "username": "u",
            "password": "p",
            "token": "t",
        },
        "BILLING_CARE_PASSWORD missing": {"base_url": "https://bc:8080", "username": "u"},
        "BILLING_CARE_USERNAME missing": {"base_url": "https://bc:8080", "password": "p"},
        "no credentials.*BILLING_CARE_TOKEN": {"base_url": "https://bc:8080"},
        "BILLING_CARE_BASE_URL missing": {"token": "t"},
        "must start with http": {"base_url": "bc:8080", "token": "t"},
    }
    for message, values in cases.items():
        with pytest.raises(VendorConfigError, match=message):
            _ = bc_settings(**values).enabled


def test_config_errors_never_show_secrets() -> None:
    with pytest.raises(VendorConfigError) as caught:
        _ = bc_settings(base_url="https://bc:8080", username="u", password="s3cr3t-pw", token="s3cr3t-token").enabled
    assert "s3cr3t" not in str(caught.value)


def test_reschedule_wire_timestamp_is_utc_with_milliseconds() -> None:
    from collections_mcp.tools.billing_care.client import update_body

    change = update_args(action_id=SEED_ACTION, reschedule_date="2021-02-08T14:31:29.735+01:00").change()
    assert update_body(change) == {"rescheduleDate": "2021-02-08T13:31:29.735Z", "rescheduleAction": True}
    naive = update_args(action_id=SEED_ACTION, reschedule_date="2021-02-08").change()
    assert update_body(naive)["rescheduleDate"] == "2021-02-08T00:00:00.000Z"
