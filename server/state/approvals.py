"""Pending approvals (the approval inbox, server/policy/approvals.py): calls an agent could not have confirmed by a
person, waiting for a supervisor's decision, and what became of them.

Storage is behind the `ApprovalStore` protocol: `SqliteApprovalStore` (one file under the state directory, shared by
the processes that share it, the command line included) and the PostgreSQL store (server/state/postgres/stores.py).

A record keeps two things apart:

- what people see (`ApprovalRecord`): who proposed it, the tool, its arguments redacted, the plain-language summary a
  confirmation would have shown, the compliance verdict when it was proposed, the decision and the outcome;
- what the server needs to run it later (`Execution`: the arguments as the agent gave them, and its idempotency
  key). They are kept no longer than needed: the moment an approval reaches a final state (rejected, expired,
  executed, refused at execution) they are deleted. The approvals stage never queues a card, bank account or Social
  Security number (nor any value that looks like one), so none can wait here.

Every change goes through a conditional update, so two supervisors (or replicas) deciding the same approval, or two
replicas starting the same approved action, cannot both win: `decide` only takes pending approvals that have not
expired, `claim` only takes an approved one (and makes it `running`) once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import anyio
import anyio.to_thread
from pydantic import AwareDatetime, BaseModel, Field

from collections_mcp.server.state.sqlite import open_sqlite

APPROVALS_FILE = "approvals.sqlite3"

ApprovalState = Literal["pending", "approved", "rejected", "expired", "running", "done", "refused", "failed"]
# A decision: approve (run it) or reject (never send it).
Decision = Literal["approve", "reject"]


class ApprovalRecord(BaseModel):
    """One queued call as people see it: nothing here is a card, bank or Social Security number."""

    id: str
    created_at: AwareDatetime
    expires_at: AwareDatetime
    updated_at: AwareDatetime
    proposer: str | None = None
    session_id: str | None = None
    tool: str
    toolset: str
    effect: str
    arguments: dict[str, Any] = Field(default_factory=dict, description="Redacted, as the audit log shows them.")
    summary: str
    needs: str = Field(description="What a person would have done: 'confirmation', or 'compliance' (an override).")
    verdict: list[dict[str, Any]] | None = Field(default=None, description="Compliance verdicts when proposed.")
    request_key: str
    state: ApprovalState = "pending"
    decided_by: str | None = None
    decided_at: AwareDatetime | None = None
    decision_reason: str | None = None
    override_reason: str | None = None
    outcome: str | None = Field(default=None, description="What happened when it ran, or why it did not.")
    result: dict[str, Any] | None = Field(default=None, description="The tool's result when it ran (scrubbed).")
    finished_at: AwareDatetime | None = None
    seq: int = Field(default=0, description="Grows with every change of any approval (who changed what since).")


class Execution(BaseModel):
    """What running an approved call needs: the arguments as the agent gave them. Deleted at every final state."""

    arguments: dict[str, Any]
    idempotency_key: str | None = None


class ApprovalStore(Protocol):
    async def add(self, record: ApprovalRecord, execution: Execution) -> ApprovalRecord:
        """Queue `record`; when the same proposer has the same call (`request_key`) pending already, that one is
        returned instead and nothing is added."""
        ...

    async def get(self, approval_id: str) -> ApprovalRecord | None: ...

    async def find(
        self, *, states: Sequence[str] | None = None, proposer: str | None = None, limit: int = 200
    ) -> list[ApprovalRecord]:
        """Newest first."""
        ...

    async def decide(
        self, approval_id: str, decision: Decision, *, supervisor: str, at: datetime, reason: str | None = None,
        override_reason: str | None = None,
    ) -> ApprovalRecord | None:  # fmt: skip
        """Record a decision on a pending approval that has not expired at `at`; None when it is no longer pending
        (someone decided first) or has expired. A rejection deletes the stored arguments."""
        ...

    async def claim(self, approval_id: str, at: datetime) -> tuple[ApprovalRecord, Execution] | None:
        """Take an approved, unexpired approval to run it (it becomes `running`); None when it is not there to
        take (another process took it, it was never approved, or it expired)."""
        ...

    async def finish(
        self, approval_id: str, state: ApprovalState, *, at: datetime, outcome: str, result: dict[str, Any] | None = None
    ) -> ApprovalRecord | None:
        """A running approval's final state and outcome; its stored arguments are deleted."""
        ...

    async def expire(self, now: datetime) -> list[ApprovalRecord]:
        """Pending and approved (not yet run) approvals past their expiry become `expired` (arguments deleted)."""
        ...

    async def approved_waiting(self, now: datetime) -> list[str]:
        """Approved, unexpired approvals nobody has started running (decided in another process)."""
        ...

    async def changed_after(self, seq: int) -> list[ApprovalRecord]:
        """Approvals changed (by any process) after the change numbered `seq`, oldest change first."""
        ...

    async def wait_for_change(self, seconds: float) -> None:
        """Return when another process may have changed an approval, or after `seconds`: PostgreSQL says so at once
        (LISTEN/NOTIFY); with SQLite this is the check interval."""
        ...

    def close(self) -> None: ...


