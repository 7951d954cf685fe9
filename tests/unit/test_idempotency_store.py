"""The idempotency store, on both backends (SQLite file, PostgreSQL database): replay within the window, expiry,
one execution under concurrency (one process, or two sharing the file or database), failures not cached,
restart-safe, leases (a long call keeps its claim, a dead owner's claim is taken over); and the key derivation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from pydantic import BaseModel

from collections_mcp.server.policy.idempotency import request_key
from collections_mcp.server.state.idempotency_store import IdempotencyBusy, IdempotencyStore
from collections_mcp.tools.common.errors import VendorError
from collections_mcp.tools.common.types import SocialSecurityNumber
from tests.state_backends import Backend

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
WINDOW = 600.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Producer:
    """Counts executions; optionally blocks until released so calls overlap."""

    def __init__(self, result: str = '{"done":true}', *, block: bool = False) -> None:
        self.calls = 0
        self.result = result
        self.started = anyio.Event()
        self.release = anyio.Event()
        if not block:
            self.release.set()

    async def __call__(self) -> str:
        self.calls += 1
        self.started.set()
        await self.release.wait()
        return self.result


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(backend: Backend, clock: Clock) -> IdempotencyStore:
    return backend.idempotency(clock=clock)


async def test_replay_within_the_window(store: IdempotencyStore, clock: Clock) -> None:
    produce = Producer()
    first = await store.run("k", WINDOW, produce)
    assert first == ('{"done":true}', False, T0)
    clock.now = T0 + timedelta(seconds=WINDOW - 1)
    assert await store.run("k", WINDOW, produce) == ('{"done":true}', True, T0)
    assert produce.calls == 1
    assert (await store.run("other", WINDOW, produce))[1] is False
    assert produce.calls == 2


async def test_expires_after_the_window(store: IdempotencyStore, clock: Clock) -> None:
    produce = Producer()
    await store.run("k", WINDOW, produce)
    clock.now = T0 + timedelta(seconds=WINDOW + 1)
    _, replayed, first = await store.run("k", WINDOW, produce)
    assert (replayed, first, produce.calls) == (False, clock.now, 2)
    clock.now += timedelta(seconds=5)
    assert (await store.run("k", WINDOW, produce))[1:] == (True, T0 + timedelta(seconds=WINDOW + 1))
    assert produce.calls == 2


async def test_concurrent_identical_calls_in_one_process_execute_once(store: IdempotencyStore) -> None:
    produce = Producer(block=True)
    results: list[tuple[str, bool, datetime]] = []

    async def call() -> None:
        results.append(await store.run("k", WINDOW, produce))

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(call)
        await produce.started.wait()
        produce.release.set()
    assert produce.calls == 1
    assert sorted(replayed for _, replayed, _ in results) == [False, True, True, True, True]
    assert {result for result, _, _ in results} == {'{"done":true}'}


async def test_two_stores_sharing_the_backend_execute_once(backend: Backend, clock: Clock) -> None:
    waiting = anyio.Event()
    one = backend.idempotency(clock=clock)
    two = backend.idempotency(clock=clock, poll_interval=0.005, on_wait=lambda key: waiting.set())
    produce = Producer(block=True)
    outcome: list[tuple[str, bool, datetime]] = []
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(one.run, "k", WINDOW, produce)
            await produce.started.wait()

            async def second() -> None:
                outcome.append(await two.run("k", WINDOW, produce))

            group.start_soon(second)
            await waiting.wait()  # `two` found the pending claim of `one`
            produce.release.set()
        assert produce.calls == 1
        assert outcome == [('{"done":true}', True, T0)]
    finally:
        one.close()
        two.close()


async def test_the_wait_for_another_process_is_bounded(backend: Backend, clock: Clock) -> None:
    one = backend.idempotency(clock=clock)
    two = backend.idempotency(clock=clock, cross_process_wait=0.05, poll_interval=0.005)
    produce = Producer(block=True)
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(one.run, "k", WINDOW, produce)
            await produce.started.wait()
            with pytest.raises(IdempotencyBusy, match="still in progress in another collections-mcp process"):
                await two.run("k", WINDOW, produce)
            produce.release.set()
        assert produce.calls == 1
    finally:
        one.close()
        two.close()


async def test_when_the_other_process_fails_the_waiter_runs_the_call(backend: Backend, clock: Clock) -> None:
    waiting = anyio.Event()
    one = backend.idempotency(clock=clock)
    two = backend.idempotency(clock=clock, poll_interval=0.005, on_wait=lambda key: waiting.set())
    release = anyio.Event()
    started = anyio.Event()

    async def failing() -> str:
        started.set()
        await release.wait()
        raise VendorError("Scollect", "down")

    produce = Producer()
    outcome: list[tuple[str, bool, datetime]] = []
    try:
        async with anyio.create_task_group() as group:

            async def first() -> None:
                with pytest.raises(VendorError):
                    await one.run("k", WINDOW, failing)

            async def second() -> None:
                outcome.append(await two.run("k", WINDOW, produce))

            group.start_soon(first)
            await started.wait()
            group.start_soon(second)
            await waiting.wait()
            release.set()
        assert produce.calls == 1 and outcome[0][1] is False
    finally:
        one.close()
        two.close()


async def test_a_claim_whose_owner_stopped_renewing_is_taken_over_once(backend: Backend, clock: Clock) -> None:
    """A process died mid-call: its pending claim stays behind with a lease nobody renews. Once the lease has
    lapsed, the next identical call runs (once), even within the window."""
    lapsed = (datetime.now(UTC) - timedelta(seconds=30)).timestamp()
    if backend.postgres:
        backend.execute(
            "INSERT INTO idempotency (key, state, created, owner, lease_seconds, lease_until) "
            "VALUES ('k', 'pending', %s, 'dead', 0.2, to_timestamp(%s))", (T0, lapsed),
        )  # fmt: skip
    else:
        backend.claims()  # creates the file and its table
        backend.execute(
            "INSERT INTO idempotency (key, state, created, owner, lease_until) VALUES ('k', 'pending', %s, 'dead', %s)",
            (T0.timestamp(), lapsed),
        )
    one = backend.idempotency(clock=clock)
    two = backend.idempotency(clock=clock)
    produce = Producer(block=True)
    clock.now = T0 + timedelta(seconds=5)
    outcomes: list[Any] = []

    async def call(store: IdempotencyStore) -> None:
        try:
            outcomes.append(await store.run("k", WINDOW, produce))
        except IdempotencyBusy as exc:
            outcomes.append(exc)

    async with anyio.create_task_group() as group:
        group.start_soon(call, one)
        await produce.started.wait()
        two.cross_process_wait, two.poll_interval = 0.05, 0.005
        await call(two)  # the new owner renews its lease: not taken over again
        produce.release.set()
    assert produce.calls == 1
    assert isinstance(outcomes[0], IdempotencyBusy) and outcomes[1] == ('{"done":true}', False, clock.now)


async def test_a_live_claim_is_renewed_beyond_its_lease(backend: Backend, clock: Clock) -> None:
    """A call that runs for several lease lengths keeps its claim: its owner renews the lease."""
    one = backend.idempotency(clock=clock, lease_seconds=0.3)
    two = backend.idempotency(clock=clock, lease_seconds=0.3, cross_process_wait=0.9, poll_interval=0.02)
    produce = Producer(block=True)
    outcomes: list[Any] = []
    async with anyio.create_task_group() as group:
        group.start_soon(one.run, "k", WINDOW, produce)
        await produce.started.wait()
        try:
            await two.run("k", WINDOW, produce)  # waits 0.9 s = 3 lease lengths, never takes over
        except IdempotencyBusy as exc:
            outcomes.append(exc)
        produce.release.set()
    assert produce.calls == 1 and isinstance(outcomes[0], IdempotencyBusy)
    assert await two.run("k", WINDOW, produce) == ('{"done":true}', True, T0)


@pytest.mark.parametrize("failure", [VendorError("Scollect", "down", status=503), RuntimeError("bug")])
async def test_a_failure_is_not_cached(store: IdempotencyStore, failure: Exception) -> None:
    async def failing() -> str:
        raise failure

    with pytest.raises(type(failure)):
        await store.run("k", WINDOW, failing)
    produce = Producer()
    assert (await store.run("k", WINDOW, produce))[1] is False
    assert produce.calls == 1


async def test_a_cancelled_call_is_not_cached(store: IdempotencyStore) -> None:
    produce = Producer(block=True)
    async with anyio.create_task_group() as group:
        group.start_soon(store.run, "k", WINDOW, produce)
        await produce.started.wait()
        group.cancel_scope.cancel()
    again = Producer()
    assert (await store.run("k", WINDOW, again))[1] is False and again.calls == 1


async def test_concurrent_waiters_run_again_after_a_failure(store: IdempotencyStore) -> None:
    release = anyio.Event()
    started = anyio.Event()
    calls = 0

    async def fails_first_time() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            started.set()
            await release.wait()
            raise VendorError("Scollect", "down")
        return "ok"

    results: list[Any] = []

    async def call() -> None:
        try:
            results.append(await store.run("k", WINDOW, fails_first_time))
        except VendorError as exc:
            results.append(exc)

    async with anyio.create_task_group() as group:
        group.start_soon(call)
        await started.wait()
        for _ in range(3):
            group.start_soon(call)
        release.set()
    assert calls == 2  # the failed one, then exactly one of the waiters
    assert sum(isinstance(item, VendorError) for item in results) == 1
    assert sorted(item[1] for item in results if isinstance(item, tuple)) == [False, True, True]


async def test_a_restart_still_replays(backend: Backend, clock: Clock) -> None:
    produce = Producer()
    before = backend.idempotency(clock=clock)
    await before.run("k", WINDOW, produce)
    after = backend.idempotency(clock=clock)
    clock.now += timedelta(minutes=5)
    assert await after.run("k", WINDOW, produce) == ('{"done":true}', True, T0)
    assert produce.calls == 1


async def test_only_results_are_stored(backend: Backend, clock: Clock) -> None:
    store = backend.idempotency(clock=clock)
    await store.run("k", WINDOW, Producer('{"masked":"****1111"}'))
    [row] = backend.rows("idempotency")
    assert "****1111" in row and "done" in row


class NoteArgs(BaseModel):
    file_number: str
    message: str
    tags: list[str] = []


class SsnArgs(BaseModel):
    ssn: SocialSecurityNumber


def test_request_key_is_canonical_and_distinguishes_what_matters() -> None:
    base = request_key("scollect_add_note", NoteArgs(file_number="R1", message="hi"), None)
    assert base == request_key("scollect_add_note", NoteArgs.model_validate({"message": "hi", "file_number": "R1"}), None)
    assert len(base) == 64
    assert base != request_key("scollect_add_note", NoteArgs(file_number="R1", message="hi!"), None)
    assert base != request_key("scollect_log_attempt", NoteArgs(file_number="R1", message="hi"), None)
    assert base != request_key("scollect_add_note", NoteArgs(file_number="R1", message="hi"), "retry-2")
    # Sensitive values serialise masked; two SSNs with the same last four digits must still differ.
    one = request_key("t", SsnArgs(ssn=SocialSecurityNumber("123-45-6789")), None)
    two = request_key("t", SsnArgs(ssn=SocialSecurityNumber("987-65-6789")), None)
    assert one != two



async def test_a_long_running_claim_is_not_taken_over_when_the_window_passes(backend: Backend, clock: Clock) -> None:
    """The owner is still running (a Collect! plan waiting on a person) when its claim becomes older than the
    window: an identical call elsewhere must not run again, and the owner's completion must land. (Before
    leases, the SQLite store took such a claim over and the owner's completion then updated nothing.)"""
    one = backend.idempotency(clock=clock)
    two = backend.idempotency(clock=clock, cross_process_wait=0.05, poll_interval=0.005)
    produce = Producer(block=True)
    try:
        async with anyio.create_task_group() as group:
            owner: list[tuple[str, bool, datetime]] = []

            async def first() -> None:
                owner.append(await one.run("k", WINDOW, produce))

            group.start_soon(first)
            await produce.started.wait()
            clock.now = T0 + timedelta(seconds=WINDOW + 60)  # the call has been running for longer than the window
            with anyio.move_on_after(5):  # today's defect runs `produce` again, which would block: bounded
                with pytest.raises(IdempotencyBusy):
                    await two.run("k", WINDOW, produce)
            taken_over = produce.calls > 1
            produce.release.set()
            assert not taken_over, "an identical call ran again while the first was still running"
        assert owner == [('{"done":true}', False, T0)]
        # The owner's completion landed: an identical call now replays it (the window counts from the first call).
        clock.now = T0 + timedelta(seconds=WINDOW - 1)
        assert await two.run("k", WINDOW, produce) == ('{"done":true}', True, T0)
        assert produce.calls == 1
    finally:
        one.close()
        two.close()
