"""Collect! connection settings (COLLECT_* environment variables).

The API root, the authorization server and the websocket are three addresses in Collect!'s own docs
(https://collect.org/cv13/Help/howtousetherestapi.html): behind the Apache proxy they share one host;
connecting directly they are different ports. Only the API root is required; the other two default to it.
"""

from __future__ import annotations

import re
from typing import ClassVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from collections_mcp.tools.common.settings import VendorSettings

_DATABASE_NAME = re.compile(r"^[A-Za-z0-9_]+$")
DATABASE_HEADER = "x-collect-database"


class CollectSettings(VendorSettings):
    model_config = SettingsConfigDict(env_prefix="COLLECT_", env_file=".env", extra="ignore", env_ignore_empty=True, populate_by_name=True)

    vendor: ClassVar[str] = "Collect!"
    required: ClassVar[tuple[str, ...]] = ("base_url", "operator_id", "operator_password")

    auth_url: str | None = Field(default=None, description="Authorization server root; default: base_url.")
    # The property `websocket_url` is the resolved address, so the raw setting needs another attribute name.
    websocket_url_setting: str | None = Field(
        default=None,
        validation_alias=AliasChoices("COLLECT_WEBSOCKET_URL", "websocket_url_setting"),
        description="Websocket address; default: base_url's host, ws/wss, path /websocket.",
    )
    operator_id: str | None = None
    operator_password: SecretStr | None = None
    database: str | None = Field(default=None, description="Database name, with or without the cv_ prefix.")
    prompt_timeout: float = Field(default=300.0, gt=0, description="Seconds to wait for any one prompt answer.")

    @field_validator("database")
    @classmethod
    def _database_name(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        name = value.strip()
        if not _DATABASE_NAME.match(name):
            raise ValueError(f"COLLECT_DATABASE must be a database name such as 'demodb' or 'cv_demodb', not '{value}'")
        return name

    @property
    def database_name(self) -> str | None:
        """The database as the header carries it: always with the cv_ prefix."""
        if self.database is None:
            return None
        return self.database if self.database.lower().startswith("cv_") else f"cv_{self.database}"

    @property
    def database_header(self) -> dict[str, str]:
        """Sent on every request, login and websocket handshake included; empty for the default database."""
        name = self.database_name
        return {DATABASE_HEADER: name} if name else {}

    @property
    def auth_base_url(self) -> str:
        base = self.auth_url or self.base_url
        assert base, "enabled settings have a base_url"
        return base.rstrip("/")

    @property
    def websocket_url(self) -> str:
        if self.websocket_url_setting:
            return self.websocket_url_setting
        assert self.base_url, "enabled settings have a base_url"
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, "/websocket", "", ""))
