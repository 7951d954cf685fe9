"""A live call never waits on a dead vendor: the call's deadline and a circuit breaker per vendor.

**Deadline.** A tool call may spend `COLLECTIONS_MCP_CALL_DEADLINE_SECONDS` on everything but waiting for a
person: logins, requests, retries and their backoff all count; the time a question waits for its answer does
not (`CallDeadline.paused`, applied to every `ask` by the pipeline), because a person may take minutes and has
bounds of their own (Collect! prompts, the confirmation, the payment page). The pipeline opens one deadline per
call (`call_deadline`); every vendor request made inside it, in any subtask, is bounded by what is left
(tools/common/http.py `send`, `retry_read`; the Collect! websocket waits), so a silent vendor costs a call at
most its deadline instead of three timeouts plus a login. A request that must stay open while a person answers
(Collect!'s runplan POST) is taken out of it (`outside_call_deadline`) and bounded by its own rules.

**Circuit breaker.** One per vendor per server (`VendorBreakers`, handed to the calls by the pipeline and to the
readiness probes). Requests that fail in transport (no connection, a reset, a truncated answer) or time out are
counted; after `failure_threshold` of them in a row the breaker opens, and from then on a request to that vendor
fails at once (`VendorCircuitOpen`: since when the vendor has been unreachable, when it is tried again) instead
of waiting for another timeout. When the cool-down has passed, the next request is the one trial: while it runs,
others still fail at once; if it gets any answer the breaker closes, if it fails the breaker opens for another
cool-down. Any HTTP answer counts as reachable (a 5xx is the vendor's answer, not a transport failure).
Nothing here retries: writes are still never retried (tools/common/http.py).

Why a class of our own: the circuit-breaker libraries on PyPI checked for this (pybreaker 1.4: async only
through Tornado; circuitbreaker 2.1 and purgatory 3.0: asyncio-capable, but their half-open state lets every
concurrent call through rather than one trial, and they read the wall clock themselves; aiobreaker 1.2:
unmaintained since 2021) do not give one trial at a time, an injectable clock, or a typed snapshot per vendor.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from collections_mcp.tools.common.errors import VendorCircuitOpen, VendorUnavailable

log = logging.getLogger("collections_mcp.vendors")

# A read is retried only if at least this much of the deadline is left after the backoff wait.
MIN_ATTEMPT_SECONDS = 0.5

DEADLINE_SETTING = "COLLECTIONS_MCP_CALL_DEADLINE_SECONDS"


# ------------------------------------------------------------------------------------------------ deadline


class CallDeadline:
    """The vendor-work budget of one tool call: `seconds` of everything but waiting for a person."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._spent = 0.0  # budget used before the current running stretch
        self._running_since: float | None = clock()
        self._pauses = 0

    def remaining(self) -> float:
        running = self._clock() - self._running_since if self._running_since is not None else 0.0
        return max(0.0, self.seconds - self._spent - running)

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Time inside this block does not count (a person is being asked). Nested and concurrent pauses stack."""
        if self._pauses == 0 and self._running_since is not None:
            self._spent += self._clock() - self._running_since
            self._running_since = None
        self._pauses += 1
        try:
            yield
        finally:
            self._pauses -= 1
            if self._pauses == 0:
                self._running_since = self._clock()


_DEADLINE: ContextVar[CallDeadline | None] = ContextVar("call_deadline", default=None)


@contextmanager
def call_deadline(seconds: float | None) -> Iterator[CallDeadline | None]:
    """Bound the vendor work inside this block (and its subtasks) by `seconds`; None: no deadline."""
    deadline = CallDeadline(seconds) if seconds is not None else None
    token = _DEADLINE.set(deadline)
    try:
        yield deadline
    finally:
        _DEADLINE.reset(token)


@contextmanager
def outside_call_deadline() -> Iterator[None]:
    """For a request that legitimately stays open while a person answers: it has bounds of its own."""
    token = _DEADLINE.set(None)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def current_deadline() -> CallDeadline | None:
    return _DEADLINE.get()


def deadline_exhausted(vendor: str, what: str) -> VendorUnavailable:
    deadline = current_deadline()
    seconds = f"{deadline.seconds:g} s" if deadline is not None else "its time"
    return VendorUnavailable(vendor, f"the call's deadline ({seconds}, {DEADLINE_SETTING}) was used up before {what}")


def bounded_wait(vendor: str, seconds: float, what: str) -> tuple[float, bool]:
    """(how long a wait for the vendor may take, whether the deadline is what limits it). Raises when the
    deadline is already used up, before anything is sent or awaited."""
    deadline = current_deadline()
    if deadline is None:
        return seconds, False
    remaining = deadline.remaining()
    if remaining <= 0.0:
        raise deadline_exhausted(vendor, what)
    return (remaining, True) if remaining < seconds else (seconds, False)


def room_for_another_attempt(upcoming_wait: float) -> bool:
    """A retry after `upcoming_wait` seconds of backoff still leaves the attempt a useful share of the deadline."""
    deadline = current_deadline()
    return deadline is None or deadline.remaining() - upcoming_wait >= MIN_ATTEMPT_SECONDS


# ------------------------------------------------------------------------------------------ circuit breaker


class BreakerState(StrEnum):
    CLOSED = "closed"  # requests go through; transport failures in a row are counted
    OPEN = "open"  # requests fail at once until next_trial
    HALF_OPEN = "half_open"  # the cool-down is over: one trial request at a time decides


class BreakerSnapshot(BaseModel):
    """One vendor's breaker as operators (and metrics) see it."""

    vendor: str
    state: BreakerState
    consecutive_failures: int = Field(description="Transport failures and timeouts in a row.")
    unreachable_since: datetime | None = Field(default=None, description="First failure of the current streak.")
    next_trial: datetime | None = Field(default=None, description="When an open breaker lets one request try again.")
    last_failure: str | None = Field(default=None, description="What the last failed request ran into.")


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Ticket:
    """One request admitted by a breaker; `trial` when it is the one request of a half-open breaker."""

    trial: bool


