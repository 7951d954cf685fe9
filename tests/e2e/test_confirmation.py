"""Confirmation of destructive (and money) calls by a person, in both protocol eras."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from mcp import Client
from mcp.types import ElicitResult

from collections_mcp.sandbox.runner import RunningSandbox
from collections_mcp.server.app import ServerConfig, build_server
from tests.conftest import Wire
from tests.helpers import text_of

pytestmark = pytest.mark.anyio
ERAS = pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
OVERWRITE = {"file_number": "R1020", "field": "employer", "value": "NEW EMPLOYER"}




def answering(reply: ElicitResult, shown: list[Any]) -> Any:
    async def person(context: Any, params: Any) -> ElicitResult:
        shown.append(params)
        return reply

    return person


@ERAS
async def test_confirmed_overwrite_shows_what_changes_then_writes(
    server_config: ServerConfig, sandbox: RunningSandbox, wire: Wire, mode: str
) -> None:
    shown: list[Any] = []
    before = sandbox.scollect.store.account("R1020")["employer"]
    person = answering(ElicitResult(action="accept", content={"confirm": True}), shown)
    async with Client(build_server(server_config), mode=mode, elicitation_callback=person) as mcp:  # type: ignore[arg-type]
        result = await mcp.call_tool("scollect_update_account_field", OVERWRITE)
    assert not result.is_error, text_of(result)
    assert f"overwrite 'employer' from '{before.strip() or '(blank)'}' to 'NEW EMPLOYER'" in shown[0].message
    assert shown[0].requested_schema["properties"]["confirm"]["type"] == "boolean"
    assert "Confirmed by a person" in text_of(result)
    assert wire.paths()[-1] == "PUT /updatedbase"
    assert sandbox.scollect.store.account("R1020")["employer"] == "NEW EMPLOYER"


@ERAS
@pytest.mark.parametrize(
    "reply",
    [
        ElicitResult(action="decline"),
        ElicitResult(action="cancel"),
        ElicitResult(action="accept", content={"confirm": False}),
    ],
)
async def test_anything_but_yes_sends_nothing(
    server_config: ServerConfig, sandbox: RunningSandbox, wire: Wire, mode: str, reply: ElicitResult
) -> None:
    before = sandbox.scollect.store.account("R1021")["employer"]
    person = answering(reply, [])
    async with Client(build_server(server_config), mode=mode, elicitation_callback=person) as mcp:  # type: ignore[arg-type]
        result = await mcp.call_tool("scollect_update_account_field", OVERWRITE | {"file_number": "R1021"})
    assert result.is_error
    assert "did not confirm" in text_of(result) and "nothing was sent" in text_of(result)
    assert "PUT /updatedbase" not in wire.paths()
    assert sandbox.scollect.store.account("R1021")["employer"] == before


async def test_client_without_elicitation_is_refused(server_config: ServerConfig, wire: Wire) -> None:
    async with Client(build_server(server_config)) as mcp:
        result = await mcp.call_tool("scollect_update_account_field", OVERWRITE)
    assert result.is_error
    assert "must be confirmed by a person" in text_of(result) and "COLLECTIONS_MCP_CONFIRM=never" in text_of(result)
    assert wire.paths() == []


async def test_confirm_never_is_for_preapproved_automation(
    server_config: ServerConfig, sandbox: RunningSandbox, wire: Wire
) -> None:
    settings = server_config.settings.model_copy(update={"confirm": "never"})
    async with Client(build_server(replace(server_config, settings=settings))) as mcp:
        result = await mcp.call_tool("scollect_update_account_field", OVERWRITE | {"file_number": "R1022"})
    assert not result.is_error, text_of(result)
    assert "Not confirmed by a person" in text_of(result)
    assert wire.paths() == ["PUT /updatedbase"]


@ERAS
async def test_a_declined_confirmation_is_asked_again_on_an_identical_retry(
    server_config: ServerConfig, sandbox: RunningSandbox, wire: Wire, mode: str
) -> None:
    """A refusal changed nothing, so it is never replayed: the retry asks the person again."""
    shown: list[Any] = []
    replies = [ElicitResult(action="decline"), ElicitResult(action="accept", content={"confirm": True})]

    async def person(context: Any, params: Any) -> ElicitResult:
        shown.append(params)
        return replies.pop(0)

    arguments = OVERWRITE | {"file_number": "R1023", "value": f"RETRY EMPLOYER {mode}"}
    async with Client(build_server(server_config), mode=mode, elicitation_callback=person) as mcp:  # type: ignore[arg-type]
        declined = await mcp.call_tool("scollect_update_account_field", arguments)
        confirmed = await mcp.call_tool("scollect_update_account_field", arguments)
    assert declined.is_error and "did not confirm" in text_of(declined)
    assert not confirmed.is_error, text_of(confirmed)
    assert not (confirmed.meta or {}).get("collections-mcp/replayed")
    assert len(shown) == 2
    assert wire.paths().count("PUT /updatedbase") == 1
    assert sandbox.scollect.store.account("R1023")["employer"] == f"RETRY EMPLOYER {mode}"
