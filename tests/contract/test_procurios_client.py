"""The Procurios client against its simulator over loopback HTTP: every endpoint, success and errors,
checked against what the simulator received."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from collections_mcp.sandbox.http import RecordedRequest, serve_app
from collections_mcp.sandbox.procurios.app import RECIPIENTS_UNAVAILABLE, SENDER_UNAVAILABLE, build_procurios_app
from collections_mcp.sandbox.procurios.config import DEMO_TOKEN, MEDIA_TYPE, ProcuriosSandboxConfig
from collections_mcp.sandbox.procurios.store import (
    SEED_MOMENT,
    SEED_RECIPIENT,
    SEED_SENDER,
    UNKNOWN_RELATION,
    ProcuriosStore,
)
from collections_mcp.tools.common.errors import (
    InvalidArgument,
    VendorAuthError,
    VendorError,
    VendorNotFound,
    VendorUnavailable,
)
from collections_mcp.tools.procurios.client import ProcuriosClient
from collections_mcp.tools.procurios.models import ContactMomentDraft
from collections_mcp.tools.procurios.settings import ProcuriosSettings
from tests.helpers import PROCURIOS_SEED_CALL, Clock

pytestmark = pytest.mark.anyio

START = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
BASE = "/l/contact_moment_api/contact_moment"

# The seed's phone-call example, as sent and as our arguments.
SEED_BODY: dict[str, Any] = {
    "subject": "Retention call",
    "dateTime": "2018-11-13T20:20:39+02:00",
    "senderId": 1516,
    "recipients": [429000],
    "contents": "We had a good call and the person decided to stay a member",
    "action_code": 2,
    "reference": "MyRefernce0123",
}


SEED_ARGUMENTS: dict[str, Any] = PROCURIOS_SEED_CALL


def seed_draft(**changes: Any) -> ContactMomentDraft:
    return ContactMomentDraft.model_validate(SEED_ARGUMENTS | changes)


@dataclass
class Simulator:
    app: Starlette
    base_url: str

    @property
    def store(self) -> ProcuriosStore:
        store: ProcuriosStore = self.app.state.store
        return store

    @property
    def requests(self) -> list[RecordedRequest]:
        return list(self.app.state.request_log)

    @property
    def faults(self) -> Any:
        return self.app.state.faults

    def posts(self) -> list[RecordedRequest]:
        return [request for request in self.requests if request.method == "POST"]


@pytest.fixture(scope="module")
async def served() -> AsyncIterator[tuple[Starlette, str]]:
    app = build_procurios_app(ProcuriosStore(clock=Clock(START)), ProcuriosSandboxConfig())
    async with serve_app(app) as base_url:
        yield app, base_url


@pytest.fixture
def sim(served: tuple[Starlette, str]) -> Iterator[Simulator]:
    app, base_url = served
    app.state.store = ProcuriosStore(clock=Clock(START))
    app.state.request_log.clear()
    app.state.faults.clear()
    yield Simulator(app, base_url)
    app.state.faults.clear()


def settings_for(base_url: str, **values: Any) -> ProcuriosSettings:
    defaults: dict[str, Any] = {"base_url": base_url, "token": SecretStr(DEMO_TOKEN), "timeout_seconds": 5.0}
    return ProcuriosSettings(_env_file=None, **(defaults | values))


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[ProcuriosClient]:
    async with ProcuriosClient.open(settings_for(sim.base_url)) as opened:
        yield opened


def assert_vendor_headers(request: RecordedRequest) -> None:
    assert request.headers["accept"] == MEDIA_TYPE
    assert request.headers["authorization"] == f"Bearer {DEMO_TOKEN}"


# ---------------------------------------------------------------------------------------------- reads


async def test_list_pages_of_25(client: ProcuriosClient, sim: Simulator) -> None:
    first = await client.list_contact_moments(1)
    third = await client.list_contact_moments(3)
    fourth = await client.list_contact_moments(4)

    assert (len(first), len(third), len(fourth)) == (25, 11, 0)  # 61 in all
    assert [request.query for request in sim.requests] == [{"page": "1"}, {"page": "3"}, {"page": "4"}]
    for request in sim.requests:
        assert request.path == BASE
        assert_vendor_headers(request)
    seed = third[-1]
    assert seed.id == SEED_MOMENT
    assert (seed.subject, seed.sender_id, seed.sender, seed.type) == (
        "Test contact moment",
        42,
        "Douglas Adams",
        "ContactMomentVisit",
    )
    assert (seed.date_time, seed.action, seed.recipients) == ("2020-01-01T01:23:45", 1234, [123, 124, 126])
    assert [(tag.id, tag.name) for tag in seed.tags] == [(99, "Tag name")]


async def test_list_since_and_relation_ids(client: ProcuriosClient, sim: Simulator) -> None:
    since = datetime(2025, 3, 5, 0, 0, tzinfo=timezone(timedelta(hours=2)))  # the offset is dropped
    recent = await client.list_contact_moments(1, since=since, relation_ids=[SEED_SENDER, SEED_RECIPIENT])

    assert sim.requests[0].query == {"page": "1", "since": "2025-03-05T00:00:00", "relationIds": "1516,429000"}
    assert recent and all(moment.date_time and moment.date_time >= "2025-03-05T00:00:00" for moment in recent)
    assert all(
        SEED_SENDER in (moment.sender_id, *moment.recipients) or SEED_RECIPIENT in moment.recipients
        for moment in recent
    )
    expected = [row["id"] for row in sim.store.list_moments(1, "2025-03-05T00:00:00", [SEED_SENDER, SEED_RECIPIENT])]
    assert [moment.id for moment in recent] == expected


async def test_types(client: ProcuriosClient, sim: Simulator) -> None:
    types = await client.contact_moment_types()
    assert [(t.id, t.addable) for t in types] == [
        ("ContactMomentPhone", True),
        ("ContactMomentVisit", True),
        ("ContactMomentEmail", True),
    ]
    assert types[0].title == "Telephone call"
    assert sim.requests[0].path == f"{BASE}/types"
    assert_vendor_headers(sim.requests[0])


async def test_tags(client: ProcuriosClient, sim: Simulator) -> None:
    tags = await client.tags()
    assert [(tag.id, tag.name) for tag in tags] == [(3, "Label 1"), (4, "Label 2"), (5, "Label 3"), (99, "Tag name")]
    assert sim.requests[0].path == f"{BASE}/tags"
    assert_vendor_headers(sim.requests[0])


async def test_schema_is_unwrapped_from_the_seeds_array(client: ProcuriosClient, sim: Simulator) -> None:
    schema = await client.schema("ContactMomentPhone", START)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["required"] == ["subject", "senderId", "recipients"]
    assert "contents" in schema["properties"]
    assert sim.requests[0].path == f"{BASE}/type/ContactMomentPhone/schema"
    assert_vendor_headers(sim.requests[0])


async def test_unknown_type_is_not_found(client: ProcuriosClient) -> None:
    with pytest.raises(VendorNotFound, match="contact moment type ContactMomentFax"):
        await client.schema("ContactMomentFax")


# ---------------------------------------------------------------------------------------------- create


async def test_create_sends_the_seeds_body(client: ProcuriosClient, sim: Simulator) -> None:
    moment_id = await client.create_contact_moment(seed_draft(), START)

    [post] = sim.posts()
    assert post.path == f"{BASE}/type/ContactMomentPhone"
    assert post.json == SEED_BODY
    assert list(post.json) == list(SEED_BODY)  # the seed's field order
    assert post.headers["content-type"] == "application/json"
    assert_vendor_headers(post)
    stored = sim.store.stored(moment_id)
    assert stored is not None
    assert (stored["type"], stored["date_time"], stored["fields"]) == (
        "ContactMomentPhone", "2018-11-13T20:20:39", {"contents": SEED_BODY["contents"]},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sender_id": UNKNOWN_RELATION}, SENDER_UNAVAILABLE),
        ({"recipients": [UNKNOWN_RELATION]}, RECIPIENTS_UNAVAILABLE),
    ],
    ids=["sender", "recipients"],
)
async def test_the_seeds_400_errors_carry_the_vendors_text(
    client: ProcuriosClient, sim: Simulator, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(VendorError, match=message) as caught:
        await client.create_contact_moment(seed_draft(**changes), START)
    assert caught.value.status == 400
    assert [request.status for request in sim.posts()] == [400]


async def test_schema_violations_are_all_reported_and_nothing_is_posted(
    client: ProcuriosClient, sim: Simulator
) -> None:
    draft = seed_draft(
        type="ContactMomentVisit",
        recipients=[SEED_RECIPIENT, SEED_RECIPIENT],
        reference="r" * 300,
        fields={"durationMinutes": "twenty"},
    )
    with pytest.raises(InvalidArgument) as caught:
        await client.create_contact_moment(draft, START)

    message = str(caught.value)
    for line in (
        "- fields.location: required by the schema",
        "- fields.durationMinutes: must be of type integer",
        "- recipients: must not contain duplicates",
        "- reference: at most 255 characters allowed (300 given)",
    ):
        assert line in message
    assert "r" * 50 not in message  # values are not echoed
    assert sim.posts() == []
    assert [request.path for request in sim.requests] == [f"{BASE}/type/ContactMomentVisit/schema"]


async def test_fields_cannot_smuggle_common_fields(client: ProcuriosClient, sim: Simulator) -> None:
    with pytest.raises(InvalidArgument, match="give sender_id as its own argument"):
        await client.create_contact_moment(seed_draft(fields={"senderId": 1}), START)
    with pytest.raises(InvalidArgument, match="contactMomentId is assigned by Procurios"):
        await client.create_contact_moment(seed_draft(fields={"contactMomentId": 7}), START)
    assert sim.posts() == []


async def create_refused(client: ProcuriosClient, given: dict[str, Any]) -> str:
    with pytest.raises(InvalidArgument) as caught:
        await client.create_contact_moment(given, START)
    return str(caught.value)


async def test_arguments_that_break_the_published_schema_never_reach_procurios(
    client: ProcuriosClient, sim: Simulator
) -> None:
    """Not even for the type's schema: the arguments' own problems are reported without a request, and the type's
    checks follow once they fit."""
    given = SEED_ARGUMENTS | {"type": "ContactMomentVisit", "sender_id": "1516", "filenumber": "R1000"}
    message = await create_refused(client, given)
    assert message.startswith("the contact moment does not match its arguments, so nothing was sent to Procurios (2 problems):")
    assert "- sender_id: Input should be a valid integer" in message and "- filenumber: unknown argument" in message
    assert "Once they are fixed, the ContactMomentVisit schema is checked too." in message
    assert sim.requests == []
    fixed = await create_refused(client, SEED_ARGUMENTS | {"type": "ContactMomentVisit"})
    assert "- fields.location: required by the schema" in fixed
    assert [request.path for request in sim.requests] == [f"{BASE}/type/ContactMomentVisit/schema"]


async def test_the_arguments_and_the_schema_are_checked_together(client: ProcuriosClient, sim: Simulator) -> None:
    """Problems with the common arguments (strict types, unknown names) and with the type's own fields come in
    one error when the type's schema is known already (procurios_get_contact_moment_schema, or an earlier create,
    cached it); before, the first pydantic failure hid the schema's findings."""
    await client.schema("ContactMomentVisit", START)
    given = {
        "type": "ContactMomentVisit",
        "subject": 12,
        "date_time": "yesterday",
        "sender_id": "1516",
        "recipients": ["429000", SEED_RECIPIENT, SEED_RECIPIENT],
        "reference": "r" * 300,
        "tag_ids": "[3, 3]",  # JSON text, as some clients send lists
        "fields": {"durationMinutes": "twenty", "senderId": 5},
        "filenumber": "R1000",
    }
    message = await create_refused(client, given)
    assert message.startswith(
        "the contact moment does not match its arguments and the ContactMomentVisit schema, "
        "so nothing was sent to Procurios (11 problems):\n"
    )
    for line in (
        "- subject: must be of type string",
        "- date_time: Input should be a valid datetime or date, input is too short (expected: When it happened",
        "- sender_id: must be of type integer",
        "- recipients: must not contain duplicates",
        "- recipients[0]: must be of type integer",
        "- reference: at most 255 characters allowed (300 given)",
        "- tag_ids: must not contain duplicates",
        "- fields may only hold type-specific fields; give sender_id as its own argument",
        "- fields.durationMinutes: must be of type integer",
        "- fields.location: required by the schema",
        "- filenumber: unknown argument (accepted: type, subject, sender_id, recipients, date_time, action_code,",
    ):
        assert line in message
    assert "r" * 50 not in message and "twenty" not in message  # values are not echoed
    assert sim.posts() == []
    assert [request.path for request in sim.requests] == [f"{BASE}/type/ContactMomentVisit/schema"]


