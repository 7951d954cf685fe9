"""The audit log: one record per tool call, read or write, allowed or refused.

`AuditStage` is a policy-pipeline stage that records every call that reaches the stages (ok, refused by a
stage, vendor error, internal error, cancelled, and one record per `input_required` round of a multi-round
call). Calls the pipeline rejects before the stages run (argument validation) are recorded through
`record_rejected`, so every call has exactly one record.

Records hold redacted arguments only: the values are scrubbed (`server.redaction.scrub`) and keys that name
secrets (CVV, card number, password, PIN, token, secret) are dropped entirely, not even masked.

Storage is behind the small `AuditLog` protocol. `SqliteAuditLog` is the default: an append-only table
(triggers abort any UPDATE or DELETE), WAL, synchronous=FULL, one commit per record in a worker thread, so a
record is on disk when `append` returns and the event loop never waits on the disk. The SQL is plain enough
to port to PostgreSQL (one table, two indexes, parameterised INSERT/SELECT).
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import anyio
import anyio.to_thread
from pydantic import AwareDatetime, BaseModel, Field

from collections_mcp.server.pipeline import Proceed, ToolCall, caller_of, outcome_of
from collections_mcp.server.redaction import scrub, scrub_text
from collections_mcp.tools.common.errors import VendorError
from collections_mcp.tools.common.http import recording_vendor_statuses
from collections_mcp.tools.common.spec import AnySpec

log = logging.getLogger("collections_mcp.audit")

AUDIT_FILE = "audit.sqlite3"
ERROR_LIMIT = 500

# Argument keys whose values never reach the audit log, not even masked (compared without case or separators).
_SECRET_SUBSTRINGS = ("cvv", "cvc", "threedigitnumber", "cardnumber", "password", "passwd", "secret", "token")
_SECRET_WORDS = {"pin"}
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")


def audit_path(state_dir: Path) -> Path:
    """Where the SQLite audit log lives under `COLLECTIONS_MCP_STATE_DIR`."""
    return state_dir / AUDIT_FILE


def _utc_now() -> datetime:
    return datetime.now(UTC)


def is_secret_key(key: str) -> bool:
    """True for argument names such as cvv, threedigitnumber, card_number, password, pin, api_token, secret."""
    compact = re.sub(r"[^a-z0-9]", "", key.lower())
    if any(part in compact for part in _SECRET_SUBSTRINGS):
        return True
    words = {word.lower() for word in _WORD_SPLIT.split(key) if word}
    return bool(words & _SECRET_WORDS) or compact in _SECRET_WORDS


def redact_arguments(value: Any) -> Any:
    """Drop secret-named keys at any depth, then scrub every remaining string (SSN, card, routing patterns)."""

    def drop(item: Any) -> Any:
        if isinstance(item, dict):
            return {key: drop(inner) for key, inner in item.items() if not is_secret_key(str(key))}
        if isinstance(item, list):
            return [drop(inner) for inner in item]
        return item

    return scrub(drop(value))


def _clean_error(message: str | None) -> str | None:
    if not message:
        return None
    text = scrub_text(message)
    return text if len(text) <= ERROR_LIMIT else text[: ERROR_LIMIT - 1] + "…"


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
    replayed INTEGER NOT NULL
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
    "duration_ms, replayed"
)


def _stamp(moment: datetime) -> str:
    """Fixed-width UTC text, so string order is time order (in SQLite and in PostgreSQL alike)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SqliteAuditLog:
    """The default `AuditLog`: one SQLite file, append-only by trigger, one durable commit per record."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._synchronous_full = True
        self._db.executescript(_SCHEMA)

    def _insert(self, row: tuple[Any, ...], *, fsync: bool) -> None:
        """In WAL mode a committed record survives a crash of this process either way; `fsync` (FULL) also
        makes it survive an OS crash or power loss, at one disk flush per record (~0.35 ms here, measured by
        bench/overhead.py). Calls that change something pay it; reads, the bulk of a phone call, do not."""
        with self._lock:
            if fsync != self._synchronous_full:
                self._db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
                self._synchronous_full = fsync
            self._db.execute(f"INSERT INTO audit_log ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", row)  # noqa: S608

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
        )
        fsync = record.effect != "read" or record.outcome != "ok"
        await anyio.to_thread.run_sync(lambda: self._insert(row, fsync=fsync))

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
            )
            for row in rows
        ]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _arguments_of(call: ToolCall) -> dict[str, Any]:
    dumped = call.arguments.model_dump(mode="json")
    redacted = redact_arguments(dumped)
    return redacted if isinstance(redacted, dict) else {}


def _error_of(exc: BaseException | None) -> str | None:
    if exc is None or outcome_of(exc) in ("ok", "input_required", "cancelled"):
        return None
    reason = getattr(exc, "reason", None)
    return _clean_error(reason if isinstance(reason, str) else str(exc) or type(exc).__name__)


def _outcome(failure: BaseException | None, result: BaseModel | None) -> str:
    """A result may classify itself for the audit log (`audit_outcome()`, e.g. a failed identity check)."""
    classify = getattr(result, "audit_outcome", None) if failure is None else None
    return str(classify()) if callable(classify) else outcome_of(failure)


async def _append_safely(audit: AuditLog, record: AuditRecord) -> None:
    """Write even when the call was cancelled. A failed write is logged (scrubbed) and does not change the
    call's own outcome: turning a call the vendor already applied into an error would invite a retry."""
    with anyio.CancelScope(shield=True):
        try:
            await audit.append(record)
        except Exception:
            log.exception(
                "audit record could not be written: %s",
                record.model_dump_json(),
                extra={"tool": record.tool, "call_id": record.call_id, "outcome": record.outcome},
            )


