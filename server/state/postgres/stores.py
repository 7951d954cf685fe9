"""The PostgreSQL implementations of the state stores, shared by every replica of the server.

- `PostgresAuditLog` (`AuditLog`): one row per record in the append-only `audit_log` (a trigger refuses UPDATE,
  DELETE and TRUNCATE). A record is committed before `append` returns; calls that changed something or failed
  wait for the commit to be flushed (synchronous_commit on), successful reads do not (off: a crash of
  PostgreSQL itself may lose the last fraction of a second of read records, as SQLite's NORMAL does). When the
  database cannot take a record, it goes to the local `AuditSpool` (durable) and is moved in later, in order.
- `PostgresClaims` (`ClaimTable`): idempotency claims with leases on the database's clock. A lease also counts
  as held for one lease length after the database itself (re)started, so an owner that could not renew while
  PostgreSQL was down is not mistaken for a dead one.
- `PostgresSharedState` (`SharedState` for tools): named event logs (the identity-check lockout).
- `PostgresOwnerTable` (`OwnerTable`): replicas with their lease and address, and their conversations.
- `PostgresApprovalStore` (`ApprovalStore`): the approval inbox; every change is announced with NOTIFY.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import anyio
import psycopg
from psycopg.types.json import Jsonb

from collections_mcp.server.state.approvals import COLUMNS as APPROVAL_COLUMNS
from collections_mcp.server.state.approvals import ApprovalRecord, ApprovalState, Decision, Execution
from collections_mcp.server.state.approvals import record_from_row as approval_from_row
from collections_mcp.server.state.audit_log import AuditRecord
from collections_mcp.server.state.event_log import KEPT_SECONDS
from collections_mcp.server.state.idempotency_store import Claim, Held
from collections_mcp.server.state.ownership import Owner, Replica
from collections_mcp.server.state.postgres.database import CONNECTION_ERRORS, Connection, PostgresDatabase
from collections_mcp.server.state.spool import AuditSpool
from collections_mcp.tools.common.state import EventLog, StateUnavailable

log = logging.getLogger("collections_mcp.database")

# A lease holds until `lease_until`, and never ends sooner than one lease length after PostgreSQL started.
_LAPSED = "greatest({t}.lease_until, pg_postmaster_start_time() + make_interval(secs => {t}.lease_seconds)) < clock_timestamp()"

_AUDIT_COLUMNS = (
    "record_id, time, call_id, session_id, client_name, tool, toolset, effect, arguments, outcome, vendor_status, "
    "error, duration_ms, replayed, override, approval"
)
_AUDIT_INSERT = (
    f"INSERT INTO audit_log ({_AUDIT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "  # noqa: S608
    "ON CONFLICT (record_id) DO NOTHING"
)
# The same insert committed without waiting for its WAL flush (one statement, one round trip: the setting is local
# to the statement's own transaction).
_AUDIT_INSERT_UNFLUSHED = (
    f"INSERT INTO audit_log ({_AUDIT_COLUMNS}) SELECT %s::uuid, %s::timestamptz, %s, %s, %s, %s, %s, %s, %s::jsonb, "  # noqa: S608
    "%s, %s::integer, %s, %s::double precision, %s::boolean, %s::jsonb, %s::jsonb "
    "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS unflushed ON CONFLICT (record_id) DO NOTHING"
)


def _when(value: object) -> datetime:
    assert isinstance(value, datetime), value
    return value


def _text(value: object) -> str | None:
    return None if value is None else str(value)


async def _fetchall(conn: Connection, sql: str, params: Sequence[object] | Mapping[str, object]) -> list[tuple[object, ...]]:
    return await (await conn.execute(sql, params)).fetchall()


async def _rowcount(conn: Connection, sql: str, params: Sequence[object] | Mapping[str, object]) -> int:
    return (await conn.execute(sql, params)).rowcount


def _audit_row(record_id: str, record: AuditRecord) -> tuple[object, ...]:
    return (
        record_id, record.time, record.call_id, record.session_id, record.client_name, record.tool,
        record.toolset, record.effect, Jsonb(record.arguments), record.outcome, record.vendor_status, record.error,
        record.duration_ms, record.replayed, None if record.override is None else Jsonb(record.override),
        None if record.approval is None else Jsonb(record.approval),
    )  # fmt: skip


class PostgresAuditLog:
    """The shared `AuditLog`. `spool` keeps what the database cannot take right now."""

    def __init__(
        self, db: PostgresDatabase, spool: AuditSpool, on_write: Callable[[float], None] | None = None
    ) -> None:
        self.db = db
        self.spool = spool
        self.on_write = on_write  # told how long each append took (the server's audit write latency metric)
        self._flushing = anyio.Lock()

    async def append(self, record: AuditRecord) -> None:
        started = time.perf_counter()
        try:
            await self._append(record)
        finally:
            if self.on_write is not None:
                self.on_write(time.perf_counter() - started)

    async def _append(self, record: AuditRecord) -> None:
        record_id = str(uuid.uuid4())
        durable = record.effect != "read" or record.outcome != "ok"
        row = _audit_row(record_id, record)

        async def insert(conn: Connection) -> None:
            await conn.execute(_AUDIT_INSERT if durable else _AUDIT_INSERT_UNFLUSHED, row)

        try:
            await self.db.run(insert)  # repeatable: the record's id makes a second insert a no-op
        except StateUnavailable as exc:
            await self.spool.put(record_id, record)
            log.warning("audit record kept in %s until the database answers: %s", self.spool.path.name, exc)

    def spool_waiting(self) -> int:
        return self.spool.waiting

    async def flush_spool(self) -> int:
        """Move spooled records into the database, oldest first; returns how many moved."""
        moved = 0
        async with self._flushing:
            while self.spool.waiting:
                batch = await self.spool.oldest()
                if not batch:
                    self.spool.waiting = 0
                    break
                rows = [_audit_row(rid, record) for _, rid, record in batch]

                async def insert(conn: Connection, rows: list[tuple[object, ...]] = rows) -> None:
                    async with conn.transaction():
                        await conn.cursor().executemany(_AUDIT_INSERT, rows)

                await self.db.run(insert)
                await self.spool.forget([seq for seq, _, _ in batch])
                moved += len(batch)
        if moved:
            log.info("moved %d audit record(s) from %s into the database", moved, self.spool.path.name)
        return moved

    async def query(self, since: datetime | None, tool: str | None, limit: int) -> list[AuditRecord]:
        where: list[str] = []
        params: list[object] = []
        if since is not None:
            where.append("time >= %s")
            params.append(since)
        if tool is not None:
            where.append("tool = %s")
            params.append(tool)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        columns = _AUDIT_COLUMNS.removeprefix("record_id, ")
        sql = f"SELECT {columns} FROM audit_log {clause} ORDER BY time DESC, id DESC LIMIT %s"  # noqa: S608
        rows = await self.db.run(lambda conn: _fetchall(conn, sql, [*params, max(0, limit)]))
        names = [name.strip() for name in columns.split(",")]
        return [AuditRecord.model_validate(dict(zip(names, row, strict=True))) for row in reversed(rows)]

    def close(self) -> None:
        self.spool.close()


class PostgresClaims:
    """The shared `ClaimTable`."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        self._swept_at = 0.0

    async def claim(self, key: str, owner: str, at: datetime, window: float, lease: float) -> Claim:
        cutoff = at - timedelta(seconds=window)
        sql = f"""
            WITH claimed AS (
                INSERT INTO idempotency AS held (key, state, created, owner, result, lease_seconds, lease_until)
                VALUES (%(key)s, 'pending', %(at)s, %(owner)s, NULL, %(lease)s,
                        clock_timestamp() + make_interval(secs => %(lease)s))
                ON CONFLICT (key) DO UPDATE SET state = 'pending', created = EXCLUDED.created, owner = EXCLUDED.owner,
                    result = NULL, lease_seconds = EXCLUDED.lease_seconds, lease_until = EXCLUDED.lease_until
                WHERE (held.state = 'done' AND held.created < %(cutoff)s)
                   OR (held.state = 'pending' AND (held.owner = %(owner)s OR {_LAPSED.format(t="held")}))
                RETURNING (xmax = 0) AS fresh, created
            )
            SELECT CASE WHEN fresh THEN 'claimed' ELSE 'took_over' END, created, NULL, false FROM claimed
            UNION ALL
            SELECT state, created, result, {_LAPSED.format(t="idempotency")} FROM idempotency
            WHERE key = %(key)s AND NOT EXISTS (SELECT 1 FROM claimed)
        """  # noqa: S608
        # Repeatable: a first attempt that committed left this owner's own claim, which the upsert takes again.
        params = {"key": key, "at": at, "owner": owner, "lease": lease, "cutoff": cutoff}

        async def attempt(conn: Connection) -> tuple[object, ...] | None:
            row = await (await conn.execute(sql, params)).fetchone()
            await self._sweep(conn, cutoff)
            return row

        while True:
            row = await self.db.run(attempt)
            if row is None:  # the row changed between the insert's check and the read: look again
                continue
            state, created, result, _ = row
            if state == "claimed" or state == "took_over":
                return Claim(state, _when(created))
            if state == "done":  # within the window (an older one would have been replaced)
                return Claim("done", _when(created), _text(result))
            return Claim("pending", _when(created))

    async def _sweep(self, conn: Connection, cutoff: datetime) -> None:
        """Now and then, drop completed entries past the window (and long-dead claims)."""
        now = anyio.current_time()
        if now - self._swept_at < 60:
            return
        self._swept_at = now
        await conn.execute(
            f"DELETE FROM idempotency WHERE created < %s AND (state = 'done' OR {_LAPSED.format(t='idempotency')})",  # noqa: S608
            (cutoff,),
        )

    async def renew(self, key: str, owner: str) -> bool:
        return await self.db.run(lambda conn: _rowcount(
            conn,
            "UPDATE idempotency SET lease_until = clock_timestamp() + make_interval(secs => lease_seconds) "
            "WHERE key = %s AND owner = %s AND state = 'pending'",
            (key, owner),
        )) == 1  # fmt: skip

    async def complete(self, key: str, owner: str, result: str) -> bool:
        # An upsert: a claim lost with a crash of PostgreSQL is stored all the same; a claim another owner took
        # over is left alone. Repeatable: the same result stored twice is one stored result.
        sql = (
            "INSERT INTO idempotency AS held (key, state, created, owner, result, lease_seconds, lease_until) "
            "VALUES (%(key)s, 'done', clock_timestamp(), %(owner)s, %(result)s, 0, clock_timestamp()) "
            "ON CONFLICT (key) DO UPDATE SET state = 'done', result = EXCLUDED.result "
            "WHERE held.owner = %(owner)s AND (held.state = 'pending' OR held.result = EXCLUDED.result)"
        )
        return await self.db.run(lambda conn: _rowcount(conn, sql, {"key": key, "owner": owner, "result": result})) == 1

    async def release(self, key: str, owner: str) -> None:
        await self.db.run(lambda conn: _rowcount(
            conn, "DELETE FROM idempotency WHERE key = %s AND owner = %s AND state = 'pending'", (key, owner)
        ))  # fmt: skip

    async def peek(self, key: str) -> Held | None:
        sql = f"SELECT state, created, result, {_LAPSED.format(t='idempotency')} FROM idempotency WHERE key = %s"  # noqa: S608
        rows = await self.db.run(lambda conn: _fetchall(conn, sql, (key,)))
        if not rows:
            return None
        state, created, result, lapsed = rows[0]
        return Held(
            "done" if state == "done" else "pending", _when(created), _text(result), state == "pending" and bool(lapsed)
        )

    def close(self) -> None:
        """The database is closed by its owner (server/state/backend.py), not by one store."""


