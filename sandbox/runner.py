"""Start every vendor simulator on its own loopback port, for tests, the demo and `collections-mcp sandbox`.

Adding a vendor: its config on SandboxConfig, its running handle on RunningSandbox, one start function.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette

from collections_mcp.sandbox.billing_care.app import build_billing_care_app
from collections_mcp.sandbox.billing_care.config import BillingCareSandboxConfig
from collections_mcp.sandbox.billing_care.store import BillingCareStore
from collections_mcp.sandbox.collect.app import build_collect_app
from collections_mcp.sandbox.collect.config import CollectSandboxConfig
from collections_mcp.sandbox.collect.store import CollectStore
from collections_mcp.sandbox.http import serve_app
from collections_mcp.sandbox.procurios.app import build_procurios_app
from collections_mcp.sandbox.procurios.config import ProcuriosSandboxConfig
from collections_mcp.sandbox.procurios.store import ProcuriosStore
from collections_mcp.sandbox.scollect.app import build_scollect_app
from collections_mcp.sandbox.scollect.config import ScollectSandboxConfig
from collections_mcp.sandbox.scollect.store import ScollectStore


class SandboxConfig(BaseModel):
    """Settings of the whole sandbox: where it listens and each simulator's own settings."""

    model_config = ConfigDict(frozen=True)

    host: str = Field(default="127.0.0.1", description="Interface every simulator listens on.")
    scollect: ScollectSandboxConfig = Field(default_factory=ScollectSandboxConfig)
    billing_care: BillingCareSandboxConfig = Field(default_factory=BillingCareSandboxConfig)
    procurios: ProcuriosSandboxConfig = Field(default_factory=ProcuriosSandboxConfig)
    collect: CollectSandboxConfig = Field(default_factory=CollectSandboxConfig)
    db_path: str | None = Field(default=None, description="One SQLite file for every simulator (tables are prefixed).")


class VendorSandbox(Protocol):
    title: ClassVar[str]
    base_url: str

    def describe(self) -> list[str]: ...

    def connection(self) -> dict[str, Any]:
        """The settings values (as the vendor's client settings name them) that reach this simulator."""
        ...


@dataclass(frozen=True)
class ScollectSandbox:
    """A running Scollect simulator: where it is, how to log in, and its internals for tests."""

    title: ClassVar[str] = "Scollect (SMAX)"

    base_url: str
    api_key: str
    pin: str
    app: Starlette
    store: ScollectStore

    def describe(self) -> list[str]:
        return [
            f"{self.title}: {self.base_url}",
            f"  login: POST {self.base_url}/login  apikey={self.api_key}  pin={self.pin}",
        ]

    def connection(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "api_key": self.api_key, "pin": self.pin}


@dataclass(frozen=True)
class BillingCareSandbox:
    title: ClassVar[str] = "Oracle Billing Care"

    base_url: str
    username: str
    password: str
    token: str
    app: Starlette
    store: BillingCareStore

    def describe(self) -> list[str]:
        return [
            f"{self.title}: {self.base_url}/bcws/webresources/v1.0/",
            f"  auth: basic {self.username}:{self.password}  or  bearer {self.token}",
        ]

    def connection(self) -> dict[str, Any]:
        # Basic auth: the client takes exactly one of basic credentials or a bearer token.
        return {"base_url": self.base_url, "username": self.username, "password": self.password, "token": None}


@dataclass(frozen=True)
class ProcuriosSandbox:
    title: ClassVar[str] = "Procurios"

    base_url: str
    token: str
    app: Starlette
    store: ProcuriosStore

    def describe(self) -> list[str]:
        return [
            f"{self.title}: {self.base_url}/l/contact_moment_api/contact_moment",
            f"  auth: bearer {self.token}  (Accept: application/vnd.procurios.contact_moment+json; version=1)",
        ]

    def connection(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "token": self.token}


