"""The event logs tools keep (the identity-check lockout counts them) and the conversation owner table, on both
backends (SQLite file, PostgreSQL database), each store opened as a separate process would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import pytest

from collections_mcp.server.state.ownership import ReplicaPresence
from tests.state_backends import Backend

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


async def test_event_logs_are_shared_and_kept_apart_by_name_and_key(backend: Backend) -> None:
    one, two = backend.shared_state(), backend.shared_state()
    failures = one.events("identity-failures")
    for minutes in (1, 2, 3):
        await failures.record("R1000", T0 + timedelta(minutes=minutes))
    await failures.record("R1001", T0)
    await one.events("other-rule").record("R1000", T0)
    seen_elsewhere = two.events("identity-failures")
    assert await seen_elsewhere.since("R1000", T0 + timedelta(minutes=1)) == [
        T0 + timedelta(minutes=2), T0 + timedelta(minutes=3),
    ]  # fmt: skip
    assert await seen_elsewhere.since("R1001", T0 - timedelta(seconds=1)) == [T0]
    assert await seen_elsewhere.since("R9999", T0 - timedelta(days=1)) == []


async def test_a_conversation_owner_is_found_with_its_address_and_released(backend: Backend) -> None:
    table, other_replica_view = backend.owner_table(), backend.owner_table()
    presence = ReplicaPresence(table, "replica-a", "http://10.0.0.5:8001", lease_seconds=5)
    async with presence.alive():
        await presence.claim("conv-1")
        owner = await other_replica_view.owner("conv-1")
        assert owner is not None
        assert (owner.replica_id, owner.address, owner.alive) == ("replica-a", "http://10.0.0.5:8001", True)
        assert await other_replica_view.owner("conv-unknown") is None
        await presence.release("conv-1")
        assert await other_replica_view.owner("conv-1") is None
        await presence.claim("conv-2")
    # A clean stop unregisters the replica and its conversations.
    assert await other_replica_view.owner("conv-2") is None


async def test_an_owner_that_stops_renewing_is_seen_dead_within_its_lease_and_a_live_one_is_not(backend: Backend) -> None:
    """A crashed replica (registered, then silent) is dead soon after its lease; a replica that keeps its
    heartbeat stays the live owner for many lease lengths."""
    table, observer = backend.owner_table(), backend.owner_table()
    lease = 0.3
    await table.register("crashed", "incarnation-1", "http://10.0.0.6:8001", lease)
    await table.claim("conv-dead", "crashed", "incarnation-1")
    live = ReplicaPresence(backend.owner_table(), "healthy", "http://10.0.0.7:8001", lease_seconds=lease)
    async with live.alive():
        await live.claim("conv-live")
        started = anyio.current_time()
        for _ in range(250):  # polled every 20 ms, for at most 5 s
            owner = await observer.owner("conv-dead")
            if owner is None or not owner.alive:
                break
            await anyio.sleep(0.02)
        assert owner is not None and owner.replica_id == "crashed" and not owner.alive
        assert anyio.current_time() - started < 2  # within seconds of the lease
        for _ in range(2):  # 2 lease lengths more
            await anyio.sleep(lease)
            held = await observer.owner("conv-live")
            assert held is not None and held.alive


async def test_a_restarted_replica_does_not_own_what_its_previous_process_held(backend: Backend) -> None:
    table = backend.owner_table()
    await table.register("replica-a", "before-restart", "http://10.0.0.5:8001", 30)
    await table.claim("conv-old", "replica-a", "before-restart")
    restarted = ReplicaPresence(backend.owner_table(), "replica-a", "http://10.0.0.5:8001", lease_seconds=30)
    async with restarted.alive():
        await restarted.claim("conv-new")
        assert await table.owner("conv-old") is None  # its conversations died with the old process
        new = await table.owner("conv-new")
        assert new is not None and new.alive
