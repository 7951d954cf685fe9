"""HTTP plumbing every vendor client uses: one pooled client, timeouts, bounded retries for reads only.

Every request goes through `send`: bounded by the vendor's timeout and by what is left of the tool call's
deadline, whichever is shorter (the whole request, so a body that trickles in cannot outlast it either), and
through the vendor's circuit breaker (tools/common/resilience.py). Reads retry through `retry_read` while the
deadline leaves room for another attempt; writes are never retried.
"""

from __future__ import annotations

import math
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any, Literal, Protocol, TypeVar

import anyio
import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential_jitter

from collections_mcp.tools.common.errors import VendorCircuitOpen, VendorUnavailable
from collections_mcp.tools.common.resilience import bounded_wait, guarded, room_for_another_attempt

T = TypeVar("T")

READ_ATTEMPTS = 3
MAX_VENDOR_CONNECTIONS = 100
# Short on its own: a vendor that does not accept (or complete a TLS handshake) within this is down, whatever
# the request's own timeout allows for an answer.
CONNECT_TIMEOUT_SECONDS = 3.0
# The whole-request bound fires this much after httpx's own per-phase timeouts could: those close the socket
# themselves, while a cancellation in the middle of a TLS handshake leaves it to the garbage collector (httpcore
# closes only on its own timeouts). The outer bound is for what no phase timeout catches: a trickling body.
WHOLE_REQUEST_MARGIN_SECONDS = 0.1

# The HTTP statuses vendors answered while a tool call ran (for the audit log), shared with the call's subtasks.
_VENDOR_STATUSES: ContextVar[list[int] | None] = ContextVar("vendor_statuses", default=None)

# Every vendor request names its vendor in this httpx request extension, so the server's tracing (which sees
# requests at the transport, not through `send`) can say which vendor a request span belongs to.
VENDOR_EXTENSION = "collections_mcp.vendor"

VendorFailure = Literal["timeout", "connection"]


class VendorRequestObserver(Protocol):
    """Told about every vendor request sent through `send`: the vendor, how long it took, and either the HTTP
    status or how it failed. The server's metrics implement it; it never sees the URL or the body."""

    def __call__(self, vendor: str, seconds: float, status: int | None, failure: VendorFailure | None) -> None: ...


_VENDOR_OBSERVER: ContextVar[VendorRequestObserver | None] = ContextVar("vendor_observer", default=None)


@contextmanager
def observing_vendor_requests(observer: VendorRequestObserver | None) -> Iterator[None]:
    """Report every vendor request sent through `send` inside this block (and its subtasks) to `observer`."""
    token = _VENDOR_OBSERVER.set(observer)
    try:
        yield
    finally:
        _VENDOR_OBSERVER.reset(token)


@contextmanager
def recording_vendor_statuses() -> Iterator[list[int]]:
    """Collect the status of every vendor response sent through `send` inside this block (and its subtasks)."""
    statuses: list[int] = []
    token = _VENDOR_STATUSES.set(statuses)
    try:
        yield statuses
    finally:
        _VENDOR_STATUSES.reset(token)


@cache
def _tls_context() -> ssl.SSLContext:
    """Loading the CA bundle costs ~20 ms; one verified context serves every client of the process."""
    return httpx.create_ssl_context()


def pooled_client(base_url: str, timeout_seconds: float, **kwargs: object) -> httpx.AsyncClient:
    """One keep-alive pool per vendor per server; every request has a timeout."""
    timeout = httpx.Timeout(timeout_seconds, connect=min(CONNECT_TIMEOUT_SECONDS, timeout_seconds))
    # Keep-alive for every connection the pool may open: with fewer, a burst (an IVR's concurrent calls) closes
    # and reopens TCP connections on every request (measured by bench/throughput.py: connect/close churn).
    limits = httpx.Limits(max_connections=MAX_VENDOR_CONNECTIONS, max_keepalive_connections=MAX_VENDOR_CONNECTIONS)
    kwargs.setdefault("verify", _tls_context())
    return httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout, limits=limits, **kwargs)  # type: ignore[arg-type]


def _retryable(exc: BaseException) -> bool:
    # An open breaker sent nothing and will refuse again until its next trial: retrying only burns the deadline.
    return isinstance(exc, VendorUnavailable) and not isinstance(exc, VendorCircuitOpen)


def _out_of_attempts(attempts: int) -> Callable[[RetryCallState], bool]:
    def stop(state: RetryCallState) -> bool:
        # tenacity has computed the backoff (upcoming_sleep) before it asks whether to stop.
        return state.attempt_number >= attempts or not room_for_another_attempt(state.upcoming_sleep)

    return stop


async def retry_read(call: Callable[[], Awaitable[T]], *, attempts: int = READ_ATTEMPTS) -> T:
    """Retry a read on VendorUnavailable (connection errors, timeouts, 5xx) with jittered backoff, while the
    call's deadline leaves room for another attempt.

    Only for calls that change nothing at the vendor: a write is never retried blindly, because a
    timeout does not tell us whether it landed.
    """
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(_retryable),
        stop=_out_of_attempts(attempts),
        wait=wait_exponential_jitter(multiplier=0.1, max=2.0, jitter=0.1),
        reraise=True,
    ):
        with attempt:
            return await call()
    raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover


def _bounded(timeout: httpx.Timeout, seconds: float) -> httpx.Timeout:
    def cap(value: float | None) -> float | None:
        bounded = seconds if value is None else min(value, seconds)
        return bounded if math.isfinite(bounded) else None

    return httpx.Timeout(connect=cap(timeout.connect), read=cap(timeout.read), write=cap(timeout.write), pool=cap(timeout.pool))


async def send(http: httpx.AsyncClient, vendor: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request, whole (headers and body) within min(its timeout, what is left of the call's deadline); a
    timeout or a transport failure becomes VendorUnavailable naming the vendor (and counts against its breaker).
    `timeout` may be given per request; math.inf read time means the caller bounds the wait itself. The call's
    observer (metrics) hears of every request: its time, and its status or what failed."""
    observer = _VENDOR_OBSERVER.get()
    kwargs["extensions"] = {**kwargs.get("extensions", {}), VENDOR_EXTENSION: vendor}
    timeout = kwargs.pop("timeout", None)
    timeout = timeout if isinstance(timeout, httpx.Timeout) else http.timeout
    own_limit = timeout.read if timeout.read is not None else math.inf
    target = f"{method} {url or '/'}"
    limit, by_deadline = bounded_wait(vendor, own_limit, f"{target} could be sent")
    started = time.perf_counter()
    with guarded(vendor):
        try:
            with anyio.fail_after(limit + WHOLE_REQUEST_MARGIN_SECONDS if math.isfinite(limit) else None):
                response = await http.request(method, url, timeout=_bounded(timeout, limit), **kwargs)
        except (httpx.TimeoutException, TimeoutError):
            if observer is not None:
                observer(vendor, time.perf_counter() - started, None, "timeout")
            within = f"the call's deadline ({limit:.1f} s left of it)" if by_deadline else f"the timeout ({limit:g} s)"
            raise VendorUnavailable(vendor, f"no answer within {within} ({target})") from None
        except httpx.TransportError as exc:
            if observer is not None:
                observer(vendor, time.perf_counter() - started, None, "connection")
            raise VendorUnavailable(vendor, f"connection failed ({type(exc).__name__})") from None
    if observer is not None:
        observer(vendor, time.perf_counter() - started, response.status_code, None)
    if (statuses := _VENDOR_STATUSES.get()) is not None:
        statuses.append(response.status_code)
    return response
