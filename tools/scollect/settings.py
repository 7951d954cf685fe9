"""Scollect connection settings (SCOLLECT_* environment variables)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from collections_mcp.tools.common.settings import VendorSettings


class ScollectSettings(VendorSettings):
    model_config = SettingsConfigDict(env_prefix="SCOLLECT_", env_file=".env", extra="ignore", env_ignore_empty=True)

    vendor: ClassVar[str] = "Scollect"
    required: ClassVar[tuple[str, ...]] = ("base_url", "api_key", "pin")

    api_key: SecretStr | None = None
    pin: SecretStr | None = None
