"""Scollect's response envelope, normalised.

Scollect says `"state": "SUCCESS"` whenever its server answered, including when the operation failed.
Every shape in the seed, and what it means here:

    {"result": X, "state": "SUCCESS"}                 -> X
    {"result": {"result": [...]}, ...}                -> the inner list (empty means "nothing")
    {"result": {"error": "..."}, ...}                 -> error (not-found wording -> VendorNotFound)
    {"result": [{"error": "..."}, 404], ...}          -> VendorNotFound; other codes -> VendorError
    {"state": "TIMEOUT", "status": "..."}             -> VendorError with the status text
    {"state": "SUCCESS", "message": "..."}            -> {"message": "..."}
    HTTP 5xx; a 2xx body that is not JSON             -> VendorUnavailable (a read may be retried)
    HTTP 4xx whose body is not JSON (Werkzeug's page) -> VendorError naming the status (never retried)

Token failures come two ways: flask-jwt-extended's real HTTP 401 (or 422) with {"msg": ...}, and, on the
endpoints that handle token expiry in the view, the vendor's own envelope at HTTP 200:
{"result": [{"error": "Token has expired"}, 401], "state": "SUCCESS"}. `is_auth_failure` knows both.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from collections_mcp.tools.common.errors import VendorAuthError, VendorError, VendorNotFound, VendorUnavailable

VENDOR = "Scollect"
_NOT_FOUND_WORDING = ("not found", "does not exist", "no payment info found")
# PyJWT / flask-jwt-extended texts a view passes on when it handles a bad token itself.
_TOKEN_WORDING: Final = (
    "token has expired",
    "signature has expired",
    "signature verification failed",
    "missing authorization header",
)
_TITLE: Final = re.compile(r"<title>\s*([^<]{1,120}?)\s*</title>", re.IGNORECASE)


def _error_pair(result: Any) -> tuple[Any, int] | None:
    """The message and code of {"result": [{"error": ...}, code]} (a Flask (body, status) tuple as data)."""
    if (
        isinstance(result, list)
        and len(result) == 2
        and isinstance(result[0], dict)
        and "error" in result[0]
        and isinstance(result[1], int)
    ):
        return result[0]["error"], result[1]
    return None


def is_auth_failure(status: int, body: Any) -> bool:
    """Our token was refused: flask-jwt-extended's HTTP 401 (422 with {"msg"} for a malformed token), or the
    vendor's envelope at HTTP 200 with code 401 or a token error text (views that catch token expiry)."""
    if status == 401 or (status == 422 and isinstance(body, dict) and "msg" in body):
        return True
    if status >= 400 or not isinstance(body, dict):
        return False
    result = body.get("result")
    pair = _error_pair(result)
    if pair is not None and pair[1] == 401:
        return True
    message = pair[0] if pair is not None else result.get("error") if isinstance(result, dict) else None
    return isinstance(message, str) and any(wording in message.lower() for wording in _TOKEN_WORDING)


def parse_body(status: int, text: str) -> Any:
    """The JSON of an answer. 5xx, and a 2xx/3xx that is not JSON (a proxy's page), are VendorUnavailable; a
    4xx that is not JSON is the request's own fault (Werkzeug refused it before the API ran): VendorError."""
    if status >= 500:
        raise VendorUnavailable(VENDOR, f"server error HTTP {status}", status=status)
    try:
        return json.loads(text)
    except ValueError:
        if 400 <= status < 500:
            title = _TITLE.search(text)
            page = f' ("{title.group(1)}")' if title else ""
            raise VendorError(
                VENDOR, f"answered HTTP {status} with a page that is not JSON{page}; the request was refused before "
                "the API handled it (check the base URL and the request)", status=status,
            ) from None  # fmt: skip
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
    pair = _error_pair(result)
    if pair is not None:
        raise _error(*pair)
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
