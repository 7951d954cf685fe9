"""Settings of one Scollect simulator."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from collections_mcp.sandbox.scollect.demo_data import ACCOUNT_COUNT, DEMO_API_KEY, DEMO_PIN


class ScollectSandboxConfig(BaseModel):
    """How the simulator behaves; the defaults are the vendor's (a 15-minute token) and the demo credentials."""

    model_config = ConfigDict(frozen=True)

    token_ttl_seconds: float = Field(default=900, gt=0, description="Lifetime of an access token.")
    latency_seconds: float = Field(default=0.0, ge=0, description="Artificial delay before every response.")
    db_path: str | None = Field(default=None, description="SQLite file that keeps data between runs; None: memory.")
    seed: int = Field(default=1000, description="Seed of the demo data generator.")
    account_count: int = Field(default=ACCOUNT_COUNT, ge=ACCOUNT_COUNT, description="Demo accounts to generate.")
    port: int = Field(default=0, ge=0, le=65535, description="Loopback port; 0 picks a free one.")
    api_key: str = DEMO_API_KEY
    pin: str = DEMO_PIN
    # flask-jwt-extended answers malformed or badly signed tokens with 422; we default to 401 like an expired
    # token, so a client that re-logs in on 401 recovers from both. Set 422 to test the vendor's exact status.
    invalid_token_status: int = Field(default=401, description="HTTP status for a malformed or forged token.")
