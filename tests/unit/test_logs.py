"""The JSON-lines formatter: one JSON object a line, the request's id and client on it, nothing unscrubbed."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from collections_mcp.server.transport.logs import JsonLines, announce, new_request_id, request_context, sane_request_id

SSN = "123-45-6789"
CARD = "4111 1111 1111 1111"


class Opaque:
    """An extra that is not JSON: the formatter falls back to its text, which must be scrubbed too."""

    def __str__(self) -> str:
        return f"customer {SSN}"


def format_record(message: str, *args: object, exc: bool = False, stack: bool = False, **extra: Any) -> dict[str, Any]:
    logger = logging.getLogger("collections_mcp.test_logs")
    exc_info = None
    if exc:
        try:
            raise ValueError(f"vendor said {SSN}")
        except ValueError as error:
            exc_info = (type(error), error, error.__traceback__)
    made = logger.makeRecord(logger.name, logging.ERROR, __file__, 1, message, args, exc_info, extra=extra,
                             sinfo=f"stack with {CARD}" if stack else None)  # fmt: skip
    entry: dict[str, Any] = json.loads(JsonLines().format(made))
    return entry


def test_every_part_of_a_line_goes_through_the_audit_scrub() -> None:
    entry = format_record(
        "payment by %s for %s", CARD, SSN, exc=True, stack=True,
        note={"text": f"ssn {SSN}"}, items=[CARD], thing=Opaque(),
    )  # fmt: skip
    text = json.dumps(entry)
    assert SSN not in text and CARD not in text and "4111111111111111" not in text
    assert entry["message"] == "payment by ****1111 for ***-**-6789"
    assert entry["note"] == {"text": "ssn ***-**-6789"} and entry["items"] == ["****1111"]
    assert entry["thing"] == "customer ***-**-6789"
    assert "***-**-6789" in entry["error"] and "****1111" in entry["stack"]


def test_lines_inside_a_request_carry_its_id_and_client() -> None:
    assert "request_id" not in format_record("outside")
    with request_context("req-1", "ivr"):
        inside = format_record("inside")
        per_call = format_record("call line", client=None, tool="x")  # the call line's own None does not win
        own = format_record("own client", client="desk")
    assert (inside["request_id"], inside["client"]) == ("req-1", "ivr")
    assert (per_call["request_id"], per_call["client"], per_call["tool"]) == ("req-1", "ivr", "x")
    assert own["client"] == "desk"
    with request_context() as info:
        generated = format_record("generated")
    assert generated["request_id"] == info.request_id and len(info.request_id) == 32


def test_generated_request_ids_survive_the_scrub() -> None:
    ids = {new_request_id() for _ in range(2000)}  # plain uuid hex has a nine-digit run about one time in four
    assert len(ids) == 2000 and all(sane_request_id(value) == value for value in ids)


def test_only_plain_short_request_ids_are_taken_from_outside() -> None:
    assert sane_request_id("lb-7f3a.42:1") == "lb-7f3a.42:1"
    for odd in (None, "", "has space", "x" * 200, "a\nb", "-leading-dash", "123456789"):  # the last would be masked
        assert sane_request_id(odd) is None


def test_announcements_are_json_lines_on_stderr_whatever_the_level(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.CRITICAL)  # an operator's COLLECTIONS_MCP_LOG_LEVEL must not hide "... at URL"
    try:
        announce("MCP streamable HTTP at http://127.0.0.1:1/mcp (ready)", url="http://127.0.0.1:1/mcp")
    finally:
        root.setLevel(level)
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.splitlines()
    assert json.loads(line)["url"] == "http://127.0.0.1:1/mcp"
