"""Settings of one Collect! simulator."""

from __future__ import annotations

from pydantic import BaseModel, Field

from collections_mcp.sandbox.collect.demo_data import OPERATOR_ID, OPERATOR_PASSWORD


class CollectSandboxConfig(BaseModel):
    """How the simulator behaves. Not frozen: tests shorten `prompt_timeout_seconds` on a running app
    (`app.state.config`), and the plan engine reads it at every prompt."""

    token_ttl_seconds: float = Field(default=900, gt=0, description="Lifetime of an access token.")
    prompt_timeout_seconds: float = Field(default=300, gt=0, description="How long a plan waits for a prompt answer.")
    latency_seconds: float = Field(default=0.0, ge=0, description="Artificial delay before every HTTP response.")
    db_path: str | None = Field(default=None, description="SQLite file that keeps data between runs; None: memory.")
    port: int = Field(default=0, ge=0, le=65535, description="Loopback port; 0 picks a free one.")
    default_database: str = Field(default="cv_masterdb", description="Database used without x-collect-database.")
    operator_id: str = OPERATOR_ID
    operator_password: str = OPERATOR_PASSWORD
