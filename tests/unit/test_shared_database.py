"""The shared PostgreSQL database: versioned migrations (once, under an advisory lock; refused when edited; a
server told not to migrate refuses to start behind), the `migrate`, `audit` and `doctor` commands on it, and its
password kept out of every message."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import anyio
import psycopg
import pytest
from pydantic import SecretStr, ValidationError

from collections_mcp.server.core.errors import ConfigError
from collections_mcp.server.ops.cli import main
from collections_mcp.server.settings import ServerSettings
from collections_mcp.server.state.audit_log import AuditRecord
from collections_mcp.server.state.backend import StateConfig, open_stores
from collections_mcp.server.state.postgres import migrations
from collections_mcp.server.state.postgres.database import PostgresDatabase, display_url
from collections_mcp.server.state.postgres.migrations import known_migrations, migrate
from collections_mcp.tools.common.state import StateUnavailable
from tests.conftest import fresh_database
from tests.pg_cluster import PgCluster

pytestmark = pytest.mark.anyio

DEPLOY_DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def applied(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [(int(v), str(n)) for v, n in conn.execute("SELECT version, name FROM schema_migrations ORDER BY version")]


async def test_concurrent_starts_against_an_empty_database_migrate_it_once(postgres: PgCluster, tmp_path: Path) -> None:
    url = fresh_database(postgres, migrated=False)
    results: list[list[str]] = []

    async def start() -> None:
        db = PostgresDatabase(SecretStr(url))
        try:
            results.append([m.label for m in await migrate(db)])
        finally:
            await db.close()

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(start)
    every = [m.label for m in known_migrations()]
    assert sorted(results, key=len) == [[], [], every]  # one did the work, the others found it done
    assert applied(url) == [(m.version, m.name) for m in known_migrations()]


async def test_an_edited_migration_stops_the_server(
    postgres: PgCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = fresh_database(postgres)
    original = known_migrations()
    edited = [replace(original[0], sql=original[0].sql + "\n-- edited after release\n"), *original[1:]]
    monkeypatch.setattr(migrations, "known_migrations", lambda: edited)
    stores = open_stores(StateConfig(state_dir=tmp_path, database_url=SecretStr(url)))
    with pytest.raises(ConfigError, match="must never be edited"):
        async with stores.running():
            pass


async def test_a_server_told_not_to_migrate_refuses_to_start_behind(postgres: PgCluster, tmp_path: Path) -> None:
    url = fresh_database(postgres, migrated=False)
    stores = open_stores(StateConfig(state_dir=tmp_path, database_url=SecretStr(url), migrate=False))
    every = ", ".join(migration.label for migration in known_migrations())
    with pytest.raises(ConfigError, match=rf"lacks schema migration\(s\) {every}: run `collections-mcp migrate`"):
        async with stores.running():
            pass
    with psycopg.connect(url, autocommit=True) as conn:  # and it changed nothing
        assert conn.execute("SELECT to_regclass('audit_log')").fetchone() == (None,)


def test_the_url_password_is_never_shown() -> None:
    url = "postgresql://app:s3cret-Pa55@db.internal:5432/collections?sslpassword=other-s3cret"
    assert display_url(url) == "postgresql://app@db.internal:5432/collections"
    db = PostgresDatabase(SecretStr(url))
    message = db.describe_failure(OSError("password authentication failed for s3cret-Pa55 other-s3cret"))
    assert "s3cret-Pa55" not in message and "other-s3cret" not in message and "db.internal:5432" in message
    settings = ServerSettings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())
    with pytest.raises(ValidationError) as caught:
        ServerSettings(_env_file=None, database_url="mysql://root:s3cret-Pa55@db/x")  # type: ignore[call-arg]
    assert "PostgreSQL URL" in str(caught.value) and "s3cret" not in str(caught.value)


async def test_an_unreachable_database_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    url = SecretStr("postgresql://app:s3cret-Pa55@127.0.0.1:9/collections")
    stores = open_stores(StateConfig(state_dir=tmp_path, database_url=url, timeout_seconds=0.5))
    with pytest.raises(StateUnavailable) as caught:
        async with stores.running():
            pass
    assert "the shared database postgresql://app@127.0.0.1:9/collections is unreachable" in str(caught.value)
    assert "s3cret" not in str(caught.value)


# ------------------------------------------------------------------------------------------ the commands


async def cli(*argv: str) -> int:
    """The real `collections-mcp` entry point (it runs its own event loop, so in a worker thread)."""
    return await anyio.to_thread.run_sync(main, list(argv))


@pytest.fixture
def command_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("COLLECTIONS_MCP_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr("collections_mcp.server.ops.cli.configure_logging", lambda level: None)
    monkeypatch.setattr("collections_mcp.server.transport.logs.configure_logging", lambda level: None)
    return monkeypatch


async def test_the_migrate_command(
    postgres: PgCluster, command_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = fresh_database(postgres, migrated=False)
    command_env.setenv("COLLECTIONS_MCP_DATABASE_URL", url)
    assert await cli("migrate", "--check") == 1
    assert "pending: 0001_shared_state\npending: 0002_approval_inbox" in capsys.readouterr().out
    assert await cli("migrate") == 0
    out = capsys.readouterr().out
    assert "applied: 0001_shared_state\napplied: 0002_approval_inbox" in out and postgres.password not in out
    assert await cli("migrate") == 0
    assert "already up to date (0 applied now)" in capsys.readouterr().out
    assert await cli("migrate", "--check") == 0
    assert applied(url) == [(1, "shared_state"), (2, "approval_inbox")]

    command_env.setenv("COLLECTIONS_MCP_DATABASE_URL", url.replace(f":{postgres.port}/", ":9/"))
    command_env.setenv("COLLECTIONS_MCP_DATABASE_TIMEOUT_SECONDS", "0.5")
    assert await cli("migrate") == 2
    captured = capsys.readouterr()
    assert "is unreachable" in captured.err and postgres.password not in captured.err + captured.out


async def test_the_audit_command_reads_the_shared_database(
    postgres: PgCluster, command_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    url = fresh_database(postgres)
    stores = open_stores(StateConfig(state_dir=tmp_path, database_url=SecretStr(url)))
    async with stores.running():
        await stores.audit.append(AuditRecord(
            time=datetime(2026, 11, 25, 10, tzinfo=UTC), call_id="c1", tool="scollect_add_note", toolset="scollect",
            effect="write", outcome="ok", arguments={"file_number": "R1000"},
        ))  # fmt: skip
    command_env.setenv("COLLECTIONS_MCP_DATABASE_URL", url)
    assert await cli("audit", "--json") == 0
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line)["tool"] == "scollect_add_note" and json.loads(line)["arguments"] == {"file_number": "R1000"}


async def test_the_documented_roles_let_servers_append_to_the_audit_log_but_never_change_it(
    postgres: PgCluster, tmp_path: Path
) -> None:
    """docs/deploy.md's SQL, as written: the owner migrates; the servers' role runs every store but cannot
    UPDATE, DELETE or TRUNCATE an audit record (refused by its privileges, and by the trigger for anyone)."""
    import re
    import uuid

    docs = await anyio.to_thread.run_sync(DEPLOY_DOC.read_text)
    block = docs.split("<!-- roles-sql:start -->", 1)[1].split("<!-- roles-sql:end -->", 1)[0]
    statements = re.search(r"```sql\n(.*?)```", block, re.S)
    assert statements is not None
    database = f"collections_{uuid.uuid4().hex[:8]}"
    script = (
        statements.group(1)
        .replace("<owner password>", "owner-pw-123")
        .replace("<server password>", "server-pw-456")
        .replace("DATABASE collections", f"DATABASE {database}")
    )
    without_comments = "\n".join(line.split("--")[0] for line in script.splitlines())
    with postgres.admin() as conn:
        for statement in (part.strip() for part in without_comments.split(";")):
            if statement and not (statement.startswith("CREATE ROLE") and _role_exists(conn, statement)):
                conn.execute(statement)  # type: ignore[arg-type]

    owner_url = postgres.url(database, user="collections_mcp_owner", password="owner-pw-123")
    server_url = postgres.url(database, user="collections_mcp_server", password="server-pw-456")
    owner = PostgresDatabase(SecretStr(owner_url))
    try:
        assert [m.label for m in await migrate(owner)] == [m.label for m in known_migrations()]
    finally:
        await owner.close()

    from datetime import UTC, datetime

    stores = open_stores(StateConfig(state_dir=tmp_path, database_url=SecretStr(server_url), migrate=False))
    async with stores.running():
        await stores.audit.append(AuditRecord(
            time=datetime.now(UTC), call_id="c1", tool="scollect_add_note", toolset="scollect", effect="write",
            outcome="ok",
        ))  # fmt: skip

        async def produce() -> str:
            return "{}"

        assert (await stores.idempotency.run("key", 600, produce))[1] is False
        await stores.shared.events("identity-failures").record("R1000", datetime.now(UTC))
        await stores.owners.register("replica-a", "one", "http://10.0.0.5:8001", 5)
        assert len(await stores.audit.query(None, None, 10)) == 1
    stores.close()
    with psycopg.connect(server_url, autocommit=True) as conn:
        for statement in ("UPDATE audit_log SET outcome = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)  # type: ignore[arg-type]
    # Not even the owner, through the trigger.
    with psycopg.connect(owner_url, autocommit=True) as conn, pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        conn.execute("DELETE FROM audit_log")


def _role_exists(conn: psycopg.Connection[tuple[object, ...]], create: str) -> bool:
    name = create.split()[2]
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone() is not None


async def test_doctor_reports_the_shared_state_without_the_password(postgres: PgCluster, tmp_path: Path) -> None:
    from collections_mcp.server.ops.doctor import check_state

    def settings(url: str | None, **extra: object) -> ServerSettings:
        return ServerSettings(_env_file=None, state_dir=tmp_path, database_url=url, **extra)  # type: ignore[call-arg]

    sqlite = await check_state(settings(None))
    assert sqlite.ok and "SQLite files in" in sqlite.detail
    current = await check_state(settings(fresh_database(postgres)))
    assert current.ok and f"schema up to date (version {known_migrations()[-1].version})" in current.detail
    empty = fresh_database(postgres, migrated=False)
    assert (await check_state(settings(empty))).ok  # the server would migrate it at start
    behind = await check_state(settings(empty, database_migrate=False))
    assert not behind.ok and "run `collections-mcp migrate`" in behind.detail
    down = await check_state(settings(empty.replace(f":{postgres.port}/", ":9/"), database_timeout_seconds=0.5))
    assert not down.ok and "unreachable" in down.detail
    for check in (current, behind, down):
        assert postgres.password not in f"{check.detail} {check.target}"


def test_client_config_carries_the_database_as_a_placeholder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from collections_mcp.server.ops.client_config import launch_env

    monkeypatch.chdir(tmp_path)
    for name in ("SCOLLECT_BASE_URL", "SCOLLECT_API_KEY", "SCOLLECT_PIN"):
        monkeypatch.delenv(name, raising=False)
    settings = ServerSettings(_env_file=None, database_url="postgresql://app:s3cret-Pa55@db:5432/c")  # type: ignore[call-arg]
    env = launch_env(settings)
    assert env.values["COLLECTIONS_MCP_DATABASE_URL"] == "<set COLLECTIONS_MCP_DATABASE_URL>"
    assert "COLLECTIONS_MCP_DATABASE_URL" in env.secrets and "s3cret" not in str(env.values)


async def test_serve_with_an_unreachable_database_is_a_startup_error_without_the_password(
    command_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In sandbox mode the simulators already run when the database is reached: the error still arrives as one
    clear line (exit 2), not a traceback, and without the password."""
    for name in ("SCOLLECT_BASE_URL", "SCOLLECT_API_KEY", "SCOLLECT_PIN"):
        command_env.delenv(name, raising=False)
    command_env.setenv("COLLECTIONS_MCP_DATABASE_URL", "postgresql://app:s3cret-Pa55@127.0.0.1:9/collections")
    command_env.setenv("COLLECTIONS_MCP_DATABASE_TIMEOUT_SECONDS", "0.5")
    command_env.setenv("COLLECTIONS_MCP_SECRET_KEYS", "k" * 32)  # replicas over HTTP share the request_state key
    assert await cli("serve", "--port", "0") == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("collections-mcp: the shared database postgresql://app@127.0.0.1:9/collections is unreachable")
    assert "Traceback" not in captured.err and "s3cret" not in captured.err + captured.out
