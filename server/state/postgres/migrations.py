"""Versioned schema migrations for the shared database.

Each migration is a file `migrations/NNNN_name.sql`, applied once, in version order, each in its own transaction
together with its row in `schema_migrations` (version, name, sha256 of the file, when). Whoever applies them (a
server at start, or `collections-mcp migrate`) first takes a PostgreSQL advisory lock, so replicas starting
together apply each migration once: the others wait for the lock, then find nothing left to do.

A migration file is never edited once released (its checksum is recorded, and a changed file stops the server);
migrations only add (tables, columns with defaults, indexes), so replicas of the previous release keep working
while the next one rolls out. A server that is told not to migrate (`COLLECTIONS_MCP_DATABASE_MIGRATE=false`)
refuses to start while a migration it knows is missing; versions it does not know (a newer release already
migrated) are fine.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

from collections_mcp.server.core.errors import ConfigError
from collections_mcp.server.state.postgres.database import CONNECTION_ERRORS, PostgresDatabase
from collections_mcp.tools.common.state import StateUnavailable

log = logging.getLogger("collections_mcp.database")

# pg_advisory_lock key: the first 8 bytes of sha256("collections-mcp schema migrations"), as a signed bigint.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"collections-mcp schema migrations").digest()[:8], "big", signed=True)
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def known_migrations() -> list[Migration]:
    """Every migration this release ships, in version order."""
    folder = resources.files("collections_mcp.server.state.postgres").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if len(set(versions)) != len(versions):
        raise ConfigError(f"two schema migrations share a version number: {versions}")
    return found


async def applied_migrations(db: PostgresDatabase) -> dict[int, str]:
    """version -> checksum of what the database records as applied (empty for a new database)."""
    async with db.connection() as conn:
        exists = await (await conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")).fetchone()
        if not exists or not exists[0]:
            return {}
        rows = await (await conn.execute("SELECT version, checksum FROM schema_migrations")).fetchall()
    return {int(str(version)): str(checksum) for version, checksum in rows}


def _check_unchanged(applied: dict[int, str], known: list[Migration]) -> None:
    changed = [m.label for m in known if m.version in applied and applied[m.version] != m.checksum]
    if changed:
        raise ConfigError(
            f"schema migration(s) {', '.join(changed)} differ from what was applied to the shared database; "
            "released migrations must never be edited (add a new one instead)"
        )


async def pending_migrations(db: PostgresDatabase) -> list[Migration]:
    """The migrations this release knows that the database has not applied yet."""
    known = known_migrations()
    applied = await applied_migrations(db)
    _check_unchanged(applied, known)
    return [migration for migration in known if migration.version not in applied]


async def migrate(db: PostgresDatabase, *, lock_wait_seconds: float = 120.0) -> list[Migration]:
    """Apply every pending migration under the advisory lock; returns what this call applied (empty when
    another process already did)."""
    known = known_migrations()
    applied_now: list[Migration] = []
    async with db.dedicated(statement_timeout_seconds=lock_wait_seconds) as conn:
        try:
            await conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
            try:
                await conn.execute(_TABLE)
                rows = await (await conn.execute("SELECT version, checksum FROM schema_migrations")).fetchall()
                applied = {int(str(version)): str(checksum) for version, checksum in rows}
                _check_unchanged(applied, known)
                for migration in known:
                    if migration.version in applied:
                        continue
                    async with conn.transaction():
                        await conn.execute(migration.sql.encode())  # several statements: simple query protocol
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                            (migration.version, migration.name, migration.checksum),
                        )
                    log.info("applied schema migration %s to %s", migration.label, db.display)
                    applied_now.append(migration)
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
        except CONNECTION_ERRORS as exc:
            raise StateUnavailable(db.describe_failure(exc)) from None
    return applied_now


async def require_current_schema(db: PostgresDatabase) -> None:
    """For a server that does not migrate: refuse to start while a migration it needs is missing."""
    missing = await pending_migrations(db)
    if missing:
        raise ConfigError(
            f"the shared database {db.display} lacks schema migration(s) {', '.join(m.label for m in missing)}: "
            "run `collections-mcp migrate` (or set COLLECTIONS_MCP_DATABASE_MIGRATE=true to apply them at start)"
        )
