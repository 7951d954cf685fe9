"""The idempotency store: completed results and in-flight claims by request key, shared by processes.

`IdempotencyStore.run(key, window, produce)` makes sure the work behind a key runs once per window:

- a completed entry within the window -> its stored result (replayed), `produce` is not called;
- an identical call in flight in this process -> wait for it, then replay its result;
- an identical call in flight in another process (a replica sharing the database, or a process sharing the
  state directory) -> its `pending` claim is polled for at most `cross_process_wait` seconds, then
  `IdempotencyBusy`;
- a call that fails caches nothing: its claim is released so a retry runs again. Only a successful result is
  stored.

A claim is held with a lease: while `produce` runs, its owner renews the lease every third of `lease_seconds`.
Another process takes a pending claim over only when its lease lapsed, i.e. its owner stopped renewing (it
crashed or was killed), never because the call is long (a Collect! plan can wait on a person for many minutes).
The lease runs on the claim table's own clock (the database's in PostgreSQL, this machine's for SQLite), not on
the call clock that places a call in the window.

Where claims live is a `ClaimTable` (SQLite below, PostgreSQL in server/state/postgres/); server/state/backend.py
picks one. Which calls are guarded and what a key is made of: server/policy/idempotency.py.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup

from collections_mcp.server.core.call import Refused, utc_now
from collections_mcp.server.state.sqlite import open_sqlite
from collections_mcp.tools.common.state import StateUnavailable

log = logging.getLogger("collections_mcp.idempotency")

IDEMPOTENCY_FILE = "idempotency.sqlite3"


def idempotency_path(state_dir: Path) -> Path:
    """Where the SQLite idempotency store lives under `COLLECTIONS_MCP_STATE_DIR`."""
    return state_dir / IDEMPOTENCY_FILE


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class IdempotencyBusy(Refused):
    """An identical call is still running in another process and did not finish within the wait bound.
    A refusal (outcome `refused:idempotency`): this call sent nothing."""

    def __init__(self, since: datetime, waited: float) -> None:
        super().__init__(
            "idempotency",
            f"an identical call started at {iso(since)} is still in progress in another collections-mcp process "
            f"(waited {waited:.0f}s), so this one was not sent. Check the outcome with a read tool before retrying.",
        )
        self.since = since


@dataclass(frozen=True)
class Claim:
    """What a claim attempt found. `claimed`: this owner holds the key now (`took_over`: from an owner whose
    lease had lapsed); `done`: a completed entry within the window; `pending`: a live claim of another owner."""

    state: Literal["claimed", "took_over", "done", "pending"]
    created: datetime
    result: str | None = None


@dataclass(frozen=True)
class Held:
    """The entry under a key as a waiter sees it."""

    state: Literal["pending", "done"]
    created: datetime
    result: str | None
    lapsed: bool  # a pending claim whose owner stopped renewing its lease


class ClaimTable(Protocol):
    """Claims and completed results by key, shared by every process that must not run a call twice."""

    async def claim(self, key: str, owner: str, at: datetime, window: float, lease: float) -> Claim:
        """Claim `key` for `owner` at call time `at` unless a completed entry newer than `window` seconds or a
        live claim holds it; a lapsed claim or an expired entry is replaced. Raises `StateUnavailable`."""
        ...

    async def renew(self, key: str, owner: str) -> bool:
        """Extend `owner`'s lease on its pending claim; False when the claim is no longer `owner`'s."""
        ...

    async def complete(self, key: str, owner: str, result: str) -> bool:
        """Store the result of `owner`'s claim; False when the claim is no longer `owner`'s."""
        ...

    async def release(self, key: str, owner: str) -> None:
        """Drop `owner`'s pending claim (its call failed), so an identical call runs again."""
        ...

    async def peek(self, key: str) -> Held | None: ...

    def close(self) -> None: ...


