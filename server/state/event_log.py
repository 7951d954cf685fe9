"""The state the server keeps for tools (`tools.common.state.SharedState`): named event logs in SQLite.

One file under `COLLECTIONS_MCP_STATE_DIR`, so a rule built on it (the identity-check lockout) survives
restarts and holds across processes sharing the directory. Only the key (e.g. an account's file number) and
the time are kept; rows older than a day are dropped as they are read.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import anyio.to_thread

from collections_mcp.server.state.sqlite import open_sqlite
from collections_mcp.tools.common.state import EventLog

EVENTS_FILE = "events.sqlite3"
KEPT_SECONDS = 86_400

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (log TEXT NOT NULL, key TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS events_log_key_at ON events (log, key, at);
"""


class SqliteSharedState:
    """Every named event log, in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = open_sqlite(path, synchronous="NORMAL", schema=_SCHEMA)

    @classmethod
    def under(cls, state_dir: Path) -> SqliteSharedState:
        return cls(state_dir / EVENTS_FILE)

    def events(self, name: str) -> EventLog:
        return _SqliteEventLog(self, name)

    def _record(self, log: str, key: str, at: float) -> None:
        with self._lock:
            self._db.execute("INSERT INTO events (log, key, at) VALUES (?, ?, ?)", (log, key, at))

    def _since(self, log: str, key: str, start: float) -> list[float]:
        with self._lock:
            self._db.execute("DELETE FROM events WHERE at <= ?", (start - KEPT_SECONDS,))
            rows = self._db.execute(
                "SELECT at FROM events WHERE log = ? AND key = ? AND at > ? ORDER BY at", (log, key, start)
            ).fetchall()
        return [at for (at,) in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _SqliteEventLog:
    def __init__(self, state: SqliteSharedState, name: str) -> None:
        self._state = state
        self._name = name

    async def record(self, key: str, at: datetime) -> None:
        await anyio.to_thread.run_sync(self._state._record, self._name, key, at.timestamp())

    async def since(self, key: str, start: datetime) -> list[datetime]:
        found = await anyio.to_thread.run_sync(self._state._since, self._name, key, start.timestamp())
        return [datetime.fromtimestamp(at, UTC) for at in found]