class CircuitBreaker:
    """The breaker of one vendor (see the module docstring). Not thread-safe: one event loop uses it."""

    def __init__(
        self, vendor: str, *, failure_threshold: int, cooldown_seconds: float, clock: Callable[[], datetime]
    ) -> None:
        self.vendor = vendor
        self.failure_threshold = failure_threshold
        self.cooldown = timedelta(seconds=cooldown_seconds)
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._failing_since: datetime | None = None
        self._next_trial: datetime | None = None
        self._last_failure: str | None = None
        self._trial_running = False

    def snapshot(self) -> BreakerSnapshot:
        state = self._state
        if state is BreakerState.OPEN and self._next_trial is not None and self._clock() >= self._next_trial:
            state = BreakerState.HALF_OPEN  # due for a trial: the next request will be it
        return BreakerSnapshot(
            vendor=self.vendor, state=state, consecutive_failures=self._failures,
            unreachable_since=self._failing_since, next_trial=self._next_trial, last_failure=self._last_failure,
        )  # fmt: skip

    def admit(self) -> _Ticket:
        """Let a request through, or raise `VendorCircuitOpen` (nothing is sent)."""
        if self._state is BreakerState.CLOSED:
            return _Ticket(trial=False)
        now = self._clock()
        if self._state is BreakerState.OPEN and self._next_trial is not None and now >= self._next_trial:
            self._state = BreakerState.HALF_OPEN
        if self._state is BreakerState.HALF_OPEN and not self._trial_running:
            self._trial_running = True
            return _Ticket(trial=True)
        raise VendorCircuitOpen(self.vendor, self._refusal(now))

    def _refusal(self, now: datetime) -> str:
        since = _stamp(self._failing_since) if self._failing_since is not None else "recently"
        streak = f"{self._failures} failed request{'s' if self._failures != 1 else ''} in a row"
        last = f", the last: {self._last_failure}" if self._last_failure else ""
        if self._state is BreakerState.HALF_OPEN:
            when = "a trial request is checking whether it is back right now"
        else:
            assert self._next_trial is not None
            wait = max(0, round((self._next_trial - now).total_seconds()))
            when = f"it will be tried again at {_stamp(self._next_trial)} (in {wait} s)"
        return f"unreachable since {since} ({streak}{last}); calls to it fail at once until then: {when}"

    def succeeded(self, ticket: _Ticket) -> None:
        """The vendor answered (any HTTP status): it is reachable."""
        if self._state is not BreakerState.CLOSED:
            log.info("circuit breaker for %s closed: the vendor answered again", self.vendor)
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._failing_since = self._next_trial = self._last_failure = None
        if ticket.trial:
            self._trial_running = False

    def failed(self, ticket: _Ticket, reason: str) -> None:
        """No connection, no complete answer, or no answer in time."""
        now = self._clock()
        self._failures += 1
        self._last_failure = reason
        if self._failing_since is None:
            self._failing_since = now
        if ticket.trial:
            self._trial_running = False
        if ticket.trial or self._failures >= self.failure_threshold:
            self._state = BreakerState.OPEN
            self._next_trial = now + self.cooldown
            log.warning(
                "circuit breaker for %s open: %d failed request(s) in a row (the last: %s); calls fail at once until "
                "a trial at %s", self.vendor, self._failures, reason, _stamp(self._next_trial),
            )  # fmt: skip

    def abandoned(self, ticket: _Ticket) -> None:
        """The request ended without a verdict (cancelled): a trial's slot goes to the next request."""
        if ticket.trial:
            self._trial_running = False


