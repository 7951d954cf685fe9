"""Procurios connection settings (PROCURIOS_* environment variables)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from collections_mcp.tools.common.settings import VendorSettings


class ProcuriosSettings(VendorSettings):
    model_config = SettingsConfigDict(env_prefix="PROCURIOS_", env_file=".env", extra="ignore", env_ignore_empty=True)

    vendor: ClassVar[str] = "Procurios"
    required: ClassVar[tuple[str, ...]] = ("base_url", "token")

    token: SecretStr | None = None
    schema_ttl_seconds: float = Field(
        default=300.0, gt=0, description="How long a contact-moment type's schema is reused."
    )
