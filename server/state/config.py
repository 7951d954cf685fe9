"""What the stores are built from: its own module, so reading the settings (every CLI command) does not import the
stores and, through them, the MCP SDK."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr


class StateConfig(BaseModel):
    """What the stores are built from (ServerSettings.state_config() gives it)."""

    model_config = ConfigDict(frozen=True)

    state_dir: Path
    database_url: SecretStr | None = None
    pool_size: int = 10
    timeout_seconds: float = 5.0
    migrate: bool = True
    lease_seconds: float = 10.0
    idempotency_wait_seconds: float = 30.0
