"""Idempotency: an identical state-changing call within the window returns the first call's result.

Agents retry (timeouts, lost responses, a confused model). For tools whose effect is write, contact, money or
destructive, `IdempotencyStage` derives a key from the tool name, the validated arguments (canonical JSON)
and the optional `idempotency_key` argument, and `IdempotencyStore.run` makes sure the vendor call behind a
key runs once per window:

- a completed entry within the window -> its stored result, `replayed=True`, the vendor is not called;
- an identical call in flight in this process -> wait for it, then replay its result;
- an identical call in flight in another process sharing the file -> its `pending` row (claimed by an INSERT
  on the unique key) is polled for at most `cross_process_wait` seconds, then `IdempotencyBusy`;
- a call that fails (vendor error, refusal by a later stage, invalid arguments, an `input_required` round,
  cancellation, internal error) caches nothing: its pending row is removed so a retry runs again. Only a
  successful result is stored.

A pending row older than the window (its process died mid-call) is taken over, as after the window an
identical call is a new call anyway. Entries live in SQLite under `COLLECTIONS_MCP_STATE_DIR`, so a restart
keeps replaying. Results are stored as the JSON the client saw (masked by type, then scrubbed); a refusal by
this stage (`IdempotencyBusy`, or a stored result that no longer validates) is a `Refused("idempotency", ...)`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.to_thread
from pydantic import BaseModel, ValidationError

from collections_mcp.server.pipeline import Proceed, Refused, ToolCall
from collections_mcp.server.redaction import scrub
from collections_mcp.tools.common.spec import Effect

log = logging.getLogger("collections_mcp.idempotency")

IDEMPOTENCY_FILE = "idempotency.sqlite3"
GUARDED_EFFECTS = frozenset({Effect.WRITE, Effect.CONTACT, Effect.MONEY, Effect.DESTRUCTIVE})


def idempotency_path(state_dir: Path) -> Path:
    """Where the SQLite idempotency store lives under `COLLECTIONS_MCP_STATE_DIR`."""
    return state_dir / IDEMPOTENCY_FILE


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _sensitive_values(value: Any) -> list[str]:
    """Full values of sensitive argument types (they serialise masked, so two different SSNs ending in the
    same four digits would otherwise give the same key)."""
    if callable(getattr(value, "reveal", None)):
        return [str(value.reveal())]
    if isinstance(value, BaseModel):
        return [found for name in type(value).model_fields for found in _sensitive_values(getattr(value, name))]
    if isinstance(value, dict):
        return [found for key in sorted(value, key=str) for found in _sensitive_values(value[key])]
    if isinstance(value, list | tuple):
        return [found for item in value for found in _sensitive_values(item)]
    return []


def request_key(tool: str, arguments: BaseModel, idempotency_key: str | None) -> str:
    """sha256 of tool + canonical JSON of the validated arguments + the caller's idempotency key."""
    canonical = json.dumps(arguments.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256()
    for part in (tool, canonical, idempotency_key or "", *_sensitive_values(arguments)):
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


class IdempotencyBusy(Refused):
    """An identical call is still running in another process and did not finish within the wait bound.
    A refusal (outcome `refused:idempotency`): this call sent nothing."""

    def __init__(self, since: datetime, waited: float) -> None:
        super().__init__(
            "idempotency",
            f"an identical call started at {_iso(since)} is still in progress in another collections-mcp process "
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


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class IdempotencyStore:
    """Completed results and in-flight claims by request key, in one SQLite file shared by processes."""

    def __init__(
        self,
        path: Path | str,
        *,
        clock: Callable[[], datetime] = _utc_now,
        cross_process_wait: float = 30.0,
        poll_interval: float = 0.05,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.cross_process_wait = cross_process_wait
        self.poll_interval = poll_interval
        self.on_wait = on_wait  # called when a call starts waiting for another process's claim (for tests)
        self._owner = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._in_flight: dict[str, anyio.Event] = {}
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

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


class IdempotencyStage:
    """Replays identical write/contact/money/destructive calls within the window; reads pass straight through.
    Place it after the audit stage (so replays are audited) and before confirmation and compliance (a replay
    sends nothing, so it needs neither)."""

    def __init__(
        self, store: IdempotencyStore, window_seconds: float, clock: Callable[[], datetime] = _utc_now
    ) -> None:
        self.store = store
        self.window = window_seconds
        self.clock = clock

    async def __call__(self, call: ToolCall, proceed: Proceed) -> BaseModel:
        if call.spec.effect not in GUARDED_EFFECTS:
            return await proceed()
        key = request_key(call.spec.name, call.arguments, call.idempotency_key)
        produced: list[BaseModel] = []

        async def produce() -> str:
            result = await proceed()
            produced.append(result)
            # Scrubbed like every result a client sees, so the state file holds nothing the client did not see.
            return json.dumps(scrub(result.model_dump(mode="json")), separators=(",", ":"), ensure_ascii=False)

        stored, replayed, first = await self.store.run(key, self.window, produce, now=self.clock())
        if not replayed:
            return produced[0]
        call.replayed = True
        done = f"an identical call at {_iso(first)} already did this; the vendor was not called again."
        try:
            model: BaseModel = call.spec.output_model.model_validate_json(stored)
        except ValidationError:
            log.warning("stored result of %s no longer validates (call %s)", call.spec.name, call.call_id)
            raise Refused("idempotency", f"{done} Its stored result cannot be shown; check with a read tool.") from None
        call.notes.append(f"Replayed: {done} To do it again on purpose, call it with a new idempotency_key.")
        return model
