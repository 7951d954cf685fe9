"""Scollect connection settings (SCOLLECT_* environment variables)."""

from __future__ import annotations

from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from collections_mcp.tools.common.settings import VendorSettings


class ScollectSettings(VendorSettings):
    model_config = SettingsConfigDict(env_prefix="SCOLLECT_", env_file=".env", extra="ignore", env_ignore_empty=True)

    vendor: ClassVar[str] = "Scollect"
    required: ClassVar[tuple[str, ...]] = ("base_url", "api_key", "pin")

    api_key: SecretStr | None = None
    pin: SecretStr | None = None
    timezone: str = Field(
        default="UTC",
        # The second name is where this setting lived before (the cross-vendor tools were its only reader).
        validation_alias=AliasChoices("SCOLLECT_TIMEZONE", "COLLECTIONS_MCP_ACCOUNTS_SCOLLECT_TIMEZONE"),
        description="IANA zone Scollect writes attempt dates and times in (the simulator and Flask's GMT use UTC).",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not an IANA time zone (e.g. UTC, America/New_York)") from None
        return value
