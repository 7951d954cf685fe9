"""Shared fixtures: one loopback sandbox for the session, a fresh MCP server per test."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.session import ClientSession
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from collections_mcp.sandbox.runner import RunningSandbox, SandboxConfig, run_sandbox
from collections_mcp.server.app import ServerConfig, build_server
from collections_mcp.server.ops.runtime import sandbox_vendor_settings
from collections_mcp.server.settings import ServerSettings
from collections_mcp.server.telemetry.metrics import ServerMetrics
from collections_mcp.server.telemetry.tracing import instrument_vendor_requests
from collections_mcp.server.transport.logs import JsonLines
from tests.pg_cluster import PgCluster, throwaway_cluster

# Server state (audit log, idempotency keys) never goes to the developer's real state dir from a test; tests
# that need isolation from each other pass their own tmp_path state_dir.
os.environ["COLLECTIONS_MCP_STATE_DIR"] = tempfile.mkdtemp(prefix="collections-mcp-tests-")


class _EverySpan(SpanProcessor):
    """Tracing is on for the whole suite (as `configure_tracing` turns it on for a process), so every tool call of
    every test is traced: each span's texts go to the leak check, and a copy to the tests reading spans."""

    def __init__(self) -> None:
        self.texts: set[str] = set()
        self.exporters: list[InMemorySpanExporter] = []

    def on_end(self, span: ReadableSpan) -> None:
        texts = {span.name, span.status.description or ""}
        for attributes in [span.attributes or {}, *((event.attributes or {}) for event in span.events)]:
            texts |= {f"{key}={value}" for key, value in attributes.items()}
        texts |= {event.name for event in span.events}
        self.texts |= texts
        for exporter in self.exporters:
            exporter.export([span])


