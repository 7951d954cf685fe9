"""The Collect! client against its simulator over loopback HTTP: auth, every record call, forms, runplan."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
import tenacity
from pydantic import SecretStr
from starlette.applications import Starlette
from websockets.asyncio.client import connect

from collections_mcp.sandbox.collect.app import build_collect_app
from collections_mcp.sandbox.collect.config import CollectSandboxConfig
from collections_mcp.sandbox.collect.demo_data import SCHEDULE_NEXT_CONTACT
from collections_mcp.sandbox.collect.store import CollectDatabase, CollectStore
from collections_mcp.sandbox.http import RecordedRequest, serve_app
from collections_mcp.tools.collect.client import DATA, CollectClient, Condition
from collections_mcp.tools.collect.settings import CollectSettings
from collections_mcp.tools.common.errors import VendorAuthError, VendorError, VendorNotFound, VendorUnavailable
from collections_mcp.tools.common.settings import VendorConfigError

pytestmark = pytest.mark.anyio

LOGIN = "/api/v1/auth/login"


@pytest.fixture(scope="module")
async def served() -> AsyncIterator[tuple[Starlette, str]]:
    store = CollectStore.demo()
    app = build_collect_app(store, CollectSandboxConfig(prompt_timeout_seconds=5))
    async with serve_app(app, websockets=True) as url:
        yield app, url
    store.close()


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read retries keep their count but not their jittered waits (up to a second each)."""
    monkeypatch.setattr("collections_mcp.tools.common.http.wait_exponential_jitter", lambda **_: tenacity.wait_none())


@pytest.fixture
def app(served: tuple[Starlette, str]) -> Starlette:
    served[0].state.store.reset()
    served[0].state.faults.clear()
    return served[0]


@pytest.fixture
def base_url(served: tuple[Starlette, str]) -> str:
    return served[1]


def settings_for(base_url: str, **overrides: Any) -> CollectSettings:
    values: dict[str, Any] = {
        "base_url": base_url,
        "operator_id": "OWN",
        "operator_password": SecretStr("own"),
        "timeout_seconds": 5.0,
    }
    return CollectSettings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]


@pytest.fixture
async def client(app: Starlette, base_url: str) -> AsyncIterator[CollectClient]:
    async with CollectClient.open(settings_for(base_url)) as opened:
        yield opened


class Wire:
    """Requests the simulator received since the test started."""

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


# ---------------------------------------------------------------------------------------------- settings


def test_settings_defaults_and_derived_addresses() -> None:
    settings = settings_for("https://api.yourdomain.com")
    assert settings.enabled and settings.prompt_timeout == 300
    assert settings.auth_base_url == "https://api.yourdomain.com"
    assert settings.websocket_url == "wss://api.yourdomain.com/websocket"
    assert settings.database_header == {}
    direct = settings_for("http://192.168.0.10:4001/", auth_url="http://192.168.0.10:40000")
    assert direct.websocket_url == "ws://192.168.0.10:4001/websocket"
    assert direct.auth_base_url == "http://192.168.0.10:40000"


@pytest.mark.parametrize("name", ["demodb", "cv_demodb", " demodb "])
def test_database_is_sent_with_the_cv_prefix(name: str) -> None:
    assert settings_for("http://x", database=name).database_header == {"x-collect-database": "cv_demodb"}


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLECT_BASE_URL", "https://api.example.com")
    monkeypatch.setenv("COLLECT_WEBSOCKET_URL", "wss://ws.example.com/socket")
    monkeypatch.setenv("COLLECT_PROMPT_TIMEOUT", "42")
    settings = CollectSettings(_env_file=None)  # type: ignore[call-arg]
    assert settings.websocket_url == "wss://ws.example.com/socket" and settings.prompt_timeout == 42
    with pytest.raises(VendorConfigError, match="COLLECT_OPERATOR_ID, COLLECT_OPERATOR_PASSWORD missing"):
        assert settings.enabled


def test_a_database_name_must_be_a_name() -> None:
    with pytest.raises(ValueError, match="COLLECT_DATABASE"):
        settings_for("http://x", database="cv_x; drop")


# ---------------------------------------------------------------------------------------------- auth


