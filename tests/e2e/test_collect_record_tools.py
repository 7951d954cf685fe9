"""Every Collect! record tool through the SDK's in-memory Client, against the simulator over loopback HTTP.

Each test checks what an MCP client sees and what Collect! received (or, for bad input, that it received
nothing).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import ElicitResult
from pydantic import SecretStr
from starlette.applications import Starlette

from collections_mcp.sandbox.collect.app import build_collect_app
from collections_mcp.sandbox.collect.config import CollectSandboxConfig
from collections_mcp.sandbox.collect.store import CollectDatabase, CollectStore
from collections_mcp.sandbox.http import RecordedRequest, serve_app
from collections_mcp.server.app import ServerConfig, build_server
from collections_mcp.server.settings import ServerSettings
from collections_mcp.tools.collect.settings import CollectSettings
from tests.helpers import failed, ok, text_of

pytestmark = pytest.mark.anyio

DATA = "/api/v1/collect/data"
LOGIN = "/api/v1/auth/login"
FORMS = "/api/v1/collect/ui/forms/"


@pytest.fixture(scope="module")
async def served() -> AsyncIterator[tuple[Starlette, str]]:
    store = CollectStore.demo()
    app = build_collect_app(store, CollectSandboxConfig())
    async with serve_app(app, websockets=True) as url:
        yield app, url
    store.close()


@pytest.fixture
def app(served: tuple[Starlette, str]) -> Starlette:
    served[0].state.store.reset()
    return served[0]


def collect_settings(base_url: str, **overrides: Any) -> CollectSettings:
    values: dict[str, Any] = {"base_url": base_url, "operator_id": "OWN", "operator_password": SecretStr("own")}
    return CollectSettings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]


CONFIRMATIONS: list[str] = []


async def confirm_everything(context: Any, params: Any) -> ElicitResult:
    """The person approves whatever the server asks them to confirm, and we keep what they were shown."""
    CONFIRMATIONS.append(params.message)
    return ElicitResult(action="accept", content={"confirm": True})


async def mcp_client(tmp_path: Path, settings: CollectSettings, **server: Any) -> Client:
    server_settings = ServerSettings(_env_file=None, state_dir=tmp_path / "state", toolsets=None, sandbox=False,  # type: ignore[call-arg]
                                     **({"read_only": False} | server))  # fmt: skip
    config = ServerConfig(settings=server_settings, vendors={"collect": settings})
    return Client(build_server(config), elicitation_callback=confirm_everything)


@pytest.fixture
async def mcp(app: Starlette, served: tuple[Starlette, str], tmp_path: Path) -> AsyncIterator[Client]:
    async with await mcp_client(tmp_path, collect_settings(served[1])) as client:
        yield client


class Wire:
    def __init__(self, app: Starlette) -> None:
        self._log = app.state.request_log
        self._start = len(self._log)

    def requests(self, *, include_login: bool = False) -> list[RecordedRequest]:
        return [entry for entry in list(self._log)[self._start :] if include_login or entry.path != LOGIN]

    def paths(self) -> list[str]:
        return [f"{entry.method} {entry.path}" for entry in self.requests()]


@pytest.fixture
def wire(app: Starlette) -> Wire:
    return Wire(app)


def db(app: Starlette) -> CollectDatabase:
    database: CollectDatabase = app.state.store.database()
    return database








# ---------------------------------------------------------------------------------------------- catalog

RECORD_TOOLS = {
    "collect_get_debtor": "read", "collect_search_debtors": "read", "collect_get_debtor_contacts": "read",
    "collect_get_debtor_notes": "read", "collect_get_debtor_transactions": "read",
    "collect_list_contact_plans": "read", "collect_add_note": "write", "collect_add_contact": "write",
    "collect_update_debtor": "destructive",
}  # fmt: skip


async def test_record_tools_are_listed_with_schemas_and_effects(mcp: Client) -> None:
    tools = {tool.name: tool for tool in (await mcp.list_tools()).tools if tool.name.startswith("collect_")}
    assert set(RECORD_TOOLS) <= set(tools)
    for name, effect in RECORD_TOOLS.items():
        tool = tools[name]
        assert tool.output_schema is not None and tool.description and len(tool.description) > 40, name
        assert tool.meta is not None and tool.meta["collections-mcp/effect"] == effect, name
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is (effect == "read"), name
        assert tool.annotations.destructive_hint is (effect == "destructive"), name
    assert tools["collect_get_debtor"].input_schema["required"] == ["rowid"]


async def test_read_only_mode_keeps_only_the_reads(app: Starlette, served: tuple[Starlette, str], tmp_path: Path) -> None:
    async with await mcp_client(tmp_path, collect_settings(served[1]), read_only=True) as client:
        names = {tool.name for tool in (await client.list_tools()).tools if tool.name.startswith("collect_")}
    assert {name for name, effect in RECORD_TOOLS.items() if effect == "read"} <= names
    assert not names & {"collect_add_note", "collect_add_contact", "collect_update_debtor"}


# ---------------------------------------------------------------------------------------------- reads


async def test_get_debtor_is_compact_and_masks_the_ssn(mcp: Client, wire: Wire) -> None:
    result = await mcp.call_tool("collect_get_debtor", {"rowid": 101})
    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert data == {
        "rowid": 101, "account_number": "D1001", "name": "SMITH, JOHN", "contact_name": "John Smith",
        "status": "NEW", "type": "RET", "active": True, "collector": "OWN", "client_rowid": 1, "owing": "1250.00",
        "paid": "250.00", "principal": "1500.00", "listed_date": "2024-01-15", "charged_off_date": "2023-11-30",
        "date_of_birth": "1980-04-12", "ssn": "***-**-3456",
        "address": {"street": "123 MAIN ST", "street2": "APT 4", "city": "BUFFALO", "state": "NY", "zip": "14201",
                    "country": "US"},
        "home_phone": "716-555-0101", "cell_phone": "716-555-0102", "email": "john.smith@example.com",
        "employer": "ACME WIDGETS",
    }  # fmt: skip
    assert "900-12-3456" not in text_of(result) and "900123456" not in text_of(result)
    assert wire.paths() == [f"GET {DATA}/debtor/101"]


async def test_blanks_and_sentinels_are_dropped(mcp: Client) -> None:
    data = await ok(mcp, "collect_get_debtor", {"rowid": 108})
    for absent in ("ssn", "date_of_birth", "home_phone", "email", "contact_name", "paid", "charged_off_date"):
        assert absent not in data, absent
    assert data["owing"] == "95.10"


async def test_unknown_debtor_is_a_not_found_error(mcp: Client) -> None:
    assert "not found" in (await failed(mcp, "collect_get_debtor", {"rowid": 999})).lower()


async def test_search_by_name_pages_and_filters(mcp: Client, wire: Wire) -> None:
    first = await ok(mcp, "collect_search_debtors", {"name": "smith", "limit": 2})
    assert [hit["name"] for hit in first["items"]] == ["SMITH, ANNA", "SMITH, JOHN"]
    assert first["total"] == 3 and first["next_offset"] == 2
    second = await ok(mcp, "collect_search_debtors", {"name": "smith", "limit": 2, "offset": 2})
    assert [hit["rowid"] for hit in second["items"]] == [107] and "next_offset" not in second
    assert second["items"][0] == {"rowid": 107, "account_number": "D1007", "name": "SMITHSON, ROBERT", "status": "CLS",
                                  "active": False, "owing": "0.00", "city": "BATAVIA", "state": "NY"}  # fmt: skip
    active = await ok(mcp, "collect_search_debtors", {"name": "SMITH", "active_only": True})
    assert active["total"] == 2
    filters = [entry.query["filter"] for entry in wire.requests()]
    assert filters == ["de_name__like='%smith%'", "de_name__like='%smith%'", "de_name__like='%SMITH%',de_active='1'"]


async def test_search_by_account_and_a_name_with_a_quote(mcp: Client) -> None:
    by_account = await ok(mcp, "collect_search_debtors", {"account_number": "D1004"})
    assert [hit["rowid"] for hit in by_account["items"]] == [104]
    quoted = await ok(mcp, "collect_search_debtors", {"name": "o'brien"})
    assert [hit["rowid"] for hit in quoted["items"]] == [103]
    assert (await ok(mcp, "collect_search_debtors", {"zip": "00000"}))["total"] == 0


async def test_search_needs_a_criterion_and_sends_nothing_without_one(mcp: Client, wire: Wire) -> None:
    message = await failed(mcp, "collect_search_debtors", {"limit": 5})
    assert "at least one of name, account_number" in message and "nothing was sent" in message
    assert wire.requests(include_login=True) == []


async def test_contacts_page_with_type_names(mcp: Client) -> None:
    page = await ok(mcp, "collect_get_debtor_contacts", {"rowid": 104, "limit": 10, "offset": 25})
    assert page["total"] == 30 and len(page["items"]) == 5 and "next_offset" not in page
    first = await ok(mcp, "collect_get_debtor_contacts", {"rowid": 101})
    assert first["items"][2] == {
        "rowid": 3, "type": "5", "type_name": "Review", "description": "Review file", "date": "2024-03-01",
        "priority": 25, "assigned_to": "OWN", "created_by": "OWN", "created_at": "2024-03-01T09:00:00", "done": False,
    }  # fmt: skip
    assert first["items"][0]["time"] == "10:15:00" and first["items"][0]["done_date"] == "2024-02-01"


async def test_an_account_without_sub_records_has_empty_pages(mcp: Client) -> None:
    for tool in ("collect_get_debtor_contacts", "collect_get_debtor_notes", "collect_get_debtor_transactions"):
        assert await ok(mcp, tool, {"rowid": 102}) == {"items": [], "total": 0, "offset": 0}


async def test_notes_and_transactions(mcp: Client) -> None:
    notes = await ok(mcp, "collect_get_debtor_notes", {"rowid": 101})
    assert notes["items"][0] == {"rowid": 1, "at": "2024-02-01T10:16:00", "operator": "OWN",
                                 "text": "Debtor says he will call back on Friday."}  # fmt: skip
    transactions = await ok(mcp, "collect_get_debtor_transactions", {"rowid": 101})
    assert transactions["total"] == 3
    assert transactions["items"][0] == {"rowid": 1, "type": "PAY", "description": "Payment", "payment": True,
                                        "payment_date": "2024-02-15", "posted_date": "2024-02-15", "to_us": "100.00",
                                        "direct": "0.00", "operator": "OWN"}  # fmt: skip
    assert transactions["items"][2]["payment"] is False


async def test_list_contact_plans(mcp: Client) -> None:
    data = await ok(mcp, "collect_list_contact_plans", {})
    assert data["total"] == 9
    assert {"code": "REV", "name": "Review",
            "description": "Prompts with the Schedule Next Contact form; the confirmed contact is scheduled."} in data["plans"]  # fmt: skip


# ---------------------------------------------------------------------------------------------- writes


async def test_add_note(mcp: Client, app: Starlette, wire: Wire) -> None:
    data = await ok(mcp, "collect_add_note", {"rowid": 102, "text": "Debtor asked for a payoff letter."})
    [note] = db(app).notes(102)
    assert data == {"debtor_rowid": 102, "done": True, "record": "notes", "record_rowid": int(note["no_rowid"]),
                    "changed": {"text": "Debtor asked for a payoff letter."}}  # fmt: skip
    assert note["no_text"] == "Debtor asked for a payoff letter." and note["no_operator"] == "OWN"
    assert wire.requests()[0].json == {"business-logic": 4,
                                       "data": {"no_rowid_debtor": "102", "no_text": "Debtor asked for a payoff letter."}}  # fmt: skip


async def test_add_contact_by_type_name(mcp: Client, app: Starlette, wire: Wire) -> None:
    arguments = {"rowid": 102, "contact_type": "review", "date": "2025-06-02", "description": "Check promise",
                 "time": "14:30", "assigned_to": "sal"}  # fmt: skip
    data = await ok(mcp, "collect_add_contact", arguments)
    [contact] = db(app).contacts(102)
    assert contact["co_type"] == "5" and contact["co_date"] == "2025-06-02" and contact["co_time"] == "14:30:00"
    assert contact["co_who"] == "SAL" and contact["co_originator"] == "OWN"
    assert data["record_rowid"] == int(contact["co_rowid"]) and data["changed"]["type"] == "5"
    assert wire.paths() == [f"GET {FORMS}35d01ff2-775d-ccb4-8f53-25d36f517384", f"POST {DATA}/contact"]


async def test_unknown_contact_type_lists_the_valid_ones_and_writes_nothing(mcp: Client, app: Starlette, wire: Wire) -> None:
    message = await failed(mcp, "collect_add_contact", {"rowid": 102, "contact_type": "Telegram", "date": "2025-06-02",
                                                        "description": "x"})  # fmt: skip
    assert "Review (5)" in message and "Phone (1)" in message and "nothing was changed" in message
    assert db(app).contacts(102) == [] and all(entry.method == "GET" for entry in wire.requests())


async def test_update_debtor_normalises_and_returns_the_previous_values(mcp: Client, app: Starlette, wire: Wire) -> None:
    data = await ok(mcp, "collect_update_debtor", {"rowid": 101, "cell_phone": "(716) 555 0199",
                                                   "email": "j.smith@example.com", "clear": ["home_phone"]})  # fmt: skip
    assert data["changed"] == {"cell_phone": "716-555-0199", "email": "j.smith@example.com", "home_phone": ""}
    assert data["previous"] == {"cell_phone": "716-555-0102", "email": "john.smith@example.com", "home_phone": "716-555-0101"}
    debtor = db(app).debtor(101)
    assert debtor is not None and debtor["de_cell_phone"] == "716-555-0199" and debtor["de_home_phone"] == ""
    # One read for the confirmation summary, one to record the previous values, then the change.
    assert wire.paths() == [f"GET {DATA}/debtor/101", f"GET {DATA}/debtor/101", f"PATCH {DATA}/debtor/101"]
    assert wire.requests()[2].json == {"data": {"de_cell_phone": "716-555-0199", "de_email": "j.smith@example.com",
                                                "de_home_phone": ""}}  # fmt: skip
    shown = CONFIRMATIONS[-1]
    assert "Collect! debtor 101" in shown and "cell_phone: '716-555-0102' -> '716-555-0199'" in shown


@pytest.mark.parametrize(
    ("arguments", "wording"),
    [
        ({"rowid": 101}, "nothing to update"),
        ({"rowid": 101, "ssn": "900-12-3456"}, "unknown argument"),
        ({"rowid": 101, "status": "CLS"}, "unknown argument"),
        ({"rowid": 101, "home_phone": "12"}, "10-digit US phone number"),
        ({"rowid": 101, "email": "nope"}, "not an e-mail address"),
        ({"rowid": 101, "city": "X", "clear": ["city"]}, "both set and cleared"),
    ],
)
async def test_update_debtor_refuses_what_it_must_not_change(
    mcp: Client, wire: Wire, arguments: dict[str, Any], wording: str
) -> None:
    assert wording in await failed(mcp, "collect_update_debtor", arguments)
    assert wire.requests(include_login=True) == []


# ---------------------------------------------------------------------------------------------- session


async def test_token_expiry_mid_session_logs_in_again(mcp: Client, app: Starlette, wire: Wire) -> None:
    await ok(mcp, "collect_get_debtor", {"rowid": 101})
    app.state.tokens.expire_all()
    await ok(mcp, "collect_get_debtor", {"rowid": 102})
    assert [entry.path for entry in wire.requests(include_login=True)].count(LOGIN) == 2


async def test_configured_database_header_reaches_collect(app: Starlette, served: tuple[Starlette, str], tmp_path: Path,
                                                          wire: Wire) -> None:  # fmt: skip
    async with await mcp_client(tmp_path, collect_settings(served[1], database="demodb")) as client:
        data = await ok(client, "collect_get_debtor", {"rowid": 1})
    assert data["name"] == "DEMO, DEBTOR"
    assert all(entry.headers["x-collect-database"] == "cv_demodb" for entry in wire.requests(include_login=True))
