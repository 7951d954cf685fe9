"""`tools/list` answered from one wire form per protocol version, built on the first request.

Building the list is the SDK dumping every tool model (with its input and output schemas) and validating the
result for the wire: ~90 KB of JSON as some 500 KB of short-lived Python objects, on every request. Every session
lists tools once as it starts (the SDK client does so before its first call, to check structured results), so the
start of a shift (hundreds of voice lines connecting at once) built hundreds of copies side by side, and a
2025-11-25 session's stream keeps the last response it sent alive until the next one: that peak stayed in the
process's RSS long after the sessions were gone (bench/README.md, "RSS after draining").

The registered tools never change once the server is built (toolsets on demand, token grants and views filter the
list in middleware outside this one; each builds new lists and dicts and never changes what it was given), so one
wire form per protocol version serves every request. It must therefore be the innermost middleware.
"""

from __future__ import annotations

from typing import Any


class ToolListCache:
    """SDK server middleware (innermost): the wire form of `tools/list`, built once per protocol version."""

    def __init__(self) -> None:
        self._by_version: dict[str, dict[str, Any]] = {}

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        if ctx.method != "tools/list":
            return await call_next(ctx)
        version = str(ctx.protocol_version)
        cached = self._by_version.get(version)
        if cached is None:
            result = await call_next(ctx)
            if not isinstance(result, dict):  # not the wire form (another SDK shape): nothing to share
                return result
            cached = self._by_version.setdefault(version, result)
        return dict(cached)  # callers own the top level (the SDK adds keys to it); the tools inside are shared
