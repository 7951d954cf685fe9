"""State the server keeps on behalf of tools, as tools see it: small protocols the server implements.

A tool whose rule must hold across restarts and across the server's processes (the identity-check lockout
counts failures per account) asks `ToolContext.shared` for what it needs instead of opening a file of its
own; the server decides where it lives (SQLite under its state directory, or the shared database).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Protocol


class StateUnavailable(Exception):
    """The server's shared state (its database) cannot be reached right now. The message says what failed and
    what the call did not do; it never holds a password or a value a tool stored."""


class EventLog(Protocol):
    """Times at which something happened, by key (e.g. failed identity checks by account)."""

    async def record(self, key: str, at: datetime) -> None:
        """Remember one event at `at`. Raises `StateUnavailable` when the shared state cannot be reached."""
        ...

    async def since(self, key: str, start: datetime) -> list[datetime]:
        """The times of `key`'s events after `start`, oldest first."""
        ...


class SharedState(Protocol):
    """What the server offers tools to keep."""

    def events(self, name: str) -> EventLog:
        """The event log called `name` (one per rule, e.g. "identity-failures")."""
        ...


class MemoryEventLog:
    """An `EventLog` in this process's memory (tests, and tools used outside a server)."""

    def __init__(self) -> None:
        self._events: defaultdict[str, list[datetime]] = defaultdict(list)

    async def record(self, key: str, at: datetime) -> None:
        self._events[key].append(at)

    async def since(self, key: str, start: datetime) -> list[datetime]:
        return sorted(at for at in self._events.get(key, []) if at > start)


class MemoryState:
    """A `SharedState` in this process's memory."""

    def __init__(self) -> None:
        self._logs: dict[str, MemoryEventLog] = {}

    def events(self, name: str) -> EventLog:
        return self._logs.setdefault(name, MemoryEventLog())
