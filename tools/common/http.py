"""HTTP plumbing every vendor client uses: one pooled client, timeouts, bounded retries for reads only."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any, TypeVar

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from collections_mcp.tools.common.errors import VendorUnavailable

T = TypeVar("T")

READ_ATTEMPTS = 3
MAX_VENDOR_CONNECTIONS = 100

# The HTTP statuses vendors answered while a tool call ran (for the audit log), shared with the call's subtasks.
_VENDOR_STATUSES: ContextVar[list[int] | None] = ContextVar("vendor_statuses", default=None)


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
    try:
        response = await http.request(method, url, **kwargs)
    except httpx.TimeoutException:
        raise VendorUnavailable(vendor, f"no answer within the timeout ({method} {url or '/'})") from None
    except httpx.TransportError as exc:
        raise VendorUnavailable(vendor, f"connection failed ({type(exc).__name__})") from None
    if (statuses := _VENDOR_STATUSES.get()) is not None:
        statuses.append(response.status_code)
    return response