@dataclass(frozen=True)
class CollectSandbox:
    title: ClassVar[str] = "Collect!"

    base_url: str
    operator_id: str
    operator_password: str
    app: Starlette
    store: CollectStore

    def describe(self) -> list[str]:
        return [
            f"{self.title}: {self.base_url}/api/v1/  (websocket {self.base_url.replace('http', 'ws', 1)}/websocket)",
            f"  login: POST {self.base_url}/api/v1/auth/login  op_id={self.operator_id}  op_password={self.operator_password}",
        ]

    def connection(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "operator_id": self.operator_id, "operator_password": self.operator_password}


@dataclass(frozen=True)
class RunningSandbox:
    """Every simulator of a running sandbox, one field per vendor."""

    scollect: ScollectSandbox
    billing_care: BillingCareSandbox
    procurios: ProcuriosSandbox
    collect: CollectSandbox

    def vendors(self) -> list[VendorSandbox]:
        return [getattr(self, f.name) for f in fields(self)]

    def describe(self) -> list[str]:
        """Printable lines: each vendor's base URL and demo credentials."""
        return [line for vendor in self.vendors() for line in vendor.describe()]

    def describe_urls(self) -> list[str]:
        """One short line per vendor: 'Scollect (SMAX) at http://127.0.0.1:PORT'."""
        return [f"{vendor.title} at {vendor.base_url}" for vendor in self.vendors()]

    def vendor_settings(self) -> dict[str, dict[str, Any]]:
        """Per vendor (named like its toolset), the settings that point its client here."""
        return {f.name: getattr(self, f.name).connection() for f in fields(self)}


async def _start_scollect(config: SandboxConfig, stack: AsyncExitStack) -> ScollectSandbox:
    own = config.scollect
    store = ScollectStore(own.db_path or config.db_path or ":memory:", seed=own.seed, account_count=own.account_count)
    stack.callback(store.close)
    app = build_scollect_app(store, own)
    base_url = await stack.enter_async_context(serve_app(app, host=config.host, port=own.port))
    return ScollectSandbox(base_url=base_url, api_key=own.api_key, pin=own.pin, app=app, store=store)


async def _start_billing_care(config: SandboxConfig, stack: AsyncExitStack) -> BillingCareSandbox:
    own = config.billing_care
    store = BillingCareStore(config.db_path or ":memory:")
    app = build_billing_care_app(store, own)
    base_url = await stack.enter_async_context(serve_app(app, host=config.host))
    return BillingCareSandbox(base_url=base_url, username=own.username, password=own.password, token=own.token,
                              app=app, store=store)  # fmt: skip


async def _start_procurios(config: SandboxConfig, stack: AsyncExitStack) -> ProcuriosSandbox:
    own = config.procurios
    store = ProcuriosStore(config.db_path or ":memory:")
    app = build_procurios_app(store, own)
    base_url = await stack.enter_async_context(serve_app(app, host=config.host))
    return ProcuriosSandbox(base_url=base_url, token=own.token, app=app, store=store)


async def _start_collect(config: SandboxConfig, stack: AsyncExitStack) -> CollectSandbox:
    own = config.collect
    store = CollectStore.demo(own.db_path or config.db_path)
    stack.callback(store.close)
    app = build_collect_app(store, own)
    base_url = await stack.enter_async_context(serve_app(app, host=config.host, port=own.port, websockets=True))
    return CollectSandbox(base_url=base_url, operator_id=own.operator_id, operator_password=own.operator_password,
                          app=app, store=store)  # fmt: skip


@asynccontextmanager
async def run_sandbox(config: SandboxConfig | None = None) -> AsyncIterator[RunningSandbox]:
    """Run the simulators for the duration of the block; every port accepts connections on entry."""
    config = config or SandboxConfig()
    async with AsyncExitStack() as stack:
        yield RunningSandbox(
            scollect=await _start_scollect(config, stack),
            billing_care=await _start_billing_care(config, stack),
            procurios=await _start_procurios(config, stack),
            collect=await _start_collect(config, stack),
        )
