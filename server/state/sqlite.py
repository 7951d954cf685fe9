"""The one way the server opens a SQLite state file: WAL, a busy timeout, usable from worker threads."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Literal


def open_sqlite(path: Path, *, synchronous: Literal["FULL", "NORMAL"] = "FULL", schema: str = "") -> sqlite3.Connection:
    """A connection in autocommit mode (explicit BEGIN where a transaction is needed), shared by worker threads
    under the caller's own lock. WAL lets processes sharing the directory read while one writes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    if schema:
        db.executescript(schema)
    return db
