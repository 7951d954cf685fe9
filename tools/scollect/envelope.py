"""Scollect's response envelope, normalised.

Scollect says `"state": "SUCCESS"` whenever its server answered, including when the operation failed.
Every shape in the seed, and what it means here:

    {"result": X, "state": "SUCCESS"}                 -> X
    {"result": {"result": [...]}, ...}                -> the inner list (empty means "nothing")
    {"result": {"error": "..."}, ...}                 -> error (not-found wording -> VendorNotFound)
    {"result": [{"error": "..."}, 404], ...}          -> VendorNotFound; other codes -> VendorError
    {"state": "TIMEOUT", "status": "..."}             -> VendorError with the status text
    {"state": "SUCCESS", "message": "..."}            -> {"message": "..."}
    HTTP 5xx, non-JSON body                           -> VendorUnavailable
"""

from __future__ import annotations

import json
from typing import Any

from tools.common.errors import VendorAuthError, VendorError, VendorNotFound, VendorUnavailable

VENDOR = "Scollect"
_NOT_FOUND_WORDING = ("not found", "does not exist", "no payment info found")


def is_auth_failure(status: int, body: Any) -> bool:
    """flask-jwt-extended answers 401 for missing/expired tokens and 422 for malformed ones, with {"msg": ...}."""
    return status == 401 or (status == 422 and isinstance(body, dict) and "msg" in body)


def parse_body(status: int, text: str) -> Any:
    if status >= 500:
        raise VendorUnavailable(VENDOR, f"server error HTTP {status}", status=status)
    try:
        return json.loads(text)
    except ValueError:
        raise VendorUnavailable(VENDOR, f"answered HTTP {status} with a body that is not JSON", status=status) from None


def _error(message: Any, code: int | None) -> VendorError:
    text = str(message).strip() if message else ""
    if not text:
        return VendorError(VENDOR, "the vendor reported an error without a message", status=code)
    if code == 404 or any(word in text.lower() for word in _NOT_FOUND_WORDING):
        return VendorNotFound(VENDOR, text, status=code)
    if code == 401:
        return VendorAuthError(VENDOR, text, status=code)
    return VendorError(VENDOR, text, status=code)


def unwrap(status: int, body: Any) -> Any:
    """The payload of a successful answer; raises the matching VendorError for every failure shape."""
    if status >= 400:
        detail = body.get("msg") or body.get("error") if isinstance(body, dict) else None
        raise VendorError(VENDOR, str(detail or f"HTTP {status}"), status=status)
    if not isinstance(body, dict):
        raise VendorError(VENDOR, f"unexpected response shape: {type(body).__name__}")
    if body.get("state") == "TIMEOUT":
        raise _error(body.get("status") or "the request timed out at the vendor", None)
    if "result" not in body:
        if "message" in body:
            return {"message": body["message"]}
        raise VendorError(VENDOR, "response has neither 'result' nor 'message'")
    result = body["result"]
    if (
        isinstance(result, list)
        and len(result) == 2
        and isinstance(result[0], dict)
        and "error" in result[0]
        and isinstance(result[1], int)
    ):
        raise _error(result[0]["error"], result[1])
    if isinstance(result, dict):
        if "error" in result:
            raise _error(result["error"], None)
        if set(result) == {"result"}:
            return result["result"]
    return result


def success_message(payload: Any) -> str:
    """The confirmation text of a write ({"success": ...}, {"Success": ...}, {"message": ...})."""
    if isinstance(payload, dict):
        for key in ("success", "Success", "message"):
            if key in payload and payload[key] not in (None, "", True):
                return str(payload[key])
        if payload.get("success") is True:
            return "done"
    if isinstance(payload, str) and payload:
        return payload
    raise VendorError(VENDOR, f"the vendor did not confirm the change (answer: {str(payload)[:200]})")
