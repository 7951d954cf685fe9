"""Running the server: resolve settings, start the sandbox when no vendor is configured, serve a transport."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager

import uvicorn
from pydantic import SecretStr

from collections_mcp.sandbox.billing_care.config import BillingCareSandboxConfig
from collections_mcp.sandbox.collect.config import CollectSandboxConfig
from collections_mcp.sandbox.procurios.config import ProcuriosSandboxConfig
from collections_mcp.sandbox.runner import RunningSandbox, SandboxConfig, run_sandbox
from collections_mcp.sandbox.scollect.config import ScollectSandboxConfig
from collections_mcp.server.app import ServerConfig
from collections_mcp.server.drain import Drain
from collections_mcp.server.logs import announce
from collections_mcp.server.settings import ConfigError, ServerSettings, plan_vendors
from collections_mcp.tools.accounts.settings import accounts_settings
from collections_mcp.tools.billing_care.settings import BillingCareSettings
from collections_mcp.tools.collect.settings import CollectSettings
from collections_mcp.tools.common.settings import VendorSettings
from collections_mcp.tools.procurios.settings import ProcuriosSettings
from collections_mcp.tools.scollect.settings import ScollectSettings


def sandbox_config(settings: ServerSettings) -> SandboxConfig:
    latency_ms = settings.sandbox_latency_ms
    return SandboxConfig(
        db_path=settings.sandbox_db,
        scollect=ScollectSandboxConfig(token_ttl_seconds=settings.sandbox_token_ttl_seconds, latency_seconds=latency_ms / 1000),
        billing_care=BillingCareSandboxConfig(latency_ms=latency_ms),
        procurios=ProcuriosSandboxConfig(latency_ms=latency_ms),
        collect=CollectSandboxConfig(token_ttl_seconds=settings.sandbox_token_ttl_seconds, latency_seconds=latency_ms / 1000),
    )


def sandbox_vendor_settings(sandbox: RunningSandbox) -> dict[str, VendorSettings]:
    """Point every vendor at its simulator; the clients cannot tell the difference."""
    scollect, billing_care, procurios = sandbox.scollect, sandbox.billing_care, sandbox.procurios
    vendors: dict[str, VendorSettings] = {
        "scollect": ScollectSettings(
            _env_file=None, base_url=scollect.base_url, api_key=SecretStr(scollect.api_key), pin=SecretStr(scollect.pin)
        ),
        "billing_care": BillingCareSettings(
            _env_file=None, base_url=billing_care.base_url, username=billing_care.username,
            password=SecretStr(billing_care.password), token=None,
        ),
        "procurios": ProcuriosSettings(_env_file=None, base_url=procurios.base_url, token=SecretStr(procurios.token)),
        "collect": CollectSettings(
            _env_file=None, base_url=sandbox.collect.base_url, operator_id=sandbox.collect.operator_id,
            operator_password=SecretStr(sandbox.collect.operator_password),
        ),
    }  # fmt: skip
    derived = accounts_settings(vendors, env_file=None)
    if derived is not None:
        vendors["accounts"] = derived
    return vendors


@asynccontextmanager
async def resolved_config(settings: ServerSettings) -> AsyncIterator[tuple[ServerConfig, RunningSandbox | None]]:
    """The server's config; in sandbox mode the simulators run for as long as this context is open."""
    plan = plan_vendors(settings)
    async with AsyncExitStack() as stack:
        if plan.sandbox:
            sandbox = await stack.enter_async_context(run_sandbox(sandbox_config(settings)))
            yield ServerConfig(settings=settings, vendors=sandbox_vendor_settings(sandbox), sandbox=True), sandbox
        else:
            yield ServerConfig(settings=settings, vendors=plan.vendors, sandbox=False), None




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

    The first signal starts draining (server/drain.py): new tool calls are refused, running ones finish
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
            announce(f"collections-mcp: {received.name}: draining ({self.drain.in_flight} call(s) running)")
            self._draining = asyncio.get_running_loop().create_task(self._drain_then_exit())
        else:
            self.handle_exit(received, None)

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