class _PostgresEventLog:
    def __init__(self, state: PostgresSharedState, name: str) -> None:
        self._state = state
        self._name = name

    async def record(self, key: str, at: datetime) -> None:
        # Not repeatable: a second insert would count the event twice.
        await self._state.db.run(
            lambda conn: _rowcount(conn, "INSERT INTO events (log, key, at) VALUES (%s, %s, %s)", (self._name, key, at)),
            repeatable=False,
        )

    async def since(self, key: str, start: datetime) -> list[datetime]:
        async def read(conn: Connection) -> list[tuple[object, ...]]:
            await self._state.sweep(conn, start)
            return await _fetchall(
                conn, "SELECT at FROM events WHERE log = %s AND key = %s AND at > %s ORDER BY at", (self._name, key, start)
            )

        return [_when(at) for (at,) in await self._state.db.run(read)]


class PostgresSharedState:
    """Every named event log tools keep, in the shared `events` table."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        self._swept_at = 0.0

    def events(self, name: str) -> EventLog:
        return _PostgresEventLog(self, name)

    async def sweep(self, conn: Connection, start: datetime) -> None:
        """Now and then, drop events older than a day (no rule looks back further)."""
        now = anyio.current_time()
        if now - self._swept_at < 60:
            return
        self._swept_at = now
        await conn.execute("DELETE FROM events WHERE at <= %s", (start - timedelta(seconds=KEPT_SECONDS),))

    def close(self) -> None:
        """The database is closed by its owner (server/state/backend.py)."""


class PostgresOwnerTable:
    """The shared `OwnerTable`: leases on the database's clock."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    async def register(self, replica_id: str, incarnation: str, address: str, lease: float) -> None:
        async def upsert(conn: Connection) -> None:
            async with conn.transaction():
                await conn.execute(
                    "DELETE FROM conversation_owners WHERE replica_id = %s AND incarnation <> %s", (replica_id, incarnation)
                )
                await conn.execute(
                    "INSERT INTO replicas (replica_id, incarnation, address, lease_seconds, lease_until) "
                    "VALUES (%s, %s, %s, %s, clock_timestamp() + make_interval(secs => %s)) "
                    "ON CONFLICT (replica_id) DO UPDATE SET incarnation = EXCLUDED.incarnation, "
                    "address = EXCLUDED.address, lease_seconds = EXCLUDED.lease_seconds, lease_until = EXCLUDED.lease_until",
                    (replica_id, incarnation, address, lease, lease),
                )

        await self.db.run(upsert)

    async def heartbeat(self, replica_id: str, incarnation: str) -> bool:
        return await self.db.run(lambda conn: _rowcount(
            conn,
            "UPDATE replicas SET lease_until = clock_timestamp() + make_interval(secs => lease_seconds) "
            "WHERE replica_id = %s AND incarnation = %s",
            (replica_id, incarnation),
        )) == 1  # fmt: skip

    async def unregister(self, replica_id: str, incarnation: str) -> None:
        async def remove(conn: Connection) -> None:
            async with conn.transaction():
                await conn.execute(
                    "DELETE FROM conversation_owners WHERE replica_id = %s AND incarnation = %s", (replica_id, incarnation)
                )
                await conn.execute(
                    "DELETE FROM replicas WHERE replica_id = %s AND incarnation = %s", (replica_id, incarnation)
                )

        await self.db.run(remove)

    async def claim(self, conversation_id: str, replica_id: str, incarnation: str) -> None:
        await self.db.run(lambda conn: _rowcount(
            conn,
            "INSERT INTO conversation_owners (conversation_id, replica_id, incarnation) VALUES (%s, %s, %s) "
            "ON CONFLICT (conversation_id) DO UPDATE SET replica_id = EXCLUDED.replica_id, "
            "incarnation = EXCLUDED.incarnation, since = clock_timestamp()",
            (conversation_id, replica_id, incarnation),
        ))  # fmt: skip

    async def release(self, conversation_id: str, replica_id: str, incarnation: str) -> None:
        await self.db.run(lambda conn: _rowcount(
            conn,
            "DELETE FROM conversation_owners WHERE conversation_id = %s AND replica_id = %s AND incarnation = %s",
            (conversation_id, replica_id, incarnation),
        ))  # fmt: skip

    async def owner(self, conversation_id: str) -> Owner | None:
        sql = (
            f"SELECT o.replica_id, r.address, r.incarnation = o.incarnation AND NOT {_LAPSED.format(t='r')}, "  # noqa: S608
            "r.lease_until FROM conversation_owners o LEFT JOIN replicas r ON r.replica_id = o.replica_id "
            "WHERE o.conversation_id = %s"
        )
        rows = await self.db.run(lambda conn: _fetchall(conn, sql, (conversation_id,)))
        if not rows:
            return None
        replica_id, address, alive, lease_until = rows[0]
        until = None if lease_until is None else _when(lease_until)
        return Owner(conversation_id, str(replica_id), str(address or ""), bool(alive), until)

    async def replica(self, replica_id: str) -> Replica | None:
        found = await self._replicas("WHERE r.replica_id = %s", (replica_id,))
        return found[0] if found else None

    async def replicas(self) -> list[Replica]:
        return await self._replicas("", ())

    async def _replicas(self, where: str, params: tuple[str, ...]) -> list[Replica]:
        sql = (
            f"SELECT r.replica_id, r.incarnation, r.address, NOT {_LAPSED.format(t='r')} FROM replicas r {where} "  # noqa: S608
            "ORDER BY r.replica_id"
        )
        rows = await self.db.run(lambda conn: _fetchall(conn, sql, params))
        return [Replica(str(replica_id), str(incarnation), str(address), bool(alive))
                for replica_id, incarnation, address, alive in rows]  # fmt: skip

    def close(self) -> None:
        """The database is closed by its owner (server/state/backend.py)."""


