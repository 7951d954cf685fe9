"""The accounts toolset's "client": the vendor clients it reads, plus per-server identity-check state.

`AccountsClient.open(AccountsSettings)` is the Toolset's `open_client`: it opens its own pooled Scollect
client from the already-resolved `ScollectSettings` (later: other vendors the same way). It also holds the
identity-check lockout (its failures live in the server's shared state, which each call hands over).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import anyio

from collections_mcp.tools.accounts.settings import AccountsSettings
from collections_mcp.tools.common.errors import InvalidArgument
from collections_mcp.tools.common.state import EventLog
from collections_mcp.tools.scollect.client import ScollectClient

# ------------------------------------------------------------------------------------- identity-check lockout


@dataclass(frozen=True)
class Admission:
    """Whether an identity check may run now; when not, from when it may."""

    allowed: bool
    attempts_remaining: int
    retry_at: datetime | None = None


@dataclass
class IdentityLockout:
    """At most `max_failures` failed identity checks per account within a rolling `window`.

    Failures are counted, never reset by a success (otherwise a caller who knows one field could reset the
    counter between guesses at another). A check reserves a slot before it reads the vendor, so concurrent
    checks for one account cannot exceed the limit. Keyed by the upper-cased file number. Failures are kept in
    the `EventLog` each call passes (the server's shared state: restarts and other processes see them); slots
    of checks in flight are this process's.
    """

    max_failures: int
    window: timedelta
    _in_flight: dict[str, int] = field(default_factory=dict)
    _reserving: anyio.Lock = field(default_factory=anyio.Lock)

    @staticmethod
    def key(file_number: str) -> str:
        return file_number.strip().upper()

    async def status(self, file_number: str, now: datetime, failures: EventLog) -> Admission:
        key = self.key(file_number)
        recent = await failures.since(key, now - self.window)
        remaining = self.max_failures - len(recent) - self._in_flight.get(key, 0)
        if remaining > 0:
            return Admission(allowed=True, attempts_remaining=remaining)
        if len(recent) >= self.max_failures:
            # Allowed again once enough failures have aged out of the window to leave one attempt.
            return Admission(False, 0, recent[len(recent) - self.max_failures] + self.window)
        return Admission(False, 0, now)  # only checks in flight hold the slots: retry when they finish

    async def reserve(self, file_number: str, now: datetime, failures: EventLog) -> Admission:
        """Take a slot for one check (call `release` when it is decided), or say why not."""
        async with self._reserving:  # the count and the taking are one step
            admission = await self.status(file_number, now, failures)
            if admission.allowed:
                key = self.key(file_number)
                self._in_flight[key] = self._in_flight.get(key, 0) + 1
        return admission

    async def release(self, file_number: str, now: datetime, failures: EventLog, *, failed: bool) -> Admission:
        """End a reserved check; a failure is recorded at `now`. Returns the state after it."""
        key = self.key(file_number)
        left = self._in_flight.get(key, 0) - 1
        if left > 0:
            self._in_flight[key] = left
        else:
            self._in_flight.pop(key, None)
        if failed:
            await failures.record(key, now)
        return await self.status(file_number, now, failures)


# ------------------------------------------------------------------------------------------------- the client


class AccountsClient:
    """Vendor clients the cross-vendor tools read (None when that vendor is not enabled)."""

    def __init__(
        self,
        scollect: ScollectClient | None,
        *,
        lockout: IdentityLockout | None = None,
        worklist_concurrency: int = 10,
    ) -> None:
        self._scollect = scollect
        self.lockout = lockout or IdentityLockout(max_failures=3, window=timedelta(minutes=15))
        # Accounts the worklists of this server read at once, whatever number of agents asks for one: the vendor
        # sees a bounded burst, never one request per account of every portfolio at the same moment.
        self.worklist_reads = anyio.CapacityLimiter(worklist_concurrency)

    @property
    def scollect(self) -> ScollectClient:
        if self._scollect is None:
            raise InvalidArgument("the accounts tools need Scollect, and Scollect is not configured on this server")
        return self._scollect

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: AccountsSettings) -> AsyncIterator[AccountsClient]:
        """The Toolset's `open_client`: one pooled connection per vendor it reads, closed with the server."""
        lockout = IdentityLockout(settings.verify_max_failures, timedelta(seconds=settings.verify_window_seconds))
        async with AsyncExitStack() as stack:
            scollect = None
            if settings.scollect is not None and settings.scollect.enabled:
                scollect = await stack.enter_async_context(ScollectClient.open(settings.scollect))
            yield cls(scollect, lockout=lockout, worklist_concurrency=settings.worklist_concurrency)
