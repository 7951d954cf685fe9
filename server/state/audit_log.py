"""The audit log's storage: one record per tool call, append-only.

Storage is behind the small `AuditLog` protocol. `SqliteAuditLog` is the default: an append-only table
(triggers abort any UPDATE or DELETE), WAL, written by one writer thread of its own that commits whatever records are
waiting in one transaction, so a record is committed when `append` returns, the event loop never waits on the disk,
and a burst of calls shares commits (and fsyncs) instead of queueing worker threads on one connection. What goes into
a record (and what never does) is the audit stage's business: server/policy/audit.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import anyio
import anyio.to_thread
from pydantic import AwareDatetime, BaseModel, Field

from collections_mcp.server.state.sqlite import open_sqlite
from collections_mcp.server.telemetry.tracing import child_span

log = logging.getLogger("collections_mcp.audit")

AUDIT_FILE = "audit.sqlite3"
# The most records one transaction of the writer takes (a burst beyond it is committed in the next one).
BATCH_LIMIT = 500


def audit_path(state_dir: Path) -> Path:
    """Where the SQLite audit log lives under `COLLECTIONS_MCP_STATE_DIR`."""
    return state_dir / AUDIT_FILE


class AuditRecord(BaseModel):
    """One tool call as an operator sees it later. `arguments` are already redacted."""

    time: AwareDatetime
    call_id: str
    session_id: str | None = None
    client_name: str | None = None
    tool: str
    toolset: str
    effect: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    outcome: str
    vendor_status: int | None = None
    error: str | None = None
    duration_ms: float = 0.0
    replayed: bool = False
    # A person let the call through a stage that would have refused it: {"stage", "reason", "overridden"}.
    override: dict[str, Any] | None = None
    # The approval inbox: a call queued for a supervisor ({"id", "state": "pending"}), or an approved action that ran
    # ({"id", "approver", "decided_at", "reason", "override"}); the proposer is `client_name`.
    approval: dict[str, Any] | None = None


class AuditLog(Protocol):
    """Append-only storage for audit records (SQLite now, PostgreSQL later)."""

    async def append(self, record: AuditRecord) -> None:
        """Store one record durably; it is on disk when this returns."""
        ...

    async def query(self, since: datetime | None, tool: str | None, limit: int) -> list[AuditRecord]:
        """The newest `limit` records at or after `since` (for `tool` if given), oldest first."""
        ...

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    call_id TEXT NOT NULL,
    session_id TEXT,
    client_name TEXT,
    tool TEXT NOT NULL,
    toolset TEXT NOT NULL,
    effect TEXT NOT NULL,
    arguments TEXT NOT NULL,
    outcome TEXT NOT NULL,
    vendor_status INTEGER,
    error TEXT,
    duration_ms REAL NOT NULL,
    replayed INTEGER NOT NULL,
    override TEXT,
    approval TEXT
);
CREATE INDEX IF NOT EXISTS audit_log_time ON audit_log (time);
CREATE INDEX IF NOT EXISTS audit_log_tool_time ON audit_log (tool, time);
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE is not allowed');
END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: DELETE is not allowed');
END;
"""

_COLUMNS = (
    "time, call_id, session_id, client_name, tool, toolset, effect, arguments, outcome, vendor_status, error, "
    "duration_ms, replayed, override, approval"
)


