"""A local, durable queue of audit records the shared database could not take yet.

When PostgreSQL is unreachable (restarted, failed over, a network hiccup), a call that already changed something
at the vendor must still have its audit record on disk before its result is returned. `AuditSpool` keeps such
records in a SQLite file under the state directory (fsynced), each with the id it will have in the database, and
hands them back in order once the database answers again (PostgresAuditLog moves them; an insert that is
repeated after a crash is ignored by that id). Records are already redacted, exactly as in the audit table.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import anyio.to_thread

from collections_mcp.server.state.audit_log import AuditRecord
from collections_mcp.server.state.sqlite import open_sqlite

SPOOL_FILE = "audit-spool.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spooled (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL UNIQUE,
    record TEXT NOT NULL
);
"""


class AuditSpool:
    """Records waiting for the database, oldest first. The file is only created when a record must wait."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = open_sqlite(path, synchronous="FULL", schema=_SCHEMA) if path.exists() else None
        self.waiting = self._count()

    def _count(self) -> int:
        if self._db is None:
            return 0
        with self._lock:
            (count,) = self._db.execute("SELECT count(*) FROM spooled").fetchone()
        return int(count)

    def _put(self, record_id: str, record: str) -> None:
        with self._lock:
            if self._db is None:
                self._db = open_sqlite(self.path, synchronous="FULL", schema=_SCHEMA)
            self._db.execute("INSERT OR IGNORE INTO spooled (record_id, record) VALUES (?, ?)", (record_id, record))
            self.waiting += 1

    async def put(self, record_id: str, record: AuditRecord) -> None:
        """Durably keep one record (on disk, fsynced, when this returns)."""
        await anyio.to_thread.run_sync(self._put, record_id, record.model_dump_json())

    def _oldest(self, limit: int) -> list[tuple[int, str, str]]:
        if self._db is None:
            return []
        with self._lock:
            rows = self._db.execute("SELECT seq, record_id, record FROM spooled ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [(int(seq), str(record_id), str(record)) for seq, record_id, record in rows]

    async def oldest(self, limit: int = 100) -> list[tuple[int, str, AuditRecord]]:
        rows = await anyio.to_thread.run_sync(self._oldest, limit)
        return [(seq, record_id, AuditRecord.model_validate(json.loads(record))) for seq, record_id, record in rows]

    def _forget(self, seqs: list[int]) -> None:
        if self._db is None or not seqs:
            return
        with self._lock:
            self._db.executemany("DELETE FROM spooled WHERE seq = ?", [(seq,) for seq in seqs])
            self.waiting = max(0, self.waiting - len(seqs))

    async def forget(self, seqs: list[int]) -> None:
        """Drop records the database now holds."""
        await anyio.to_thread.run_sync(self._forget, seqs)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
