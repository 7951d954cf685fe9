"""Logging: JSON lines on stderr (stdout belongs to the stdio transport), every line scrubbed."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from server.redaction import scrub, scrub_text

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub_text(record.getMessage()),
        }
        entry |= {key: scrub(value) for key, value in record.__dict__.items() if key not in _STANDARD}
        if record.exc_info:
            entry["error"] = scrub_text(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


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


def announce(message: str) -> None:
    """Startup lines for people go to stderr: stdout may be the stdio transport."""
    print(message, file=sys.stderr, flush=True)
