"""Settings of the cross-vendor `accounts` toolset.

It has no connection of its own: it is enabled whenever Scollect is, and carries Scollect's already-resolved
settings (real or sandbox) so its client can open its own pooled connection. Build it with `accounts_settings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from collections_mcp.tools.common.settings import VendorSettings
from collections_mcp.tools.scollect.settings import ScollectSettings


class AccountsSettings(VendorSettings):
    """`scollect` is set by the server (never from the environment); the rest are COLLECTIONS_MCP_ACCOUNTS_*."""

    model_config = SettingsConfigDict(
        env_prefix="COLLECTIONS_MCP_ACCOUNTS_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    vendor: ClassVar[str] = "Accounts (cross-vendor)"
    required: ClassVar[tuple[str, ...]] = ()

    scollect: ScollectSettings | None = Field(default=None, exclude=True)
    verify_max_failures: int = Field(default=3, ge=1, description="Failed identity checks per account per window.")
    verify_window_seconds: float = Field(default=900.0, gt=0, description="The identity-check lockout window.")
    worklist_concurrency: int = Field(
        default=10, ge=1, le=50,
        description="Accounts accounts_worklist reads at once (two Scollect requests each), shared by every worklist "
        "this server builds: a portfolio of N accounts costs about N / this many vendor round trips. More is not "
        "faster once the server's own work per request (~2 ms of CPU) dominates: bench/README.md.",
    )  # fmt: skip

    @property
    def enabled(self) -> bool:
        """On whenever a vendor it reads is on (today: Scollect)."""
        return self.scollect is not None and self.scollect.enabled


def accounts_settings(vendors: Mapping[str, VendorSettings], env_file: str | None = ".env") -> AccountsSettings | None:
    """The accounts settings for a server's resolved vendors, or None when no vendor it reads is enabled.

    COLLECTIONS_MCP_ACCOUNTS_* come from the environment (and `env_file`; None skips .env, as the sandbox does).
    """
    scollect = vendors.get("scollect")
    if not isinstance(scollect, ScollectSettings) or not scollect.enabled:
        return None
    return AccountsSettings(_env_file=env_file, scollect=scollect)
