"""An ASGI app served on a socket of this process, inside the running event loop: the payment page's own
loopback listener, and the vendor simulators of the sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator

import anyio
import uvicorn
from starlette.types import ASGIApp


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves the host process's signal handlers alone and stops when told, not at its
    next 100 ms poll (a test suite starts and stops hundreds of these)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self.should_exit = True
        self._stop.set()

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter += 10  # on_tick refreshes the Date header when counter % 10 == 0, i.e. once a second here
            with anyio.move_on_after(1.0):  # no helper task per tick (asyncio.wait_for would make one)
                await self._stop.wait()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve_app(
    app: ASGIApp, host: str = "127.0.0.1", port: int = 0, *, websockets: bool = False
) -> AsyncIterator[str]:
    """Serve `app` on a loopback socket; yields its base URL, which accepts connections at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on TCP sockets that say so, and without it every small
    # response waits ~40 ms for a delayed ACK (uvicorn writes headers and body separately).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Bound and listening before uvicorn starts: early connections wait in the backlog, no polling needed.
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
        bound_port = sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            host=host,
            port=bound_port,
            log_config=None,  # never touch the host's logging (stdout belongs to MCP stdio)
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="h11",
            ws="websockets-sansio" if websockets else "none",
            server_header=False,
            timeout_graceful_shutdown=5,
        )
        server = _EmbeddedServer(config)
        authority = f"[{host}]" if family == socket.AF_INET6 else host
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(server.serve, [sock])
            try:
                yield f"http://{authority}:{bound_port}"
            finally:
                server.stop()
    finally:
        sock.close()
