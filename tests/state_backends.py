"""The two state backends side by side, for store tests that must hold on both: SQLite files in a temp state
directory, or a fresh PostgreSQL database (a copy of the migrated template) in the session's cluster.

Each store a test asks for is opened as a separate process would open it (its own SQLite connection, or its own
connection pool), so two of them sharing a backend behave like two replicas."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from pydantic import SecretStr

from collections_mcp.server.state.approvals import APPROVALS_FILE, ApprovalStore, SqliteApprovalStore
from collections_mcp.server.state.audit_log import AuditLog, SqliteAuditLog, audit_path
from collections_mcp.server.state.backend import StateConfig
from collections_mcp.server.state.event_log import SqliteSharedState
from collections_mcp.server.state.idempotency_store import ClaimTable, IdempotencyStore, SqliteClaims, idempotency_path
from collections_mcp.server.state.ownership import OWNERS_FILE, OwnerTable, SqliteOwnerTable
from collections_mcp.server.state.postgres.database import PostgresDatabase
from collections_mcp.server.state.postgres.stores import (
    PostgresApprovalStore,
    PostgresAuditLog,
    PostgresClaims,
    PostgresOwnerTable,
    PostgresSharedState,
)
from collections_mcp.server.state.spool import SPOOL_FILE, AuditSpool
from collections_mcp.tools.common.state import SharedState

BACKENDS = ["sqlite", "postgresql"]


@dataclass
class Backend:
    name: str
    state_dir: Path
    url: str | None = None
    _databases: list[PostgresDatabase] = field(default_factory=list)
    _closers: list[Callable[[], None]] = field(default_factory=list)
    _async_closers: list[Callable[[], Any]] = field(default_factory=list)

    @property
    def postgres(self) -> bool:
        return self.url is not None

    def config(self, **changes: Any) -> StateConfig:
        return StateConfig(
            state_dir=self.state_dir, database_url=SecretStr(self.url) if self.url else None, **changes
        )

    def database(self, **options: Any) -> PostgresDatabase:
        assert self.url is not None
        db = PostgresDatabase(SecretStr(self.url), **options)
        self._databases.append(db)
        return db

    def audit_log(self) -> AuditLog:
        if self.url is None:
            sqlite_log = SqliteAuditLog(audit_path(self.state_dir))
            self._closers.append(sqlite_log.close)
            return sqlite_log
        pg_log = PostgresAuditLog(self.database(), AuditSpool(self.state_dir / SPOOL_FILE))
        self._closers.append(pg_log.close)
        return pg_log

    def claims(self) -> ClaimTable:
        if self.url is None:
            table = SqliteClaims(idempotency_path(self.state_dir))
            self._closers.append(table.close)
            return table
        return PostgresClaims(self.database())

    def idempotency(self, **options: Any) -> IdempotencyStore:
        return IdempotencyStore(self.claims(), **options)

    def shared_state(self) -> SharedState:
        if self.url is None:
            state = SqliteSharedState.under(self.state_dir)
            self._closers.append(state.close)
            return state
        return PostgresSharedState(self.database())

    def owner_table(self) -> OwnerTable:
        if self.url is None:
            table = SqliteOwnerTable(self.state_dir / OWNERS_FILE)
            self._closers.append(table.close)
            return table
        return PostgresOwnerTable(self.database())

    def approvals(self) -> ApprovalStore:
        if self.url is None:
            store = SqliteApprovalStore(self.state_dir / APPROVALS_FILE)
            self._closers.append(store.close)
            return store
        shared = PostgresApprovalStore(self.database())
        self._async_closers.append(shared.aclose)
        return shared

    def rows(self, table: str) -> list[str]:
        """Every row of a table as text, read past our code (what an operator with a SQL shell sees)."""
        if self.url is None:
            files = {"audit_log": audit_path(self.state_dir), "idempotency": idempotency_path(self.state_dir),
                     "approvals": self.state_dir / APPROVALS_FILE}  # fmt: skip
            raw = sqlite3.connect(files[table])
            try:
                return [str(row) for row in raw.execute(f"SELECT * FROM {table}")]
            finally:
                raw.close()
        with psycopg.connect(self.url, autocommit=True) as conn:
            return [str(row[0]) for row in conn.execute(f"SELECT t::text FROM {table} t").fetchall()]

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> None:
        """Run SQL past our code (a second process, an operator, a crashed owner's leftovers)."""
        if self.url is None:
            table = "idempotency" if "idempotency" in statement else "audit_log"
            path = idempotency_path(self.state_dir) if table == "idempotency" else audit_path(self.state_dir)
            raw = sqlite3.connect(path)
            try:
                raw.execute(statement.replace("%s", "?"), params)
                raw.commit()
            finally:
                raw.close()
            return
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(statement, params)  # type: ignore[arg-type]

    async def aclose(self) -> None:
        for aclose in self._async_closers:
            await aclose()
        for close in self._closers:
            close()
        for db in self._databases:
            await db.close()