async def test_digit_strings_are_not_coerced_to_integers(client: ProcuriosClient, sim: Simulator) -> None:
    given = SEED_ARGUMENTS | {"sender_id": str(SEED_SENDER), "recipients": [str(SEED_RECIPIENT)], "action_code": "2"}
    message = await create_refused(client, given)
    assert "(3 problems)" in message
    for line in (
        "- sender_id: Input should be a valid integer",
        "- recipients[0]: Input should be a valid integer",
        "- action_code: Input should be a valid integer",
    ):
        assert line in message
    assert sim.posts() == []
    assert await client.create_contact_moment(SEED_ARGUMENTS, START) > 0  # the same with integers is sent
    assert [post.json for post in sim.posts()] == [SEED_BODY]


async def test_without_a_valid_type_the_arguments_are_still_all_checked(client: ProcuriosClient, sim: Simulator) -> None:
    message = await create_refused(client, {"type": "Contact moment", "sender_id": True, "recipients": "1516"})
    assert "does not match its arguments, so nothing was sent to Procurios (5 problems)" in message
    for line in (
        "- type: String should match pattern",
        "- type: the schema checks need a valid type",
        "- subject: required",
        "- sender_id: Input should be a valid integer",
        "- recipients: Input should be a valid list",
    ):
        assert line in message
    assert sim.requests == []  # no type, no schema to fetch
    bad_subject = await create_refused(client, {"type": "ContactMomentFax", "subject": 7, "sender_id": 1, "recipients": [1]})
    assert "- subject: Input should be a valid string" in bad_subject and "(1 problem)" in bad_subject
    assert sim.requests == []  # the arguments break the published schema: the type is not even looked up
    unknown = await create_refused(client, {"type": "ContactMomentFax", "subject": "x", "sender_id": 1, "recipients": [1]})
    assert "- type: Procurios has no contact moment type ContactMomentFax" in unknown and "(1 problem)" in unknown
    assert sim.posts() == []


