"""Billing Care connection settings (BILLING_CARE_* environment variables).

Billing Care REST deployments authenticate either with HTTP basic credentials of a Billing Care user or
with an OAuth 2.0 bearer token (Oracle's "Send Requests" page of the Billing Care REST API). Exactly
one of the two is configured; both, or a URL with neither, is a startup error naming the variables.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from collections_mcp.tools.common.settings import VendorConfigError, VendorSettings

AuthMode = Literal["basic", "bearer"]


class BillingCareSettings(VendorSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_CARE_", env_file=".env", extra="ignore", env_ignore_empty=True)

    vendor: ClassVar[str] = "Oracle Billing Care"
    required: ClassVar[tuple[str, ...]] = ("base_url",)

    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None

    @property
    def auth_mode(self) -> AuthMode:
        """Which credentials an enabled configuration uses."""
        return "bearer" if self._is_set("token") else "basic"

    @property
    def enabled(self) -> bool:
        """True with a URL and exactly one kind of credentials; VendorConfigError for every half-way state."""
        url, user, password, token = (self._is_set(name) for name in ("base_url", "username", "password", "token"))
        if not (url or user or password or token):
            return False
        names = {name: self.env_name(name) for name in ("base_url", "username", "password", "token")}
        basic = f"{names['username']} + {names['password']}"
        if user != password:
            have, missing = (names["username"], names["password"]) if user else (names["password"], names["username"])
            raise VendorConfigError(
                f"{self.vendor} is half configured: {have} set but {missing} missing. Basic authentication needs "
                f"both {basic}; or unset {have} and use {names['token']}."
            )
        if user and token:
            raise VendorConfigError(
                f"{self.vendor} has two kinds of credentials: {basic} and {names['token']}. Set exactly one "
                f"(basic credentials or a bearer token), not both."
            )
        if not url:
            raise VendorConfigError(
                f"{self.vendor} is half configured: credentials set but {names['base_url']} missing. Set "
                f"{names['base_url']} (http(s)://host:port of the Billing Care REST server), or unset the credentials."
            )
        if not (user or token):
            raise VendorConfigError(
                f"{self.vendor} is half configured: {names['base_url']} set but no credentials. Set either "
                f"{basic} (basic authentication) or {names['token']} (bearer token), or unset {names['base_url']}."
            )
        assert self.base_url is not None
        if not self.base_url.startswith(("http://", "https://")):
            raise VendorConfigError(
                f"{names['base_url']} must start with http:// or https://: the Billing Care REST server as "
                f"http(s)://host:port."
            )
        return True