_EVERY_SPAN = _EverySpan()
_tracer_provider = TracerProvider()
_tracer_provider.add_span_processor(_EVERY_SPAN)
trace.set_tracer_provider(_tracer_provider)
instrument_vendor_requests()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The spans finished while the test runs (the OpenTelemetry SDK's in-memory exporter)."""
    exporter = InMemorySpanExporter()
    _EVERY_SPAN.exporters.append(exporter)
    try:
        yield exporter
    finally:
        _EVERY_SPAN.exporters.remove(exporter)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
async def sandbox(anyio_backend: str) -> AsyncIterator[RunningSandbox]:
    async with run_sandbox(SandboxConfig()) as running:
        yield running
        # Collected at the end: tests may have written more sensitive data into the sandbox.
        _LEAK_CORPUS["values"] = _sensitive_values(running)


@pytest.fixture
def server_settings(tmp_path: Path) -> ServerSettings:
    """Explicit settings: a developer's environment or .env must not change what tests see."""
    return ServerSettings(_env_file=None, state_dir=tmp_path / "state", read_only=False, toolsets=None, sandbox=True)  # type: ignore[call-arg]


@pytest.fixture
def server_config(sandbox: RunningSandbox, server_settings: ServerSettings) -> ServerConfig:
    return ServerConfig(settings=server_settings, vendors=sandbox_vendor_settings(sandbox), sandbox=True)


@pytest.fixture
async def mcp(server_config: ServerConfig) -> AsyncIterator[Client]:
    async with Client(build_server(server_config)) as client:
        yield client


class Wire:
    """What the Scollect simulator received since the test started (logins excluded unless asked)."""

    def __init__(self, sandbox: RunningSandbox) -> None:
        self._log: Any = sandbox.scollect.app.state.request_log
        self._start = len(self._log)

    def requests(self, *, include_login: bool = False) -> list[Any]:
        entries = list(self._log)[self._start :]
        return [entry for entry in entries if include_login or entry.path != "/login"]

    def paths(self) -> list[str]:
        return [f"{entry.method} {entry.path}" for entry in self.requests()]


@pytest.fixture
def wire(sandbox: RunningSandbox) -> Wire:
    return Wire(sandbox)


# ------------------------------------------------------------------------------------------------------------
# Suite-wide leak check: nothing a client receives, nothing the server logs, no span attribute and no metric may
# contain a full SSN, card, bank account or routing number from the sandbox data. Recorded across every test; judged
# once at the end.
# ------------------------------------------------------------------------------------------------------------


class _Seen(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(JsonLines().format(record))


def _sensitive_values(sandbox: RunningSandbox) -> set[str]:
    values: set[str] = {"4111111111111111", "4111 1111 1111 1111", "5555555555554444", "9876543210"}
    store = sandbox.scollect.store
    for file_number in store.file_numbers():
        account = store.account(file_number)
        for key in ("socialsecuritynumber", "codebtor1socialsecurity", "codebtor2socialsecurity", "jointsocial"):
            ssn = str(account.get(key) or "").strip()
            if len(ssn.replace("-", "")) == 9 and ssn.replace("-", "").isdigit() and set(ssn.replace("-", "")) != {"0"}:
                values |= {ssn, ssn.replace("-", "")}
        for payment in store.external_payments(file_number):
            for key in ("cardnumber", "checkaccountnumber", "checkroutingnumber"):
                number = str(payment.get(key) or "").replace("-", "").replace(" ", "")
                if number.isdigit() and len(number) >= 8:
                    values.add(number)
    for database in sandbox.collect.store.databases.values():
        for debtor in database.rows("debtor"):
            ssn = str(debtor.get("de_ss") or "").strip()
            if len(ssn.replace("-", "")) == 9:
                values |= {ssn, ssn.replace("-", "")}
    return values


def server_state_texts(*roots: Path) -> list[str]:
    """What an operator can read in the server's own state files (audit log and its spool, idempotency store,
    event logs, conversation owners, pending approvals), WAL included."""
    texts = []
    for root in roots:
        for path in root.rglob("*.sqlite3*"):
            if path.name.startswith(("audit", "idempotency.", "events.", "conversations.", "approvals.")) and path.is_file():
                texts.append(path.read_bytes().decode("latin-1"))
    return texts


# What the shared PostgreSQL databases of the session held (every table of every database, as text), collected
# when the cluster stops and judged by the leak check with everything else.
_DATABASE_TEXTS: list[str] = []
MIGRATED_TEMPLATE = "collections_mcp_migrated"


def _dump_databases(cluster: PgCluster) -> list[str]:
    texts = []
    for database in [*cluster.databases()]:
        with cluster.admin(database) as conn:
            tables = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
            for (table,) in tables:
                rows = conn.execute(f'SELECT t::text FROM "{table}" t').fetchall()
                texts.extend(str(row[0]) for row in rows)
    return texts


@pytest.fixture(scope="session")
def postgres() -> Iterator[PgCluster]:
    """A throwaway PostgreSQL cluster for the whole session, with a template database the schema was applied to
    (tests get copies: `fresh_database`). Missing binaries fail with the command that installs them."""
    import concurrent.futures

    import anyio
    from pydantic import SecretStr

    from collections_mcp.server.state.postgres.database import PostgresDatabase
    from collections_mcp.server.state.postgres.migrations import migrate

    with throwaway_cluster() as cluster:
        url = cluster.create_database(MIGRATED_TEMPLATE)

        async def apply() -> None:
            db = PostgresDatabase(SecretStr(url))
            await migrate(db)
            await db.close()

        with concurrent.futures.ThreadPoolExecutor(1) as worker:  # outside the test event loop
            worker.submit(anyio.run, apply).result(timeout=60)
        yield cluster
        _DATABASE_TEXTS.extend(_dump_databases(cluster))


def fresh_database(cluster: PgCluster, *, migrated: bool = True) -> str:
    """A new database of its own (the current schema applied, or empty); returns its URL."""
    import uuid

    name = f"t_{uuid.uuid4().hex[:12]}"
    return cluster.create_database(name, template=MIGRATED_TEMPLATE if migrated else None)


@pytest.fixture(scope="session", autouse=True)
def leak_watch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Records what clients receive (tool results, errors, elicitation messages and URLs) and every log record;
    at the end adds the server's state files, every span's name, status and attributes (events included) and the
    metrics of every server the suite built (all their label values). Judged once, against every sensitive value in
    the sandboxes."""
    seen: list[str] = []
    handler = _Seen()
    root = logging.getLogger()
    root.addHandler(handler)
    original_call, original_init = ClientSession.call_tool, Client.__init__
    original_metrics_init = ServerMetrics.__init__
    every_metrics: list[ServerMetrics] = []

    def recording_metrics_init(self: ServerMetrics) -> None:
        original_metrics_init(self)
        every_metrics.append(self)

    async def recording_call_tool(self: ClientSession, *args: Any, **kwargs: Any) -> Any:
        if _ARGUMENT_RECORDING is not None:
            _record_arguments(*args, **kwargs)
        result = await original_call(self, *args, **kwargs)  # type: ignore[call-overload]
        seen.append(result.model_dump_json())
        return result

    def recording_init(self: Client, *args: Any, **kwargs: Any) -> None:
        callback = kwargs.get("elicitation_callback")
        if callback is not None:

            async def recording_callback(context: Any, params: Any) -> Any:
                seen.append(params.model_dump_json())  # what a person is shown (message, form schema, URL)
                return await callback(context, params)

            kwargs["elicitation_callback"] = recording_callback
        original_init(self, *args, **kwargs)

    ClientSession.call_tool = recording_call_tool  # type: ignore[method-assign]
    Client.__init__ = recording_init  # type: ignore[method-assign]
    ServerMetrics.__init__ = recording_metrics_init  # type: ignore[method-assign]
    yield seen
    ClientSession.call_tool = original_call  # type: ignore[method-assign]
    Client.__init__ = original_init  # type: ignore[method-assign]
    ServerMetrics.__init__ = original_metrics_init  # type: ignore[method-assign]
    # Every label value any server recorded (deduplicated: the expositions themselves repeat the same help texts).
    labels = {value for metrics in every_metrics for family in metrics.registry.collect()
              for sample in family.samples for value in sample.labels.values()}  # fmt: skip
    seen.append("\n".join(labels))
    root.removeHandler(handler)
    if _ARGUMENT_RECORDING is not None:
        _write_recorded_arguments()
    seen.extend(handler.texts)
    seen.append("\n".join(_EVERY_SPAN.texts))  # one text: thousands of distinct span texts, searched once per value
    seen.extend(server_state_texts(tmp_path_factory.getbasetemp(), Path(os.environ["COLLECTIONS_MCP_STATE_DIR"])))
    seen.extend(_DATABASE_TEXTS)
    sensitive = _LEAK_CORPUS.get("values", set())
    leaks = sorted({value for value in sensitive for text in seen if value in text})
    assert not leaks, (
        f"sensitive values reached a client, a log, a span, a metric or the server's state unmasked: {[v[-4:] for v in leaks]}"
    )


_LEAK_CORPUS: dict[str, set[str]] = {}



# ------------------------------------------------------------------------------------------------------------
# RECORD_TOOL_ARGUMENTS=<file> pytest: every argument set the suite sends to a tool, written at the end, sorted
# and without repeats (tests/data/README.md: how the schema-equivalence corpus is refreshed from it).
# ------------------------------------------------------------------------------------------------------------

_ARGUMENT_RECORDING: Path | None = Path(os.environ["RECORD_TOOL_ARGUMENTS"]) if os.environ.get("RECORD_TOOL_ARGUMENTS") else None
_RECORDED: dict[str, set[str]] = {}


def _record_arguments(name: Any = None, arguments: Any = None, *_: Any, **kwargs: Any) -> None:
    import json

    name = kwargs.get("name", name)
    arguments = kwargs.get("arguments", arguments)
    if isinstance(name, str) and isinstance(arguments, dict | None):
        _RECORDED.setdefault(name, set()).add(json.dumps(arguments or {}, sort_keys=True))


def _write_recorded_arguments() -> None:
    import json

    assert _ARGUMENT_RECORDING is not None
    recorded = {name: [json.loads(item) for item in sorted(items)] for name, items in sorted(_RECORDED.items())}
    _ARGUMENT_RECORDING.write_text(json.dumps(recorded, indent=1, ensure_ascii=False) + "\n")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_url(request: pytest.FixtureRequest) -> str | None:
    """None for SQLite; the URL of a fresh migrated database for PostgreSQL."""
    if request.param == "sqlite":
        return None
    return fresh_database(request.getfixturevalue("postgres"))


@pytest.fixture
async def backend(backend_url: str | None, tmp_path: Path) -> AsyncIterator[Any]:
    """One state backend (parametrized: SQLite, PostgreSQL); tests/state_backends.py."""
    from tests.state_backends import Backend

    state_dir = tmp_path / "state"
    state_dir.mkdir(parents=True, exist_ok=True)
    opened = Backend("postgresql" if backend_url else "sqlite", state_dir, backend_url)
    yield opened
    await opened.aclose()
