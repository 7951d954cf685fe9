"""Graceful shutdown by draining: stop taking new tool calls, let the running ones finish, then stop.

Stopping the HTTP listener at once (uvicorn's default) would strand a call that is waiting for a
person: the person's answer arrives as a new HTTP request. So on SIGTERM the server keeps serving,
refuses *new* calls with a clear error, and stops once the running calls are done or the grace
period is over (then the lifespan cancels what is left, and Collect! rolls those plans back).

A running call is an open request, or a 2026-07-28 conversation between rounds: while the person considers
a question no request of that call is open, yet the call is not done (server/core/conversations.py reports
each conversation from its start until it is gone from the registry).
"""

from __future__ import annotations

import anyio


class ShuttingDown(Exception):
    """A new call arrived while the server drains for shutdown."""


class Drain:
    def __init__(self) -> None:
        self.draining = False
        self.in_flight = 0  # open tool-call requests
        self.calls = 0  # tool calls (and rounds) taken in since start: what ran, for the idle memory trim
        self.conversations = 0  # live 2026-07-28 conversations (they may have no open request)
        self._idle = anyio.Event()
        self._idle.set()

    @property
    def idle(self) -> bool:
        return self.in_flight == 0 and self.conversations == 0

    def _busy(self) -> None:
        if self._idle.is_set():
            self._idle = anyio.Event()

    def _settle(self) -> None:
        if self.idle:
            self._idle.set()

    def enter(self, *, continuation: bool) -> None:
        """Count a call in; a new call (not the continuation of a running one) is refused while draining."""
        if self.draining and not continuation:
            raise ShuttingDown("this server is shutting down and takes no new calls; retry on another instance")
        self._busy()
        self.in_flight += 1
        self.calls += 1

    def leave(self) -> None:
        self.in_flight -= 1
        self._settle()

    def conversation_started(self) -> None:
        self._busy()
        self.conversations += 1

    def conversation_ended(self) -> None:
        self.conversations -= 1
        self._settle()

    async def wait_idle(self, grace_seconds: float) -> bool:
        """True when every running call (and conversation) finished within the grace period."""
        self.draining = True
        with anyio.move_on_after(grace_seconds):
            await self._idle.wait()
            return True
        return False
