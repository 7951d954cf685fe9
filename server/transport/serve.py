"""Serving streamable HTTP for real: a listening socket bound before anything starts, and graceful draining."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Iterator

import anyio
import uvicorn

from collections_mcp.server.core.drain import Drain
from collections_mcp.server.core.errors import ConfigError
from collections_mcp.server.transport.logs import announce
from collections_mcp.server.transport.memory import IdleTrimmer, malloc_trim


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket (port 0 picks a free one); connections queue until uvicorn accepts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets that say so; without it a response written
    # in pieces waits for the client's delayed ACK (~40 ms a round trip, measured by bench/overhead.py).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    return sock


class GracefulServer(uvicorn.Server):
    """uvicorn, but SIGTERM/SIGINT mean "drain, then exit 0".

    The first signal starts draining (server/core/drain.py): new tool calls are refused, running ones finish
    (their follow-up requests, e.g. a person's answer, are still served) for up to the grace period, then
    uvicorn stops. A second signal stops at once. uvicorn's own handling would close the listener
    immediately and re-raise the signal afterwards (exit -15, which supervisors read as a crash).
    """

    def __init__(self, config: uvicorn.Config, drain: Drain, grace_seconds: float) -> None:
        super().__init__(config)
        self.drain = drain
        self.grace_seconds = grace_seconds
        self._draining: asyncio.Task[None] | None = None

    def _on_signal(self, received: signal.Signals) -> None:
        if self._draining is None:
            drain = self.drain
            announce(f"collections-mcp: {received.name}: draining ({drain.in_flight} call(s) running, "
                     f"{drain.conversations} waiting for a person's next answer)")  # fmt: skip
            self._draining = asyncio.get_running_loop().create_task(self._drain_then_exit())
        else:
            self.handle_exit(received, None)

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's serve, with the idle memory trim (server/transport/memory.py) beside it."""
        async with anyio.create_task_group() as background:
            background.start_soon(IdleTrimmer(self.drain, malloc_trim()).run)
            await super().serve(sockets=sockets)
            background.cancel_scope.cancel()

    async def _drain_then_exit(self) -> None:
        await self.drain.wait_idle(self.grace_seconds)
        self.should_exit = True

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        stop_signals = (signal.SIGINT, signal.SIGTERM)
        for stop in stop_signals:
            loop.add_signal_handler(stop, self._on_signal, stop)
        try:
            yield
        finally:
            for stop in stop_signals:
                loop.remove_signal_handler(stop)
