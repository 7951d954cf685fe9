"""The approval inbox's store on both backends (SQLite file, PostgreSQL database), each store opened as a separate
process (a replica, the command line) would: one pending approval per call, decisions and runs taken once, stored
arguments deleted at every final state, expiry, and what changed since a replica last looked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import pytest

from collections_mcp.server.state.approvals import ApprovalRecord, Execution
from tests.state_backends import Backend

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
SECRET_ARGUMENT = "template-only-the-server-needs"


def queued(approval_id: str, *, key: str = "key-1", proposer: str | None = "overnight-agent",
           at: datetime = T0, ttl: timedelta = timedelta(hours=12)) -> ApprovalRecord:  # fmt: skip
    return ApprovalRecord(
        id=approval_id, created_at=at, expires_at=at + ttl, updated_at=at, proposer=proposer, session_id="conn-1",
        tool="scollect_send_text", toolset="scollect", effect="contact", arguments={"file_number": "R1000"},
        summary="Text template PAYREMIND to the debtor of R1000.", needs="compliance",
        verdict=[{"file_number": "R1000", "allowed": False}], request_key=key,
    )  # fmt: skip


EXECUTION = Execution(arguments={"file_number": "R1000", "template": SECRET_ARGUMENT}, idempotency_key="k-1")


async def test_a_retried_call_finds_the_approval_it_queued_and_other_proposers_get_their_own(backend: Backend) -> None:
    store, elsewhere = backend.approvals(), backend.approvals()
    first = await store.add(queued("ap_1"), EXECUTION)
    again = await elsewhere.add(queued("ap_2"), EXECUTION)
    other = await elsewhere.add(queued("ap_3", proposer="day-agent"), EXECUTION)
    assert (first.id, again.id, other.id) == ("ap_1", "ap_1", "ap_3")
    assert [record.id for record in await store.find(states=["pending"])] == ["ap_1", "ap_3"]  # same time: by id
    mine = await elsewhere.find(proposer="overnight-agent")
    assert [record.id for record in mine] == ["ap_1"]
    got = await elsewhere.get("ap_1")
    assert got is not None and got.summary == first.summary and got.verdict == [{"file_number": "R1000", "allowed": False}]
    assert await store.get("ap_missing") is None


async def test_a_decision_and_a_run_are_taken_once_and_the_arguments_are_deleted_when_it_ends(backend: Backend) -> None:
    one, two = backend.approvals(), backend.approvals()
    await one.add(queued("ap_1"), EXECUTION)
    async with anyio.create_task_group() as group:
        decisions: list[ApprovalRecord | None] = []

        async def decide(store: object, supervisor: str) -> None:
            decisions.append(await store.decide("ap_1", "approve", supervisor=supervisor, at=T0 + timedelta(hours=1),  # type: ignore[attr-defined]
                                                override_reason="Permissions checked in Scollect"))  # fmt: skip

        group.start_soon(decide, one, "morgan")
        group.start_soon(decide, two, "riley")
    won = [decision for decision in decisions if decision is not None]
    assert len(won) == 1 and won[0].state == "approved" and won[0].override_reason == "Permissions checked in Scollect"
    assert await two.approved_waiting(T0 + timedelta(hours=1)) == ["ap_1"]
    claims = [await one.claim("ap_1", T0 + timedelta(hours=1)), await two.claim("ap_1", T0 + timedelta(hours=1))]
    taken = [claim for claim in claims if claim is not None]
    assert len(taken) == 1
    record, execution = taken[0]
    assert record.state == "running" and execution == EXECUTION
    assert any(SECRET_ARGUMENT in row for row in backend.rows("approvals")), "kept while it may still run"
    done = await two.finish("ap_1", "done", at=T0 + timedelta(hours=1, seconds=1), outcome="Sent.",
                            result={"file_numbers": ["R1000"], "channel": "text"})  # fmt: skip
    assert done is not None and done.state == "done" and done.result == {"file_numbers": ["R1000"], "channel": "text"}
    assert not any(SECRET_ARGUMENT in row for row in backend.rows("approvals")), "deleted once it ran"
    assert await one.decide("ap_1", "reject", supervisor="riley", at=T0 + timedelta(hours=2)) is None
    assert await one.claim("ap_1", T0 + timedelta(hours=2)) is None


async def test_a_rejection_deletes_the_arguments_and_expiry_ends_pending_and_unrun_approvals(backend: Backend) -> None:
    store = backend.approvals()
    await store.add(queued("ap_rejected", key="k1"), EXECUTION)
    await store.add(queued("ap_pending", key="k2"), EXECUTION)
    await store.add(queued("ap_approved", key="k3"), EXECUTION)
    await store.add(queued("ap_later", key="k4", ttl=timedelta(days=2)), EXECUTION)
    rejected = await store.decide("ap_rejected", "reject", supervisor="morgan", at=T0 + timedelta(hours=1),
                                  reason="The debtor asked for a call instead")  # fmt: skip
    assert rejected is not None and rejected.state == "rejected" and rejected.decision_reason.startswith("The debtor")  # type: ignore[union-attr]
    assert await store.claim("ap_rejected", T0 + timedelta(hours=1)) is None
    assert await store.decide("ap_approved", "approve", supervisor="morgan", at=T0 + timedelta(hours=1)) is not None
    late = T0 + timedelta(hours=13)
    assert await store.decide("ap_pending", "approve", supervisor="morgan", at=late) is None, "past its expiry"
    expired = await store.expire(late)
    assert sorted(record.id for record in expired) == ["ap_approved", "ap_pending"]
    assert all(record.state == "expired" and "nothing was sent" in (record.outcome or "") for record in expired)
    assert await store.approved_waiting(late) == []
    assert await store.claim("ap_approved", late) is None
    remaining = [row for row in backend.rows("approvals") if SECRET_ARGUMENT in row]
    assert len(remaining) == 1 and "ap_later" in remaining[0]
    assert await store.expire(late) == [], "once"


async def test_a_replica_sees_what_changed_since_it_last_looked(backend: Backend) -> None:
    server, command_line = backend.approvals(), backend.approvals()
    first = await server.add(queued("ap_1", key="k1"), EXECUTION)
    await server.add(queued("ap_2", key="k2"), EXECUTION)
    seen = max(record.seq for record in await server.changed_after(0))
    assert seen >= first.seq > 0
    await command_line.decide("ap_2", "reject", supervisor="morgan (command line)", at=T0 + timedelta(minutes=5))
    changed = await server.changed_after(seen)
    assert [(record.id, record.state, record.decided_by) for record in changed] == [
        ("ap_2", "rejected", "morgan (command line)")]  # fmt: skip
    assert await server.changed_after(changed[-1].seq) == []


async def test_a_decision_in_another_process_wakes_the_server(backend: Backend) -> None:
    server, command_line = backend.approvals(), backend.approvals()
    await server.add(queued("ap_1"), EXECUTION)
    if not backend.postgres:
        # SQLite cannot announce a change: the server looks again after its check interval.
        with anyio.fail_after(5):
            await server.wait_for_change(0.05)
        return
    await server.wait_for_change(0.01)  # listening from now on
    woke = anyio.Event()

    async def wait() -> None:
        await server.wait_for_change(60)  # the interval would be a minute: only the NOTIFY can wake it in time
        woke.set()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(wait)
            await command_line.decide("ap_1", "approve", supervisor="morgan", at=T0 + timedelta(minutes=1))
            await woke.wait()