def _stamp(moment: datetime) -> str:
    """Fixed-width UTC text, so string order is time order (in SQLite and in PostgreSQL alike)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _Waiting:
    """A record handed to the writer thread, and the future its `append` awaits (on its own event loop)."""

    row: tuple[Any, ...]
    fsync: bool
    done: asyncio.Future[None]


def _settle(batch: list[_Waiting], error: BaseException | None) -> None:
    """On the event loop: tell every `append` of a written batch (a cancelled one no longer listens)."""
    for waiting in batch:
        if waiting.done.done():
            continue
        if error is None:
            waiting.done.set_result(None)
        else:
            waiting.done.set_exception(error)


class SqliteAuditLog:
    """The default `AuditLog`: one SQLite file, append-only by trigger, written by one thread in batched commits."""

    def __init__(self, path: Path | str, on_write: Callable[[float], None] | None = None) -> None:
        self.path = Path(path)
        self.on_write = on_write  # told how long each append took (the server's audit write latency metric)
        self._lock = threading.Lock()  # the connection: the writer thread and `query` take turns
        self._db = open_sqlite(self.path, synchronous="FULL", schema=_SCHEMA)
        self._synchronous_full = True
        self._add_missing_columns()
        # Records waiting for the writer thread, which is started by the first append (a reader never starts one).
        self._waiting: list[_Waiting] = []
        self._wake = threading.Condition()
        self._writer: threading.Thread | None = None
        self._closing = False

    def _add_missing_columns(self) -> None:
        """A log written before a column existed gets it (empty for the old records; nothing is rewritten)."""
        with self._lock:
            present = {row[1] for row in self._db.execute("PRAGMA table_info(audit_log)")}
            for column in ("override", "approval"):
                if column not in present:
                    self._db.execute(f"ALTER TABLE audit_log ADD COLUMN {column} TEXT")

    def _insert(self, rows: list[tuple[Any, ...]], *, fsync: bool) -> None:
        """One transaction for `rows`. In WAL mode a committed record survives a crash of this process either way;
        `fsync` (FULL) also makes it survive an OS crash or power loss, at one disk flush per commit (~0.35 ms here).
        A commit holding a record of a call that changed something (or failed) pays it; a commit of reads only, the
        bulk of a phone call, does not."""
        with self._lock:
            if fsync != self._synchronous_full:
                self._db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
                self._synchronous_full = fsync
            insert = f"INSERT INTO audit_log ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"  # noqa: S608
            if len(rows) == 1:
                self._db.execute(insert, rows[0])  # autocommit: one statement, one transaction
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(insert, rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _write_batches(self) -> None:
        """The writer thread: commit whatever is waiting, tell the waiting calls, until closed with nothing left."""
        while True:
            with self._wake:
                while not self._waiting and not self._closing:
                    self._wake.wait()
                if not self._waiting:
                    return  # closing, and every record is written
                batch, self._waiting = self._waiting[:BATCH_LIMIT], self._waiting[BATCH_LIMIT:]
            outcomes = self._commit(batch)
            for done, error in outcomes:
                loop = done[0].done.get_loop()
                try:
                    loop.call_soon_threadsafe(_settle, done, error)
                except RuntimeError:  # that event loop is closed: nobody is waiting any more
                    continue

    def _commit(self, batch: list[_Waiting]) -> list[tuple[list[_Waiting], BaseException | None]]:
        """(records, error) groups, per event loop: the batch in one transaction, or, when that fails, each record
        on its own, so one record that cannot be written fails only its own call."""
        try:
            self._insert([waiting.row for waiting in batch], fsync=any(waiting.fsync for waiting in batch))
            failures: list[tuple[_Waiting, BaseException | None]] = [(waiting, None) for waiting in batch]
        except Exception as exc:
            if len(batch) == 1:
                failures = [(batch[0], exc)]
            else:
                failures = []
                for waiting in batch:
                    try:
                        self._insert([waiting.row], fsync=waiting.fsync)
                        failures.append((waiting, None))
                    except Exception as single:
                        failures.append((waiting, single))
        groups: dict[tuple[int, int], tuple[list[_Waiting], BaseException | None]] = {}
        for waiting, error in failures:
            key = (id(waiting.done.get_loop()), id(error))
            groups.setdefault(key, ([], error))[0].append(waiting)
        return list(groups.values())

    def _submit(self, waiting: _Waiting) -> None:
        with self._wake:
            if self._closing:
                raise RuntimeError("the audit log is closed")
            self._waiting.append(waiting)
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_batches, name="audit writer", daemon=True)
                self._writer.start()
            self._wake.notify()

    async def append(self, record: AuditRecord) -> None:
        row = (
            _stamp(record.time),
            record.call_id,
            record.session_id,
            record.client_name,
            record.tool,
            record.toolset,
            record.effect,
            json.dumps(record.arguments, separators=(",", ":"), ensure_ascii=False, sort_keys=True),
            record.outcome,
            record.vendor_status,
            record.error,
            record.duration_ms,
            int(record.replayed),
            None if record.override is None else json.dumps(record.override, separators=(",", ":"), ensure_ascii=False),
            None if record.approval is None else json.dumps(record.approval, separators=(",", ":"), ensure_ascii=False),
        )
        fsync = record.effect != "read" or record.outcome != "ok"
        started = time.perf_counter()
        with child_span("audit write"):
            done = asyncio.get_running_loop().create_future()
            self._submit(_Waiting(row, fsync, done))
            await done  # committed (a cancelled call's record is still written: the writer has it)
        if self.on_write is not None:
            self.on_write(time.perf_counter() - started)

    def _select(self, since: datetime | None, tool: str | None, limit: int) -> list[tuple[Any, ...]]:
        where, params = [], []
        if since is not None:
            where.append("time >= ?")
            params.append(_stamp(since))
        if tool is not None:
            where.append("tool = ?")
            params.append(tool)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        sql = f"SELECT {_COLUMNS} FROM audit_log {clause} ORDER BY time DESC, id DESC LIMIT ?"  # noqa: S608
        with self._lock:
            rows = self._db.execute(sql, [*params, max(0, limit)]).fetchall()
        return list(reversed(rows))

    async def query(self, since: datetime | None, tool: str | None, limit: int) -> list[AuditRecord]:
        rows = await anyio.to_thread.run_sync(self._select, since, tool, limit)
        return [
            AuditRecord(
                time=datetime.strptime(row[0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
                call_id=row[1],
                session_id=row[2],
                client_name=row[3],
                tool=row[4],
                toolset=row[5],
                effect=row[6],
                arguments=json.loads(row[7]),
                outcome=row[8],
                vendor_status=row[9],
                error=row[10],
                duration_ms=row[11],
                replayed=bool(row[12]),
                override=json.loads(row[13]) if row[13] else None,
                approval=json.loads(row[14]) if row[14] else None,
            )
            for row in rows
        ]

    def close(self) -> None:
        """Write what is waiting, stop the writer thread, close the file."""
        with self._wake:
            self._closing = True
            writer = self._writer
            self._wake.notify()
        if writer is not None:
            writer.join()
        with self._lock:
            self._db.close()
