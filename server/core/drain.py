"""Graceful shutdown by draining: stop taking new tool calls, let the running ones finish, then stop.

Stopping the HTTP listener at once (uvicorn's default) would strand a call that is waiting for a
person: the person's answer arrives as a new HTTP request. So on SIGTERM the server keeps serving,
refuses *new* calls with a clear error, and stops once the running calls are done or the grace
period is over (then the lifespan cancels what is left, and Collect! rolls those plans back).
"""

from __future__ import annotations

import anyio


class ShuttingDown(Exception):
    """A new call arrived while the server drains for shutdown."""


class Drain:
    def __init__(self) -> None:
        self.draining = False
        self.in_flight = 0
        self._idle = anyio.Event()
        self._idle.set()

    def enter(self, *, continuation: bool) -> None:
        """Count a call in; a new call (not the continuation of a running one) is refused while draining."""
        if self.draining and not continuation:
            raise ShuttingDown("this server is shutting down and takes no new calls; retry on another instance")
        if self.in_flight == 0:
            self._idle = anyio.Event()
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    async def wait_idle(self, grace_seconds: float) -> bool:
        """True when every running call finished within the grace period."""
        self.draining = True
        with anyio.move_on_after(grace_seconds):
            await self._idle.wait()
            return True
        return False
