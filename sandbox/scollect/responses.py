"""The vendor's response shapes: its JSON envelopes and the HTML pages Flask/Werkzeug send for HTTP errors."""

from __future__ import annotations

import json
from typing import Any, Final

from starlette.responses import HTMLResponse, JSONResponse

_SUCCESS: Final = "SUCCESS"


class FlaskJSONResponse(JSONResponse):
    """JSON as Flask's jsonify writes it: sorted keys, compact, trailing newline."""

    def render(self, content: Any) -> bytes:
        return (json.dumps(content, sort_keys=True, separators=(",", ":")) + "\n").encode()


def ok(result: Any) -> FlaskJSONResponse:
    """{"result": ..., "state": "SUCCESS"}."""
    return FlaskJSONResponse({"result": result, "state": _SUCCESS})


def error(message: str) -> FlaskJSONResponse:
    """{"result": {"error": ...}, "state": "SUCCESS"}: HTTP 200, the error lives in the body."""
    return ok({"error": message})


def error_with_code(message: str, code: int) -> FlaskJSONResponse:
    """{"result": [{"error": ...}, code], "state": "SUCCESS"}: a Flask (body, status) tuple serialised as data."""
    return ok([{"error": message}, code])


def empty() -> FlaskJSONResponse:
    """{"result": {"result": []}, "state": "SUCCESS"}: the vendor's "nothing found"."""
    return ok({"result": []})


def raw(content: dict[str, Any]) -> FlaskJSONResponse:
    """A body that does not follow the usual envelope (the vendor has a few)."""
    return FlaskJSONResponse(content)


def auth_failure(status: int, msg: str) -> FlaskJSONResponse:
    """flask-jwt-extended's rejection: a real HTTP status with {"msg": ...}."""
    return FlaskJSONResponse({"msg": msg}, status_code=status)


_WERKZEUG_PAGES: Final[dict[int, tuple[str, str]]] = {
    400: ("Bad Request", "The browser (or proxy) sent a request that this server could not understand."),
    404: (
        "Not Found",
        "The requested URL was not found on the server. If you entered the URL manually please check your "
        "spelling and try again.",
    ),
    405: ("Method Not Allowed", "The method is not allowed for the requested URL."),
    415: (
        "Unsupported Media Type",
        "Did not attempt to load JSON data because the request Content-Type was not &#39;application/json&#39;.",
    ),
    500: (
        "Internal Server Error",
        "The server encountered an internal error and was unable to complete your request. Either the server is "
        "overloaded or there is an error in the application.",
    ),
}


def werkzeug_page(status: int) -> HTMLResponse:
    """The HTML error page a Flask app sends for an HTTP error outside its views."""
    title, text = _WERKZEUG_PAGES.get(status, _WERKZEUG_PAGES[500])
    page = f"<!doctype html>\n<html lang=en>\n<title>{status} {title}</title>\n<h1>{title}</h1>\n<p>{text}</p>\n"
    return HTMLResponse(page, status_code=status)