async def test_login_is_lazy_shared_and_keeps_the_operator(client: CollectClient, wire: Wire) -> None:
    assert wire.requests(include_login=True) == [] and client.operator is None
    await client.debtor(101)
    await client.debtor(102)
    logins = [entry for entry in wire.requests(include_login=True) if entry.path == LOGIN]
    assert len(logins) == 1 and client.logins == 1
    assert logins[0].json == {"op_id": "OWN", "op_password": "own"}
    assert client.operator == {"op_rowid": "1", "op_id": "OWN", "op_name": "Owner Of The Company", "op_level": 10,
                               "op_function": 1}  # fmt: skip
    assert all(entry.headers["authorization"].startswith("Bearer ") for entry in wire.requests())
    assert all("x-collect-database" not in entry.headers for entry in wire.requests(include_login=True))


async def test_current_operator_logs_in_when_needed(client: CollectClient) -> None:
    operator = await client.current_operator()
    assert operator["op_level"] == 10 and client.logins == 1


async def test_wrong_password_is_an_auth_error_with_the_servers_message(app: Starlette, base_url: str) -> None:
    async with CollectClient.open(settings_for(base_url, operator_password=SecretStr("nope"))) as bad:
        with pytest.raises(VendorAuthError, match="Invalid Operator ID or Password"):
            await bad.debtor(101)


async def test_login_goes_to_the_auth_url(app: Starlette, base_url: str) -> None:
    async with CollectClient.open(settings_for(base_url, auth_url="http://127.0.0.1:9")) as elsewhere:
        with pytest.raises(VendorUnavailable, match="connection failed"):
            await elsewhere.debtor(101)


async def test_expired_token_logs_in_again_once_and_retries(client: CollectClient, app: Starlette, wire: Wire) -> None:
    await client.debtor(101)
    app.state.tokens.expire_all()
    assert (await client.debtor(102))["de_name"] == "GARCIA, MARIA"
    sequence = [(entry.path, entry.status) for entry in wire.requests(include_login=True)]
    assert sequence == [
        (LOGIN, 200),
        (f"{DATA}/debtor/101", 200),
        (f"{DATA}/debtor/102", 401),
        (LOGIN, 200),
        (f"{DATA}/debtor/102", 200),
    ]


async def test_concurrent_calls_with_an_expired_token_log_in_once(client: CollectClient, app: Starlette) -> None:
    await client.debtor(101)
    app.state.tokens.expire_all()
    before = app.state.logins
    async with anyio.create_task_group() as tasks:
        for rowid in (101, 102, 103, 104, 105, 106):
            tasks.start_soon(client.debtor, rowid)
    assert app.state.logins == before + 1 and client.logins == 2


async def test_database_header_on_every_request_including_login(app: Starlette, base_url: str, wire: Wire) -> None:
    async with CollectClient.open(settings_for(base_url, database="demodb")) as demo:
        assert (await demo.debtor(1))["de_name"] == "DEMO, DEBTOR"
        await demo.form(SCHEDULE_NEXT_CONTACT)
    requests = wire.requests(include_login=True)
    assert requests[0].path == LOGIN
    assert all(entry.headers["x-collect-database"] == "cv_demodb" for entry in requests)


async def test_unknown_database_is_not_authorized(app: Starlette, base_url: str) -> None:
    async with CollectClient.open(settings_for(base_url, database="elsewhere")) as nowhere:
        with pytest.raises(VendorAuthError, match="Not authorized: database cv_elsewhere"):
            await nowhere.debtor(1)


# ---------------------------------------------------------------------------------------------- reads


async def test_read_one_record(client: CollectClient, wire: Wire) -> None:
    debtor = await client.debtor(101)
    assert debtor["de_rowid"] == "101" and debtor["de_ss"] == "900-12-3456"
    assert wire.paths() == [f"GET {DATA}/debtor/101"]


async def test_missing_record_is_not_found(client: CollectClient) -> None:
    with pytest.raises(VendorNotFound, match="No debtor record with rowid 999"):
        await client.debtor(999)


async def test_search_sends_the_documented_filter_fields_sort_limit_page(client: CollectClient, wire: Wire) -> None:
    found = await client.search_debtors(
        [Condition("de_name", "%SMITH%", "like"), Condition("de_active", "1")], offset=0, limit=10,
        fields=("de_rowid", "de_name"),
    )  # fmt: skip
    assert [row["de_name"] for row in found.rows] == ["SMITH, ANNA", "SMITH, JOHN"] and found.total == 2
    assert found.rows[0] == {"de_rowid": "106", "de_name": "SMITH, ANNA"}
    [request] = wire.requests()
    assert request.query == {"filter": "de_name__like='%SMITH%',de_active='1'", "fields": "de_rowid,de_name",
                             "sort": "de_name", "limit": "10", "page": "1"}  # fmt: skip