# ---------------------------------------------------------------------------------------------- approval inbox

APPROVALS_CHANNEL = "collections_mcp_approvals"
_APPROVAL_COLUMNS = APPROVAL_COLUMNS
# Every change also takes the next number of the sequence and tells every listening replica (pg_notify is sent when
# the statement's transaction commits).
_NOTIFY = f"pg_notify('{APPROVALS_CHANNEL}', id)"


def _approval(row: Sequence[object]) -> ApprovalRecord:
    return approval_from_row(row)


class PostgresApprovalStore:
    """The shared `ApprovalStore`. A change made anywhere (a replica, the command line) is announced with NOTIFY; each
    server LISTENs on a connection of its own (`wait_for_change`), so it learns of a decision at once."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        self._listener: Connection | None = None

    async def _one(self, sql: str, params: Sequence[object] | Mapping[str, object]) -> ApprovalRecord | None:
        rows = await self.db.run(lambda conn: _fetchall(conn, sql, params))
        return _approval(rows[0]) if rows else None

    async def add(self, record: ApprovalRecord, execution: Execution) -> ApprovalRecord:
        values = {
            "id": record.id, "created_at": record.created_at, "expires_at": record.expires_at,
            "updated_at": record.updated_at, "proposer": record.proposer, "session_id": record.session_id,
            "tool": record.tool, "toolset": record.toolset, "effect": record.effect, "arguments": Jsonb(record.arguments),
            "summary": record.summary, "needs": record.needs,
            "verdict": None if record.verdict is None else Jsonb(record.verdict), "request_key": record.request_key,
            "execution": Jsonb(execution.model_dump(mode="json")),
        }  # fmt: skip

        async def add(conn: Connection) -> ApprovalRecord:
            async with conn.transaction():
                # An identical pending call past its expiry no longer counts (the sweep would expire it anyway).
                await conn.execute(
                    "UPDATE approvals SET state = 'expired', outcome = 'Expired before it ran: nothing was sent.', "
                    "finished_at = %(created_at)s, updated_at = %(created_at)s, execution = NULL, "
                    "seq = nextval('approvals_seq') WHERE request_key = %(request_key)s AND state = 'pending' "
                    "AND COALESCE(proposer, '') = COALESCE(%(proposer)s, '') AND expires_at <= %(created_at)s",
                    values,
                )
                rows = await _fetchall(conn, (
                    "INSERT INTO approvals (id, created_at, expires_at, updated_at, proposer, session_id, tool, toolset, "  # noqa: S608
                    "effect, arguments, summary, needs, verdict, request_key, state, execution) VALUES (%(id)s, "
                    "%(created_at)s, %(expires_at)s, %(updated_at)s, %(proposer)s, %(session_id)s, %(tool)s, %(toolset)s, "
                    "%(effect)s, %(arguments)s, %(summary)s, %(needs)s, %(verdict)s, %(request_key)s, 'pending', "
                    f"%(execution)s) ON CONFLICT DO NOTHING RETURNING {_APPROVAL_COLUMNS}, {_NOTIFY}"
                ), values)  # fmt: skip
                if rows:
                    return _approval(rows[0][:-1])
                same = await _fetchall(conn, (
                    f"SELECT {_APPROVAL_COLUMNS} FROM approvals WHERE request_key = %(request_key)s AND state = 'pending' "  # noqa: S608
                    "AND COALESCE(proposer, '') = COALESCE(%(proposer)s, '')"
                ), values)  # fmt: skip
                return _approval(same[0])

        return await self.db.run(add, repeatable=False)

    async def get(self, approval_id: str) -> ApprovalRecord | None:
        return await self._one(f"SELECT {_APPROVAL_COLUMNS} FROM approvals WHERE id = %s", (approval_id,))  # noqa: S608

    async def find(
        self, *, states: Sequence[str] | None = None, proposer: str | None = None, limit: int = 200
    ) -> list[ApprovalRecord]:
        where: list[str] = ["TRUE"]
        params: list[object] = []
        if states is not None:
            where.append("state = ANY(%s)")
            params.append(list(states))
        if proposer is not None:
            where.append("proposer = %s")
            params.append(proposer)
        sql = f"SELECT {_APPROVAL_COLUMNS} FROM approvals WHERE {' AND '.join(where)} ORDER BY created_at DESC, id LIMIT %s"  # noqa: S608
        rows = await self.db.run(lambda conn: _fetchall(conn, sql, [*params, max(0, limit)]))
        return [_approval(row) for row in rows]

    async def decide(
        self, approval_id: str, decision: Decision, *, supervisor: str, at: datetime, reason: str | None = None,
        override_reason: str | None = None,
    ) -> ApprovalRecord | None:  # fmt: skip
        state = "approved" if decision == "approve" else "rejected"
        wipe = ", execution = NULL" if state == "rejected" else ""
        sql = (
            f"UPDATE approvals SET state = %(state)s, decided_by = %(by)s, decided_at = %(at)s, decision_reason = "  # noqa: S608
            f"%(reason)s, override_reason = %(override)s, updated_at = %(at)s, seq = nextval('approvals_seq'){wipe} "
            "WHERE id = %(id)s AND state = 'pending' AND expires_at > %(at)s "
            f"RETURNING {_APPROVAL_COLUMNS}, {_NOTIFY}"
        )
        params = {"state": state, "by": supervisor, "at": at, "reason": reason, "override": override_reason, "id": approval_id}
        rows = await self.db.run(lambda conn: _fetchall(conn, sql, params))
        return _approval(rows[0][:-1]) if rows else None

    async def claim(self, approval_id: str, at: datetime) -> tuple[ApprovalRecord, Execution] | None:
        sql = (
            "UPDATE approvals SET state = 'running', updated_at = %(at)s, seq = nextval('approvals_seq') "  # noqa: S608
            "WHERE id = %(id)s AND state = 'approved' AND expires_at > %(at)s AND execution IS NOT NULL "
            f"RETURNING {_APPROVAL_COLUMNS}, execution, {_NOTIFY}"
        )
        # Not repeated after a broken connection: a first attempt that committed took it, and a second would not.
        rows = await self.db.run(lambda conn: _fetchall(conn, sql, {"id": approval_id, "at": at}), repeatable=False)
        if not rows:
            return None
        *record, execution, _ = rows[0]
        return _approval(record), Execution.model_validate(execution)

    async def finish(
        self, approval_id: str, state: ApprovalState, *, at: datetime, outcome: str, result: dict[str, Any] | None = None
    ) -> ApprovalRecord | None:
        sql = (
            "UPDATE approvals SET state = %(state)s, outcome = %(outcome)s, result = %(result)s, finished_at = %(at)s, "  # noqa: S608
            "updated_at = %(at)s, execution = NULL, seq = nextval('approvals_seq') WHERE id = %(id)s AND state = 'running' "
            f"RETURNING {_APPROVAL_COLUMNS}, {_NOTIFY}"
        )
        params = {"state": state, "outcome": outcome, "result": None if result is None else Jsonb(result), "at": at,
                  "id": approval_id}  # fmt: skip
        rows = await self.db.run(lambda conn: _fetchall(conn, sql, params))
        return _approval(rows[0][:-1]) if rows else await self.get(approval_id)

    async def expire(self, now: datetime) -> list[ApprovalRecord]:
        sql = (
            "UPDATE approvals SET state = 'expired', outcome = 'Expired before it ran: nothing was sent.', "  # noqa: S608
            "finished_at = %(now)s, updated_at = %(now)s, execution = NULL, seq = nextval('approvals_seq') "
            "WHERE state IN ('pending', 'approved') AND expires_at <= %(now)s "
            f"RETURNING {_APPROVAL_COLUMNS}, {_NOTIFY}"
        )
        rows = await self.db.run(lambda conn: _fetchall(conn, sql, {"now": now}))
        return [_approval(row[:-1]) for row in rows]

    async def approved_waiting(self, now: datetime) -> list[str]:
        rows = await self.db.run(lambda conn: _fetchall(
            conn, "SELECT id FROM approvals WHERE state = 'approved' AND expires_at > %s ORDER BY decided_at", (now,)
        ))  # fmt: skip
        return [str(row[0]) for row in rows]

    async def changed_after(self, seq: int) -> list[ApprovalRecord]:
        sql = f"SELECT {_APPROVAL_COLUMNS} FROM approvals WHERE seq > %s ORDER BY seq"  # noqa: S608
        rows = await self.db.run(lambda conn: _fetchall(conn, sql, (seq,)))
        return [_approval(row) for row in rows]

    async def wait_for_change(self, seconds: float) -> None:
        """Until a NOTIFY on the approvals channel (any process's change) or `seconds`. Without a listening
        connection (the database is down) it waits the whole interval and tries to listen again next time."""
        try:
            if self._listener is None or self._listener.closed:
                self._listener = None
                listener = await psycopg.AsyncConnection.connect(self.db.url_secret(), **self.db.connect_options())  # type: ignore[arg-type]
                await listener.execute(f"LISTEN {APPROVALS_CHANNEL}")
                self._listener = listener
            with anyio.move_on_after(seconds):
                async for _ in self._listener.notifies(timeout=seconds, stop_after=1):
                    break
        except CONNECTION_ERRORS as exc:
            log.warning("not listening for approval decisions (%s); checking every %g s", self.db.describe_failure(exc), seconds)
            await self.aclose()
            await anyio.sleep(seconds)

    async def aclose(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with anyio.CancelScope(shield=True):
                await listener.close()

    def close(self) -> None:
        """The database is closed by its owner (server/state/backend.py); the listening connection by `aclose`."""
