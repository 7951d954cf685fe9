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
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

import anyio
from psycopg.types.json import Jsonb

from collections_mcp.server.state.audit_log import AuditRecord
from collections_mcp.server.state.event_log import KEPT_SECONDS
from collections_mcp.server.state.idempotency_store import Claim, Held
from collections_mcp.server.state.ownership import Owner
from collections_mcp.server.state.postgres.database import PostgresDatabase
from collections_mcp.server.state.spool import AuditSpool
from collections_mcp.tools.common.state import EventLog, StateUnavailable

log = logging.getLogger("collections_mcp.database")

# A lease holds until `lease_until`, and never ends sooner than one lease length after PostgreSQL started.
_LAPSED = "greatest({t}.lease_until, pg_postmaster_start_time() + make_interval(secs => {t}.lease_seconds)) < clock_timestamp()"

_AUDIT_COLUMNS = (
    "record_id, time, call_id, session_id, client_name, tool, toolset, effect, arguments, outcome, vendor_status, "
    "error, duration_ms, replayed"
)
_AUDIT_INSERT = (
    f"INSERT INTO audit_log ({_AUDIT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "  # noqa: S608
    "ON CONFLICT (record_id) DO NOTHING"
)


def _when(value: object) -> datetime:
    assert isinstance(value, datetime), value
    return value


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _audit_row(record_id: str, record: AuditRecord) -> tuple[object, ...]:
    return (
        record_id, record.time, record.call_id, record.session_id, record.client_name, record.tool,
        record.toolset, record.effect, Jsonb(record.arguments), record.outcome, record.vendor_status, record.error,
        record.duration_ms, record.replayed,
    )  # fmt: skip


class PostgresAuditLog:
    """The shared `AuditLog`. `spool` keeps what the database cannot take right now."""

    def __init__(self, db: PostgresDatabase, spool: AuditSpool) -> None:
        self.db = db
        self.spool = spool
        self._flushing = anyio.Lock()

    async def append(self, record: AuditRecord) -> None:
        record_id = str(uuid.uuid4())
        durable = record.effect != "read" or record.outcome != "ok"
        try:
            async with self.db.connection() as conn, conn.transaction():
                if not durable:
                    await conn.execute("SET LOCAL synchronous_commit TO off")
                await conn.execute(_AUDIT_INSERT, _audit_row(record_id, record))
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
                async with self.db.connection() as conn, conn.transaction():
                    cursor = conn.cursor()
                    await cursor.executemany(_AUDIT_INSERT, [_audit_row(rid, record) for _, rid, record in batch])
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
        async with self.db.connection() as conn:
            rows = await (await conn.execute(sql, [*params, max(0, limit)])).fetchall()
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
                   OR (held.state = 'pending' AND {_LAPSED.format(t="held")})
                RETURNING (xmax = 0) AS fresh, created
            )
            SELECT CASE WHEN fresh THEN 'claimed' ELSE 'took_over' END, created, NULL, false FROM claimed
            UNION ALL
            SELECT state, created, result, {_LAPSED.format(t="idempotency")} FROM idempotency
            WHERE key = %(key)s AND NOT EXISTS (SELECT 1 FROM claimed)
        """  # noqa: S608
        params = {"key": key, "at": at, "owner": owner, "lease": lease, "cutoff": cutoff}
        while True:
            async with self.db.connection() as conn:
                row = await (await conn.execute(sql, params)).fetchone()
                await self._sweep(conn, cutoff)
            if row is None:  # the row changed between the insert's check and the read: look again
                continue
            state, created, result, _ = row
            if state == "claimed" or state == "took_over":
                return Claim(state, _when(created))
            if state == "done":  # within the window (an older one would have been replaced)
                return Claim("done", _when(created), _text(result))
            return Claim("pending", _when(created))

    async def _sweep(self, conn: object, cutoff: datetime) -> None:
        """Now and then, drop completed entries past the window (and long-dead claims)."""
        now = anyio.current_time()
        if now - self._swept_at < 60:
            return
        self._swept_at = now
        await conn.execute(  # type: ignore[attr-defined]
            f"DELETE FROM idempotency WHERE created < %s AND (state = 'done' OR {_LAPSED.format(t='idempotency')})",  # noqa: S608
            (cutoff,),
        )

    async def renew(self, key: str, owner: str) -> bool:
        async with self.db.connection() as conn:
            cursor = await conn.execute(
                "UPDATE idempotency SET lease_until = clock_timestamp() + make_interval(secs => lease_seconds) "
                "WHERE key = %s AND owner = %s AND state = 'pending'",
                (key, owner),
            )
        return cursor.rowcount == 1

    async def complete(self, key: str, owner: str, result: str) -> bool:
        async with self.db.connection() as conn:
            cursor = await conn.execute(
                "UPDATE idempotency SET state = 'done', result = %s WHERE key = %s AND owner = %s AND state = 'pending'",
                (result, key, owner),
            )
        return cursor.rowcount == 1

    async def release(self, key: str, owner: str) -> None:
        async with self.db.connection() as conn:
            await conn.execute("DELETE FROM idempotency WHERE key = %s AND owner = %s AND state = 'pending'", (key, owner))

    async def peek(self, key: str) -> Held | None:
        async with self.db.connection() as conn:
            row = await (
                await conn.execute(
                    f"SELECT state, created, result, {_LAPSED.format(t='idempotency')} FROM idempotency WHERE key = %s",  # noqa: S608
                    (key,),
                )
            ).fetchone()
        if row is None:
            return None
        state, created, result, lapsed = row
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
        async with self._state.db.connection() as conn:
            await conn.execute("INSERT INTO events (log, key, at) VALUES (%s, %s, %s)", (self._name, key, at))

    async def since(self, key: str, start: datetime) -> list[datetime]:
        async with self._state.db.connection() as conn:
            await self._state.sweep(conn, start)
            rows = await (
                await conn.execute(
                    "SELECT at FROM events WHERE log = %s AND key = %s AND at > %s ORDER BY at", (self._name, key, start)
                )
            ).fetchall()
        return [_when(at) for (at,) in rows]


class PostgresSharedState:
    """Every named event log tools keep, in the shared `events` table."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        self._swept_at = 0.0

    def events(self, name: str) -> EventLog:
        return _PostgresEventLog(self, name)

    async def sweep(self, conn: object, start: datetime) -> None:
        """Now and then, drop events older than a day (no rule looks back further)."""
        now = anyio.current_time()
        if now - self._swept_at < 60:
            return
        self._swept_at = now
        await conn.execute("DELETE FROM events WHERE at <= %s", (start - timedelta(seconds=KEPT_SECONDS),))  # type: ignore[attr-defined]

    def close(self) -> None:
        """The database is closed by its owner (server/state/backend.py)."""


