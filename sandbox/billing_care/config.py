"""Settings of the Billing Care simulator, and its demo credentials."""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field

DEMO_USERNAME: Final = "csr.agent"
DEMO_PASSWORD: Final = "BillingCare-Demo-1"
DEMO_TOKEN: Final = "bc-demo-oauth-token"
# The agent name Billing Care records for changes made with the bearer token.
TOKEN_AGENT: Final = "bc-rest-client"


class BillingCareSandboxConfig(BaseModel):
    """Either credential works, as on a deployment that accepts basic users and OAuth clients."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str = DEMO_USERNAME
    password: str = DEMO_PASSWORD
    token: str = DEMO_TOKEN
    latency_ms: float = Field(default=0.0, ge=0)
    # Decode path ids form-style ('+' -> space), as gateways in front of some REST servers do: only an id
    # sent with '+' encoded as %2B is found. False decodes RFC 3986 style ('+' stays '+').
    plus_in_path_is_space: bool = True
