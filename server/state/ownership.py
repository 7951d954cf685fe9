"""Conversation ownership: which replica holds a live conversation, where it can be reached, and whether it is
still alive.

A 2026-07-28 conversation (a Collect! plan waiting on a person) lives in the memory of the process that runs it.
With several replicas behind a load balancer, the next round may reach another replica, which must find the owner
(its internal address) or learn quickly that the owner died. Each process registers as a replica with a lease it
renews (`ReplicaPresence.alive()`: every third of the lease); a conversation names its replica and that
process's incarnation, so a replica restarted under the same id does not pass for the owner of conversations
its previous process held. An owner is alive while its replica's lease holds.

`OwnerTable` is the shared registry (SQLite here: one process, or processes sharing the state directory on one
machine; PostgreSQL in server/state/postgres/ownership.py); server/state/backend.py picks one.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import anyio
import anyio.to_thread

from collections_mcp.server.state.sqlite import open_sqlite
from collections_mcp.tools.common.state import StateUnavailable

log = logging.getLogger("collections_mcp.ownership")

OWNERS_FILE = "conversations.sqlite3"


@dataclass(frozen=True)
class Owner:
    """The replica holding a conversation. `alive`: its process still renews its lease (and is the process that
    claimed the conversation, not a later one under the same replica id)."""

    conversation_id: str
    replica_id: str
    address: str
    alive: bool
    lease_until: datetime | None


@dataclass(frozen=True)
class Replica:
    """One registered replica: where it is reached and whether its process still renews its lease."""

    replica_id: str
    incarnation: str
    address: str
    alive: bool


class OwnerTable(Protocol):
    """Replicas with their lease and internal address, and the conversations each one holds."""

    async def register(self, replica_id: str, incarnation: str, address: str, lease: float) -> None:
        """Announce this process as `replica_id` (its conversations from an earlier incarnation are dropped)."""
        ...

    async def heartbeat(self, replica_id: str, incarnation: str) -> bool:
        """Renew the replica's lease; False when the registration is gone (another process took the id)."""
        ...

    async def unregister(self, replica_id: str, incarnation: str) -> None:
        """A clean stop: the replica and its conversations are removed."""
        ...

    async def claim(self, conversation_id: str, replica_id: str, incarnation: str) -> None: ...

    async def release(self, conversation_id: str, replica_id: str, incarnation: str) -> None: ...

    async def owner(self, conversation_id: str) -> Owner | None:
        """The conversation's owner, alive or not; None when no replica holds it (finished, or never existed)."""
        ...

    async def replica(self, replica_id: str) -> Replica | None:
        """A registered replica (alive or not); None when none is registered under that id."""
        ...

    async def replicas(self) -> list[Replica]:
        """Every registered replica, alive or not, ordered by id."""
        ...

    def close(self) -> None: ...


