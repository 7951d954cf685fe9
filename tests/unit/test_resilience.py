"""The call deadline and the circuit breaker as state machines, on injected clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from collections_mcp.tools.common.errors import VendorCircuitOpen, VendorUnavailable
from collections_mcp.tools.common.resilience import (
    BreakerState,
    CallDeadline,
    VendorBreakers,
    bounded_wait,
    call_deadline,
    guarded,
    outside_call_deadline,
    room_for_another_attempt,
    using_breakers,
)
from tests.helpers import Clock

T0 = datetime(2026, 12, 4, 14, 0, 0, tzinfo=UTC)


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_deadline_stands_still_while_a_person_is_asked() -> None:
    ticks = Ticks()
    deadline = CallDeadline(5.0, clock=ticks)
    ticks.now += 1.0
    with deadline.paused():
        ticks.now += 100.0  # a person thinking
        with deadline.paused():  # nested (a question inside a question's handling) stacks
            ticks.now += 10.0
        assert deadline.remaining() == pytest.approx(4.0)
    ticks.now += 2.5
    assert deadline.remaining() == pytest.approx(1.5)
    ticks.now += 2.0
    assert deadline.remaining() == 0.0 and deadline.expired


def test_waits_are_bounded_by_what_is_left_and_refused_once_it_is_gone() -> None:
    assert bounded_wait("Acme", 15.0, "x") == (15.0, False)  # no deadline: the wait's own bound
    with call_deadline(2.0) as deadline:
        assert deadline is not None
        limit, by_deadline = bounded_wait("Acme", 15.0, "x")
        assert by_deadline and 1.9 < limit <= 2.0
        assert bounded_wait("Acme", 0.5, "x") == (0.5, False)
        with outside_call_deadline():
            assert bounded_wait("Acme", 15.0, "x") == (15.0, False)
        assert room_for_another_attempt(1.0) and not room_for_another_attempt(1.8)
    with call_deadline(0.0), pytest.raises(VendorUnavailable, match="COLLECTIONS_MCP_CALL_DEADLINE_SECONDS") as refused:
        bounded_wait("Acme", 15.0, "GET /x could be sent")
    assert "was used up before GET /x could be sent" in str(refused.value)


def test_a_breaker_opens_after_failures_in_a_row_and_a_success_in_between_resets_the_count() -> None:
    clock = Clock(T0)
    breaker = VendorBreakers(failure_threshold=3, cooldown_seconds=30, clock=clock).for_vendor("Acme")
    for _ in range(2):
        breaker.failed(breaker.admit(), "connection failed")
    breaker.succeeded(breaker.admit())
    for _ in range(2):
        breaker.failed(breaker.admit(), "connection failed")
    assert breaker.snapshot().state is BreakerState.CLOSED and breaker.snapshot().consecutive_failures == 2
    clock.now = T0 + timedelta(seconds=5)
    breaker.failed(breaker.admit(), "no answer within the timeout")
    snapshot = breaker.snapshot()
    assert snapshot.state is BreakerState.OPEN
    assert snapshot.unreachable_since == T0 and snapshot.next_trial == T0 + timedelta(seconds=35)
    assert snapshot.last_failure == "no answer within the timeout"
    with pytest.raises(VendorCircuitOpen, match=r"tried again at 2026-12-04T14:00:35Z \(in 30 s\)"):
        breaker.admit()


def test_one_trial_at_a_time_and_its_verdict_decides() -> None:
    clock = Clock(T0)
    breaker = VendorBreakers(failure_threshold=1, cooldown_seconds=10, clock=clock).for_vendor("Acme")
    breaker.failed(breaker.admit(), "reset")
    clock.now = T0 + timedelta(seconds=10)
    assert breaker.snapshot().state is BreakerState.HALF_OPEN  # due: the next request is the trial
    trial = breaker.admit()
    with pytest.raises(VendorCircuitOpen, match="a trial request is checking"):
        breaker.admit()
    breaker.abandoned(trial)  # cancelled without a verdict: the slot goes to the next request
    trial = breaker.admit()
    breaker.failed(trial, "reset again")
    assert breaker.snapshot().state is BreakerState.OPEN
    assert breaker.snapshot().next_trial == T0 + timedelta(seconds=20)
    assert breaker.snapshot().unreachable_since == T0  # still the start of the outage
    clock.now = T0 + timedelta(seconds=20)
    breaker.succeeded(breaker.admit())
    assert breaker.snapshot().state is BreakerState.CLOSED and breaker.snapshot().unreachable_since is None
    breaker.admit()  # closed: everything goes through again


def test_guarded_counts_only_transport_failures_and_only_where_breakers_are_in_use() -> None:
    breakers = VendorBreakers(failure_threshold=1, cooldown_seconds=10, clock=Clock(T0))
    with guarded("Acme"):  # no breakers in this context: nothing is counted
        pass
    with using_breakers(breakers):
        with pytest.raises(KeyError), guarded("Acme"):
            raise KeyError("not a transport failure")  # no verdict
        assert breakers.snapshot()["Acme"].state is BreakerState.CLOSED
        with pytest.raises(VendorUnavailable), guarded("Acme"):
            raise VendorUnavailable("Acme", "connection failed (ConnectError)")
        assert breakers.snapshot()["Acme"].state is BreakerState.OPEN
        with pytest.raises(VendorCircuitOpen), guarded("Acme"):
            raise AssertionError("never reached: an open breaker sends nothing")
    assert set(breakers.snapshot()) == {"Acme"}