async def test_a_quote_in_a_filter_value_is_doubled(client: CollectClient, wire: Wire) -> None:
    found = await client.search_debtors([Condition("de_name", "O'BRIEN, PATRICK")], offset=0, limit=5)
    assert [row["de_rowid"] for row in found.rows] == ["103"]
    assert wire.requests()[0].query["filter"] == "de_name='O''BRIEN, PATRICK'"


async def test_a_window_across_two_pages(client: CollectClient, wire: Wire) -> None:
    window = await client.debtor_contacts(104, offset=5, limit=10)
    assert window.total == 30 and len(window.rows) == 10
    assert window.rows[0]["co_description"] == "Follow-up 6 of 30"
    assert [entry.query["page"] for entry in wire.requests()] == ["1", "2"]
    last = await client.debtor_contacts(104, offset=20, limit=10)
    assert len(last.rows) == 10 and [entry.query["page"] for entry in wire.requests()][-1] == "3"


async def test_sub_records(client: CollectClient, wire: Wire) -> None:
    contacts = await client.debtor_contacts(101, offset=0, limit=25)
    notes = await client.debtor_notes(101, offset=0, limit=25)
    transactions = await client.debtor_transactions(101, offset=0, limit=25)
    assert (contacts.total, notes.total, transactions.total) == (3, 2, 3)
    assert wire.paths() == [f"GET {DATA}/debtor/101/contact", f"GET {DATA}/debtor/101/notes",
                            f"GET {DATA}/debtor/101/transaction"]  # fmt: skip
    empty = await client.debtor_contacts(102, offset=0, limit=25)
    assert empty.rows == [] and empty.total == 0
    with pytest.raises(VendorNotFound):
        await client.debtor_notes(999, offset=0, limit=25)


async def test_bad_filter_is_a_vendor_error_with_the_message(client: CollectClient) -> None:
    with pytest.raises(VendorError, match="Unknown field 'de_nope'"):
        await client.search_debtors([Condition("de_nope", "x")], offset=0, limit=5)


async def test_contact_plans_forms_and_contact_types(client: CollectClient, wire: Wire) -> None:
    plans = await client.contact_plans()
    assert [plan["cp_code"] for plan in plans] == ["DAT", "MANY", "NOP", "OKC", "PTP", "REV", "STATUS", "STR", "YN"]
    form = await client.form(SCHEDULE_NEXT_CONTACT)
    assert form["name"] == "Schedule Next Contact"
    assert {button["label"]: button["value"] for button in form["buttons"]} == {"OK": 4631, "Cancel": 4632}
    assert {field["name"] for field in form["fields"]} >= {"co_type", "co_description", "co_date", "co_who"}
    types = await client.contact_types()
    assert types["5"] == "Review" and types["1"] == "Phone"
    await client.contact_types()  # cached
    assert wire.paths().count(f"GET /api/v1/collect/ui/forms/{SCHEDULE_NEXT_CONTACT}") == 2
    with pytest.raises(VendorNotFound):
        await client.form("00000000-0000-0000-0000-000000000000")


async def test_reads_are_retried_after_a_server_error(client: CollectClient, app: Starlette, wire: Wire) -> None:
    app.state.faults.http_error(r"/debtor/101$", 502)
    assert (await client.debtor(101))["de_rowid"] == "101"
    assert [entry.status for entry in wire.requests()] == [502, 200]


async def test_a_body_that_is_not_json_is_unavailable(client: CollectClient, app: Starlette, wire: Wire) -> None:
    app.state.faults.non_json(r"/debtor/101$", times=3)
    with pytest.raises(VendorUnavailable, match="not JSON"):
        await client.debtor(101)
    assert [entry.fault for entry in wire.requests()] == ["non_json"] * 3  # a read: three attempts


# ---------------------------------------------------------------------------------------------- writes


