"""The idempotency store: replay within the window, expiry, one execution under concurrency (one process or
two sharing the file), failures not cached, restart-safe; and the key derivation."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import BaseModel

from collections_mcp.server.policy.idempotency import request_key
from collections_mcp.server.state.idempotency_store import IdempotencyBusy, IdempotencyStore
from collections_mcp.tools.common.errors import VendorError
from collections_mcp.tools.common.types import SocialSecurityNumber

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
def path(tmp_path: Path) -> Path:
    return tmp_path / "idempotency.sqlite3"


@pytest.fixture
def store(path: Path, clock: Clock) -> Any:
    opened = IdempotencyStore(path, clock=clock)
    yield opened
    opened.close()


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


async def test_two_stores_on_one_file_execute_once(path: Path, clock: Clock) -> None:
    waiting = anyio.Event()
    one = IdempotencyStore(path, clock=clock)
    two = IdempotencyStore(path, clock=clock, poll_interval=0.005, on_wait=lambda key: waiting.set())
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


async def test_the_wait_for_another_process_is_bounded(path: Path, clock: Clock) -> None:
    one = IdempotencyStore(path, clock=clock)
    two = IdempotencyStore(path, clock=clock, cross_process_wait=0.05, poll_interval=0.005)
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


async def test_when_the_other_process_fails_the_waiter_runs_the_call(path: Path, clock: Clock) -> None:
    waiting = anyio.Event()
    one = IdempotencyStore(path, clock=clock)
    two = IdempotencyStore(path, clock=clock, poll_interval=0.005, on_wait=lambda key: waiting.set())
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


async def test_a_claim_older_than_the_window_is_taken_over(path: Path, clock: Clock) -> None:
    store = IdempotencyStore(path, clock=clock, cross_process_wait=0.02, poll_interval=0.005)
    # A process died mid-call: its pending claim stays in the file.
    raw = sqlite3.connect(path)
    raw.execute("INSERT INTO idempotency (key, state, created, owner) VALUES ('k', 'pending', ?, 'dead')", (T0.timestamp(),))
    raw.commit()
    raw.close()
    produce = Producer()
    try:
        with pytest.raises(IdempotencyBusy):  # within the window: not sent again, and the caller is told why
            await store.run("k", WINDOW, produce)
        assert produce.calls == 0
        clock.now = T0 + timedelta(seconds=WINDOW + 1)
        assert (await store.run("k", WINDOW, produce))[1] is False
        assert produce.calls == 1
    finally:
        store.close()


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


async def test_a_restart_still_replays(path: Path, clock: Clock) -> None:
    produce = Producer()
    before = IdempotencyStore(path, clock=clock)
    await before.run("k", WINDOW, produce)
    before.close()
    after = IdempotencyStore(path, clock=clock)
    try:
        clock.now += timedelta(minutes=5)
        assert await after.run("k", WINDOW, produce) == ('{"done":true}', True, T0)
        assert produce.calls == 1
    finally:
        after.close()


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

