"""The accounts toolset's "client": the vendor clients it reads, plus per-server identity-check state.

`AccountsClient.open(AccountsSettings)` is the Toolset's `open_client`: it opens its own pooled Scollect
client from the already-resolved `ScollectSettings` (later: other vendors the same way). It also holds the
in-memory lockout of failed identity checks, which must live exactly as long as the server does.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Generic, TypeVar

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup

from collections_mcp.tools.accounts.settings import AccountsSettings
from collections_mcp.tools.common.errors import InvalidArgument, VendorError
from collections_mcp.tools.scollect.client import ScollectClient

T = TypeVar("T")

log = logging.getLogger("collections_mcp.accounts")


# -------------------------------------------------------------------------------- concurrent, independent reads


class Outcome(Generic[T]):
    """What one concurrent read produced: a value or the exception it raised (never both)."""

    def __init__(self) -> None:
        self.done = False
        self.value: T | None = None
        self.error: Exception | None = None

    def get(self) -> T:
        """The value, or re-raise the read's exception."""
        if self.error is not None:
            raise self.error
        assert self.done, "read not finished: call get() after the task group exits"
        return self.value  # type: ignore[return-value]  # T itself may include None

    def describe_error(self) -> str:
        """Why it failed, safe to show: vendor errors say it themselves; anything else is only named."""
        if isinstance(self.error, VendorError):
            return str(self.error)
        return f"internal error ({type(self.error).__name__})"


def start(group: TaskGroup, read: Callable[[], Awaitable[T]]) -> Outcome[T]:
    """Run `read` in `group`; one failure does not cancel the other reads (unlike a bare task group)."""
    outcome: Outcome[T] = Outcome()

    async def run() -> None:
        try:
            outcome.value = await read()
        except Exception as exc:  # kept for the caller to report or re-raise; cancellation still propagates
            if not isinstance(exc, VendorError):
                log.exception("accounts: a sub-read failed unexpectedly")
            outcome.error = exc
        outcome.done = True

    group.start_soon(run)
    return outcome


# ------------------------------------------------------------------------------------- identity-check lockout


@dataclass(frozen=True)
class Admission:
    """Whether an identity check may run now; when not, from when it may."""

    allowed: bool
    attempts_remaining: int
    retry_at: datetime | None = None


class FailureStore:
    """Failed identity checks in a small SQLite file (under COLLECTIONS_MCP_STATE_DIR), so the limit holds across
    restarts and across server processes sharing the directory. Only the account key and the time are kept."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS identity_failures (account TEXT NOT NULL, at REAL NOT NULL)")
        self._db.execute("CREATE INDEX IF NOT EXISTS identity_failures_account ON identity_failures (account, at)")

    def record(self, key: str, at: datetime) -> None:
        with self._lock:
            self._db.execute("INSERT INTO identity_failures (account, at) VALUES (?, ?)", (key, at.timestamp()))

    def since(self, key: str, start: datetime) -> list[datetime]:
        with self._lock:
            self._db.execute("DELETE FROM identity_failures WHERE at <= ?", (start.timestamp() - 86_400,))
            rows = self._db.execute(
                "SELECT at FROM identity_failures WHERE account = ? AND at > ? ORDER BY at", (key, start.timestamp())
            ).fetchall()
        return [datetime.fromtimestamp(at, UTC) for (at,) in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


@dataclass
class IdentityLockout:
    """At most `max_failures` failed identity checks per account within a rolling `window`.

    Failures are counted, never reset by a success (otherwise a caller who knows one field could reset the
    counter between guesses at another). A check reserves a slot before it reads the vendor, so concurrent
    checks for one account cannot exceed the limit. Keyed by the upper-cased file number. Failures are kept in
    `store` when there is one (the server's: restarts and other processes see them), else in memory; slots
    of checks in flight are this process's.
    """

    max_failures: int
    window: timedelta
    store: FailureStore | None = None
    _failures: dict[str, list[datetime]] = field(default_factory=dict)
    _in_flight: dict[str, int] = field(default_factory=dict)
    _reserving: anyio.Lock = field(default_factory=anyio.Lock)

    @staticmethod
    def key(file_number: str) -> str:
        return file_number.strip().upper()

    async def _recent(self, key: str, now: datetime) -> list[datetime]:
        if self.store is not None:
            return await anyio.to_thread.run_sync(self.store.since, key, now - self.window)
        recent = sorted(at for at in self._failures.get(key, []) if at > now - self.window)
        if recent:
            self._failures[key] = recent
        else:
            self._failures.pop(key, None)
        return recent

    async def status(self, file_number: str, now: datetime) -> Admission:
        key = self.key(file_number)
        recent = await self._recent(key, now)
        remaining = self.max_failures - len(recent) - self._in_flight.get(key, 0)
        if remaining > 0:
            return Admission(allowed=True, attempts_remaining=remaining)
        if len(recent) >= self.max_failures:
            # Allowed again once enough failures have aged out of the window to leave one attempt.
            return Admission(False, 0, recent[len(recent) - self.max_failures] + self.window)
        return Admission(False, 0, now)  # only checks in flight hold the slots: retry when they finish

    async def reserve(self, file_number: str, now: datetime) -> Admission:
        """Take a slot for one check (call `release` when it is decided), or say why not."""
        async with self._reserving:  # the count and the taking are one step
            admission = await self.status(file_number, now)
            if admission.allowed:
                key = self.key(file_number)
                self._in_flight[key] = self._in_flight.get(key, 0) + 1
        return admission

    async def release(self, file_number: str, now: datetime, *, failed: bool) -> Admission:
        """End a reserved check; a failure is recorded at `now`. Returns the state after it."""
        key = self.key(file_number)
        left = self._in_flight.get(key, 0) - 1
        if left > 0:
            self._in_flight[key] = left
        else:
            self._in_flight.pop(key, None)
        if failed:
            if self.store is not None:
                await anyio.to_thread.run_sync(self.store.record, key, now)
            else:
                self._failures.setdefault(key, []).append(now)
        return await self.status(file_number, now)


# ------------------------------------------------------------------------------------------------- the client


class AccountsClient:
    """Vendor clients the cross-vendor tools read (None when that vendor is not enabled)."""

    def __init__(
        self,
        scollect: ScollectClient | None,
        *,
        lockout: IdentityLockout | None = None,
        scollect_timezone: str = "UTC",
    ) -> None:
        self._scollect = scollect
        self.lockout = lockout or IdentityLockout(max_failures=3, window=timedelta(minutes=15))
        self.scollect_timezone = scollect_timezone

    @property
    def scollect(self) -> ScollectClient:
        if self._scollect is None:
            raise InvalidArgument("the accounts tools need Scollect, and Scollect is not configured on this server")
        return self._scollect

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: AccountsSettings) -> AsyncIterator[AccountsClient]:
        """The Toolset's `open_client`: one pooled connection per vendor it reads, closed with the server."""
        store = FailureStore(settings.lockout_file) if settings.lockout_file is not None else None
        lockout = IdentityLockout(
            settings.verify_max_failures, timedelta(seconds=settings.verify_window_seconds), store=store
        )
        async with AsyncExitStack() as stack:
            if store is not None:
                stack.callback(store.close)
            scollect = None
            if settings.scollect is not None and settings.scollect.enabled:
                scollect = await stack.enter_async_context(ScollectClient.open(settings.scollect))
            yield cls(scollect, lockout=lockout, scollect_timezone=settings.scollect_timezone)
