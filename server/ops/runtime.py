"""Resolving what the server runs against: the configured vendors, or the sandbox when none is configured."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from collections_mcp.server.app import ServerConfig
from collections_mcp.server.core.catalog import Catalog, RunningSandbox, installed_catalog
from collections_mcp.server.settings import ConfigError, ServerSettings, derived_settings, plan_vendors
from collections_mcp.tools.common.settings import VendorSettings


def sandbox_options(settings: ServerSettings) -> dict[str, Any]:
    """What the sandbox launcher takes from the server's settings."""
    return {
        "db_path": settings.sandbox_db,
        "latency_ms": settings.sandbox_latency_ms,
        "token_ttl_seconds": settings.sandbox_token_ttl_seconds,
    }


def sandbox_vendor_settings(sandbox: RunningSandbox, catalog: Catalog | None = None) -> dict[str, VendorSettings]:
    """Point every toolset at its simulator; the clients cannot tell the difference. No .env is read for them."""
    catalog = catalog or installed_catalog()
    vendors: dict[str, VendorSettings] = {}
    for name, values in sandbox.vendor_settings().items():
        toolset = catalog.by_name.get(name)
        if toolset is not None:
            vendors[name] = toolset.settings_cls(_env_file=None, **values)
    return derived_settings(catalog, vendors, None)


@asynccontextmanager
async def running_sandbox(settings: ServerSettings, catalog: Catalog | None = None) -> AsyncIterator[RunningSandbox]:
    """The installation's simulators, running for as long as this is open."""
    launch = (catalog or installed_catalog()).sandbox
    if launch is None:
        raise ConfigError("no vendor is configured and this installation has no sandbox to run instead")
    async with launch(**sandbox_options(settings)) as sandbox:
        yield sandbox


@asynccontextmanager
async def resolved_config(
    settings: ServerSettings, catalog: Catalog | None = None
) -> AsyncIterator[tuple[ServerConfig, RunningSandbox | None]]:
    """The server's config; in sandbox mode the simulators run for as long as this context is open."""
    catalog = catalog or installed_catalog()
    plan = plan_vendors(settings, catalog=catalog)
    async with AsyncExitStack() as stack:
        if plan.sandbox:
            sandbox = await stack.enter_async_context(running_sandbox(settings, catalog))
            vendors = sandbox_vendor_settings(sandbox, catalog)
            yield ServerConfig(settings=settings, vendors=vendors, sandbox=True, catalog=catalog), sandbox
        else:
            yield ServerConfig(settings=settings, vendors=plan.vendors, sandbox=False, catalog=catalog), None