async def test_create_a_contact_and_a_note_with_full_business_logic(client: CollectClient, app: Starlette, wire: Wire) -> None:
    contact = await client.add_contact(102, {"co_type": "1", "co_date": "2025-05-01", "co_description": "Call"})
    note = await client.add_note(102, {"no_text": "Spoke to debtor"})
    assert contact["co_rowid"] and contact["co_originator"] == "OWN" and contact["co_creation_date"]
    assert note["no_operator"] == "OWN" and note["no_text"] == "Spoke to debtor"
    bodies = [entry.json for entry in wire.requests()]
    assert bodies[0] == {"business-logic": 4, "data": {"co_rowid_debtor": "102", "co_type": "1", "co_date": "2025-05-01",
                                                       "co_description": "Call"}}  # fmt: skip
    assert wire.paths() == [f"POST {DATA}/contact", f"POST {DATA}/notes"]
    assert len(db(app).contacts(102)) == 1 and len(db(app).notes(102)) == 1


async def test_update_sends_only_the_changed_fields(client: CollectClient, app: Starlette, wire: Wire) -> None:
    updated = await client.update_debtor(101, {"de_email": "new@example.com"})
    assert updated["de_email"] == "new@example.com"
    assert wire.requests()[0].method == "PATCH" and wire.requests()[0].json == {"data": {"de_email": "new@example.com"}}
    debtor = db(app).debtor(101)
    assert debtor is not None and debtor["de_email"] == "new@example.com"


async def test_writes_are_never_retried(client: CollectClient, app: Starlette, wire: Wire) -> None:
    app.state.faults.http_error(rf"^{DATA}/notes$", 503, method="POST", after_handler=True)
    with pytest.raises(VendorUnavailable):
        await client.add_note(102, {"no_text": "once"})
    assert wire.paths() == [f"POST {DATA}/notes"]
    assert len(db(app).notes(102)) == 1  # it landed; the answer was lost


async def test_a_refused_write_is_a_vendor_error(client: CollectClient) -> None:
    with pytest.raises(VendorError, match="Unknown field"):
        await client.update_debtor(101, {"de_bogus": "x"})


# ---------------------------------------------------------------------------------------------- runplan


async def test_run_plan_without_prompts(client: CollectClient, app: Starlette, wire: Wire) -> None:
    assert await client.run_plan("NOP", "debtor", 201, "", timeout=5) == {"status": 200}
    assert wire.requests()[0].json == {"plan": "NOP", "debtor": 201}
    assert len(db(app).notes(201)) == 1


async def test_run_plan_error_status_raises(client: CollectClient) -> None:
    with pytest.raises(VendorError, match="needs a websocket-id"):
        await client.run_plan("YN", "debtor", 201, "", timeout=5)
    with pytest.raises(VendorNotFound, match="No contact plan with code NOPE"):
        await client.run_plan("NOPE", "debtor", 201, "", timeout=5)


async def test_run_plan_relogs_in_on_an_expired_token(client: CollectClient, app: Starlette) -> None:
    await client.debtor(101)
    app.state.tokens.expire_all()
    assert await client.run_plan("NOP", "debtor", 201, "", timeout=5) == {"status": 200}
    assert client.logins == 2


async def test_run_plan_with_a_websocket_and_its_headers(app: Starlette, base_url: str, wire: Wire) -> None:
    settings = settings_for(base_url, database="cv_masterdb")
    async with CollectClient.open(settings) as client:
        headers = await client.websocket_headers()
        assert headers["Authorization"].startswith("Bearer ") and headers["x-collect-database"] == "cv_masterdb"
        result: dict[str, Any] = {}
        async with connect(settings.websocket_url, additional_headers=headers) as ws:
            websocket_id = json.loads(await ws.recv())["message"]

            async def post() -> None:
                result["body"] = await client.run_plan("YN", "debtor", 202, websocket_id, timeout=5)

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(post)
                assert json.loads(await ws.recv())["type"] == "start"
                prompt = json.loads(await ws.recv())
                await ws.send(json.dumps({"jobid": prompt["jobid"], "button": 0}))
                assert json.loads(await ws.recv())["type"] == "end"
        assert result["body"] == {"status": 200}
        fresh = await client.websocket_headers(relogin=True)
        assert fresh["Authorization"] != headers["Authorization"] and client.logins == 2
    assert len(db(app).contacts(202)) == 1
    [run] = [entry for entry in wire.requests() if entry.path == "/api/v1/collect/app/runplan"]
    assert run.json == {"plan": "YN", "debtor": 202, "websocket-id": websocket_id}
