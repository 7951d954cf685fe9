"""Servers sharing one PostgreSQL database, end to end through the SDK `Client` and the sandbox simulators:
identical calls on two servers reach the vendor once; PostgreSQL restarted under load (calls fail clearly while
it is down, the server recovers by itself, no audit record of a completed change is lost); two server processes
starting at once against an empty database migrate it once."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream
from mcp import Client
from pydantic import SecretStr

from collections_mcp.sandbox.runner import RunningSandbox
from collections_mcp.server.app import ServerConfig, build_server
from collections_mcp.server.ops.runtime import sandbox_vendor_settings
from collections_mcp.server.settings import ServerSettings
from collections_mcp.server.state.idempotency_store import IdempotencyStore
from collections_mcp.server.state.postgres.database import PostgresDatabase
from collections_mcp.server.state.postgres.migrations import known_migrations
from collections_mcp.server.state.postgres.stores import PostgresClaims
from tests.conftest import Wire, fresh_database
from tests.e2e.console import ANNOUNCEMENT, SCRIPT, STARTUP_SECONDS
from tests.helpers import text_of
from tests.pg_cluster import PgCluster

pytestmark = pytest.mark.anyio

ERAS = ["2026-07-28", "legacy"]


def shared_config(sandbox: RunningSandbox, state_dir: Path, url: str, **settings: Any) -> ServerConfig:
    """A server whose state is in the shared database at `url` (each server gets its own state directory, as
    replicas on different machines would)."""
    server_settings = ServerSettings(
        _env_file=None, state_dir=state_dir, read_only=False, toolsets=None, sandbox=True,  # type: ignore[call-arg]
        database_url=SecretStr(url), **settings,
    )  # fmt: skip
    return ServerConfig(settings=server_settings, vendors=sandbox_vendor_settings(sandbox), sandbox=True)


def audit_rows(url: str, tool: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT outcome, replayed, arguments FROM audit_log WHERE tool = %s ORDER BY id", (tool,)
        ).fetchall()
    return [{"outcome": outcome, "replayed": replayed, "arguments": arguments} for outcome, replayed, arguments in rows]


@pytest.mark.parametrize("mode", ERAS)
async def test_identical_calls_on_two_servers_reach_the_vendor_once(
    sandbox: RunningSandbox, postgres: PgCluster, wire: Wire, tmp_path: Path, mode: str
) -> None:
    url = fresh_database(postgres)
    note = {"file_number": "R1000", "collector_name": "agent-ai", "message": f"promised to pay on Friday {uuid.uuid4().hex[:8]}"}
    one, two = shared_config(sandbox, tmp_path / "a", url), shared_config(sandbox, tmp_path / "b", url)
    results = []
    async with Client(build_server(one), mode=mode) as first, Client(build_server(two), mode=mode) as second:  # type: ignore[arg-type]

        async def call(client: Client) -> None:
            results.append(await client.call_tool("scollect_add_note", note))

        async with anyio.create_task_group() as group:
            for client in (first, second, first, second):
                group.start_soon(call, client)
    assert [r.is_error for r in results] == [False] * 4, [text_of(r) for r in results]
    sent = [entry for entry in wire.requests() if entry.path == "/InsertNoteline"]
    assert len(sent) == 1
    assert sorted(bool((r.meta or {}).get("collections-mcp/replayed")) for r in results) == [False, True, True, True]
    records = audit_rows(url, "scollect_add_note")  # one table, one record per call
    assert sorted(r["replayed"] for r in records) == [False, True, True, True]
    assert {r["outcome"] for r in records} == {"ok"}


@pytest.fixture
def restartable(postgres: PgCluster) -> Iterator[PgCluster]:
    """The session's cluster, started again whatever the test did to it."""
    yield postgres
    try:
        with postgres.admin():
            pass
    except psycopg.OperationalError:
        postgres.start()


