"""Who may use the server over HTTP: token grants and the loopback rule. Kept free of MCP imports so the
settings (and the CLI commands that only read them) load fast."""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from collections_mcp.tools.common.spec import Effect

EFFECT_SCOPE = "effect:"
# The scope of a token marked for automation: an agent with nobody behind it (the approval inbox queues its calls that
# need a person, even when its client could ask one).
AUTOMATION_SCOPE = "role:automation"

EffectName = Literal["read", "write", "contact", "money", "destructive", "*"]


MIN_TOKEN_LENGTH = 24


def check_one_secret(token: SecretStr | None, token_sha256: str | None, *, who: str) -> None:
    """A grant gives its token or the token's SHA-256, exactly one, and a token long enough not to be guessed."""
    if (token is None) == (token_sha256 is None):
        raise ValueError(f"{who}: give exactly one of token or token_sha256")
    if token is not None and len(token.get_secret_value()) < MIN_TOKEN_LENGTH:
        raise ValueError(f"{who}: tokens must be at least {MIN_TOKEN_LENGTH} characters")


def secret_digest(token: SecretStr | None, token_sha256: str | None) -> bytes:
    """The SHA-256 a presented token is compared with (only digests are kept in memory)."""
    if token_sha256 is not None:
        return bytes.fromhex(token_sha256)
    assert token is not None
    return hashlib.sha256(token.get_secret_value().encode()).digest()


class TokenGrant(BaseModel):
    """One static bearer token: who it is, and which tool effects it may use."""

    model_config = ConfigDict(extra="forbid")

    client: str = Field(min_length=1, max_length=64, description="Client name, shown in logs and the audit log.")
    token: SecretStr | None = Field(default=None, description="The token itself (at least 24 characters)...")
    token_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", description="...or its SHA-256 hex.")
    effects: list[EffectName] = Field(min_length=1, description="Allowed effects, e.g. ['read','contact','money'], or ['*'].")
    automation: bool = Field(
        default=False,
        description="An agent with nobody behind it: with COLLECTIONS_MCP_APPROVALS=inbox its calls that need a person "
        "wait for a supervisor, even when its client could ask one.",
    )

    @model_validator(mode="after")
    def _one_secret(self) -> TokenGrant:
        check_one_secret(self.token, self.token_sha256, who=f"token grant '{self.client}'")
        return self

    def digest(self) -> bytes:
        return secret_digest(self.token, self.token_sha256)

    def scopes(self) -> list[str]:
        effects = [effect.value for effect in Effect] if "*" in self.effects else list(self.effects)
        return [f"{EFFECT_SCOPE}{effect}" for effect in effects] + ([AUTOMATION_SCOPE] if self.automation else [])


class SupervisorGrant(BaseModel):
    """One supervisor of the approval inbox (`COLLECTIONS_MCP_SUPERVISOR_TOKENS`): their name and sign-in token. Not
    an MCP client token: it signs in to the /approvals page only, and an MCP token does not sign in there."""

    model_config = ConfigDict(extra="forbid")

    supervisor: str = Field(min_length=1, max_length=64, description="Shown on decisions and in the audit log.")
    token: SecretStr | None = Field(default=None, description="The sign-in token (at least 24 characters)...")
    token_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", description="...or its SHA-256 hex.")

    @model_validator(mode="after")
    def _one_secret(self) -> SupervisorGrant:
        check_one_secret(self.token, self.token_sha256, who=f"supervisor '{self.supervisor}'")
        return self

    def digest(self) -> bytes:
        return secret_digest(self.token, self.token_sha256)


def is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
