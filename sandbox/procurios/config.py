"""Settings of the Procurios simulator, and its demo token."""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field

DEMO_TOKEN: Final = "procurios-demo-token"
MEDIA_TYPE: Final = "application/vnd.procurios.contact_moment+json; version=1"
PAGE_SIZE: Final = 25


class ProcuriosSandboxConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    token: str = DEMO_TOKEN
    latency_ms: float = Field(default=0.0, ge=0)
    # Requests without the contact-moment media type in Accept get 406, as a versioned API would answer.
    require_media_type: bool = True
