"""Compact outputs: what the LLM reads (the text content of a result) against the raw vendor JSON for the
same data. Summed over a few demo accounts so one odd account does not decide the ratio.

Token counts are added only when an offline tokenizer is already on this machine (tiktoken with its
o200k_base file cached); nothing is downloaded."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from typing import Any

from mcp import Client
from mcp.types import TextContent

from bench.common import Row, ratio
from bench.procs import Sandbox, Server
from bench.vendor import Scollect, scollect, snapshot_requests

ACCOUNTS = ("R1000", "R1001", "R1050", "R1010", "R1100")
TARGET = 0.30
# Notes are free text an agent reads (the collection log): their messages are most of the bytes, so the row shows the
# ratio without a target (bench/README.md, "What is left").
INFORMATIONAL = {"scollect_get_notes"}
_O200K = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"


def offline_tokenizer() -> Callable[[str], int] | None:
    """tiktoken's o200k_base if its file is already cached (tiktoken would otherwise download it)."""
    try:
        import tiktoken  # type: ignore[import-not-found]
    except ImportError:
        return None
    cache = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR") or os.path.join(
        tempfile.gettempdir(), "data-gym-cache"
    )
    if not os.path.exists(os.path.join(cache, hashlib.sha1(_O200K.encode()).hexdigest())):
        return None
    encoding = tiktoken.get_encoding("o200k_base")
    return lambda text: len(encoding.encode(text))


async def _text(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    result = await client.call_tool(tool, arguments)
    if result.is_error:
        raise RuntimeError(f"{tool} failed: {result.content}")
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


async def _raw(vendor: Scollect, requests: list[tuple[str, str, dict[str, Any] | None]]) -> str:
    return "".join([(await vendor.request(method, path, body)).text for method, path, body in requests])


async def run(sandbox: Sandbox, server: Server, *, quick: bool) -> list[Row]:
    tokens = offline_tokenizer()
    totals: dict[str, dict[str, Any]] = {}
    async with scollect(sandbox) as vendor, Client(server.url) as client:
        for file_number in ACCOUNTS:
            cases = {
                "scollect_get_account": (
                    {"file_number": file_number}, [("GET", f"/getaccount/{file_number}", None)]),
                # limit 200 (the most a page holds): every note, the same data the vendor sends.
                "scollect_get_notes": (
                    {"file_number": file_number, "limit": 200}, [("GET", f"/getnotes/{file_number}", None)]),
                "accounts_snapshot": ({"file_number": file_number}, snapshot_requests(file_number)),
            }  # fmt: skip
            for tool, (arguments, requests) in cases.items():
                ours, raw = await _text(client, tool, arguments), await _raw(vendor, requests)
                entry = totals.setdefault(tool, {"ours_bytes": 0, "raw_bytes": 0, "ours_tokens": 0, "raw_tokens": 0})
                entry["ours_bytes"] += len(ours.encode())
                entry["raw_bytes"] += len(raw.encode())
                if tokens is not None:
                    entry["ours_tokens"] += tokens(ours)
                    entry["raw_tokens"] += tokens(raw)
    rows = []
    for tool, entry in totals.items():
        details: dict[str, Any] = {"accounts": list(ACCOUNTS), **entry}
        if tokens is None:
            details |= {"ours_tokens": None, "raw_tokens": None, "tokenizer": "none installed offline"}
        else:
            details |= {"tokenizer": "tiktoken o200k_base", "token_ratio": ratio(entry["ours_tokens"], entry["raw_tokens"])}
        value = ratio(entry["ours_bytes"], entry["raw_bytes"])
        if tool in INFORMATIONAL:
            target, ok = "(shown: free text)", None
        else:
            target, ok = f"<= {TARGET:.2f}x", value <= TARGET
        rows.append(Row(name=f"compact output: {tool}", ours=entry["ours_bytes"], baseline=entry["raw_bytes"], unit="B",
                        ratio=value, target=target, ok=ok, details=details))  # fmt: skip
    return rows
