"""The idempotency store: completed results and in-flight claims by request key, shared by processes.

`IdempotencyStore.run(key, window, produce)` makes sure the work behind a key runs once per window:

- a completed entry within the window -> its stored result (replayed), `produce` is not called;
- an identical call in flight in this process -> wait for it, then replay its result;
- an identical call in flight in another process sharing the file -> its `pending` row (claimed by an INSERT
  on the unique key) is polled for at most `cross_process_wait` seconds, then `IdempotencyBusy`;
- a call that fails caches nothing: its pending row is removed so a retry runs again. Only a successful
  result is stored.

A pending row older than the window (its process died mid-call) is taken over, as after the window an
identical call is a new call anyway. Entries live in SQLite under `COLLECTIONS_MCP_STATE_DIR`, so a restart
keeps replaying. Which calls are guarded and what a key is made of: server/policy/idempotency.py.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import anyio
import anyio.to_thread

from collections_mcp.server.core.call import Refused, utc_now
from collections_mcp.server.state.sqlite import open_sqlite

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
class _Claim:
    state: Literal["claimed", "done", "pending"]
    created_ts: float
    result: str | None = None

    @property
    def created(self) -> datetime:
        return datetime.fromtimestamp(self.created_ts, UTC)


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


class IdempotencyStore:
    """Completed results and in-flight claims by request key, in one SQLite file shared by processes."""

    def __init__(
        self,
        path: Path | str,
        *,
        clock: Callable[[], datetime] = utc_now,
        cross_process_wait: float = 30.0,
        poll_interval: float = 0.05,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.clock = clock
        self.cross_process_wait = cross_process_wait
        self.poll_interval = poll_interval
        self.on_wait = on_wait  # called when a call starts waiting for another process's claim (for tests)
        self._owner = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._in_flight: dict[str, anyio.Event] = {}
        self._db = open_sqlite(self.path, synchronous="FULL", schema=_SCHEMA)

    # ---------------------------------------------------------------- SQL, each in a worker thread

    def _claim(self, key: str, now: float, window: float) -> _Claim:
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM idempotency WHERE created < ? AND state = 'done'", (now - window,))
                row = db.execute("SELECT state, created, result FROM idempotency WHERE key = ?", (key,)).fetchone()
                if row is not None and row[1] >= now - window:
                    db.execute("COMMIT")
                    return _Claim("done" if row[0] == "done" else "pending", row[1], row[2])
                if row is not None:  # a claim older than the window: its process is gone
                    db.execute("DELETE FROM idempotency WHERE key = ?", (key,))
                try:
                    db.execute(
                        "INSERT INTO idempotency (key, state, created, owner) VALUES (?, 'pending', ?, ?)",
                        (key, now, self._owner),
                    )
                except sqlite3.IntegrityError:  # cannot happen under BEGIN IMMEDIATE, but never double-claim
                    db.execute("ROLLBACK")
                    return _Claim("pending", now)
                db.execute("COMMIT")
                return _Claim("claimed", now)
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def _complete(self, key: str, result: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE idempotency SET state = 'done', result = ? WHERE key = ? AND owner = ?",
                (result, key, self._owner),
            )

    def _release(self, key: str) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM idempotency WHERE key = ? AND owner = ? AND state = 'pending'", (key, self._owner)
            )

    def _peek(self, key: str) -> tuple[str, float, str | None] | None:
        with self._lock:
            row = self._db.execute("SELECT state, created, result FROM idempotency WHERE key = ?", (key,)).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    # ------------------------------------------------------------------------------------ the API

    async def run(
        self,
        key: str,
        window: float,
        produce: Callable[[], Awaitable[str]],
        *,
        now: datetime | None = None,
    ) -> tuple[str, bool, datetime]:
        """(result_json, replayed, first_call_time). `produce` runs only if no identical call within `window`
        seconds completed or is in flight; an exception from it is re-raised and nothing is stored."""
        at = (now or self.clock()).timestamp()
        while True:
            running = self._in_flight.get(key)
            if running is not None:
                await running.wait()
                continue
            done = self._in_flight[key] = anyio.Event()
            try:
                with anyio.CancelScope(shield=True):  # a claim made is always either used or released
                    claim = await anyio.to_thread.run_sync(self._claim, key, at, window)
                if claim.state == "done":
                    assert claim.result is not None
                    return claim.result, True, claim.created
                if claim.state == "pending":
                    replay = await self._wait_for_other_process(key, claim.created_ts)
                    if replay is None:
                        continue  # the other call failed and released its claim: run it here
                    return replay
                return await self._produce(key, produce), False, claim.created
            finally:
                del self._in_flight[key]
                done.set()

    async def _produce(self, key: str, produce: Callable[[], Awaitable[str]]) -> str:
        try:
            result = await produce()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._release, key)
            raise
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._complete, key, result)
        return result

    async def _wait_for_other_process(self, key: str, created: float) -> tuple[str, bool, datetime] | None:
        if self.on_wait is not None:
            self.on_wait(key)
        started = anyio.current_time()
        while anyio.current_time() - started < self.cross_process_wait:
            await anyio.sleep(self.poll_interval)
            row = await anyio.to_thread.run_sync(self._peek, key)
            if row is None:
                return None
            state, first, result = row
            if state == "done" and result is not None:
                return result, True, datetime.fromtimestamp(first, UTC)
            if first != created:  # replaced by a newer claim: start over
                return None
        raise IdempotencyBusy(datetime.fromtimestamp(created, UTC), anyio.current_time() - started)

    def close(self) -> None:
        with self._lock:
            self._db.close()
