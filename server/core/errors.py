"""Errors of the server itself (not of a vendor, not of a call)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting is wrong or incomplete; the message says which variable and what to do."""