class AuditStage:
    """Records every call that reaches the stages exactly once (per round), with its outcome and duration.
    Put it outermost (right after the call logger) so it sees refusals by every later stage and replays."""

    def __init__(self, audit: AuditLog, clock: Callable[[], datetime] = _utc_now) -> None:
        self.audit = audit
        self.clock = clock

    async def on_rejected(
        self,
        spec: AnySpec,
        toolset: str,
        call_id: str,
        client_name: str | None,
        session_id: str | None,
        reason: str,
        outcome: str,
    ) -> None:
        """A `PolicyPipeline` rejection listener: records a call refused before the stages ran."""
        await record_rejected(
            self.audit, spec, toolset, call_id, client_name, session_id, reason, outcome=outcome, at=self.clock()
        )

    async def __call__(self, call: ToolCall, proceed: Proceed) -> BaseModel:
        at = self.clock()
        failure: BaseException | None = None
        result: BaseModel | None = None
        with recording_vendor_statuses() as statuses:
            try:
                result = await proceed()
                return result
            except BaseException as exc:
                failure = exc
                raise
            finally:
                await self._record(call, at, failure, statuses, result)

    async def _record(
        self, call: ToolCall, at: datetime, failure: BaseException | None, statuses: list[int], result: BaseModel | None
    ) -> None:
        # The vendor error's own status when there is one, else the last response the vendor gave (None: the
        # call never reached the vendor, e.g. refused by a stage or replayed).
        vendor_status = call.vendor_status
        if vendor_status is None and isinstance(failure, VendorError):
            vendor_status = failure.status
        if vendor_status is None and statuses:
            vendor_status = statuses[-1]
        record = AuditRecord(
            time=at,
            call_id=call.call_id,
            session_id=call.session_id,
            client_name=call.client_name,
            tool=call.spec.name,
            toolset=call.toolset,
            effect=str(call.spec.effect),
            arguments=_arguments_of(call),
            outcome=_outcome(failure, result),
            vendor_status=vendor_status,
            error=_error_of(failure),
            duration_ms=round((time.perf_counter() - call.started) * 1000, 1),
            replayed=call.replayed,
        )
        await _append_safely(self.audit, record)


async def record_rejected(
    audit: AuditLog,
    spec: AnySpec,
    toolset: str,
    call_id: str,
    client_name: str | None,
    session_id: str | None,
    reason: str,
    *,
    outcome: str = "invalid_arguments",
    duration_ms: float = 0.0,
    at: datetime | None = None,
) -> None:
    """Record a call the pipeline refused before any stage ran (e.g. arguments that failed validation).
    The raw arguments are not recorded: they were never validated, so nothing says which are sensitive."""
    record = AuditRecord(
        time=at or _utc_now(),
        call_id=call_id,
        session_id=session_id,
        client_name=client_name,
        tool=spec.name,
        toolset=toolset,
        effect=str(spec.effect),
        arguments={},
        outcome=outcome,
        error=_clean_error(reason),
        duration_ms=duration_ms,
    )
    await _append_safely(audit, record)


class AuditUnlistedToolCalls:
    """SDK server middleware: a `tools/call` for a name this server does not offer (never existed, or removed
    by toolsets, read-only mode or COLLECTIONS_MCP_TOOLS) is answered by the SDK before any stage runs; it is
    still a call an agent made, so it gets its audit record (outcome `refused:unknown_tool`)."""

    def __init__(self, audit: AuditLog, offered: set[str], clock: Callable[[], datetime] = _utc_now) -> None:
        self.audit = audit
        self.offered = offered
        self.clock = clock

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        if getattr(ctx, "method", None) == "tools/call":
            params = getattr(ctx, "params", None) or {}
            name = params.get("name") if isinstance(params, Mapping) else None
            if not isinstance(name, str) or name not in self.offered:
                client_name, session_id = caller_of(ctx)
                requested = scrub_text(str(name))[:120]
                await _append_safely(self.audit, AuditRecord(
                    time=self.clock(), call_id=uuid.uuid4().hex[:12], session_id=session_id, client_name=client_name,
                    tool=requested, toolset="", effect="unknown", arguments={}, outcome="refused:unknown_tool",
                    error=f"no tool named {requested!r} is offered by this server", duration_ms=0.0,
                ))  # fmt: skip
        return await call_next(ctx)