class PostgresOwnerTable:
    """The shared `OwnerTable`: leases on the database's clock."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    async def register(self, replica_id: str, incarnation: str, address: str, lease: float) -> None:
        async with self.db.connection() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM conversation_owners WHERE replica_id = %s AND incarnation <> %s", (replica_id, incarnation)
            )
            await conn.execute(
                "INSERT INTO replicas (replica_id, incarnation, address, lease_seconds, lease_until) "
                "VALUES (%s, %s, %s, %s, clock_timestamp() + make_interval(secs => %s)) "
                "ON CONFLICT (replica_id) DO UPDATE SET incarnation = EXCLUDED.incarnation, address = EXCLUDED.address, "
                "lease_seconds = EXCLUDED.lease_seconds, lease_until = EXCLUDED.lease_until",
                (replica_id, incarnation, address, lease, lease),
            )

    async def heartbeat(self, replica_id: str, incarnation: str) -> bool:
        async with self.db.connection() as conn:
            cursor = await conn.execute(
                "UPDATE replicas SET lease_until = clock_timestamp() + make_interval(secs => lease_seconds) "
                "WHERE replica_id = %s AND incarnation = %s",
                (replica_id, incarnation),
            )
        return cursor.rowcount == 1

    async def unregister(self, replica_id: str, incarnation: str) -> None:
        async with self.db.connection() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM conversation_owners WHERE replica_id = %s AND incarnation = %s", (replica_id, incarnation)
            )
            await conn.execute("DELETE FROM replicas WHERE replica_id = %s AND incarnation = %s", (replica_id, incarnation))

    async def claim(self, conversation_id: str, replica_id: str, incarnation: str) -> None:
        async with self.db.connection() as conn:
            await conn.execute(
                "INSERT INTO conversation_owners (conversation_id, replica_id, incarnation) VALUES (%s, %s, %s) "
                "ON CONFLICT (conversation_id) DO UPDATE SET replica_id = EXCLUDED.replica_id, "
                "incarnation = EXCLUDED.incarnation, since = clock_timestamp()",
                (conversation_id, replica_id, incarnation),
            )

    async def release(self, conversation_id: str, replica_id: str, incarnation: str) -> None:
        async with self.db.connection() as conn:
            await conn.execute(
                "DELETE FROM conversation_owners WHERE conversation_id = %s AND replica_id = %s AND incarnation = %s",
                (conversation_id, replica_id, incarnation),
            )

    async def owner(self, conversation_id: str) -> Owner | None:
        async with self.db.connection() as conn:
            row = await (
                await conn.execute(
                    f"SELECT o.replica_id, r.address, r.incarnation = o.incarnation AND NOT {_LAPSED.format(t='r')}, "  # noqa: S608
                    "r.lease_until FROM conversation_owners o LEFT JOIN replicas r ON r.replica_id = o.replica_id "
                    "WHERE o.conversation_id = %s",
                    (conversation_id,),
                )
            ).fetchone()
        if row is None:
            return None
        replica_id, address, alive, lease_until = row
        return Owner(conversation_id, str(replica_id), str(address or ""), bool(alive), None if lease_until is None else _when(lease_until))

    def close(self) -> None:
        """The database is closed by its owner (server/state/backend.py)."""