async def test_postgresql_restarted_under_load(
    sandbox: RunningSandbox, restartable: PgCluster, wire: Wire, tmp_path: Path
) -> None:
    """Scenario 5. Calls that change something keep arriving while PostgreSQL stops and starts again: while it is
    down new calls fail with a clear error and nothing reaches the vendor (a call the vendor had already done answers,
    its result stored once the database is back); when it is back the same server (no restart) serves again; every
    call that succeeded reached the vendor once and has its audit record."""
    postgres = restartable
    url = fresh_database(postgres)
    config = shared_config(sandbox, tmp_path / "state", url, database_timeout_seconds=0.5)
    run = uuid.uuid4().hex[:8]
    outcomes: list[tuple[str, str]] = []  # (message, "ok" | error text)
    phase = {"name": "before"}
    seen_failure, recovered = anyio.Event(), anyio.Event()
    successes_after_restart = 0

    async with Client(build_server(config)) as client:

        async def one_call(label: str) -> None:
            nonlocal successes_after_restart
            message = f"load {run} {label} end"
            result = await client.call_tool("scollect_add_note", {"file_number": "R1000", "collector_name": "agent-ai", "message": message})
            outcomes.append((message, text_of(result) if result.is_error else "ok"))
            if result.is_error and phase["name"] == "down":
                seen_failure.set()
            if not result.is_error and phase["name"] == "back":
                successes_after_restart += 1
                if successes_after_restart >= 5:
                    recovered.set()

        async def worker(index: int) -> None:
            number = 0
            while not recovered.is_set():  # load until the server is seen serving again (bounded by the waits below)
                number += 1
                await one_call(f"worker {index} call {number}")
                await anyio.sleep(0.01)

        async def new_caller() -> None:
            """New calls while PostgreSQL is down, from a caller of their own: the workers' calls in flight as the
            database went down may take up to its timeout each to settle, and the outage must be seen by a call that
            starts during it."""
            number = 0
            while not seen_failure.is_set():
                number += 1
                await one_call(f"new caller {number}")
                await anyio.sleep(0.05)

        async with anyio.create_task_group() as load:
            for index in range(4):
                load.start_soon(worker, index)
            await anyio.sleep(0.3)  # some calls land before the outage (load, not synchronisation)
            # "down" from the moment the stop begins: a fast shutdown can take seconds on a slow disk, and calls
            # refused while PostgreSQL is shutting down are failures of the outage like the later ones.
            phase["name"] = "down"
            await anyio.to_thread.run_sync(postgres.stop)
            load.start_soon(new_caller)
            with anyio.fail_after(20):
                await seen_failure.wait()
            # A read whose rule lives in the shared state (the identity-check lockout) says why it cannot run.
            check = await client.call_tool("accounts_verify_identity", {"file_number": "R1000", "zip": "00000"})
            assert check.is_error and "accounts_verify_identity could not run" in text_of(check)
            assert "shared database" in text_of(check) and "unreachable" in text_of(check)
            await anyio.to_thread.run_sync(postgres.start)
            phase["name"] = "back"
            with anyio.fail_after(30):
                await recovered.wait()
        # No audit record is lost: those written during the outage are moved in by the running server.
        for _ in range(100):  # the background flush runs every second; bounded at 10 s
            if len(recorded := audit_rows(url, "scollect_add_note")) >= len(outcomes):
                break
            await anyio.sleep(0.1)

    succeeded = [message for message, outcome in outcomes if outcome == "ok"]
    failed = [outcome for _, outcome in outcomes if outcome != "ok"]
    assert succeeded and failed and successes_after_restart >= 5
    for error in failed:  # clear: what is down, and that nothing was sent
        assert "shared database" in error and "unreachable" in error, error
        assert "nothing was sent" in error, error
        assert postgres.password not in error
    notes = [entry.text for entry in wire.requests() if entry.path == "/InsertNoteline"]
    for message, outcome in outcomes:  # each success reached the vendor once; no failed call reached it
        assert sum(message in text for text in notes) == (1 if outcome == "ok" else 0), (message, outcome)
    by_message = {r["arguments"]["message"]: r["outcome"] for r in recorded}
    assert len(recorded) == len(outcomes)
    assert all(by_message[message] == "ok" for message in succeeded)  # every completed change has its record
    assert {by_message[message] for message, outcome in outcomes if outcome != "ok"} == {"state_unavailable"}