async def test_schema_is_cached_per_type_with_a_ttl(client: ProcuriosClient, sim: Simulator) -> None:
    await client.create_contact_moment(seed_draft(), START)
    await client.create_contact_moment(seed_draft(), START + timedelta(seconds=299))
    schema_reads = [request for request in sim.requests if request.path.endswith("/schema")]
    assert len(schema_reads) == 1 and client.schema_fetches == 1

    await client.create_contact_moment(seed_draft(), START + timedelta(seconds=300))
    schema_reads = [request for request in sim.requests if request.path.endswith("/schema")]
    assert len(schema_reads) == 2 and len(sim.posts()) == 3


async def test_a_changed_schema_is_fetched_again_after_a_refusal(client: ProcuriosClient, sim: Simulator) -> None:
    await client.create_contact_moment(seed_draft(), START)  # caches the phone schema
    stricter = sim.store.type_schema("ContactMomentPhone")
    assert stricter is not None
    stricter["required"] = [*stricter["required"], "contents"]
    sim.store.set_type_schema("ContactMomentPhone", stricter)

    with pytest.raises(VendorError, match="'contents' is a required property"):
        await client.create_contact_moment(seed_draft(fields=None), START)  # our stale schema let it through
    with pytest.raises(InvalidArgument, match=r"fields\.contents: required by the schema"):
        await client.create_contact_moment(seed_draft(fields=None), START)


