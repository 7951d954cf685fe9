"""The audit log's storage: one record per tool call, append-only.

Storage is behind the small `AuditLog` protocol. `SqliteAuditLog` is the default: an append-only table
(triggers abort any UPDATE or DELETE), WAL, one commit per record in a worker thread, so a record is on disk
when `append` returns and the event loop never waits on the disk. What goes into a record (and what never
does) is the audit stage's business: server/policy/audit.py.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import anyio
import anyio.to_thread
from pydantic import AwareDatetime, BaseModel, Field

from collections_mcp.server.state.sqlite import open_sqlite
from collections_mcp.server.telemetry.tracing import child_span

AUDIT_FILE = "audit.sqlite3"


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


class SqliteAuditLog:
    """The default `AuditLog`: one SQLite file, append-only by trigger, one durable commit per record."""

    def __init__(self, path: Path | str, on_write: Callable[[float], None] | None = None) -> None:
        self.path = Path(path)
        self.on_write = on_write  # told how long each append took (the server's audit write latency metric)
        self._lock = threading.Lock()
        self._db = open_sqlite(self.path, synchronous="FULL", schema=_SCHEMA)
        self._synchronous_full = True
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """A log written before a column existed gets it (empty for the old records; nothing is rewritten)."""
        with self._lock:
            present = {row[1] for row in self._db.execute("PRAGMA table_info(audit_log)")}
            for column in ("override", "approval"):
                if column not in present:
                    self._db.execute(f"ALTER TABLE audit_log ADD COLUMN {column} TEXT")

    def _insert(self, row: tuple[Any, ...], *, fsync: bool) -> None:
        """In WAL mode a committed record survives a crash of this process either way; `fsync` (FULL) also
        makes it survive an OS crash or power loss, at one disk flush per record (~0.35 ms here, measured by
        bench/overhead.py). Calls that change something pay it; reads, the bulk of a phone call, do not."""
        with self._lock:
            if fsync != self._synchronous_full:
                self._db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
                self._synchronous_full = fsync
            self._db.execute(f"INSERT INTO audit_log ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", row)  # noqa: S608

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
            await anyio.to_thread.run_sync(lambda: self._insert(row, fsync=fsync))
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
        with self._lock:
            self._db.close()
