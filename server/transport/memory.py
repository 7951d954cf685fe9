"""Handing memory back to the operating system once a load has drained.

CPython's allocator and glibc's malloc keep memory freed by a burst of sessions for reuse: after 300 sessions came
and went the process stays at its peak RSS, which a container's memory limit (or the next replica on the node) pays
for. `IdleTrimmer` waits for a quiet moment (no tool call running or started for one whole interval, after enough
calls since the last trim to be worth it), then runs a full garbage collection and glibc's `malloc_trim(0)`, which
returns free heap pages. Both take a few milliseconds on an idle loop and never run under load. On a C library
without `malloc_trim` (musl, macOS) only the collection runs. Measured by bench/throughput.py ("RSS after draining").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
from collections.abc import Callable

import anyio

from collections_mcp.server.core.drain import Drain

log = logging.getLogger("collections_mcp.memory")

QUIET_SECONDS = 1.0
MIN_CALLS = 50  # fewer calls since the last trim leave too little behind to be worth a full collection


def malloc_trim() -> Callable[[], object] | None:
    """glibc's malloc_trim(0), or None where the C library has none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        trim = libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


class IdleTrimmer:
    """Decides, once per interval (`tick`), whether the server has been quiet long enough to give memory back."""

    def __init__(self, drain: Drain, trim: Callable[[], object] | None, *, min_calls: int = MIN_CALLS) -> None:
        self.drain = drain
        self.trim = trim
        self.min_calls = min_calls
        self.trims = 0
        self._calls_at_last_tick = drain.calls
        self._calls_at_last_trim = drain.calls

    def tick(self) -> bool:
        """True when this interval trimmed: nothing ran or started since the previous tick, and enough ran before."""
        calls = self.drain.calls
        quiet = calls == self._calls_at_last_tick and self.drain.idle
        self._calls_at_last_tick = calls
        if not quiet or calls - self._calls_at_last_trim < self.min_calls:
            return False
        self._calls_at_last_trim = calls
        gc.collect()
        if self.trim is not None:
            self.trim()
        self.trims += 1
        log.debug("memory handed back after %d calls", calls)
        return True

    async def run(self, interval: float = QUIET_SECONDS) -> None:
        while True:
            await anyio.sleep(interval)
            self.tick()