async def test_the_post_is_not_retried_but_reads_are(client: ProcuriosClient, sim: Simulator) -> None:
    sim.faults.http_error(r"/type/ContactMomentPhone$", 503, body='{"errors": "maintenance"}', method="POST")
    with pytest.raises(VendorUnavailable, match="maintenance"):
        await client.create_contact_moment(seed_draft(), START)
    assert [request.status for request in sim.posts()] == [503]

    sim.faults.http_error(r"/tags$", 502)
    assert await client.tags()
    assert [request.status for request in sim.requests if request.path.endswith("/tags")] == [502, 200]


@pytest.mark.parametrize(("status", "kind"), [(400, VendorError), (404, VendorNotFound), (403, VendorAuthError)])
async def test_a_4xx_html_page_on_a_read_is_one_request_and_an_error_naming_the_status(
    client: ProcuriosClient, sim: Simulator, status: int, kind: type[VendorError]
) -> None:
    page = f"<html><head><title>{status} Error</title></head><body>nginx</body></html>"
    sim.faults.http_error(f"{BASE}$", status, body=page, content_type="text/html", times=3)
    with pytest.raises(VendorError) as caught:
        await client.list_contact_moments(1)
    assert type(caught.value) is kind and caught.value.status == status
    assert [request.status for request in sim.requests] == [status]  # not retried, unlike a 5xx


