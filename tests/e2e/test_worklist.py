"""accounts_worklist through the SDK's real Client, against the Scollect simulator: a portfolio ranked for working
now in one call, with the compliance guard's own verdict per account, bounded concurrency, progress and paging.

The server's clock is fixed at business hours after the demo data was generated (as in test_accounts_tools.py), so
the special accounts' holds and recent conversations give the same verdicts on every run.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import anyio
import pytest
from mcp import Client

from collections_mcp.sandbox.runner import RunningSandbox
from collections_mcp.server.app import ServerConfig, build_server
from tests.conftest import Wire
from tests.e2e.test_accounts_tools import Clock, business_hours_after_generation, generated_at
from tests.helpers import failed, ok

pytestmark = pytest.mark.anyio

PORTFOLIO = "C2C 101 120"  # 22 demo accounts, among them R1002 (deceased) and R1015 (a conversation a day ago)
ORDER = ["contact_now", "wait", "review", "not_checked", "do_not_contact"]


@pytest.fixture
def config(server_config: ServerConfig, sandbox: RunningSandbox) -> ServerConfig:
    return replace(server_config, clock=Clock(business_hours_after_generation(sandbox)))


def with_concurrency(config: ServerConfig, accounts_at_once: int) -> ServerConfig:
    accounts = config.vendors["accounts"].model_copy(update={"worklist_concurrency": accounts_at_once})
    return replace(config, vendors={**config.vendors, "accounts": accounts})


def counted(wire: Wire) -> dict[str, int]:
    """Requests the simulator received, by method and endpoint (the account in the path left out)."""
    seen: dict[str, int] = {}
    for entry in wire.requests():
        endpoint = f"{entry.method} /{entry.path.strip('/').split('/')[0]}"
        seen[endpoint] = seen.get(endpoint, 0) + 1
    return seen


async def test_one_call_ranks_every_account_with_the_compliance_guards_own_verdict(
    config: ServerConfig, sandbox: RunningSandbox, wire: Wire
) -> None:
    async with Client(build_server(config)) as mcp:
        listed = await ok(mcp, "scollect_list_portfolio_accounts", {"portfolio": PORTFOLIO, "limit": 200})
        before = Wire(sandbox)
        worklist = await ok(mcp, "accounts_worklist", {"portfolio": PORTFOLIO, "limit": 200})
        reads = counted(before)
        singles = {item["file_number"]: await ok(mcp, "accounts_check_contact",
                                                 {"file_number": item["file_number"], "channel": "call"})
                   for item in worklist["items"]}  # fmt: skip
    accounts = {account["file_number"]: account for account in listed["items"]}
    assert worklist["accounts_in_portfolio"] == worklist["total"] == len(accounts) == 22
    assert sorted(item["file_number"] for item in worklist["items"]) == sorted(accounts)
    # Exactly the reads the verdicts need, once per account, plus the offers of the page: no phone reads, no loop.
    assert reads == {"POST /get_accounts_in_portfolio": 1, "GET /getaccount": 22, "GET /getattempts": 22,
                     "POST /getAlaccountdata": 22}  # fmt: skip
    for item in worklist["items"]:
        assert item["verdict"] == singles[item["file_number"]], "the worklist's verdict is the contact check's"
        assert item["allowed_now"] == (["call"] if item["verdict"]["allowed"] else [])  # Scollect texts/emails: unknown permissions
        assert item["balance"] == accounts[item["file_number"]]["current_balance"]
    by_number = {item["file_number"]: item for item in worklist["items"]}
    deceased, talked = by_number["R1002"], by_number["R1015"]
    assert deceased["action"] == "do_not_contact" and "DECEASED" in deceased["suggestion"]
    spoke = generated_at(sandbox) - timedelta(days=1)
    assert talked["action"] == "wait" and talked["verdict"]["next_allowed_at"] is not None
    assert talked["verdict"]["next_allowed_at"] >= (spoke + timedelta(days=7)).isoformat().replace("+00:00", "Z")
    assert talked["last_contact"]["disposition"] == "SPOKE TO DEBTOR"
    # Ranked: contactable now first (highest balance first), then waiting, ..., holds last.
    actions = [item["action"] for item in worklist["items"]]
    assert actions == sorted(actions, key=ORDER.index)
    assert [item["rank"] for item in worklist["items"]] == list(range(1, 23))
    callable_now = [Decimal(item["balance"]) for item in worklist["items"] if item["action"] == "contact_now"]
    assert callable_now and callable_now == sorted(callable_now, reverse=True)
    assert worklist["counts"] == {action: actions.count(action) for action in ORDER}
    assert all(item["suggestion"].startswith("Call now") for item in worklist["items"] if item["action"] == "contact_now")


async def test_filters_and_pages_cut_the_ranked_list(config: ServerConfig) -> None:
    async with Client(build_server(config)) as mcp:
        everything = (await ok(mcp, "accounts_worklist", {"portfolio": PORTFOLIO, "limit": 200}))["items"]
        page = await ok(mcp, "accounts_worklist", {"portfolio": PORTFOLIO, "limit": 5, "offset": 5})
        in_states = await ok(mcp, "accounts_worklist", {"portfolio": PORTFOLIO, "states": ["tn", "Arizona"], "limit": 200})
        rich = await ok(mcp, "accounts_worklist", {"portfolio": PORTFOLIO, "min_balance": "2500", "limit": 200})
        now = await ok(mcp, "accounts_worklist", {"portfolio": PORTFOLIO, "only_allowed_now": True, "limit": 200})
    assert [item["file_number"] for item in page["items"]] == [item["file_number"] for item in everything[5:10]]
    assert [item["rank"] for item in page["items"]] == [6, 7, 8, 9, 10]
    assert page["offset"] == 5 and page["next_offset"] == 10 and page["total"] == 22
    assert {item["state"] for item in in_states["items"]} == {"TN", "AZ"}
    assert in_states["total"] == sum(1 for item in everything if item["state"] in ("TN", "AZ"))
    assert {"R1002", "R1015"} <= {item["file_number"] for item in in_states["items"]}
    assert rich["total"] == sum(1 for item in everything if Decimal(item["balance"]) >= 2500)
    assert all(Decimal(item["balance"]) >= 2500 for item in rich["items"])
    assert now["total"] == sum(1 for item in everything if item["action"] == "contact_now") > 0
    assert all(item["action"] == "contact_now" and item["verdict"]["allowed"] for item in now["items"])
    assert now["accounts_in_portfolio"] == 22


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_progress_is_reported_while_a_portfolio_is_read(config: ServerConfig, mode: str) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, total, message))

    async with Client(build_server(config), mode=mode) as mcp:
        result = await mcp.call_tool("accounts_worklist", {"portfolio": "C2CLA 12.1.22"}, progress_callback=progress)
    assert not result.is_error
    assert seen, "progress notifications arrive in this protocol era"
    assert [done for done, _, _ in seen] == sorted({done for done, _, _ in seen}), "increasing, never repeated"
    assert seen[-1][:2] == (39, 39) and seen[-1][2] == "checked 39 of 39 accounts"
    assert len(seen) <= 20


async def test_reads_run_concurrently_but_never_more_than_the_bound(config: ServerConfig, sandbox: RunningSandbox) -> None:
    in_flight = sandbox.scollect.app.state.in_flight
    latency = sandbox.scollect.app.state.latency
    peak = 0

    def watch(count: int) -> bool:
        nonlocal peak
        peak = max(peak, count)
        return False  # keeps watching every change until cancelled

    latency.seconds = 0.02  # requests overlap only if they take a moment
    try:
        async with Client(build_server(with_concurrency(config, 3))) as mcp, anyio.create_task_group() as watching:
            watching.start_soon(in_flight.wait_until, watch)
            await ok(mcp, "accounts_worklist", {"portfolio": "C2CLA 12.1.22", "limit": 1})
            watching.cancel_scope.cancel()
    finally:
        latency.seconds = 0.0
    assert 2 < peak <= 6, f"3 accounts at once, 2 requests each: {peak} requests were in flight at the peak"


async def test_an_unknown_portfolio_is_named_with_the_closest_ones(config: ServerConfig, wire: Wire) -> None:
    async with Client(build_server(config)) as mcp:
        error = await failed(mcp, "accounts_worklist", {"portfolio": "C2C 101 12"})
    assert "no portfolio named 'C2C 101 12'" in error and "'C2C 101 120'" in error
    assert wire.paths() == ["POST /get_accounts_in_portfolio", "GET /getportfoliolist"]


async def test_an_account_that_cannot_be_read_is_not_checked_never_contactable(
    config: ServerConfig, sandbox: RunningSandbox
) -> None:
    sandbox.scollect.app.state.faults.non_json(r"^/getattempts/R1008$", status=403)
    async with Client(build_server(config)) as mcp:
        worklist = await ok(mcp, "accounts_worklist", {"portfolio": PORTFOLIO, "limit": 200})
    item = next(item for item in worklist["items"] if item["file_number"] == "R1008")
    assert item["action"] == "not_checked" and item["allowed_now"] == [] and "verdict" not in item
    assert "403" in item["error"] and item["suggestion"].startswith("Not checked")
    assert worklist["counts"]["not_checked"] == 1
    ranked = [entry["action"] for entry in worklist["items"]]
    assert ranked.index("not_checked") < ranked.index("do_not_contact")


async def test_nothing_readable_is_a_tool_error_not_an_empty_worklist(config: ServerConfig, sandbox: RunningSandbox) -> None:
    faults = sandbox.scollect.app.state.faults
    fault = faults.non_json(r"^/getaccount/", status=403, times=100)
    try:
        async with Client(build_server(config)) as mcp:
            error = await failed(mcp, "accounts_worklist", {"portfolio": "NewPortfolio220256"})
    finally:
        fault.remaining = 0
    assert "no account of portfolio 'NewPortfolio220256' could be checked" in error and "403" in error


async def test_bad_filters_are_refused_before_anything_is_read(config: ServerConfig, wire: Wire) -> None:
    async with Client(build_server(config)) as mcp:
        error = await failed(mcp, "accounts_worklist", {"portfolio": PORTFOLIO, "states": ["ZZ"], "min_balance": 1.5,
                                                        "channel": "fax", "limit": 0})  # fmt: skip
    for argument in ("states.0", "min_balance", "channel", "limit"):
        assert f"- {argument}:" in error
    assert "not a US state" in error and wire.requests() == []

