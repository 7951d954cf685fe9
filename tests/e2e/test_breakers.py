"""Circuit breakers and the call deadline as a client sees them: a dead vendor is remembered, per server.

The breakers read the server's clock (injected here), so the cool-down passes without waiting; what reached
the vendor is read off the simulator (`Wire`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import ElicitResult

from collections_mcp.sandbox.runner import RunningSandbox
from collections_mcp.server.app import CollectionsServer, ServerConfig
from collections_mcp.tools.common.resilience import BreakerState
from tests.conftest import Wire
from tests.helpers import Clock, text_of

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 12, 4, 14, 0, 0, tzinfo=UTC)
DEADLINE = 0.3
GUARD = DEADLINE + 2.0  # hang guard for calls that wait on a silent vendor
FAST = 0.5  # hang guard for calls that must fail at once (an open breaker sends nothing)
READ = ("scollect_get_account", {"file_number": "R1000"})


@pytest.fixture(autouse=True)
def clean_faults(sandbox: RunningSandbox) -> Any:
    sandbox.scollect.app.state.faults.clear()
    yield
    sandbox.scollect.app.state.faults.clear()


def config_with(server_config: ServerConfig, clock: Clock, **settings: Any) -> ServerConfig:
    changes = {"call_deadline_seconds": DEADLINE, "breaker_failures": 2, "breaker_cooldown_seconds": 30.0} | settings
    return replace(server_config, settings=server_config.settings.model_copy(update=changes), clock=clock)


@asynccontextmanager
async def serving(config: ServerConfig, **kwargs: Any) -> AsyncIterator[tuple[CollectionsServer, Client]]:
    built = CollectionsServer(config)
    async with Client(built.mcp_server(), **kwargs) as client:
        yield built, client


async def failing(client: Client, tool: str, arguments: dict[str, Any], within: float) -> str:
    with anyio.fail_after(within):
        result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    return text_of(result)


def reads(wire: Wire) -> int:
    return sum(path.startswith("GET /getaccount/") for path in wire.paths())


async def test_a_dead_vendor_is_remembered_and_tried_again_one_request_at_a_time(
    server_config: ServerConfig, sandbox: RunningSandbox, wire: Wire, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="collections_mcp.vendors")
    clock = Clock(T0)
    faults = sandbox.scollect.app.state.faults
    faults.silent("^/getaccount/", times=100)
    async with serving(config_with(server_config, clock)) as (built, client):
        for _ in range(2):  # two timeouts in a row (COLLECTIONS_MCP_BREAKER_FAILURES=2)
            assert "no answer within the call's deadline" in await failing(client, *READ, within=GUARD)
        sent = reads(wire)

        # Open: a read and a write both fail at once, saying since when and until when; nothing is sent.
        refused = await failing(client, *READ, within=FAST)
        note = {"file_number": "R1004", "collector_name": "breaker", "message": uuid.uuid4().hex}
        refused_write = await failing(client, "scollect_add_note", note, within=FAST)
        for text in (refused, refused_write):
            assert "Scollect is unavailable: unreachable since 2026-12-04T14:00:00Z (2 failed requests in a row" in text
            assert "it will be tried again at 2026-12-04T14:00:30Z (in 30 s)" in text
            assert "Nothing was sent to the vendor for this call" in text
        assert reads(wire) == sent and "POST /InsertNoteline" not in wire.paths()
        (snapshot,) = [entry for entry in built.breakers.snapshot().values() if entry.vendor == "Scollect"]
        assert snapshot.state is BreakerState.OPEN and snapshot.next_trial == T0 + timedelta(seconds=30)

        # Another server has its own breaker: the same vendor is still tried there.
        async with serving(config_with(server_config, clock)) as (_, other_client):
            assert "no answer within the call's deadline" in await failing(other_client, *READ, within=GUARD)
        assert reads(wire) == sent + 1

        # Cool-down over: one trial at a time. While it waits on the (still silent) vendor, others fail at once.
        clock.now = T0 + timedelta(seconds=31)
        in_flight = sandbox.scollect.app.state.in_flight
        async with anyio.create_task_group() as calls:
            trial_result: list[str] = []

            async def trial() -> None:
                trial_result.append(await failing(client, *READ, within=GUARD))

            calls.start_soon(trial)
            with anyio.fail_after(GUARD):
                await in_flight.wait_until(lambda count: count >= 1)  # the trial's request reached the vendor
            during_trial = await failing(client, *READ, within=FAST)
        assert "a trial request is checking whether it is back right now" in during_trial
        assert "no answer within the call's deadline" in trial_result[0]
        assert built.breakers.snapshot()["Scollect"].state is BreakerState.OPEN  # the failed trial reopened it
        assert built.breakers.snapshot()["Scollect"].next_trial == clock.now + timedelta(seconds=30)

        # The vendor is back: the next trial closes the breaker, and calls flow again.
        faults.clear()
        clock.now += timedelta(seconds=31)
        for _ in range(2):
            with anyio.fail_after(GUARD):
                result = await client.call_tool(*READ)
            assert not result.is_error, text_of(result)
        assert built.breakers.snapshot()["Scollect"].state is BreakerState.CLOSED
    logged = [record.getMessage() for record in caplog.records if record.name == "collections_mcp.vendors"]
    assert logged[0].startswith("circuit breaker for Scollect open: 2 failed request(s) in a row")
    assert logged[-1] == "circuit breaker for Scollect closed: the vendor answered again", logged


async def test_an_answer_of_any_status_is_not_a_transport_failure(
    server_config: ServerConfig, sandbox: RunningSandbox, wire: Wire
) -> None:
    """A 5xx storm is the vendor answering: the calls fail (reads after their retries), the breaker stays closed."""
    sandbox.scollect.app.state.faults.http_error("^/getaccount/", 503, times=100)
    async with serving(config_with(server_config, Clock(T0))) as (built, client):
        for _ in range(3):
            assert "server error HTTP 503" in await failing(client, *READ, within=GUARD)
        assert built.breakers.snapshot()["Scollect"].state is BreakerState.CLOSED
    assert reads(wire) >= 3


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_the_time_a_person_takes_does_not_count_against_the_deadline(
    server_config: ServerConfig, sandbox: RunningSandbox, wire: Wire, mode: str
) -> None:
    """The person considers the confirmation for longer than the whole deadline; the write still goes out."""
    overwrite = {"file_number": "R1024", "field": "employer", "value": f"SLOW PERSON {mode}"}

    async def slow_person(context: Any, params: Any) -> ElicitResult:
        await anyio.sleep(DEADLINE * 2)  # a person reading the summary, not a synchronisation
        return ElicitResult(action="accept", content={"confirm": True})

    config = config_with(server_config, Clock(T0))
    async with serving(config, mode=mode, elicitation_callback=slow_person) as (_, client):
        with anyio.fail_after(GUARD + DEADLINE * 2):
            result = await client.call_tool("scollect_update_account_field", overwrite)
    assert not result.is_error, text_of(result)
    assert wire.paths()[-1] == "PUT /updatedbase"
    assert sandbox.scollect.store.account("R1024")["employer"] == f"SLOW PERSON {mode}"


async def test_the_breaker_gauge_follows_the_servers_own_breakers(
    server_config: ServerConfig, sandbox: RunningSandbox, tmp_path: Any
) -> None:
    """Prometheus reads the breakers the calls go through: closed once a vendor answered, open after the failures."""
    from tests.e2e.test_telemetry import sample, scrape

    clock = Clock(T0)
    config = config_with(server_config, clock, metrics_address="127.0.0.1:0")
    sandbox.scollect.app.state.faults.silent("^/getaccount/", times=100)
    async with serving(config) as (built, client):
        assert built.metrics_url is not None
        await client.call_tool("scollect_list_portfolios", {})  # Scollect answers: its breaker exists, closed
        closed = await scrape(built.metrics_url)
        for _ in range(2):
            await failing(client, *READ, within=GUARD)
        opened = await scrape(built.metrics_url)
    assert sample(closed, "collections_mcp_vendor_breaker_state", vendor="Scollect") == 0
    assert sample(opened, "collections_mcp_vendor_breaker_state", vendor="Scollect") == 2
