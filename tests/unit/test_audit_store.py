"""The audit log on both backends (SQLite file, PostgreSQL table) and the audit stage: append-only, filtered
queries, redaction, durability, outcomes; PostgreSQL's spool for records written while the database is down."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import BaseModel, SecretStr

from collections_mcp.server.core.call import Refused, ToolCall
from collections_mcp.server.policy.audit import AuditStage, is_secret_key, record_rejected, redact_arguments
from collections_mcp.server.state.audit_log import AuditLog, AuditRecord, SqliteAuditLog
from collections_mcp.server.state.postgres.database import PostgresDatabase
from collections_mcp.server.state.postgres.stores import PostgresAuditLog
from collections_mcp.server.state.spool import SPOOL_FILE, AuditSpool
from collections_mcp.tools.common.errors import VendorError
from collections_mcp.tools.common.spec import AnySpec, Effect, ToolSpec
from collections_mcp.tools.common.types import SocialSecurityNumber
from tests.conftest import fresh_database
from tests.pg_cluster import PgCluster
from tests.state_backends import Backend

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


class Args(BaseModel):
    file_number: str
    message: str = ""
    ssn: SocialSecurityNumber | None = None
    cvv: str | None = None
    threedigitnumber: str | None = None
    card_number: str | None = None
    password: str | None = None
    pin: str | None = None
    api_token: str | None = None
    details: dict[str, Any] = {}


class Out(BaseModel):
    done: bool = True


async def _handler(ctx: Any, args: Args) -> Out:
    return Out()


def spec(name: str = "scollect_add_note", effect: Effect = Effect.WRITE) -> AnySpec:
    return ToolSpec(name, "Test tool", effect, "POST /x", Args, Out, _handler)


def record(tool: str = "scollect_add_note", at: datetime = T0, **changes: Any) -> AuditRecord:
    fields: dict[str, Any] = {
        "time": at,
        "call_id": f"c{at.timestamp():.0f}",
        "tool": tool,
        "toolset": "scollect",
        "effect": "write",
        "outcome": "ok",
        "duration_ms": 12.5,
    }
    return AuditRecord(**(fields | changes))


@pytest.fixture
def audit(backend: Backend) -> AuditLog:
    return backend.audit_log()


async def test_records_round_trip_and_queries_filter(audit: AuditLog) -> None:
    await audit.append(record("scollect_add_note", T0, arguments={"file_number": "R1"}, vendor_status=200))
    await audit.append(record("scollect_get_account", T0 + timedelta(minutes=1), effect="read"))
    await audit.append(record("scollect_add_note", T0 + timedelta(minutes=2), outcome="vendor_error", error="no"))

    everything = await audit.query(None, None, 100)
    assert [r.time for r in everything] == [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    assert everything[0].arguments == {"file_number": "R1"} and everything[0].vendor_status == 200
    assert everything[0].time.tzinfo is not None

    notes = await audit.query(None, "scollect_add_note", 100)
    assert [r.outcome for r in notes] == ["ok", "vendor_error"]
    recent = await audit.query(T0 + timedelta(minutes=1), None, 100)
    assert [r.tool for r in recent] == ["scollect_get_account", "scollect_add_note"]
    newest = await audit.query(None, None, 2)  # the newest N, oldest first
    assert [r.time for r in newest] == [T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    assert await audit.query(T0 + timedelta(days=1), None, 100) == []


async def test_a_compliance_override_round_trips_in_its_call_record(audit: AuditLog) -> None:
    override = {"stage": "compliance", "reason": "debtor asked in writing", "overridden": ["R1: BANKRUPTCY"]}
    await audit.append(record("scollect_send_text", T0, override=override))
    await audit.append(record("scollect_add_note", T0 + timedelta(minutes=1)))
    with_override, without = await audit.query(None, None, 10)
    assert with_override.override == override and without.override is None


async def test_the_table_is_append_only(audit: AuditLog, backend: Backend) -> None:
    await audit.append(record())
    refusals = ["UPDATE audit_log SET outcome = 'ok'", "DELETE FROM audit_log"]
    if backend.postgres:
        refusals.append("TRUNCATE audit_log")
    for statement in refusals:
        with pytest.raises(Exception, match="append-only"):
            backend.execute(statement)
    assert len(await audit.query(None, None, 10)) == 1


async def test_a_new_instance_on_the_same_store_sees_every_record(backend: Backend) -> None:
    first = backend.audit_log()
    for minute in range(3):
        await first.append(record(at=T0 + timedelta(minutes=minute)))
    # Nothing closed: what `append` returned for is stored, as after a crash.
    second = backend.audit_log()
    assert len(await second.query(None, None, 10)) == 3


def test_secret_argument_names() -> None:
    for name in ("cvv", "CVV2", "threedigitnumber", "card_number", "cardNumber", "password", "pin", "user_pin",
                 "api_token", "client_secret", "accessToken"):
        assert is_secret_key(name), name
    for name in ("file_number", "message", "shipping_address", "spinner", "phone_number", "opinion"):
        assert not is_secret_key(name), name


def test_redaction_drops_secret_keys_at_any_depth_and_scrubs_the_rest() -> None:
    redacted = redact_arguments(
        {"file_number": "R1", "note": "card 4111 1111 1111 1111, ssn 123-45-6789", "cvv": "123",
         "nested": [{"card_number": "4111111111111111", "routing": "021000021"}]}
    )
    assert redacted == {
        "file_number": "R1",
        "note": "card ****1111, ssn ***-**-6789",
        "nested": [{"routing": "*****0021"}],
    }


def call_for(arguments: BaseModel, the_spec: AnySpec | None = None) -> ToolCall:
    return ToolCall(spec=the_spec or spec(), toolset="scollect", arguments=arguments, call_id="abc123",
                    client_name="claude", session_id="s-1")  # fmt: skip


async def run_stage(audit: AuditLog, call: ToolCall, failure: BaseException | None = None) -> None:
    async def proceed() -> BaseModel:
        if failure is not None:
            raise failure
        return Out()

    await AuditStage(audit, clock=lambda: T0)(call, proceed)


async def test_stage_records_redacted_arguments(audit: AuditLog, backend: Backend) -> None:
    arguments = Args(
        file_number="R1000", message="pay with 4111-1111-1111-1111", ssn=SocialSecurityNumber("123-45-6789"),
        cvv="999", threedigitnumber="999", card_number="4111111111111111", password="hunter2", pin="1234",
        api_token="tok", details={"Password": "x", "memo": "SSN 987-65-4321"},
    )  # fmt: skip
    await run_stage(audit, call_for(arguments))
    [stored] = await audit.query(None, None, 10)
    assert stored.arguments == {
        "file_number": "R1000",
        "message": "pay with ****1111",
        "ssn": "***-**-6789",
        "details": {"memo": "SSN ***-**-4321"},
    }
    assert (stored.call_id, stored.session_id, stored.client_name) == ("abc123", "s-1", "claude")
    assert (stored.tool, stored.toolset, stored.effect, stored.time) == ("scollect_add_note", "scollect", "write", T0)
    dump = "\n".join(backend.rows("audit_log"))
    for secret in ("6789-", "123-45", "4111111111111111", "4111-1111", "hunter2", "999", "tok", "987-65"):
        assert secret not in dump, secret


@pytest.mark.parametrize(
    ("failure", "outcome", "status", "error"),
    [
        (None, "ok", None, None),
        (Refused("compliance", "texting is blocked: donottext"), "refused:compliance", None, "texting is blocked"),
        (VendorError("Scollect", "Data not found for this filenumber", status=404), "vendor_error", 404, "Data not found"),
        (RuntimeError("boom with ssn 123-45-6789"), "internal_error", None, "boom with ssn ***-**-6789"),
    ],
)
async def test_stage_records_each_outcome_once(
    audit: AuditLog, failure: BaseException | None, outcome: str, status: int | None, error: str | None
) -> None:
    if failure is None:
        await run_stage(audit, call_for(Args(file_number="R1")))
    else:
        with pytest.raises(type(failure)):
            await run_stage(audit, call_for(Args(file_number="R1")), failure)
    [stored] = await audit.query(None, None, 10)
    assert stored.outcome == outcome and stored.vendor_status == status
    assert (stored.error is None) if error is None else (stored.error is not None and error in stored.error)
    assert stored.duration_ms >= 0


async def test_stage_records_a_cancelled_call(audit: AuditLog) -> None:
    started = anyio.Event()

    async def proceed() -> BaseModel:
        started.set()
        await anyio.Event().wait()
        raise AssertionError("unreachable")

    async with anyio.create_task_group() as group:
        group.start_soon(AuditStage(audit), call_for(Args(file_number="R1")), proceed)
        await started.wait()
        group.cancel_scope.cancel()
    [stored] = await audit.query(None, None, 10)
    assert stored.outcome == "cancelled"


async def test_errors_are_truncated(audit: AuditLog) -> None:
    with pytest.raises(VendorError):
        await run_stage(audit, call_for(Args(file_number="R1")), VendorError("Scollect", "x" * 5000))
    [stored] = await audit.query(None, None, 10)
    assert stored.error is not None and len(stored.error) <= 500


async def test_rejected_calls_are_recorded_without_their_arguments(audit: AuditLog) -> None:
    await record_rejected(audit, spec(), "scollect", "rej1", "claude", "s-9",
                          "Invalid arguments for scollect_add_note; nothing was sent.\n- file_number: required")  # fmt: skip
    await AuditStage(audit).on_rejected(spec(), "scollect", "rej2", None, None, "bad ssn 123-45-6789", "invalid_arguments")
    first, second = await audit.query(None, None, 10)
    assert (first.call_id, first.outcome, first.arguments, first.session_id) == ("rej1", "invalid_arguments", {}, "s-9")
    assert first.error is not None and "file_number: required" in first.error
    assert second.outcome == "invalid_arguments" and second.error == "bad ssn ***-**-6789"


async def test_appends_from_many_tasks_all_land(audit: AuditLog) -> None:
    async with anyio.create_task_group() as group:
        for minute in range(50):
            group.start_soon(audit.append, record(at=T0 + timedelta(minutes=minute)))
    assert len(await audit.query(None, None, 1000)) == 50


async def test_an_audit_log_written_before_overrides_were_recorded_gains_the_column(tmp_path: Path) -> None:
    """A state directory from an older version: its records stay as they are, new ones carry the override."""
    path = tmp_path / "audit.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE audit_log (id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, call_id TEXT NOT NULL, "
        "session_id TEXT, client_name TEXT, tool TEXT NOT NULL, toolset TEXT NOT NULL, effect TEXT NOT NULL, "
        "arguments TEXT NOT NULL, outcome TEXT NOT NULL, vendor_status INTEGER, error TEXT, duration_ms REAL NOT NULL, "
        "replayed INTEGER NOT NULL);"
        "INSERT INTO audit_log (time, call_id, tool, toolset, effect, arguments, outcome, duration_ms, replayed) "
        "VALUES ('2026-11-25T09:00:00.000000Z', 'old1', 'scollect_add_note', 'scollect', 'write', '{}', 'ok', 1.0, 0);"
    )
    old.commit()
    old.close()
    log = SqliteAuditLog(path)
    try:
        override = {"stage": "compliance", "reason": "asked in writing", "overridden": ["R1: BANKRUPTCY"]}
        await log.append(record("scollect_send_text", override=override))
        older, newer = await log.query(None, None, 10)
    finally:
        log.close()
    assert (older.call_id, older.override) == ("old1", None)
    assert newer.override == override


async def test_records_written_while_postgresql_is_unreachable_are_spooled_then_moved_in_order(
    postgres: PgCluster, tmp_path: Path
) -> None:
    """A record the database cannot take is kept on local disk (durably) and moved in, in order and once, when
    the database answers again."""
    url = fresh_database(postgres)
    closed_port = url.replace(f":{postgres.port}/", ":9/")  # nothing listens there: refused at once
    down = PostgresAuditLog(PostgresDatabase(SecretStr(closed_port), timeout_seconds=0.2), AuditSpool(tmp_path / SPOOL_FILE))
    for minute in range(3):
        await down.append(record(at=T0 + timedelta(minutes=minute), arguments={"n": minute}))
    assert (tmp_path / SPOOL_FILE).exists() and down.spool_waiting() == 3
    down.close()

    back = PostgresAuditLog(PostgresDatabase(SecretStr(url)), AuditSpool(tmp_path / SPOOL_FILE))  # e.g. after a restart
    try:
        assert back.spool_waiting() == 3
        assert await back.flush_spool() == 3
        assert await back.flush_spool() == 0
        stored = await back.query(None, None, 10)
        assert [r.arguments["n"] for r in stored] == [0, 1, 2]
    finally:
        back.close()
        await back.db.close()


async def test_a_spooled_record_moved_twice_is_stored_once(postgres: PgCluster, tmp_path: Path) -> None:
    """A crash between moving a record in and forgetting it locally must not duplicate it: each record keeps
    the id it was spooled with."""
    url = fresh_database(postgres)
    spool = AuditSpool(tmp_path / SPOOL_FILE)
    await spool.put("6f1c2d3e-0000-4000-8000-000000000001", record())
    log = PostgresAuditLog(PostgresDatabase(SecretStr(url)), spool)
    try:
        await log.flush_spool()
        await spool.put("6f1c2d3e-0000-4000-8000-000000000001", record())  # as if never forgotten
        await log.flush_spool()
        assert len(await log.query(None, None, 10)) == 1
    finally:
        log.close()
        await log.db.close()


async def test_a_record_sqlite_refuses_fails_only_its_own_call_and_the_rest_of_its_batch_lands(tmp_path: Path) -> None:
    """The writer thread commits waiting records together; when that commit fails it writes them one by one, so one
    bad record is an error for its call alone (here: a trigger refuses it, as a full disk or a constraint would)."""
    log = SqliteAuditLog(tmp_path / "audit.sqlite3")
    with sqlite3.connect(tmp_path / "audit.sqlite3") as db:
        db.execute("CREATE TRIGGER refuse_poison BEFORE INSERT ON audit_log WHEN NEW.tool = 'poison' "
                   "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")  # fmt: skip
    outcomes: dict[str, str] = {}

    async def append(tool: str, minute: int) -> None:
        try:
            await log.append(record(tool=tool, at=T0 + timedelta(minutes=minute)))
            outcomes[f"{tool}-{minute}"] = "ok"
        except sqlite3.DatabaseError as exc:
            outcomes[f"{tool}-{minute}"] = str(exc)

    async with anyio.create_task_group() as group:  # submitted together: the writer takes them as one batch or more
        for minute in range(20):
            group.start_soon(append, "poison" if minute == 7 else "scollect_add_note", minute)
    stored = await log.query(None, None, 100)
    log.close()
    assert outcomes.pop("poison-7") == "refused by the test"
    assert set(outcomes.values()) == {"ok"} and len(outcomes) == 19
    assert len(stored) == 19 and all(r.tool == "scollect_add_note" for r in stored)


async def test_a_call_cancelled_while_its_record_is_written_still_has_its_record(tmp_path: Path) -> None:
    log = SqliteAuditLog(tmp_path / "audit.sqlite3")
    with anyio.CancelScope() as scope:
        scope.cancel()  # the call is cancelled at its first wait: for the commit of its record
        await log.append(record(call_id="cancelled-call"))
    log.close()  # the writer finishes what it was given before the file closes
    reopened = SqliteAuditLog(tmp_path / "audit.sqlite3")
    assert [r.call_id for r in await reopened.query(None, None, 10)] == ["cancelled-call"]
    reopened.close()
    with pytest.raises(RuntimeError, match="the audit log is closed"):
        await log.append(record(call_id="too-late"))