def _stamp(moment: datetime | None) -> str | None:
    """Fixed-width UTC text: string order is time order."""
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    proposer TEXT,
    session_id TEXT,
    tool TEXT NOT NULL,
    toolset TEXT NOT NULL,
    effect TEXT NOT NULL,
    arguments TEXT NOT NULL,
    summary TEXT NOT NULL,
    needs TEXT NOT NULL,
    verdict TEXT,
    request_key TEXT NOT NULL,
    state TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT,
    decision_reason TEXT,
    override_reason TEXT,
    outcome TEXT,
    result TEXT,
    finished_at TEXT,
    seq INTEGER NOT NULL,
    execution TEXT
);
CREATE INDEX IF NOT EXISTS approvals_state ON approvals (state, expires_at);
CREATE INDEX IF NOT EXISTS approvals_seq ON approvals (seq);
CREATE INDEX IF NOT EXISTS approvals_request ON approvals (request_key, state);
"""

COLUMNS = (
    "id, created_at, expires_at, updated_at, proposer, session_id, tool, toolset, effect, arguments, summary, needs, "
    "verdict, request_key, state, decided_by, decided_at, decision_reason, override_reason, outcome, result, finished_at, "
    "seq"
)
# Every change takes the next number (in the same statement, under SQLite's write lock).
_NEXT_SEQ = "(SELECT COALESCE(MAX(seq), 0) + 1 FROM approvals)"
_NAMES = [name.strip() for name in COLUMNS.split(",")]
_TIMES = {"created_at", "expires_at", "updated_at", "decided_at", "finished_at"}
_OBJECTS = {"arguments", "verdict", "result"}


def record_from_row(row: Sequence[Any]) -> ApprovalRecord:
    """A row of COLUMNS (text times and JSON text, as SQLite keeps them; datetimes and objects pass through)."""
    values: dict[str, Any] = {}
    for name, value in zip(_NAMES, row, strict=True):
        if name in _TIMES and isinstance(value, str):
            value = _moment(value)
        elif name in _OBJECTS and isinstance(value, str):
            value = json.loads(value)
        values[name] = value
    return ApprovalRecord.model_validate(values)


class SqliteApprovalStore:
    """The default `ApprovalStore`: one SQLite file in the state directory (the command line opens the same)."""

    def __init__(self, path: Path, *, check_seconds: float = 5.0) -> None:
        self.path = path
        self.check_seconds = check_seconds
        self._lock = threading.Lock()
        self._db = open_sqlite(path, synchronous="FULL", schema=_SCHEMA)

    @classmethod
    def under(cls, state_dir: Path) -> SqliteApprovalStore:
        return cls(state_dir / APPROVALS_FILE)

    async def _run(self, work: Any, *args: Any) -> Any:
        def locked() -> Any:
            with self._lock:
                return work(*args)

        return await anyio.to_thread.run_sync(locked)

    def _select(self, where: str, params: Sequence[Any], suffix: str = "") -> list[ApprovalRecord]:
        rows = self._db.execute(f"SELECT {COLUMNS} FROM approvals WHERE {where} {suffix}", params).fetchall()  # noqa: S608
        return [record_from_row(row) for row in rows]

    def _add(self, record: ApprovalRecord, execution: Execution) -> ApprovalRecord:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            same = self._select(
                "request_key = ? AND state = 'pending' AND expires_at > ? AND proposer IS ?",
                (record.request_key, _stamp(record.created_at), record.proposer),
            )
            if same:
                self._db.execute("COMMIT")
                return same[0]
            values = [
                record.id, _stamp(record.created_at), _stamp(record.expires_at), _stamp(record.updated_at),
                record.proposer, record.session_id, record.tool, record.toolset, record.effect, _json(record.arguments),
                record.summary, record.needs, _json(record.verdict), record.request_key, record.state, record.decided_by,
                _stamp(record.decided_at), record.decision_reason, record.override_reason, record.outcome,
                _json(record.result), _stamp(record.finished_at), execution.model_dump_json(),
            ]  # fmt: skip
            placeholders = ", ".join(["?"] * 22 + [_NEXT_SEQ, "?"])
            self._db.execute(f"INSERT INTO approvals ({COLUMNS}, execution) VALUES ({placeholders})", values)  # noqa: S608
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return self._get(record.id) or record

    async def add(self, record: ApprovalRecord, execution: Execution) -> ApprovalRecord:
        result: ApprovalRecord = await self._run(self._add, record, execution)
        return result

    def _get(self, approval_id: str) -> ApprovalRecord | None:
        found = self._select("id = ?", (approval_id,))
        return found[0] if found else None

    async def get(self, approval_id: str) -> ApprovalRecord | None:
        found: ApprovalRecord | None = await self._run(self._get, approval_id)
        return found

    def _find(self, states: Sequence[str] | None, proposer: str | None, limit: int) -> list[ApprovalRecord]:
        where, params = ["1 = 1"], []
        if states is not None:
            where.append(f"state IN ({', '.join('?' * len(states))})")
            params += list(states)
        if proposer is not None:
            where.append("proposer = ?")
            params.append(proposer)
        return self._select(" AND ".join(where), [*params, max(0, limit)], "ORDER BY created_at DESC, id LIMIT ?")

    async def find(
        self, *, states: Sequence[str] | None = None, proposer: str | None = None, limit: int = 200
    ) -> list[ApprovalRecord]:
        found: list[ApprovalRecord] = await self._run(self._find, states, proposer, limit)
        return found

    def _decide(
        self, approval_id: str, decision: Decision, supervisor: str, at: datetime, reason: str | None,
        override_reason: str | None,
    ) -> ApprovalRecord | None:  # fmt: skip
        state = "approved" if decision == "approve" else "rejected"
        wipe = ", execution = NULL" if state == "rejected" else ""
        changed = self._db.execute(
            f"UPDATE approvals SET state = ?, decided_by = ?, decided_at = ?, decision_reason = ?, override_reason = ?, "  # noqa: S608
            f"updated_at = ?, seq = {_NEXT_SEQ}{wipe} WHERE id = ? AND state = 'pending' AND expires_at > ?",
            (state, supervisor, _stamp(at), reason, override_reason, _stamp(at), approval_id, _stamp(at)),
        ).rowcount
        return self._get(approval_id) if changed == 1 else None

    async def decide(
        self, approval_id: str, decision: Decision, *, supervisor: str, at: datetime, reason: str | None = None,
        override_reason: str | None = None,
    ) -> ApprovalRecord | None:  # fmt: skip
        decided: ApprovalRecord | None = await self._run(
            self._decide, approval_id, decision, supervisor, at, reason, override_reason
        )
        return decided

    def _claim(self, approval_id: str, at: datetime) -> tuple[ApprovalRecord, Execution] | None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            changed = self._db.execute(
                f"UPDATE approvals SET state = 'running', updated_at = ?, seq = {_NEXT_SEQ} "  # noqa: S608
                "WHERE id = ? AND state = 'approved' AND expires_at > ? AND execution IS NOT NULL",
                (_stamp(at), approval_id, _stamp(at)),
            ).rowcount
            row = self._db.execute("SELECT execution FROM approvals WHERE id = ?", (approval_id,)).fetchone()
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        record = self._get(approval_id)
        if changed != 1 or record is None or row is None or row[0] is None:
            return None
        return record, Execution.model_validate_json(row[0])

    async def claim(self, approval_id: str, at: datetime) -> tuple[ApprovalRecord, Execution] | None:
        claimed: tuple[ApprovalRecord, Execution] | None = await self._run(self._claim, approval_id, at)
        return claimed

    def _finish(
        self, approval_id: str, state: str, at: datetime, outcome: str, result: dict[str, Any] | None
    ) -> ApprovalRecord | None:
        self._db.execute(
            "UPDATE approvals SET state = ?, outcome = ?, result = ?, finished_at = ?, updated_at = ?, execution = NULL, "  # noqa: S608
            f"seq = {_NEXT_SEQ} WHERE id = ? AND state = 'running'",
            (state, outcome, _json(result), _stamp(at), _stamp(at), approval_id),
        )
        return self._get(approval_id)

    async def finish(
        self, approval_id: str, state: ApprovalState, *, at: datetime, outcome: str, result: dict[str, Any] | None = None
    ) -> ApprovalRecord | None:
        finished: ApprovalRecord | None = await self._run(self._finish, approval_id, state, at, outcome, result)
        return finished

    def _expire(self, now: datetime) -> list[ApprovalRecord]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            due = [row[0] for row in self._db.execute(
                "SELECT id FROM approvals WHERE state IN ('pending', 'approved') AND expires_at <= ?", (_stamp(now),)
            )]  # fmt: skip
            for approval_id in due:
                self._db.execute(
                    "UPDATE approvals SET state = 'expired', outcome = ?, finished_at = ?, updated_at = ?, "  # noqa: S608
                    f"execution = NULL, seq = {_NEXT_SEQ} WHERE id = ? AND state IN ('pending', 'approved')",
                    ("Expired before it ran: nothing was sent.", _stamp(now), _stamp(now), approval_id),
                )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return [record for approval_id in due if (record := self._get(approval_id)) is not None]

    async def expire(self, now: datetime) -> list[ApprovalRecord]:
        expired: list[ApprovalRecord] = await self._run(self._expire, now)
        return expired

    def _waiting(self, now: datetime) -> list[str]:
        rows = self._db.execute(
            "SELECT id FROM approvals WHERE state = 'approved' AND expires_at > ? ORDER BY decided_at", (_stamp(now),)
        ).fetchall()
        return [str(row[0]) for row in rows]

    async def approved_waiting(self, now: datetime) -> list[str]:
        waiting: list[str] = await self._run(self._waiting, now)
        return waiting

    def _changed(self, seq: int) -> list[ApprovalRecord]:
        return self._select("seq > ?", (seq,), "ORDER BY seq")

    async def changed_after(self, seq: int) -> list[ApprovalRecord]:
        changed: list[ApprovalRecord] = await self._run(self._changed, seq)
        return changed

    async def wait_for_change(self, seconds: float) -> None:
        await anyio.sleep(seconds)  # SQLite cannot tell: the documented check interval

    def close(self) -> None:
        with self._lock:
            self._db.close()