class ReplicaPresence:
    """This process as one replica in an `OwnerTable`: `async with presence.alive():` registers it and renews
    its lease until the block ends (then unregisters it); `claim`/`release` record its conversations."""

    def __init__(self, table: OwnerTable, replica_id: str, address: str, lease_seconds: float) -> None:
        self.table = table
        self.replica_id = replica_id
        self.address = address
        self.lease_seconds = lease_seconds
        self.incarnation = uuid.uuid4().hex

    @asynccontextmanager
    async def alive(self) -> AsyncIterator[ReplicaPresence]:
        await self.table.register(self.replica_id, self.incarnation, self.address, self.lease_seconds)
        async with anyio.create_task_group() as heartbeat:
            heartbeat.start_soon(self._beat)
            try:
                yield self
            finally:
                heartbeat.cancel_scope.cancel()
                with anyio.CancelScope(shield=True):
                    try:
                        await self.table.unregister(self.replica_id, self.incarnation)
                    except StateUnavailable as exc:  # the lease lapses on its own
                        log.warning("could not unregister replica %s: %s", self.replica_id, exc)

    async def _beat(self) -> None:
        while True:
            await anyio.sleep(self.lease_seconds / 3)
            try:
                if not await self.table.heartbeat(self.replica_id, self.incarnation):
                    log.error("replica %s lost its registration (another process uses this replica id)", self.replica_id)
            except StateUnavailable as exc:
                log.warning("could not renew the lease of replica %s: %s", self.replica_id, exc)

    async def claim(self, conversation_id: str) -> None:
        await self.table.claim(conversation_id, self.replica_id, self.incarnation)

    async def release(self, conversation_id: str) -> None:
        await self.table.release(conversation_id, self.replica_id, self.incarnation)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS replicas (
    replica_id TEXT PRIMARY KEY,
    incarnation TEXT NOT NULL,
    address TEXT NOT NULL,
    lease_seconds REAL NOT NULL,
    lease_until REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS conversation_owners (
    conversation_id TEXT PRIMARY KEY,
    replica_id TEXT NOT NULL,
    incarnation TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conversation_owners_replica ON conversation_owners (replica_id);
"""


class SqliteOwnerTable:
    """The embedded `OwnerTable`: a SQLite file under the state directory; leases on this machine's clock."""

    def __init__(self, path: Path | str, *, lease_clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.lease_clock = lease_clock
        self._lock = threading.Lock()
        self._opened: sqlite3.Connection | None = None

    @property
    def _db(self) -> sqlite3.Connection:
        """Opened on first use: a server that never registers a replica leaves no file behind."""
        if self._opened is None:
            self._opened = open_sqlite(self.path, synchronous="NORMAL", schema=_SCHEMA)
        return self._opened

    def _execute(self, sql: str, *params: object) -> int:
        with self._lock:
            return self._db.execute(sql, params).rowcount

    async def register(self, replica_id: str, incarnation: str, address: str, lease: float) -> None:
        def run() -> None:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(
                    "DELETE FROM conversation_owners WHERE replica_id = ? AND incarnation <> ?", (replica_id, incarnation)
                )
                self._db.execute(
                    "INSERT OR REPLACE INTO replicas (replica_id, incarnation, address, lease_seconds, lease_until) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (replica_id, incarnation, address, lease, self.lease_clock() + lease),
                )
                self._db.execute("COMMIT")

        await anyio.to_thread.run_sync(run)

    async def heartbeat(self, replica_id: str, incarnation: str) -> bool:
        changed = await anyio.to_thread.run_sync(
            lambda: self._execute(
                "UPDATE replicas SET lease_until = ? + lease_seconds WHERE replica_id = ? AND incarnation = ?",
                self.lease_clock(), replica_id, incarnation,
            )
        )  # fmt: skip
        return changed == 1

    async def unregister(self, replica_id: str, incarnation: str) -> None:
        def run() -> None:
            self._execute("DELETE FROM conversation_owners WHERE replica_id = ? AND incarnation = ?", replica_id, incarnation)
            self._execute("DELETE FROM replicas WHERE replica_id = ? AND incarnation = ?", replica_id, incarnation)

        await anyio.to_thread.run_sync(run)

    async def claim(self, conversation_id: str, replica_id: str, incarnation: str) -> None:
        await anyio.to_thread.run_sync(
            lambda: self._execute(
                "INSERT OR REPLACE INTO conversation_owners (conversation_id, replica_id, incarnation) VALUES (?, ?, ?)",
                conversation_id, replica_id, incarnation,
            )
        )  # fmt: skip

    async def release(self, conversation_id: str, replica_id: str, incarnation: str) -> None:
        await anyio.to_thread.run_sync(
            lambda: self._execute(
                "DELETE FROM conversation_owners WHERE conversation_id = ? AND replica_id = ? AND incarnation = ?",
                conversation_id, replica_id, incarnation,
            )
        )  # fmt: skip

    async def owner(self, conversation_id: str) -> Owner | None:
        def run() -> tuple[str, str | None, str | None, str | None, float | None] | None:
            with self._lock:
                row: tuple[str, str | None, str | None, str | None, float | None] | None = self._db.execute(
                    "SELECT o.replica_id, o.incarnation, r.incarnation, r.address, r.lease_until "
                    "FROM conversation_owners o LEFT JOIN replicas r ON r.replica_id = o.replica_id "
                    "WHERE o.conversation_id = ?",
                    (conversation_id,),
                ).fetchone()
            return row

        row = await anyio.to_thread.run_sync(run)
        if row is None:
            return None
        replica_id, claimed_by, registered, address, lease_until = row
        alive = registered == claimed_by and lease_until is not None and lease_until >= self.lease_clock()
        until = datetime.fromtimestamp(lease_until, UTC) if lease_until is not None else None
        return Owner(conversation_id, replica_id, address or "", alive, until)

    async def replica(self, replica_id: str) -> Replica | None:
        found = [replica for replica in await self.replicas() if replica.replica_id == replica_id]
        return found[0] if found else None

    async def replicas(self) -> list[Replica]:
        def run() -> list[tuple[str, str, str, float]]:
            with self._lock:
                return list(self._db.execute(
                    "SELECT replica_id, incarnation, address, lease_until FROM replicas ORDER BY replica_id"
                ).fetchall())  # fmt: skip

        now = self.lease_clock()
        return [Replica(replica_id, incarnation, address, lease_until >= now)
                for replica_id, incarnation, address, lease_until in await anyio.to_thread.run_sync(run)]  # fmt: skip

    def close(self) -> None:
        with self._lock:
            if self._opened is not None:
                self._opened.close()
                self._opened = None