class IdempotencyStore:
    """Runs the work behind a key once per window, across the processes that share `claims`."""

    def __init__(
        self,
        claims: ClaimTable,
        *,
        clock: Callable[[], datetime] = utc_now,
        cross_process_wait: float = 30.0,
        poll_interval: float = 0.05,
        lease_seconds: float = 10.0,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        self.claims = claims
        self.clock = clock
        self.cross_process_wait = cross_process_wait
        self.poll_interval = poll_interval
        self.lease_seconds = lease_seconds
        self.on_wait = on_wait  # called when a call starts waiting for another process's claim (for tests)
        self.owner = uuid.uuid4().hex
        self._in_flight: dict[str, anyio.Event] = {}
        # Where a result the database cannot take right now keeps being stored while its call has already answered.
        self._finishing: TaskGroup | None = None

    @asynccontextmanager
    async def finishing_in_background(self) -> AsyncIterator[None]:
        """While open (the server's lifespan), a call whose vendor work is done answers at once even when the shared
        database cannot take its result right now: a background task keeps its claim renewed and retries storing the
        result for up to three leases. Without it the call itself waits that long, and a caller on the phone hears
        silence. On exit, what is still being stored is given up (its claim lapses with its lease)."""
        async with anyio.create_task_group() as finishing:
            self._finishing = finishing
            try:
                yield
            finally:
                self._finishing = None
                finishing.cancel_scope.cancel()

    async def run(
        self,
        key: str,
        window: float,
        produce: Callable[[], Awaitable[str]],
        *,
        now: datetime | None = None,
    ) -> tuple[str, bool, datetime]:
        """(result_json, replayed, first_call_time). `produce` runs only if no identical call within `window`
        seconds completed or is in flight; an exception from it is re-raised and nothing is stored. Raises
        `StateUnavailable` (nothing sent) when the claim table cannot be reached."""
        at = now or self.clock()
        while True:
            running = self._in_flight.get(key)
            if running is not None:
                await running.wait()
                continue
            done = self._in_flight[key] = anyio.Event()
            try:
                try:
                    with anyio.CancelScope(shield=True):  # a claim made is always either used or released
                        claim = await self.claims.claim(key, self.owner, at, window, self.lease_seconds)
                except StateUnavailable as exc:
                    raise StateUnavailable(
                        f"{exc}, so this call could not be checked against identical calls; nothing was sent to "
                        "the vendor."
                    ) from None
                if claim.state == "done":
                    assert claim.result is not None
                    return claim.result, True, claim.created
                if claim.state == "pending":
                    replay = await self._wait_for_other_process(key, claim.created)
                    if replay is None:
                        continue  # the other call failed, or its owner died: claim it again
                    return replay
                if claim.state == "took_over":
                    log.warning(
                        "an identical call's owner stopped renewing its claim (its process ended mid-call); this "
                        "call runs instead. Whether the first one reached the vendor is not known."
                    )
                return await self._produce(key, produce), False, claim.created
            finally:
                del self._in_flight[key]
                done.set()

    async def _produce(self, key: str, produce: Callable[[], Awaitable[str]]) -> str:
        failure: BaseException | None = None
        result = ""
        # The lease is renewed until the outcome is stored (or released), not just while `produce` runs.
        async with anyio.create_task_group() as renewing:
            renewing.start_soon(self._keep_renewing, key)
            try:
                result = await produce()
            except BaseException as exc:  # re-raised below, outside the task group (which would wrap it)
                failure = exc
            stored = True
            with anyio.CancelScope(shield=True):
                if failure is None:
                    stored = await self._store_once(key, result)
                else:
                    await self._release(key)
            if not stored:
                if self._finishing is not None:
                    self._finishing.start_soon(self._finish_later, key, result)  # its own renewal goes with it
                else:
                    with anyio.CancelScope(shield=True):
                        await self._complete(key, result)
            renewing.cancel_scope.cancel()
        if failure is not None:
            raise failure
        return result

    async def _finish_later(self, key: str, result: str) -> None:
        async with anyio.create_task_group() as renewing:
            renewing.start_soon(self._keep_renewing, key)
            await self._complete(key, result)
            renewing.cancel_scope.cancel()

    async def _store(self, key: str, result: str) -> None:
        """Store the result under this owner's claim (raises StateUnavailable when the database cannot be reached)."""
        if not await self.claims.complete(key, self.owner, result):
            log.error(
                "a call finished after its claim was taken over by another process; its result was not stored "
                "for replay (key %s…)",
                key[:12],
            )

    async def _store_once(self, key: str, result: str) -> bool:
        """One attempt to store the result; False when the database cannot be reached (nothing else is)."""
        try:
            await self._store(key, result)
        except StateUnavailable as exc:
            log.warning("the result of a finished call is not stored yet (retrying in the background): %s", exc)
            return False
        return True

    async def _keep_renewing(self, key: str) -> None:
        while True:
            await anyio.sleep(self.lease_seconds / 3)
            try:
                if not await self.claims.renew(key, self.owner):
                    log.error("the claim of a running call was taken over by another process (key %s…)", key[:12])
                    return
            except StateUnavailable as exc:  # keep trying: the lease survives a short outage of the database
                log.warning("could not renew the claim of a running call: %s", exc)

    async def _complete(self, key: str, result: str) -> None:
        """Store the result. While the database is unreachable, retry for up to three leases (the call already
        happened at the vendor: its result must land, or an identical call could run again)."""
        deadline = anyio.current_time() + 3 * self.lease_seconds
        delay = 0.1
        while True:
            try:
                await self._store(key, result)
                return
            except StateUnavailable as exc:
                if anyio.current_time() + delay > deadline:
                    log.error("the result of a finished call could not be stored for replay: %s", exc)
                    return
                await anyio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def _release(self, key: str) -> None:
        try:
            await self.claims.release(key, self.owner)
        except StateUnavailable as exc:  # the lease lapses on its own: an identical call can run after it
            log.warning("could not release the claim of a failed call: %s", exc)

    async def _wait_for_other_process(self, key: str, created: datetime) -> tuple[str, bool, datetime] | None:
        if self.on_wait is not None:
            self.on_wait(key)
        started = anyio.current_time()
        while anyio.current_time() - started < self.cross_process_wait:
            await anyio.sleep(self.poll_interval)
            held = await self.claims.peek(key)
            if held is None:
                return None
            if held.state == "done" and held.result is not None:
                return held.result, True, held.created
            if held.created != created or held.lapsed:  # replaced by a newer claim, or its owner died
                return None
        raise IdempotencyBusy(created, anyio.current_time() - started)

    def close(self) -> None:
        self.claims.close()


# ------------------------------------------------------------------------------------------------ SQLite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    created REAL NOT NULL,
    owner TEXT NOT NULL,
    result TEXT
);
CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency (created);
"""
# Files written before leases existed lack the column; their pending rows count as lapsed (lease_until 0).
_LEASE_COLUMN = "ALTER TABLE idempotency ADD COLUMN lease_until REAL NOT NULL DEFAULT 0"


class SqliteClaims:
    """The default `ClaimTable`: one SQLite file under the state directory, shared by the processes that use
    that directory (their leases run on this machine's wall clock)."""

    def __init__(self, path: Path | str, *, lease_clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.lease_clock = lease_clock
        self._lock = threading.Lock()
        self._lease: dict[str, float] = {}  # key -> lease length, for renewals of this process's claims
        self._db = open_sqlite(self.path, synchronous="FULL", schema=_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(idempotency)")}
        if "lease_until" not in columns:
            self._db.execute(_LEASE_COLUMN)

    def _claim(self, key: str, owner: str, at: float, window: float, lease: float) -> Claim:
        stamp = datetime.fromtimestamp(at, UTC)
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM idempotency WHERE created < ? AND state = 'done'", (at - window,))
                row = db.execute("SELECT state, created, result, lease_until FROM idempotency WHERE key = ?", (key,)).fetchone()
                lease_now = self.lease_clock()
                if row is not None and row[0] == "done" and row[1] >= at - window:
                    db.execute("COMMIT")
                    return Claim("done", datetime.fromtimestamp(row[1], UTC), row[2])
                if row is not None and row[0] == "pending" and row[3] >= lease_now:
                    db.execute("COMMIT")
                    return Claim("pending", datetime.fromtimestamp(row[1], UTC))
                db.execute(
                    "INSERT OR REPLACE INTO idempotency (key, state, created, owner, result, lease_until) "
                    "VALUES (?, 'pending', ?, ?, NULL, ?)",
                    (key, at, owner, lease_now + lease),
                )
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            self._lease[key] = lease
        took_over = row is not None and row[0] == "pending"
        return Claim("took_over" if took_over else "claimed", stamp)

    def _renew(self, key: str, owner: str) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE idempotency SET lease_until = ? WHERE key = ? AND owner = ? AND state = 'pending'",
                (self.lease_clock() + self._lease.get(key, 0.0), key, owner),
            )
        return cursor.rowcount == 1

    def _complete(self, key: str, owner: str, result: str) -> bool:
        with self._lock:
            self._lease.pop(key, None)
            cursor = self._db.execute(
                "UPDATE idempotency SET state = 'done', result = ? WHERE key = ? AND owner = ? AND state = 'pending'",
                (result, key, owner),
            )
        return cursor.rowcount == 1

    def _release(self, key: str, owner: str) -> None:
        with self._lock:
            self._lease.pop(key, None)
            self._db.execute("DELETE FROM idempotency WHERE key = ? AND owner = ? AND state = 'pending'", (key, owner))

    def _peek(self, key: str) -> Held | None:
        with self._lock:
            row = self._db.execute("SELECT state, created, result, lease_until FROM idempotency WHERE key = ?", (key,)).fetchone()
            lease_now = self.lease_clock()
        if row is None:
            return None
        state: Literal["pending", "done"] = "done" if row[0] == "done" else "pending"
        return Held(state, datetime.fromtimestamp(row[1], UTC), row[2], state == "pending" and row[3] < lease_now)

    async def claim(self, key: str, owner: str, at: datetime, window: float, lease: float) -> Claim:
        return await anyio.to_thread.run_sync(self._claim, key, owner, at.timestamp(), window, lease)

    async def renew(self, key: str, owner: str) -> bool:
        return await anyio.to_thread.run_sync(self._renew, key, owner)

    async def complete(self, key: str, owner: str, result: str) -> bool:
        return await anyio.to_thread.run_sync(self._complete, key, owner, result)

    async def release(self, key: str, owner: str) -> None:
        await anyio.to_thread.run_sync(self._release, key, owner)

    async def peek(self, key: str) -> Held | None:
        return await anyio.to_thread.run_sync(self._peek, key)

    def close(self) -> None:
        with self._lock:
            self._db.close()

