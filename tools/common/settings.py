"""Base for a vendor's settings: enabled when its base URL and credentials are all set, an error when half set."""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class VendorConfigError(ValueError):
    """A vendor is configured halfway: names the variables that are missing."""


class VendorSettings(BaseSettings):
    """Subclasses set `env_prefix`, `vendor` and `required` (the fields that must all be set together)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    vendor: ClassVar[str]
    required: ClassVar[tuple[str, ...]]

    base_url: str | None = None
    timeout_seconds: float = 15.0

    def env_name(self, field: str) -> str:
        return f"{self.model_config.get('env_prefix', '')}{field}".upper()

    def _is_set(self, field: str) -> bool:
        value = getattr(self, field)
        if isinstance(value, SecretStr):
            return bool(value.get_secret_value())
        return bool(value)

    @property
    def enabled(self) -> bool:
        """True when every required variable is set; raises VendorConfigError when only some are."""
        present = [field for field in self.required if self._is_set(field)]
        if not present:
            return False
        missing = [self.env_name(field) for field in self.required if not self._is_set(field)]
        if missing:
            have = ", ".join(self.env_name(field) for field in present)
            raise VendorConfigError(
                f"{self.vendor} is half configured: {have} set but {', '.join(missing)} missing. "
                f"Set {', '.join(missing)} (see .env.example), or unset {have} to disable {self.vendor}."
            )
        return True