async def test_a_call_the_vendor_did_as_the_database_went_down_answers_at_once_and_is_stored_when_it_is_back(
    restartable: PgCluster,
) -> None:
    """The vendor did the work, then PostgreSQL went away before the result was stored: the call answers at once
    (a caller on the phone does not wait for the database), the result is stored in the background once the
    database is back, and an identical call then replays it instead of reaching the vendor again."""
    postgres = restartable
    db = PostgresDatabase(SecretStr(fresh_database(postgres)), timeout_seconds=0.5)
    await db.open()
    store = IdempotencyStore(PostgresClaims(db), lease_seconds=60.0, cross_process_wait=30.0)
    at_the_vendor: list[str] = []

    async def vendor_work_then_outage() -> str:
        at_the_vendor.append("done")
        await anyio.to_thread.run_sync(postgres.stop)
        return '{"note_id": 1}'

    try:
        async with store.finishing_in_background():
            with anyio.fail_after(20):  # storing in the call itself would hold it for three leases (180 s) here
                first = await store.run("key-1", 600.0, vendor_work_then_outage)
            await anyio.to_thread.run_sync(postgres.start)
            with anyio.fail_after(30):  # the identical call waits for the stored result, then replays it
                second = await store.run("key-1", 600.0, vendor_work_then_outage)
    finally:
        await db.close()
    assert first[:2] == ('{"note_id": 1}', False)
    assert second[:2] == ('{"note_id": 1}', True)
    assert at_the_vendor == ["done"]


async def test_two_server_processes_starting_at_once_migrate_an_empty_database_once(
    sandbox: RunningSandbox, postgres: PgCluster, tmp_path: Path
) -> None:
    """Scenario 6: both start and serve; each migration ran once (recorded once, logged by one of them)."""
    url = fresh_database(postgres, migrated=False)
    scollect = sandbox.scollect
    prefixes = ("COLLECTIONS_MCP_", "SCOLLECT_", "COLLECT_", "BILLING_CARE_", "PROCURIOS_")
    base = {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}
    stderr: dict[str, list[str]] = {"one": [], "two": []}
    urls: dict[str, str] = {}
    announced = {name: anyio.Event() for name in stderr}

    async def read(name: str, process: Process) -> None:
        assert process.stderr is not None
        pending = ""
        async for chunk in TextReceiveStream(process.stderr):
            *complete, pending = (pending + chunk).split("\n")
            for line in complete:
                stderr[name].append(line)
                if ANNOUNCEMENT in line:
                    urls[name] = line.split(ANNOUNCEMENT, 1)[1].split()[0]
                    announced[name].set()
        announced[name].set()  # EOF: exited

    processes: list[Process] = []
    try:
        async with anyio.create_task_group() as group:
            for name in stderr:  # both started before either is ready
                env = base | {
                    "COLLECTIONS_MCP_STATE_DIR": str(tmp_path / name), "COLLECTIONS_MCP_DATABASE_URL": url,
                    "COLLECTIONS_MCP_SECRET_KEYS": "k" * 32,  # replicas over HTTP share the request_state key
                    "SCOLLECT_BASE_URL": scollect.base_url, "SCOLLECT_API_KEY": scollect.api_key,
                    "SCOLLECT_PIN": scollect.pin,
                }  # fmt: skip
                process = await anyio.open_process(
                    [SCRIPT, "serve", "--transport", "http", "--port", "0"], env=env, cwd=str(tmp_path)
                )
                processes.append(process)
                group.start_soon(read, name, process)
            with anyio.fail_after(STARTUP_SECONDS):
                for event in announced.values():
                    await event.wait()
            assert set(urls) == {"one", "two"}, stderr
            for url_of_server in urls.values():
                async with Client(url_of_server) as client:
                    result = await client.call_tool("scollect_get_account", {"file_number": "R1000"})
                    assert not result.is_error, text_of(result)
            for process in processes:
                process.kill()  # how they stop is not under test here
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
            with anyio.CancelScope(shield=True):
                await process.aclose()
    with psycopg.connect(url, autocommit=True) as conn:
        versions = conn.execute("SELECT version, count(*) FROM schema_migrations GROUP BY version").fetchall()
    known = known_migrations()
    assert sorted(versions) == [(migration.version, 1) for migration in known]
    everything = [line for lines in stderr.values() for line in lines]
    assert len([line for line in everything if "applied schema migration" in line]) == len(known), "each once"
    assert postgres.password not in "\n".join(everything)
