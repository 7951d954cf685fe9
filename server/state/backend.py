"""The one place that decides where the server's state lives: SQLite files under the state directory (the
embedded default, one machine), or one PostgreSQL database shared by every replica
(`COLLECTIONS_MCP_DATABASE_URL`).

Either way the server gets the same `StateStores`: the audit log, the idempotency store, the state tools keep
(event logs), the conversation owner table and the approval inbox's pending approvals, each behind its protocol. `StateStores.running()` is entered for
as long as the server serves: for PostgreSQL it opens the connection pool, applies pending schema migrations
under an advisory lock (or checks that none is pending, when told not to migrate), moves audit records spooled
during an outage into the database, and keeps doing so in the background.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal, Protocol

import anyio
from pydantic import SecretStr

from collections_mcp.server.state.approvals import APPROVALS_FILE, ApprovalStore, SqliteApprovalStore
from collections_mcp.server.state.audit_log import AuditLog, SqliteAuditLog, audit_path
from collections_mcp.server.state.config import StateConfig as StateConfig  # re-exported: the stores' input
from collections_mcp.server.state.event_log import SqliteSharedState
from collections_mcp.server.state.idempotency_store import IdempotencyStore, SqliteClaims, idempotency_path
from collections_mcp.server.state.ownership import OWNERS_FILE, OwnerTable, SqliteOwnerTable
from collections_mcp.tools.common.state import EventLog, StateUnavailable

log = logging.getLogger("collections_mcp.state")

SPOOL_FLUSH_SECONDS = 1.0


class ServerSharedState(Protocol):
    """`tools.common.state.SharedState` as the server holds it (it also closes it)."""

    def events(self, name: str) -> EventLog: ...

    def close(self) -> None: ...


@dataclass
class StateStores:
    """Every store of one server, on one backend. `location` names it for people (never with a password)."""

    backend: Literal["sqlite", "postgresql"]
    location: str
    audit: AuditLog
    idempotency: IdempotencyStore
    shared: ServerSharedState
    owners: OwnerTable
    approvals: ApprovalStore
    _lifecycle: Callable[[], AbstractAsyncContextManager[None]] | None = None
    _running: bool = field(default=False, init=False)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[StateStores]:
        """Open for as long as the server serves. Nested entries (the CLI opens it before announcing the server,
        the MCP lifespan again) share the outermost one."""
        if self._running or self._lifecycle is None:
            yield self
            return
        self._running = True
        try:
            async with self._lifecycle():
                yield self
        finally:
            self._running = False

    def close(self) -> None:
        for store in (self.audit, self.idempotency, self.shared, self.owners, self.approvals):
            store.close()


def open_stores(config: StateConfig, on_audit_write: Callable[[float], None] | None = None) -> StateStores:
    """The stores `config` asks for. Nothing connects yet: PostgreSQL is reached in `running()`. `on_audit_write`
    hears how long each audit append took (the server's metrics)."""
    if config.database_url is None:
        return _sqlite_stores(config, on_audit_write)
    return _postgres_stores(config, config.database_url, on_audit_write)


def _sqlite_stores(config: StateConfig, on_audit_write: Callable[[float], None] | None) -> StateStores:
    state_dir = config.state_dir
    return StateStores(
        backend="sqlite",
        location=f"SQLite files in {state_dir}",
        audit=SqliteAuditLog(audit_path(state_dir), on_write=on_audit_write),
        idempotency=IdempotencyStore(
            SqliteClaims(idempotency_path(state_dir)),
            cross_process_wait=config.idempotency_wait_seconds,
            lease_seconds=config.lease_seconds,
        ),
        shared=SqliteSharedState.under(state_dir),
        owners=SqliteOwnerTable(state_dir / OWNERS_FILE),
        approvals=SqliteApprovalStore(state_dir / APPROVALS_FILE),
    )


def _postgres_stores(
    config: StateConfig, url: SecretStr, on_audit_write: Callable[[float], None] | None
) -> StateStores:
    # Imported here: a single-process user on SQLite never loads psycopg.
    from collections_mcp.server.state.postgres.database import PostgresDatabase
    from collections_mcp.server.state.postgres.migrations import migrate, require_current_schema
    from collections_mcp.server.state.postgres.stores import (
        PostgresApprovalStore,
        PostgresAuditLog,
        PostgresClaims,
        PostgresOwnerTable,
        PostgresSharedState,
    )
    from collections_mcp.server.state.spool import SPOOL_FILE, AuditSpool

    db = PostgresDatabase(url, pool_size=config.pool_size, timeout_seconds=config.timeout_seconds)
    audit = PostgresAuditLog(db, AuditSpool(config.state_dir / SPOOL_FILE), on_write=on_audit_write)
    approvals = PostgresApprovalStore(db)

    idempotency = IdempotencyStore(
        PostgresClaims(db), cross_process_wait=config.idempotency_wait_seconds, lease_seconds=config.lease_seconds
    )

    @asynccontextmanager
    async def lifecycle() -> AsyncIterator[None]:
        try:
            if config.migrate:
                await migrate(db)
            else:
                await require_current_schema(db)
            await db.open()
            with contextlib.suppress(StateUnavailable):  # records from an earlier outage; retried in the background
                await audit.flush_spool()
            async with anyio.create_task_group() as background, idempotency.finishing_in_background():
                background.start_soon(_keep_flushing, audit.flush_spool, audit.spool_waiting)
                try:
                    yield
                finally:
                    background.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await approvals.aclose()
                await db.close()

    return StateStores(
        backend="postgresql",
        location=f"PostgreSQL at {db.display}",
        audit=audit,
        idempotency=idempotency,
        shared=PostgresSharedState(db),
        owners=PostgresOwnerTable(db),
        approvals=approvals,
        _lifecycle=lifecycle,
    )


@asynccontextmanager
async def reading_audit_log(config: StateConfig) -> AsyncIterator[AuditLog]:
    """Only the audit log, for reading it (`collections-mcp audit`): nothing else is opened or migrated."""
    if config.database_url is None:
        sqlite_log = SqliteAuditLog(audit_path(config.state_dir))
        try:
            yield sqlite_log
        finally:
            sqlite_log.close()
        return
    from collections_mcp.server.state.postgres.database import PostgresDatabase
    from collections_mcp.server.state.postgres.stores import PostgresAuditLog
    from collections_mcp.server.state.spool import SPOOL_FILE, AuditSpool

    db = PostgresDatabase(config.database_url, pool_size=1, timeout_seconds=config.timeout_seconds)
    pg_log = PostgresAuditLog(db, AuditSpool(config.state_dir / SPOOL_FILE))
    try:
        yield pg_log
    finally:
        pg_log.close()
        with anyio.CancelScope(shield=True):
            await db.close()


@asynccontextmanager
async def opening_approvals(config: StateConfig) -> AsyncIterator[ApprovalStore]:
    """Only the pending approvals, for `collections-mcp approvals` (another process than the server): nothing else is
    opened or migrated (the server migrates)."""
    if config.database_url is None:
        store = SqliteApprovalStore(config.state_dir / APPROVALS_FILE)
        try:
            yield store
        finally:
            store.close()
        return
    from collections_mcp.server.state.postgres.database import PostgresDatabase
    from collections_mcp.server.state.postgres.migrations import require_current_schema
    from collections_mcp.server.state.postgres.stores import PostgresApprovalStore

    db = PostgresDatabase(config.database_url, pool_size=1, timeout_seconds=config.timeout_seconds)
    try:
        await require_current_schema(db)
        yield PostgresApprovalStore(db)
    finally:
        with anyio.CancelScope(shield=True):
            await db.close()


async def _keep_flushing(flush: Callable[[], Awaitable[int]], waiting: Callable[[], int]) -> None:
    """Audit records spooled during an outage go into the database as soon as it answers again."""
    while True:
        await anyio.sleep(SPOOL_FLUSH_SECONDS)
        if waiting():
            try:
                await flush()
            except StateUnavailable:
                continue  # still down: try again next round
