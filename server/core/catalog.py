"""Which toolsets (and which sandbox) this installation has: found through entry points, never imported by name.

A vendor package is a plugin: the distribution that ships it names its toolsets under the entry-point group
`collections_mcp.toolsets` (a `Toolset` or a sequence of them), and the simulators that stand in for vendors
in sandbox mode under `collections_mcp.sandbox`. This distribution declares its own in pyproject.toml
(`collections_mcp.tools.catalog:TOOLSETS`, `collections_mcp.sandbox.wiring:launch`), so `server/` stays free of
vendor names and a vendor arrives or leaves without touching it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib.metadata import entry_points
from typing import Any, Protocol

from collections_mcp.tools.common.spec import AnySpec, Toolset

TOOLSETS_GROUP = "collections_mcp.toolsets"
SANDBOX_GROUP = "collections_mcp.sandbox"


class RunningSandbox(Protocol):
    """Simulators running for as long as their launcher's context is open."""

    def vendor_settings(self) -> Mapping[str, Mapping[str, Any]]:
        """Per toolset name, the settings values that point that toolset's client at its simulator."""
        ...

    def describe(self) -> list[str]:
        """Printable lines: each simulator's base URL and demo credentials."""
        ...

    def describe_urls(self) -> list[str]:
        """One short line per simulator: its title and base URL."""
        ...


class SandboxLauncher(Protocol):
    def __call__(
        self, *, db_path: str | None, latency_ms: float, token_ttl_seconds: float
    ) -> AbstractAsyncContextManager[RunningSandbox]: ...


class CatalogError(RuntimeError):
    """The installation declares no toolsets, or an entry point does not hold what its group promises."""


@dataclass(frozen=True)
class Catalog:
    """Every toolset this installation knows, in listing order, and the sandbox that stands in for their vendors
    (loaded on first use: commands that never start it do not import the simulators)."""

    toolsets: tuple[Toolset, ...]
    sandbox_entry: Callable[[], SandboxLauncher | None] = field(default=lambda: None, compare=False)

    @cached_property
    def sandbox(self) -> SandboxLauncher | None:
        return self.sandbox_entry()

    @cached_property
    def by_name(self) -> dict[str, Toolset]:
        return {toolset.name: toolset for toolset in self.toolsets}

    @cached_property
    def tool_names(self) -> frozenset[str]:
        return frozenset(spec.name for toolset in self.toolsets for spec in toolset.specs)

    def specs(self) -> list[AnySpec]:
        return [spec for toolset in self.toolsets for spec in toolset.specs]


def _toolsets_of(name: str, value: object) -> Sequence[Toolset]:
    found = [value] if isinstance(value, Toolset) else list(value) if isinstance(value, list | tuple) else None
    if found is None or not all(isinstance(item, Toolset) for item in found):
        raise CatalogError(f"entry point {name!r} in {TOOLSETS_GROUP} holds no Toolset (got {type(value).__name__})")
    return found


@cache
def installed_catalog() -> Catalog:
    """The catalog of the installed distributions (the project's own toolsets first)."""
    toolsets: list[Toolset] = []
    for point in sorted(entry_points(group=TOOLSETS_GROUP), key=lambda point: (point.name != "builtin", point.name)):
        for toolset in _toolsets_of(point.name, point.load()):
            if any(known.name == toolset.name for known in toolsets):
                raise CatalogError(f"two installed toolsets are called {toolset.name!r}")
            toolsets.append(toolset)
    if not toolsets:
        raise CatalogError(
            "no toolsets are installed: collections-mcp must be installed (pip install -e . or the wheel), not only "
            "put on the path, so that its entry points are known"
        )
    launchers = sorted(entry_points(group=SANDBOX_GROUP), key=lambda point: (point.name != "builtin", point.name))

    def sandbox() -> SandboxLauncher | None:
        loaded: SandboxLauncher | None = launchers[0].load() if launchers else None
        return loaded

    return Catalog(toolsets=tuple(toolsets), sandbox_entry=sandbox)
