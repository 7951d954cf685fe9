"""HTTP plumbing every vendor client uses: one pooled client, timeouts, bounded retries for reads only."""

from __future__ import annotations

import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any, Literal, Protocol, TypeVar

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from collections_mcp.tools.common.errors import VendorUnavailable

T = TypeVar("T")

READ_ATTEMPTS = 3
MAX_VENDOR_CONNECTIONS = 100

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
    timeout = httpx.Timeout(timeout_seconds, connect=min(5.0, timeout_seconds))
    # Keep-alive for every connection the pool may open: with fewer, a burst (an IVR's concurrent calls) closes
    # and reopens TCP connections on every request (measured by bench/throughput.py: connect/close churn).
    limits = httpx.Limits(max_connections=MAX_VENDOR_CONNECTIONS, max_keepalive_connections=MAX_VENDOR_CONNECTIONS)
    kwargs.setdefault("verify", _tls_context())
    return httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout, limits=limits, **kwargs)  # type: ignore[arg-type]


async def retry_read(call: Callable[[], Awaitable[T]], *, attempts: int = READ_ATTEMPTS) -> T:
    """Retry a read on VendorUnavailable (connection errors, timeouts, 5xx) with jittered backoff.

    Only for calls that change nothing at the vendor: a write is never retried blindly, because a
    timeout does not tell us whether it landed.
    """
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(VendorUnavailable),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential_jitter(multiplier=0.1, max=2.0),
        reraise=True,
    ):
        with attempt:
            return await call()
    raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover


async def send(http: httpx.AsyncClient, vendor: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request; a timeout or a transport failure becomes VendorUnavailable naming the vendor."""
    observer = _VENDOR_OBSERVER.get()
    kwargs["extensions"] = {**kwargs.get("extensions", {}), VENDOR_EXTENSION: vendor}
    started = time.perf_counter()
    try:
        response = await http.request(method, url, **kwargs)
    except httpx.TimeoutException:
        if observer is not None:
            observer(vendor, time.perf_counter() - started, None, "timeout")
        raise VendorUnavailable(vendor, f"no answer within the timeout ({method} {url or '/'})") from None
    except httpx.TransportError as exc:
        if observer is not None:
            observer(vendor, time.perf_counter() - started, None, "connection")
        raise VendorUnavailable(vendor, f"connection failed ({type(exc).__name__})") from None
    if observer is not None:
        observer(vendor, time.perf_counter() - started, response.status_code, None)
    if (statuses := _VENDOR_STATUSES.get()) is not None:
        statuses.append(response.status_code)
    return response
