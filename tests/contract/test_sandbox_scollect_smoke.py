"""The Scollect simulator itself, over real loopback HTTP: auth, a read, a write, faults."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from collections_mcp.sandbox.runner import SandboxConfig, ScollectSandbox, run_sandbox
from collections_mcp.sandbox.scollect.config import ScollectSandboxConfig
from collections_mcp.sandbox.scollect.demo_data import SPECIAL_ACCOUNTS, generate

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
    assert (await http.get("/getphones/R1000", headers=headers)).status_code == 200
    scollect.app.state.tokens.expire_all()
    expired = await http.get("/getphones/R1000", headers=headers)
    assert (expired.status_code, expired.json()) == (401, {"msg": "Token has expired"})
    fresh = await login(http, scollect)
    assert (await http.get("/getphones/R1000", headers=fresh)).status_code == 200
    assert scollect.app.state.logins == 2


@pytest.mark.parametrize("path", ["/getportfoliolist", "/getaccountbysocial/111-22-3333"])
async def test_views_that_handle_expiry_answer_it_in_the_envelope(
    http: httpx.AsyncClient, scollect: ScollectSandbox, path: str
) -> None:
    """The seed: these two have "error handling ... for token expiration" in the view: HTTP 200, code inside."""
    headers = await login(http, scollect)
    scollect.app.state.tokens.expire_all()
    expired = await http.get(path, headers=headers)
    assert expired.status_code == 200
    assert expired.json() == {"result": [{"error": "Token has expired"}, 401], "state": "SUCCESS"}
    forged = await http.get(path, headers={"Authorization": "Bearer a.b.c"})  # not expired: flask-jwt's own 401
    assert forged.status_code == 401 and "msg" in forged.json()


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


def test_demo_data_has_the_accounts_the_issue_asks_for() -> None:
    demo = generate(1000, datetime(2026, 1, 15, 12, tzinfo=UTC))
    accounts = {str(account["filenumber"]): account for account in demo.accounts}
    assert len(accounts) >= 200
    per_portfolio = Counter(str(account["portfolio"]) for account in accounts.values())
    assert len([name for name, count in per_portfolio.items() if count >= 10]) >= 5
    assert set(per_portfolio) <= {str(row["portfolio"]) for row in demo.portfolios}
    special = {name: accounts[number] for name, number in SPECIAL_ACCOUNTS.items()}
    assert special["bankruptcy"]["statusname"] == "Bankruptcy"
    assert (special["deceased"]["deceased"], special["deceased"]["deceaseddate"]) == ("YES", "8/14/2025")
    assert special["cease_and_desist"]["statusname"] == "Cease and Desist"
    cease = next(row for row in demo.permissions if row["filenumber"] == SPECIAL_ACCOUNTS["cease_and_desist"])
    assert cease["cont_debtor"] == 0
    attorney = special["attorney"]
    assert attorney["statusname"] == "Attorney Represented"
    assert str(attorney["attorneyname"]).strip() and str(attorney["attorneyphone"]).strip()
    phones = Counter(str(row["filenumber"]) for row in demo.phones)
    notes = Counter(str(row["filenumber"]) for row in demo.notes)
    assert phones[SPECIAL_ACCOUNTS["no_phones"]] == 0 and phones["R1000"] >= 2
    assert notes[SPECIAL_ACCOUNTS["many_notes"]] >= 300
    for table in (demo.attempts, demo.emails, demo.payments, demo.payment_methods, demo.permissions):
        assert len({row["filenumber"] for row in table}) >= 2


async def test_the_demo_accounts_over_the_wire(http: httpx.AsyncClient, scollect: ScollectSandbox) -> None:
    headers = await login(http, scollect)
    portfolios = (await http.get("/getportfoliolist", headers=headers)).json()["result"]
    counts = {}
    for portfolio in portfolios:
        rows = await http.post("/get_accounts_in_portfolio", headers=headers, json={"portfolio": portfolio["portfolio"]})
        counts[portfolio["portfolio"]] = len(rows.json()["result"])
    assert sum(counts.values()) >= 200 and len([n for n in counts.values() if n > 0]) >= 5
    deceased = (await http.get(f"/getaccount/{SPECIAL_ACCOUNTS['deceased']}", headers=headers)).json()["result"][0]
    assert deceased["deceased"] == "YES"
    notes = (await http.get(f"/getnotes/{SPECIAL_ACCOUNTS['many_notes']}", headers=headers)).json()["result"]
    assert len(notes) >= 300


async def test_writes_survive_a_restart_on_the_same_file(tmp_path: Path) -> None:
    config = SandboxConfig(scollect=ScollectSandboxConfig(db_path=str(tmp_path / "scollect.sqlite")))
    note = {"filenumber": "R1020", "collectorname": "restart", "logmessage": "Written before the restart"}
    change = {"filenumber": "R1020", "fieldname": "employer", "fieldvalue": "PERSISTED LLC"}
    async with run_sandbox(config) as first, httpx.AsyncClient(base_url=first.scollect.base_url, timeout=5) as http:
        headers = await login(http, first.scollect)
        before = len((await http.get("/getnotes/R1020", headers=headers)).json()["result"])
        assert (await http.post("/InsertNoteline", headers=headers, json=note)).json()["result"] == {
            "success": "Noteline inserted successfully"
        }
        assert (await http.put("/updatedbase", headers=headers, json=change)).json()["result"] == {
            "success": "Dbase table updated successfully"
        }
    async with run_sandbox(config) as second, httpx.AsyncClient(base_url=second.scollect.base_url, timeout=5) as http:
        headers = await login(http, second.scollect)
        notes = (await http.get("/getnotes/R1020", headers=headers)).json()["result"]
        account = (await http.get("/getaccount/R1020", headers=headers)).json()["result"][0]
    assert len(notes) == before + 1  # the demo data was not generated again over the file
    assert [(n["collectorname"], n["logmessage"]) for n in notes if n["collectorname"] == "restart"] == [
        ("restart", "Written before the restart")
    ]
    assert account["employer"] == "PERSISTED LLC"

