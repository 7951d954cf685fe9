"""The Scollect simulator itself, over real loopback HTTP: auth, a read, a write, faults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from sandbox.runner import SandboxConfig, ScollectSandbox, run_sandbox
from sandbox.scollect.demo_data import SPECIAL_ACCOUNTS, generate

pytestmark = pytest.mark.anyio




@pytest.fixture
async def scollect() -> AsyncIterator[ScollectSandbox]:
    async with run_sandbox(SandboxConfig()) as running:
        yield running.scollect


@pytest.fixture
async def http(scollect: ScollectSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=scollect.base_url, timeout=5) as client:
        yield client


async def login(http: httpx.AsyncClient, scollect: ScollectSandbox) -> dict[str, str]:
    response = await http.post("/login", json={"apikey": scollect.api_key, "pin": scollect.pin})
    assert response.status_code == 200
    return {"Authorization": f"Bearer {response.json()['result']['access_token']}"}


async def test_login_with_demo_credentials_and_with_wrong_ones(
    http: httpx.AsyncClient, scollect: ScollectSandbox
) -> None:
    good = await http.post("/login", json={"apikey": scollect.api_key, "pin": scollect.pin})
    assert good.status_code == 200 and good.json()["state"] == "SUCCESS"
    assert good.json()["result"]["access_token"].count(".") == 2
    bad = await http.post("/login", json={"apikey": scollect.api_key, "pin": "nope"})
    assert bad.status_code == 200
    assert bad.json() == {"result": [{"error": "Invalid API Credentials."}, 401], "state": "SUCCESS"}
    assert scollect.app.state.logins == 1


async def test_missing_or_forged_token_is_http_401(http: httpx.AsyncClient) -> None:
    missing = await http.get("/getportfoliolist")
    assert (missing.status_code, missing.json()) == (401, {"msg": "Missing Authorization Header"})
    forged = await http.get("/getportfoliolist", headers={"Authorization": "Bearer a.b.c"})
    assert forged.status_code == 401


async def test_expire_all_makes_the_next_call_fail_until_a_new_login(
    http: httpx.AsyncClient, scollect: ScollectSandbox
) -> None:
    headers = await login(http, scollect)
    assert (await http.get("/getportfoliolist", headers=headers)).status_code == 200
    scollect.app.state.tokens.expire_all()
    expired = await http.get("/getportfoliolist", headers=headers)
    assert (expired.status_code, expired.json()) == (401, {"msg": "Token has expired"})
    fresh = await login(http, scollect)
    assert (await http.get("/getportfoliolist", headers=fresh)).status_code == 200
    assert scollect.app.state.logins == 2


async def test_reads_return_the_seed_shapes(http: httpx.AsyncClient, scollect: ScollectSandbox) -> None:
    headers = await login(http, scollect)
    phones = (await http.get("/getphones/R1000", headers=headers)).json()
    assert [p["phonenumber"] for p in phones["result"]] == ["123-456-7890", "222-333-4444"]
    none = (await http.get(f"/getphones/{SPECIAL_ACCOUNTS['no_phones']}", headers=headers)).json()
    assert "does not have associated phone numbers" in none["result"]["error"]
    attempts = (await http.get(f"/getattempts/{SPECIAL_ACCOUNTS['no_attempts']}", headers=headers)).json()
    assert attempts == {"result": {"result": []}, "state": "SUCCESS"}
    ssn = scollect.store.account("R1000")["socialsecuritynumber"]
    found = (await http.get(f"/getaccountbysocial/{ssn}", headers=headers)).json()
    assert [a["filenumber"] for a in found["result"]] == ["R1000"]
    unknown = (await http.get("/getaccount/R999999", headers=headers)).json()
    assert unknown == {"result": {"result": []}, "state": "SUCCESS"}


async def test_a_note_written_is_read_back(http: httpx.AsyncClient, scollect: ScollectSandbox) -> None:
    headers = await login(http, scollect)
    before = scollect.store.count_notes("R1000")
    body = {"filenumber": "R1000", "collectorname": "smoke", "logmessage": "Promised 50.00 on Friday"}
    written = (await http.post("/InsertNoteline", headers=headers, json=body)).json()
    assert written == {"result": {"success": "Noteline inserted successfully"}, "state": "SUCCESS"}
    notes = (await http.get("/getnotes/R1000", headers=headers)).json()["result"]
    assert len(notes) == before + 1 == scollect.store.count_notes("R1000")
    assert notes[-1]["logmessage"] == "Promised 50.00 on Friday" and notes[-1]["collectorname"] == "smoke"
    assert notes[-1]["logdateandtime"] == f"{notes[-1]['logdate']} AT {notes[-1]['logtime']}"
    missing = (await http.post("/InsertNoteline", headers=headers, json={"filenumber": "R9"})).json()
    assert missing == {"result": {"error": "Missing collectorname"}, "state": "SUCCESS"}


async def test_faults_error_then_recover_and_drops_are_logged(
    http: httpx.AsyncClient, scollect: ScollectSandbox
) -> None:
    headers = await login(http, scollect)
    faults = scollect.app.state.faults
    faults.http_error("^/getportfoliolist$", 500, '{"boom": true}')
    assert (await http.get("/getportfoliolist", headers=headers)).status_code == 500
    assert (await http.get("/getportfoliolist", headers=headers)).status_code == 200
    faults.non_json("^/getnotes/")
    with pytest.raises(ValueError):  # httpx raises json.JSONDecodeError, a ValueError
        (await http.get("/getnotes/R1000", headers=headers)).json()
    faults.drop("^/getphones/", after_handler=True)
    with pytest.raises(httpx.RemoteProtocolError):
        await http.get("/getphones/R1000", headers=headers)
    log = scollect.app.state.request_log
    assert [(e.path, e.status, e.fault) for e in log.matching("^/get(portfoliolist|phones)")] == [
        ("/getportfoliolist", 500, "http_error"),
        ("/getportfoliolist", 200, None),
        ("/getphones/R1000", None, "drop"),
    ]
    assert log[-1].headers["authorization"] == headers["Authorization"] and faults.pending == []


def test_demo_data_is_deterministic() -> None:
    now = datetime(2026, 1, 15, 12, tzinfo=UTC)
    assert generate(1000, now) == generate(1000, now)
    assert generate(1000, now).accounts != generate(1001, now).accounts
