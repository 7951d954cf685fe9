"""Logging: JSON lines on stderr (stdout belongs to the stdio transport), every line scrubbed.

Every line emitted while a request is handled carries that request's `request_id` and `client`, whatever
logger wrote it (the per-call line, a vendor client's HTTP line, an error with its traceback). They come
from a context variable: server/transport/http.py binds it per HTTP request (ASGI middleware) and per MCP request
(SDK server middleware, which is what covers stdio); the SDK hands each handler its sender's context.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime

from collections_mcp.server.core.redaction import scrub, scrub_text

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
# Fields the request context supplies; a record's own non-empty value for them wins (e.g. the call line's client).
_CONTEXT_FIELDS = ("request_id", "client")
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


@dataclass
class RequestInfo:
    """What every log line of one request says about it. Mutable: the client is known only after auth."""

    request_id: str
    client: str | None = None


_request: ContextVar[RequestInfo | None] = ContextVar("collections_mcp_request", default=None)


def new_request_id() -> str:
    """32 hex characters the scrub leaves alone (a run of nine digits would be masked as an SSN-like number,
    and the id in the logs would no longer match the one echoed to the client)."""
    while True:
        candidate = uuid.uuid4().hex
        if scrub_text(candidate) == candidate:
            return candidate


def sane_request_id(value: str | None) -> str | None:
    """An incoming X-Request-Id we can log as is: short, plain characters, nothing the scrub would alter."""
    if value is None or not _SANE_REQUEST_ID.fullmatch(value) or scrub_text(value) != value:
        return None
    return value


def current_request() -> RequestInfo | None:
    return _request.get()


@contextmanager
def request_context(request_id: str | None = None, client: str | None = None) -> Iterator[RequestInfo]:
    """Bind a request for the lines logged inside (a fresh id unless one is given)."""
    info = RequestInfo(request_id or new_request_id(), client)
    token = _request.set(info)
    try:
        yield info
    finally:
        _request.reset(token)


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub_text(record.getMessage()),
        }
        info = _request.get()
        if info is not None:
            entry |= {"request_id": scrub_text(info.request_id), "client": scrub(info.client)}
        for key, value in record.__dict__.items():
            if key in _STANDARD or (key in _CONTEXT_FIELDS and value is None and key in entry):
                continue
            entry[key] = scrub(value)
        if record.exc_info:
            entry["error"] = scrub_text(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = scrub_text(self.formatStack(record.stack_info))
        return json.dumps(entry, default=lambda value: scrub_text(str(value)))


def configure_logging(level: str = "INFO") -> None:
    """Install the one root handler before the SDK's basicConfig can add its own."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The SDK logs every failed tool call at INFO with its text; ours are already logged by the pipeline.
    logging.getLogger("mcp.server.mcpserver.server").setLevel(logging.WARNING)
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


ANNOUNCER = "collections_mcp.server"


def announce(message: str, level: int = logging.INFO, **fields: object) -> None:
    """A startup or shutdown line for the operator: on stderr (stdout may be the stdio transport), as a JSON line
    like every other server line, and printed whatever the log level (scripts wait for "... at URL")."""
    record = logging.LogRecord(ANNOUNCER, level, __file__, 0, message, None, None)
    record.__dict__.update(fields)
    print(JsonLines().format(record), file=sys.stderr, flush=True)
