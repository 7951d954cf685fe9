"""Every Scollect envelope shape in the seed, normalised."""

from __future__ import annotations

from typing import Any

import pytest

from collections_mcp.tools.common.errors import VendorAuthError, VendorError, VendorNotFound, VendorUnavailable
from collections_mcp.tools.scollect.envelope import is_auth_failure, parse_body, success_message, unwrap


def test_plain_result_is_returned() -> None:
    assert unwrap(200, {"result": [{"id": 1}], "state": "SUCCESS"}) == [{"id": 1}]


def test_nested_result_list_is_unwrapped_and_empty_means_nothing() -> None:
    assert unwrap(200, {"result": {"result": [{"a": 1}]}, "state": "SUCCESS"}) == [{"a": 1}]
    assert unwrap(200, {"result": {"result": []}, "state": "SUCCESS"}) == []


def test_error_inside_success_state_is_an_error() -> None:
    with pytest.raises(VendorError, match="Missing portfolio") as caught:
        unwrap(200, {"result": {"error": "Missing portfolio"}, "state": "SUCCESS"})
    assert type(caught.value) is VendorError


def test_not_found_wording_is_not_found() -> None:
    with pytest.raises(VendorNotFound):
        unwrap(200, {"result": {"error": "Data not found for this filenumber"}, "state": "SUCCESS"})


@pytest.mark.parametrize(
    ("code", "kind"), [(404, VendorNotFound), (400, VendorError), (401, VendorAuthError)]
)
def test_error_with_code_pair(code: int, kind: type[VendorError]) -> None:
    with pytest.raises(kind) as caught:
        unwrap(200, {"result": [{"error": "You need to provide at least one field to update"}, code], "state": "SUCCESS"})
    assert caught.value.status == code


def test_timeout_state_is_an_error_with_its_status_text() -> None:
    with pytest.raises(VendorError, match="At least one update field must be provided"):
        unwrap(200, {"state": "TIMEOUT", "status": "At least one update field must be provided."})


def test_message_envelope_is_success() -> None:
    payload = unwrap(200, {"state": "SUCCESS", "message": "Payment successfully inserted"})
    assert success_message(payload) == "Payment successfully inserted"


def test_empty_error_message_is_still_an_error() -> None:
    with pytest.raises(VendorError, match="without a message"):
        unwrap(200, {"result": {"error": ""}, "state": "SUCCESS"})


def test_non_json_and_5xx_are_unavailable() -> None:
    with pytest.raises(VendorUnavailable, match="not JSON"):
        parse_body(200, "<html>Bad Gateway</html>")
    with pytest.raises(VendorUnavailable, match="HTTP 502"):
        parse_body(502, '{"result": []}')
    with pytest.raises(VendorUnavailable, match="HTTP 503"):
        parse_body(503, "<html><title>503 Service Unavailable</title></html>")


@pytest.mark.parametrize(("status", "title"), [(400, "400 Bad Request"), (404, "404 Not Found"), (415, None)])
def test_a_4xx_page_that_is_not_json_is_a_plain_vendor_error(status: int, title: str | None) -> None:
    page = f"<!doctype html>\n<html lang=en>\n<title>{title}</title>\n<h1>x</h1>\n" if title else "Unsupported"
    with pytest.raises(VendorError) as caught:
        parse_body(status, page)
    assert type(caught.value) is VendorError and caught.value.status == status
    assert caught.value.message.startswith(f"answered HTTP {status} with a page that is not JSON")
    assert (f'("{title}")' in caught.value.message) is (title is not None)


def test_auth_failures_are_recognised() -> None:
    assert is_auth_failure(401, None)
    assert is_auth_failure(422, {"msg": "Signature verification failed"})
    assert not is_auth_failure(200, {"msg": "x"})


@pytest.mark.parametrize(
    "body",
    [
        {"result": [{"error": "Token has expired"}, 401], "state": "SUCCESS"},
        {"result": [{"error": "Unauthorized"}, 401], "state": "SUCCESS"},
        {"result": {"error": "Signature has expired"}, "state": "SUCCESS"},
        {"result": [{"error": "Signature verification failed"}, 500], "state": "SUCCESS"},
    ],
)
def test_token_failures_in_the_vendors_envelope_are_auth_failures(body: dict[str, Any]) -> None:
    assert is_auth_failure(200, body)


@pytest.mark.parametrize(
    "body",
    [
        {"result": [{"error": "Data not found for this filenumber"}, 400], "state": "SUCCESS"},
        {"result": {"error": "SSN of 111-22-333 not found"}, "state": "SUCCESS"},
        {"result": [{"error": "x"}, True], "state": "SUCCESS"},
        {"result": [{"error": "Invalid token for this card"}, 400], "state": "SUCCESS"},
        {"result": {"success": "Phone number inserted successfully"}, "state": "SUCCESS"},
        {"state": "TIMEOUT", "status": "At least one update field must be provided."},
        [],
    ],
)
def test_other_errors_are_not_auth_failures(body: Any) -> None:
    assert not is_auth_failure(200, body)


@pytest.mark.parametrize("payload", [{"success": True, "x": 1}, {"Success": "Callback has been uploaded"}])
def test_success_messages(payload: dict[str, Any]) -> None:
    assert success_message(payload)


def test_unconfirmed_write_is_not_success() -> None:
    with pytest.raises(VendorError, match="did not confirm"):
        success_message([])