async def test_a_400_page_names_the_status_and_what_came_back(client: ProcuriosClient, sim: Simulator) -> None:
    sim.faults.http_error(f"{BASE}$", 400, body="<html><title>400</title></html>", content_type="text/html")
    with pytest.raises(VendorError) as caught:
        await client.list_contact_moments(1)
    assert caught.value.message == "HTTP 400 with a page that is not JSON"
    assert str(caught.value).startswith("Procurios refused the request (vendor status 400): HTTP 400 with a page")


async def test_non_json_answers_are_unavailable(client: ProcuriosClient, sim: Simulator) -> None:
    sim.faults.non_json(r"/type/ContactMomentPhone$", method="POST")
    with pytest.raises(VendorUnavailable, match="not JSON"):
        await client.create_contact_moment(seed_draft(), START)


async def test_wrong_token_is_an_auth_error(sim: Simulator) -> None:
    async with ProcuriosClient.open(settings_for(sim.base_url, token=SecretStr("nope"))) as client:
        with pytest.raises(VendorAuthError, match="Unauthorized"):
            await client.list_contact_moments(1)
    assert [request.status for request in sim.requests] == [401]


# ------------------------------------------------------------------------------ the simulator's own rules


async def test_simulator_checks_accept_and_query_formats(sim: Simulator) -> None:
    auth = {"Authorization": f"Bearer {DEMO_TOKEN}"}
    async with httpx.AsyncClient(base_url=sim.base_url, timeout=5) as raw:
        no_media_type = await raw.get(BASE, headers=auth | {"Accept": "application/json"})
        vendor = auth | {"Accept": MEDIA_TYPE}
        bad_since = await raw.get(BASE, params={"since": "2025-03-05"}, headers=vendor)
        bad_page = await raw.get(BASE, params={"page": "0"}, headers=vendor)
        as_array = await raw.get(BASE, params=[("relationIds[]", "123"), ("relationIds[]", "124")], headers=vendor)
        single = await raw.get(BASE, params={"relationIds": "126"}, headers=vendor)
    assert no_media_type.status_code == 406
    assert (bad_since.status_code, bad_page.status_code) == (400, 400)
    assert "errors" in bad_since.json()
    assert [row["id"] for row in as_array.json()][-1] == SEED_MOMENT
    assert [row["id"] for row in single.json()] == [SEED_MOMENT]
    assert single.json()[0]["tags"] == {"99": "Tag name"}


async def test_settings_name_the_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from collections_mcp.tools.common.settings import VendorConfigError

    monkeypatch.delenv("PROCURIOS_TOKEN", raising=False)
    with pytest.raises(VendorConfigError, match="PROCURIOS_TOKEN missing"):
        _ = ProcuriosSettings(_env_file=None, base_url="https://crm.example").enabled