class VendorBreakers:
    """Every vendor's breaker on one server, created on first use (keyed by the vendor name clients use)."""

    def __init__(
        self, *, failure_threshold: int = 3, cooldown_seconds: float = 30.0, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock or (lambda: datetime.now(UTC))
        self._breakers: dict[str, CircuitBreaker] = {}

    def for_vendor(self, vendor: str) -> CircuitBreaker:
        breaker = self._breakers.get(vendor)
        if breaker is None:
            breaker = self._breakers[vendor] = CircuitBreaker(
                vendor, failure_threshold=self.failure_threshold, cooldown_seconds=self.cooldown_seconds,
                clock=self._clock,
            )  # fmt: skip
        return breaker

    def snapshot(self) -> dict[str, BreakerSnapshot]:
        """Per vendor that has been called: its breaker's state (for /readyz, doctor and metrics)."""
        return {vendor: breaker.snapshot() for vendor, breaker in sorted(self._breakers.items())}

    def breaker_states(self) -> dict[str, BreakerState]:
        """Per vendor that has been called: only the state (the metrics' breaker gauge reads this at each scrape)."""
        return {vendor: snapshot.state for vendor, snapshot in self.snapshot().items()}


_BREAKERS: ContextVar[VendorBreakers | None] = ContextVar("vendor_breakers", default=None)


@contextmanager
def using_breakers(breakers: VendorBreakers | None) -> Iterator[None]:
    """Vendor requests inside this block (and its subtasks) go through these breakers."""
    token = _BREAKERS.set(breakers)
    try:
        yield
    finally:
        _BREAKERS.reset(token)


@contextmanager
def guarded(vendor: str) -> Iterator[None]:
    """One request to `vendor` through its breaker, if the caller set breakers: refused at once while it is
    open; a `VendorUnavailable` raised inside the block is a transport failure or timeout, anything else that
    escapes is no verdict (cancellation), a normal exit is an answer."""
    breakers = _BREAKERS.get()
    if breakers is None:
        yield
        return
    breaker = breakers.for_vendor(vendor)
    ticket = breaker.admit()
    try:
        yield
    except VendorUnavailable as exc:
        breaker.failed(ticket, exc.message)
        raise
    except BaseException:
        breaker.abandoned(ticket)
        raise
    breaker.succeeded(ticket)
