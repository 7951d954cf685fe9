"""The installed package version (cheap to import)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    try:
        return version("collections-mcp")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0"
