"""Two replicas behind nginx, end to end: `collections-mcp serve --transport http` processes sharing the session's
PostgreSQL and the session's vendor simulators, behind Debian's nginx running the shipped deploy/nginx.conf
(tests/replica_cluster.py; started once for this module). Each scenario asserts what the simulators received and
what the shared audit table holds:

1. a Collect! plan with three prompts, in both protocol eras, whose requests alternate replicas, commits once;
2. a card payment whose page is opened through the balancer (and on the other replica) while the call sits on its
   replica: one vendor payment, no card data anywhere at rest;
3. 20 identical payments spread over both replicas: one vendor call, 19 replays, 20 audit records in one table;
4. kill -9 of the replica holding a conversation: a clear error on the next round within seconds, Collect! rolled
   back, the other replica keeps serving, the dead replica's idempotency claim lapses and a retry runs once.

Leases are 1 s here (COLLECTIONS_MCP_LEASE_SECONDS), so a dead replica is known within about a second.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import anyio
import httpx
import httpx2
import psycopg
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, ElicitRequestFormParams, ElicitRequestURLParams, ElicitResult, InputRequiredResult
from pydantic import SecretStr

from bench.sandbox_proc import server_env
from collections_mcp.sandbox.collect.plans import Activity
from collections_mcp.sandbox.runner import RunningSandbox
from collections_mcp.sandbox.scollect.demo_data import SHARED_SSN_TWIN, SPECIAL_ACCOUNTS
from collections_mcp.server.replicas.replication import ROUNDS_PATH
from collections_mcp.server.replicas.signing import SIGNATURE_HEADER, Signer
from tests.conftest import Wire, fresh_database, server_state_texts
from tests.helpers import text_of
from tests.pg_cluster import PgCluster
from tests.replica_cluster import REPLICA_IDS, Replica, ReplicaCluster, running_cluster

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ERAS = pytest.mark.parametrize("mode", ["2026-07-28", "legacy"])
A, B = REPLICA_IDS
GUARD = 20.0  # a hang guard, never a synchronisation
CARD = {"method": "card", "card_number": "4111 1111 1111 1111", "expiry": "12/2031", "cvv": "739",
        "name": "Jane Q Payor", "zip": "87035"}  # fmt: skip
CARD_DATA = ("4111111111111111", "4111 1111 1111 1111")
CONFIRM = ElicitResult(action="accept", content={"confirm": True})


@pytest.fixture(scope="module")
async def cluster(
    sandbox: RunningSandbox, postgres: PgCluster, leak_watch: list[str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ReplicaCluster]:
    root = tmp_path_factory.mktemp("replicas")
    async with running_cluster(server_env(sandbox), fresh_database(postgres), root=root, LEASE_SECONDS="1") as running:
        yield running
        leak_watch.extend(running.texts())  # what the replicas and nginx logged joins the suite-wide leak check


def accept(**content: Any) -> ElicitResult:
    return ElicitResult(action="accept", content=content)


class Person:
    """Answers form questions from a script, in order; remembers what was asked."""

    def __init__(self, *replies: ElicitResult) -> None:
        self.replies = list(replies)
        self.asked: list[str] = []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        assert isinstance(params, ElicitRequestFormParams), params
        self.asked.append(params.message.split("\n")[0])
        return self.replies.pop(0)


class RoundRobin(httpx2.AsyncBaseTransport):
    """A plain round-robin balancer inside the client: every HTTP request goes to the next replica in turn, whatever
    it belongs to (no session or link routing at all)."""

    def __init__(self, replicas: list[Replica]) -> None:
        self.replicas = replicas
        self.inner = httpx2.AsyncHTTPTransport()
        self.sent: list[tuple[str, str]] = []  # (replica id, what: a JSON-RPC method, "response" or the HTTP method)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        replica = self.replicas[len(self.sent) % len(self.replicas)]
        request.url = request.url.copy_with(port=replica.port)
        what = request.method
        if request.method == "POST":
            message = json.loads(request.content)
            what = message.get("method", "response") if isinstance(message, dict) else "batch"
        self.sent.append((replica.replica_id, what))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def audit_rows(url: str, tool: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT outcome, replayed, arguments, error FROM audit_log WHERE tool = %s ORDER BY id", (tool,)
        ).fetchall()
    return [{"outcome": outcome, "replayed": replayed, "arguments": arguments, "error": error}
            for outcome, replayed, arguments, error in rows]  # fmt: skip


def database_text(url: str) -> str:
    """Every row of every table of the shared database, as text."""
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [name for (name,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return "\n".join(str(row[0]) for table in tables for row in conn.execute(f'SELECT t::text FROM "{table}" t'))


def activity(sandbox: RunningSandbox) -> Activity:
    found: Activity = sandbox.collect.app.state.activity
    return found


def runplans(sandbox: RunningSandbox) -> int:
    return sum(1 for entry in sandbox.collect.app.state.request_log if entry.path.endswith("/app/runplan"))


def notes_of(sandbox: RunningSandbox, rowid: int) -> list[str]:
    rows = sandbox.collect.store.database().rows("notes", no_rowid_debtor=str(rowid))
    return [str(row["no_text"]) for row in rows]


def promise_answers(amount: str, when: date) -> list[ElicitResult]:
    return [accept(choice="Yes"), accept(value=amount), accept(value=when.isoformat())]


async def plan_outcome(sandbox: RunningSandbox, mark: int) -> Any:
    watched = activity(sandbox)
    with anyio.fail_after(GUARD):
        await watched.wait_until(lambda: len(watched.outcomes) > mark)
    return watched.outcomes[mark]


# ----------------------------------------------------------------------------------------------- scenario 1


@ERAS
async def test_a_plan_whose_requests_alternate_replicas_commits_once(
    cluster: ReplicaCluster, sandbox: RunningSandbox, mode: str
) -> None:
    rowid = 202 if mode == "2026-07-28" else 203
    when = date.today() + timedelta(days=9)
    amount = f"{uuid.uuid4().int % 900 + 100}.00"
    outcomes, plans = len(activity(sandbox).outcomes), runplans(sandbox)
    person = Person(*promise_answers(amount, when))
    balancer = RoundRobin([cluster[A], cluster[B]])
    async with (
        httpx2.AsyncClient(transport=balancer, timeout=GUARD) as http,
        Client(streamable_http_client(cluster[A].url, http_client=http), mode=mode, elicitation_callback=person) as client,  # type: ignore[arg-type]
    ):
        result = await client.call_tool("collect_run_contact_plan", {"plan": "PTP", "record_type": "debtor", "rowid": rowid})
    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert data is not None and data["status"] == "completed" and len(data["prompts"]) == 3
    assert person.asked == ["Did the debtor promise to pay?", "Amount promised", "Date promised"]

    # The requests did alternate: the call's rounds (2026-07-28), or the call and the person's answers (legacy, pushed
    # on the session's stream), reached both replicas.
    served = [replica for replica, what in balancer.sent if what in ("tools/call", "response")]
    assert len(served) == 4 and set(served) == {A, B}, balancer.sent
    assert all(first != second for first, second in itertools.pairwise(served)), balancer.sent

    # Collect! ran the plan once and committed it once.
    assert runplans(sandbox) - plans == 1
    outcome = await plan_outcome(sandbox, outcomes)
    assert (outcome.code, outcome.rowid, outcome.outcome) == ("PTP", rowid, "completed")
    assert len(activity(sandbox).outcomes) == outcomes + 1
    assert notes_of(sandbox, rowid).count(f"Promise to pay {amount} on {when.isoformat()}.") == 1

    # One audit record, in the shared table, whichever replica the rounds reached.
    records = [r for r in audit_rows(cluster.database_url, "collect_run_contact_plan") if r["arguments"].get("rowid") == rowid]
    assert [r["outcome"] for r in records] == ["ok"]


# ----------------------------------------------------------------------------------------------- scenario 2


class Payor:
    """Plays the person paying by card: opens the link on the replica that does NOT hold the call (as a balancer
    without link routing would send it), submits the card through the balancer, then confirms."""

    def __init__(self, cluster: ReplicaCluster) -> None:
        self.cluster = cluster
        self.links: list[str] = []
        self.pages: list[httpx.Response] = []
        self.confirmations: list[str] = []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        if isinstance(params, ElicitRequestURLParams):
            self.links.append(params.url)
            holder = params.url.split("/pay/", 1)[1].split(".", 1)[0]
            other = B if holder == A else A
            elsewhere = params.url.replace(self.cluster.nginx.url, self.cluster[other].base)
            async with httpx.AsyncClient(trust_env=False, timeout=GUARD) as http:
                self.pages.append(await http.get(elsewhere))
                self.pages.append(await http.post(params.url, data=CARD))
            return ElicitResult(action="accept")
        assert isinstance(params, ElicitRequestFormParams)
        self.confirmations.append(params.message)
        return CONFIRM


def no_card_data(text: str) -> bool:
    import re

    return not any(number in text for number in CARD_DATA) and re.search(r"(?<![\w.])739(?![\w.])", text) is None


@ERAS
async def test_card_page_opened_through_the_balancer_and_on_the_other_replica_pays_once(
    cluster: ReplicaCluster, sandbox: RunningSandbox, wire: Wire, tmp_path_factory: pytest.TempPathFactory, mode: str
) -> None:
    file_number = "R1062" if mode == "2026-07-28" else "R1063"
    stored = len(sandbox.scollect.store.external_payments(file_number))
    payor = Payor(cluster)
    arguments = {"file_number": file_number, "amount": "61.00", "payment_date": (date.today() + timedelta(days=20)).isoformat()}
    async with Client(cluster.url, mode=mode, elicitation_callback=payor) as client:  # type: ignore[arg-type]
        result = await client.call_tool("scollect_record_payment", arguments)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None and result.structured_content["method"] == "card ****1111 exp 12/2031"

    # The link names the replica holding the call; the other replica passed the page on, the balancer routed the form.
    (link,) = payor.links
    assert link.startswith(f"{cluster.nginx.url}/pay/replica-")
    holder = cluster[link.split("/pay/", 1)[1].split(".", 1)[0]]
    routed_form = [line for line in cluster.nginx.logs().splitlines() if '"POST /pay/<link>" 200' in line]
    assert routed_form and f"upstream=127.0.0.1:{holder.port} upstream_status=200 " in routed_form[-1]  # to the holder
    page, accepted = payor.pages
    assert page.status_code == 200 and file_number in page.text and "$61.00" in page.text
    assert accepted.status_code == 200 and "ending in 1111" in accepted.text
    assert len(payor.confirmations) == 1 and "card ****1111" in payor.confirmations[0]

    # One vendor payment, with the card; one audit record in the shared table.
    (posted,) = [entry for entry in wire.requests() if entry.path == "/insert_payments_external"]
    assert posted.json["cardnumber"] == "4111111111111111" and posted.json["paymentamount"] == "61.00"
    assert len(sandbox.scollect.store.external_payments(file_number)) == stored + 1
    records = [r for r in audit_rows(cluster.database_url, "scollect_record_payment") if r["arguments"].get("file_number") == file_number]
    assert [r["outcome"] for r in records] == ["ok"]

    # No card data anywhere at rest: the shared database, each replica's state directory and logs, nginx's logs.
    at_rest = [database_text(cluster.database_url), *cluster.texts(),
               *server_state_texts(*(replica.cwd for replica in cluster.replicas.values()))]  # fmt: skip
    assert all(no_card_data(text) for text in at_rest)
    assert "4111" not in cluster.nginx.logs() and "/pay/<link>" in cluster.nginx.logs()  # the token is not logged


# ----------------------------------------------------------------------------------------------- scenario 3


def account_with_one_stored_card(sandbox: RunningSandbox) -> str:
    store = sandbox.scollect.store
    special = {*SPECIAL_ACCOUNTS.values(), SHARED_SSN_TWIN}
    for file_number in store.file_numbers()[20:]:  # generated accounts, from the front (others take from the back)
        methods = store.payment_methods(file_number)
        balance = Decimal(str(store.account(file_number)["currentbalance"]).replace("$", "").replace(",", "") or "0")
        if file_number not in special and len(methods) == 1 and methods[0]["paymentmethod"] == "CREDIT CARD" and balance >= 10:
            return file_number
    raise AssertionError("the sandbox has no account with exactly one stored card")


async def test_twenty_identical_payments_over_both_replicas_reach_the_vendor_once(
    cluster: ReplicaCluster, sandbox: RunningSandbox, wire: Wire
) -> None:
    arguments = {"file_number": account_with_one_stored_card(sandbox), "amount": "7.00",
                 "idempotency_key": f"replicas-{uuid.uuid4().hex[:8]}"}  # fmt: skip
    results: list[CallToolResult] = []
    asked: list[str] = []

    async def pay(replica: Replica, mode: str) -> None:
        async def confirm(context: Any, params: Any) -> ElicitResult:
            asked.append(params.message)
            return CONFIRM

        async with Client(replica.url, mode=mode, elicitation_callback=confirm) as client:  # type: ignore[arg-type]
            results.append(await client.call_tool("scollect_run_payment", arguments))

    with anyio.fail_after(GUARD * 2):
        async with anyio.create_task_group() as group:
            for index in range(20):  # ten on each replica, in both eras
                group.start_soon(pay, cluster[REPLICA_IDS[index % 2]], ("2026-07-28", "legacy")[index // 2 % 2])
    assert [r.is_error for r in results] == [False] * 20, [text_of(r) for r in results if r.is_error]
    assert sorted(bool((r.meta or {}).get("collections-mcp/replayed")) for r in results) == [False] + [True] * 19
    assert len(asked) == 1  # only the call that ran asked the person
    assert len([entry for entry in wire.requests() if entry.path == "/run_payment_external"]) == 1
    records = [r for r in audit_rows(cluster.database_url, "scollect_run_payment")
               if r["arguments"].get("file_number") == arguments["file_number"]]  # fmt: skip
    assert len(records) == 20 and {r["outcome"] for r in records} == {"ok"}
    assert sorted(r["replayed"] for r in records) == [False] + [True] * 19


# ----------------------------------------------------------------------------------------------- scenario 4


async def test_kill_9_of_the_replica_holding_a_plan(cluster: ReplicaCluster, sandbox: RunningSandbox) -> None:
    holder = cluster[A]
    rowid = 204
    arguments = {"plan": "PTP", "record_type": "debtor", "rowid": rowid}
    outcomes, plans = len(activity(sandbox).outcomes), runplans(sandbox)
    when = date.today() + timedelta(days=12)
    try:
        # Round 1 on the holder: the plan starts at Collect! and waits at its first prompt.
        async with Client(holder.url, mode="2026-07-28", elicitation_callback=Person()) as direct:
            first = await direct.session.call_tool("collect_run_contact_plan", arguments, allow_input_required=True)
        assert isinstance(first, InputRequiredResult) and list(first.input_requests or {}) == ["q1"]

        await holder.kill()
        killed = time.monotonic()
        # The next round through the balancer: nginx finds the holder gone and sends it to the other replica.
        async with Client(cluster.url, mode="2026-07-28", elicitation_callback=Person()) as balanced:
            second = await balanced.session.call_tool(
                "collect_run_contact_plan", arguments, input_responses={"q1": accept(choice="Yes")},
                request_state=first.request_state, allow_input_required=True,
            )  # fmt: skip
            answered_in = time.monotonic() - killed
            assert isinstance(second, CallToolResult) and second.is_error
            error = text_of(second)
            assert "the replica running this plan stopped; nothing was committed in Collect!" in error, error
            assert answered_in < 5.0

            # Collect! rolled the job back: its websocket closed with the process.
            outcome = await plan_outcome(sandbox, outcomes)
            assert (outcome.code, outcome.rowid) == ("PTP", rowid) and outcome.outcome != "completed"

            # The other replica keeps serving whatever reaches the balancer.
            for _ in range(6):
                read = await balanced.call_tool("scollect_get_account", {"file_number": "R1000"})
                assert not read.is_error, text_of(read)

        # The dead replica's idempotency claim lapses (1 s lease): the same call again runs, once, elsewhere.
        person = Person(*promise_answers("55.00", when))
        async with Client(cluster.url, mode="2026-07-28", elicitation_callback=person) as retrying:
            retried = await retrying.call_tool("collect_run_contact_plan", arguments)
        assert not retried.is_error, text_of(retried)
        assert retried.structured_content is not None and retried.structured_content["status"] == "completed"
        assert (retried.meta or {}).get("collections-mcp/replayed") is not True
        assert runplans(sandbox) - plans == 2  # the rolled-back run and the retry
        done = await plan_outcome(sandbox, outcomes + 1)
        assert (done.code, done.rowid, done.outcome) == ("PTP", rowid, "completed")
        assert notes_of(sandbox, rowid).count(f"Promise to pay 55.00 on {when.isoformat()}.") == 1

        # The audit table: the lost round (recorded where it ended) and the retry; the killed process wrote nothing.
        records = audit_rows(cluster.database_url, "collect_run_contact_plan")
        assert [r["outcome"] for r in records if r["arguments"].get("rowid") == rowid] == ["ok"]
        lost = [r for r in records if r["outcome"] == "replica_stopped"]
        assert len(lost) == 1 and "nothing was committed in Collect!" in lost[0]["error"]
    finally:
        await holder.stop()
        await holder.start()  # the same replica id, a new process: later tests get both replicas again


# ------------------------------------------------------------------------ between replicas, rolling upgrades


async def test_the_internal_round_endpoint_takes_only_signed_rounds_and_is_not_behind_the_balancer(
    cluster: ReplicaCluster,
) -> None:
    round_body = json.dumps({"conversation": "c" * 32, "seq": 1}).encode()
    stranger = Signer([b"not-this-deployment-" * 2]).sign("POST", ROUNDS_PATH, round_body)
    async with httpx.AsyncClient(trust_env=False, timeout=GUARD) as http:
        unsigned = await http.post(cluster[B].base + ROUNDS_PATH, content=round_body)
        foreign = await http.post(cluster[B].base + ROUNDS_PATH, content=round_body, headers={SIGNATURE_HEADER: stranger})
        outside = await http.post(cluster.nginx.url + ROUNDS_PATH, content=round_body)
    assert unsigned.status_code == 403 and foreign.status_code == 403
    assert outside.status_code == 404


async def test_sigterm_drains_a_replica_while_its_new_calls_go_to_the_other(
    cluster: ReplicaCluster, sandbox: RunningSandbox
) -> None:
    """A rolling upgrade: SIGTERM to a replica holding a plan that waits at a prompt. Nothing is refused: new calls
    that still reach it (2026-07-28 calls, new legacy sessions) are passed to the other replica, the plan's rounds
    (through the other replica) still reach the plan, and the process exits once the plan is done."""
    draining, rowid = cluster[A], 201
    arguments = {"plan": "PTP", "record_type": "debtor", "rowid": rowid}
    answers = promise_answers("80.00", date.today() + timedelta(days=15))
    try:
        async with Client(draining.url, mode="2026-07-28", elicitation_callback=Person()) as direct:
            state = await direct.session.call_tool("collect_run_contact_plan", arguments, allow_input_required=True)
        assert isinstance(state, InputRequiredResult)
        assert draining.process is not None
        draining.process.terminate()
        await draining.said("SIGTERM: draining")  # its own announcement: draining has begun
        async with httpx.AsyncClient(trust_env=False, timeout=GUARD) as http:
            ready = await http.get(draining.base + "/readyz")
            opened = await http.post(draining.url, json={
                "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
            }, headers={"accept": "application/json, text/event-stream"})  # fmt: skip
        assert ready.status_code == 503 and ready.json()["status"] == "draining"
        assert opened.status_code == 200 and opened.headers["mcp-session-id"].startswith(f"{B}.")  # the other's
        async with Client(draining.url, mode="2026-07-28") as fresh:
            read = await fresh.call_tool("scollect_get_account", {"file_number": "R1000"})
        assert not read.is_error, text_of(read)

        async with Client(cluster[B].url, mode="2026-07-28", elicitation_callback=Person()) as elsewhere:
            for number, answer in enumerate(answers, start=1):  # the plan goes on, on the draining replica
                assert isinstance(state, InputRequiredResult)
                state = await elsewhere.session.call_tool(
                    "collect_run_contact_plan", arguments, input_responses={f"q{number}": answer},
                    request_state=state.request_state, allow_input_required=True,
                )  # fmt: skip
        assert isinstance(state, CallToolResult) and not state.is_error, state
        assert state.structured_content is not None and state.structured_content["status"] == "completed"
        with anyio.fail_after(GUARD):
            await draining.process.wait()
        assert draining.process.returncode == 0
    finally:
        await draining.stop()
        await draining.start()


async def test_a_conversation_survives_rotating_the_shared_key(server_config: Any) -> None:
    """Rotation in three steps (every replica at each step before the next): [old, new], [new, old], [new]. State
    sealed under the old key still opens on a replica already at step 2, so no conversation is dropped."""
    import dataclasses

    from mcp.shared.exceptions import MCPError

    from collections_mcp.server.app import build_server

    old, new = "o" * 32, "n" * 32

    def replica(keys: str) -> Any:
        settings = server_config.settings.model_copy(update={"secret_keys": SecretStr(keys)})
        return build_server(dataclasses.replace(server_config, settings=settings))

    arguments = {"plan": "YN", "record_type": "debtor", "rowid": 204}
    async with Client(replica(f"{old},{new}"), mode="2026-07-28", elicitation_callback=Person()) as step_one:
        sealed = await step_one.session.call_tool("collect_run_contact_plan", arguments, allow_input_required=True)
        assert isinstance(sealed, InputRequiredResult)
        async with Client(replica(f"{new},{old}"), mode="2026-07-28", elicitation_callback=Person()) as step_two:
            opened = await step_two.session.call_tool(
                "collect_run_contact_plan", arguments, input_responses={"q1": accept(choice="No")},
                request_state=sealed.request_state, allow_input_required=True,
            )  # fmt: skip
        # Opened (this in-memory server has no other replicas to hand the round to, so it says the call is not here).
        assert isinstance(opened, CallToolResult) and "has ended or expired" in text_of(opened)
        async with Client(replica(new), mode="2026-07-28", elicitation_callback=Person()) as step_three:
            with pytest.raises(MCPError, match="Invalid or expired requestState"):
                await step_three.session.call_tool(
                    "collect_run_contact_plan", arguments, input_responses={"q1": accept(choice="No")},
                    request_state=sealed.request_state, allow_input_required=True,
                )  # fmt: skip
        done = await step_one.session.call_tool(
            "collect_run_contact_plan", arguments, input_responses={"q1": accept(choice="No")},
            request_state=sealed.request_state, allow_input_required=True,
        )  # fmt: skip
        assert isinstance(done, CallToolResult) and not done.is_error
