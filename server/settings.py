"""Server settings (COLLECTIONS_MCP_* environment variables and .env) and which vendors are enabled."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from collections_mcp.server.core.access import SupervisorGrant, TokenGrant
from collections_mcp.server.core.catalog import Catalog, installed_catalog
from collections_mcp.server.core.errors import ConfigError as ConfigError  # re-exported: settings raise it
from collections_mcp.server.state.config import StateConfig
from collections_mcp.tools.common.settings import VendorConfigError, VendorSettings
from collections_mcp.tools.common.spec import Profile


def unparsable_setting(exc: SettingsError) -> str:
    """pydantic-settings says `error parsing value for field "http_tokens" from source ...`: name the variable."""
    match = re.search(r'field "([a-z_]+)"', str(exc))
    variable = f"COLLECTIONS_MCP_{match.group(1).upper()}" if match else "a setting"
    return (
        f"{variable} could not be parsed (list settings such as COLLECTIONS_MCP_HTTP_TOKENS and "
        "COLLECTIONS_MCP_SUPERVISOR_TOKENS are JSON; see .env.example)"
    )


def split_address(value: str) -> tuple[str, int]:
    """`127.0.0.1:9464`, `[::1]:9464`, `0.0.0.0:9464` -> (host, port); a bare `9464` means loopback."""
    text = value.strip()
    host, _, port_text = text.rpartition(":") if ":" in text else ("127.0.0.1", "", text)
    host = host.strip("[]") or "127.0.0.1"
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"expected host:port (e.g. 127.0.0.1:9464) or a port, not {value!r}")
    return host, int(port_text)


REPLICA_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MIN_KEY_BYTES = 32  # what the SDK's request-state codec requires of each key


def split_keys(value: SecretStr | None) -> list[str]:
    """COLLECTIONS_MCP_SECRET_KEYS as its keys, in order (blanks between commas ignored)."""
    if value is None:
        return []
    return [key.strip() for key in value.get_secret_value().split(",") if key.strip()]


def _default_state_dir() -> Path:
    return Path.home() / ".local" / "state" / "collections-mcp"


class ServerSettings(BaseSettings):
    # hide_input_in_errors: a rejected value may be a secret (a database URL with its password, a token).
    model_config = SettingsConfigDict(
        env_prefix="COLLECTIONS_MCP_", env_file=".env", extra="ignore", env_ignore_empty=True, hide_input_in_errors=True
    )

    sandbox: bool = Field(default=False, description="Force the built-in sandbox vendors even if real ones are set.")
    read_only: bool = Field(default=False, description="Register only tools whose effect is 'read'.")
    toolsets: Annotated[list[str] | None, NoDecode] = Field(
        default=None, description="Comma list of toolsets to enable (default: every configured vendor)."
    )
    tools: Annotated[list[str] | None, NoDecode] = Field(
        default=None, description="Explicit allowlist of tool names, on top of toolsets and read-only (default: all)."
    )
    profile: Profile = Field(
        default=Profile.ALL,
        description="Ready tool set for a kind of agent: voice (a live call), desk (reads and day-to-day writes), all.",
    )
    dynamic_toolsets: bool = Field(
        default=False,
        description="Start with the core toolset and two tools to list and enable the others (toolsets on demand).",
    )
    state_dir: Path = Field(default_factory=_default_state_dir)
    log_level: str = "INFO"
    sandbox_token_ttl_seconds: float = Field(default=900.0, gt=0)
    sandbox_latency_ms: float = Field(default=0.0, ge=0)
    confirm: Literal["always", "never"] = Field(
        default="always",
        description="Confirm money/destructive calls with a person; 'never' only for pre-approved automation.",
    )
    capture_host: str = Field(
        default="127.0.0.1", description="Interface of the secure payment-details page (loopback unless behind TLS)."
    )
    capture_port: int = Field(default=0, ge=0, le=65535, description="Port of the payment page (0: any free port).")
    capture_public_url: str | None = Field(
        default=None, description="Base URL put in the payment elicitation when the page is behind a TLS proxy."
    )
    capture_ttl_seconds: float = Field(
        default=300.0, gt=0, le=3600, description="How long a single-use payment-page link stays valid."
    )
    http_tokens: list[TokenGrant] = Field(
        default_factory=list,
        description="Bearer tokens for streamable HTTP (JSON list of {client, token|token_sha256, effects, automation?}).",
    )
    oauth_issuer: str | None = Field(default=None, description="OAuth authorization server that issues tokens.")
    oauth_introspection_url: str | None = Field(default=None, description="Its RFC 7662 introspection endpoint.")
    oauth_client_id: str | None = Field(default=None, description="Our client id at the authorization server.")
    oauth_client_secret: SecretStr | None = Field(default=None, description="Our client secret there (secret).")
    http_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Extra Host header values to accept (DNS-rebinding protection)."
    )
    http_allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Extra Origin header values to accept (browser clients)."
    )
    http_max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Largest HTTP request body accepted.")
    shutdown_grace_seconds: float = Field(
        default=30.0, ge=0, description="On SIGTERM, how long in-flight HTTP calls may take to finish."
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000", description="Base URL clients use to reach this server (auth metadata)."
    )
    metrics_address: str | None = Field(
        default=None,
        description="host:port of a separate /metrics listener for a Prometheus scraper (no token; under stdio too). "
        "Unset: /metrics is on the streamable HTTP app behind the bearer tokens, and absent under stdio.",
    )
    sandbox_db: str | None = Field(default=None, description="SQLite file for sandbox data (default: in memory).")
    idempotency_window_seconds: float = Field(
        default=600.0,
        gt=0,
        # Exactly this variable (no other spelling is read from the environment); plain seconds, e.g. 600.
        validation_alias="COLLECTIONS_MCP_IDEMPOTENCY_WINDOW",
        description="Seconds an identical write/contact/money/destructive call is replayed instead of re-sent.",
    )
    conversation_idle_seconds: float = Field(
        default=600.0,
        gt=0,
        description="2026-07-28 clients: how long a call waiting for a person's next answer is kept between rounds "
        "before it is cancelled (a Collect! plan then rolls back).",
    )
    idempotency_wait_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a call waits for an identical call still running in another server process.",
    )
    call_deadline_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a tool call may spend on vendor work, logins and retries included (not the time a "
        "person takes to answer). 30 suits a chat client; a voice deployment sets a few seconds, e.g. 6.",
    )
    breaker_failures: int = Field(
        default=3,
        ge=1,
        description="Transport failures or timeouts in a row after which a vendor's circuit breaker opens: calls to "
        "that vendor then fail at once until a trial request gets through.",
    )
    breaker_cooldown_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Seconds an open circuit breaker waits before it lets one trial request through to the vendor.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="postgresql://user:password@host:5432/db: keep the shared state (audit log, idempotency, "
        "identity-check lockout, conversation owners) in PostgreSQL, for several replicas; unset: SQLite files in "
        "the state directory (secret: never printed).",
    )
    database_pool_size: int = Field(
        default=10, ge=1, le=500, description="Most PostgreSQL connections one server process opens."
    )
    database_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Longest wait for a PostgreSQL connection or statement; past it the call fails with a clear error.",
    )
    database_migrate: bool = Field(
        default=True,
        description="Apply pending PostgreSQL schema migrations at start (false: refuse to start until "
        "`collections-mcp migrate` has applied them).",
    )
    approvals: Literal["off", "inbox"] = Field(
        default="off",
        description="inbox: a call that needs a person's confirmation or a compliance override, from a client that cannot "
        "ask one (or a token marked for automation), waits for a supervisor instead of being refused (/approvals, "
        "`collections-mcp approvals`); off: it is refused, as always.",
    )
    approval_ttl_seconds: float = Field(
        default=86_400.0,
        gt=0,
        le=30 * 86_400,
        description="A pending approval expires this long after it was queued (so does an approved one that has not "
        "run by then): nothing is sent.",
    )
    approvals_check_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="How often the server looks for decisions made in another process (the command line) and for "
        "expired approvals. With PostgreSQL a decision is announced at once (LISTEN/NOTIFY); this is the fallback.",
    )
    supervisor_tokens: list[SupervisorGrant] = Field(
        default_factory=list,
        description="Who may sign in to the /approvals page (JSON list of {supervisor, token|token_sha256}); not MCP "
        "client tokens.",
    )
    lease_seconds: float = Field(
        default=10.0,
        ge=0.2,
        le=300,
        description="A process's claim on an in-flight call (and on a live conversation) lapses this long after "
        "its last renewal (renewed every third of it): a crashed process's claims are taken over after it.",
    )
    replica_id: str | None = Field(
        default=None,
        description="This replica's name among several behind a load balancer (letters, digits, '-' and '_'; at most "
        "64): MCP session ids and payment links carry it so a balancer can route them. Default: host name and port.",
    )
    secret_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated shared secrets, each at least 32 characters, the same on every replica: the first "
        "seals the 2026-07-28 request_state and signs requests between replicas, all of them verify (so a key rotates "
        "without dropping conversations). Required with COLLECTIONS_MCP_DATABASE_URL over HTTP (secret: never printed).",
    )
    internal_url: str | None = Field(
        default=None,
        description="Where the other replicas reach this one (http(s)://host:port, no path) to hand it a round of a "
        "conversation or a request of a session it holds. Default: http://<bind address, or host name>:<port>.",
    )

    @field_validator("toolsets", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            names = [name.strip().lower() for name in value.split(",") if name.strip()]
            return names or None
        return value

    @field_validator("profile", mode="before")
    @classmethod
    def _profile_name(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("http_allowed_hosts", "http_allowed_origins", mode="before")
    @classmethod
    def _comma_values(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("metrics_address")
    @classmethod
    def _host_and_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, port = split_address(value)
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def metrics_listen(self) -> tuple[str, int] | None:
        """(host, port) of the separate metrics listener, or None."""
        return split_address(self.metrics_address) if self.metrics_address else None

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if not re.match(r"^postgres(?:ql)?://", value.get_secret_value().strip()):
            # The value itself is never repeated: it may hold a password.
            raise ValueError("must be a PostgreSQL URL such as postgresql://user:password@host:5432/dbname")
        return value

    @field_validator("replica_id")
    @classmethod
    def _replica_name(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not REPLICA_ID.fullmatch(value.strip()):
            raise ValueError("must be 1 to 64 letters, digits, '-' or '_' (it becomes part of MCP session ids and links)")
        return value.strip()

    @field_validator("secret_keys")
    @classmethod
    def _shared_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        keys = split_keys(value)
        for number, key in enumerate(keys, start=1):
            if len(key.encode()) < MIN_KEY_BYTES:  # the value itself is never repeated
                raise ValueError(
                    f"key {number} of {len(keys)} is shorter than {MIN_KEY_BYTES} characters; each key must be at "
                    f"least {MIN_KEY_BYTES} characters of secret randomness (generate one with: "
                    'python -c "import secrets; print(secrets.token_hex(32))")'
                )
        if len(set(keys)) != len(keys):
            raise ValueError("the same key is listed twice")
        return value

    @field_validator("internal_url")
    @classmethod
    def _internal_address(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/") or parts.query:
            raise ValueError("must be http(s)://host:port with no path, e.g. http://10.0.0.11:8000")
        return value.strip().rstrip("/")

    def require_shared_keys(self) -> None:
        """Several replicas (a shared database) over HTTP must share the request_state keys: ConfigError if not."""
        if self.database_url is not None and self.secret_keys is None:
            raise ConfigError(
                "COLLECTIONS_MCP_DATABASE_URL is set (replicas share state) but COLLECTIONS_MCP_SECRET_KEYS is not: "
                "every replica must seal and unseal the 2026-07-28 request_state with the same key, or a round that "
                "reaches another replica fails. Set COLLECTIONS_MCP_SECRET_KEYS to the same secret on every replica "
                '(at least 32 characters; generate one with: python -c "import secrets; print(secrets.token_hex(32))")'
            )

    def shared_keys(self) -> list[bytes]:
        """The shared secrets, first (sealing, signing) first; empty when none is set."""
        return [key.encode() for key in split_keys(self.secret_keys)] if self.secret_keys is not None else []

    def replica_identity(self, host: str, port: int) -> tuple[str, str]:
        """(replica id, internal URL) of a server bound to host:port: the settings, or derived from the host name
        (a wildcard bind) or the bind address, and the port."""
        name = socket.gethostname() or "replica"
        replica_id = self.replica_id or f"{re.sub(r'[^A-Za-z0-9_-]+', '-', name.split('.')[0]).strip('-')[:52] or 'replica'}-{port}"
        reach = name if host in ("0.0.0.0", "::", "") else host
        internal = self.internal_url or f"http://{f'[{reach}]' if ':' in reach else reach}:{port}"
        return replica_id, internal

    def state_config(self) -> StateConfig:
        """What the state stores are built from (server/state/backend.py picks SQLite or PostgreSQL by it)."""
        return StateConfig(
            state_dir=self.state_dir,
            database_url=self.database_url,
            pool_size=self.database_pool_size,
            timeout_seconds=self.database_timeout_seconds,
            migrate=self.database_migrate,
            lease_seconds=self.lease_seconds,
            idempotency_wait_seconds=self.idempotency_wait_seconds,
        )

    @model_validator(mode="after")
    def _introspection_complete(self) -> ServerSettings:
        if self.oauth_introspection_url and not (self.oauth_client_id and self.oauth_client_secret):
            raise ValueError(
                "COLLECTIONS_MCP_OAUTH_INTROSPECTION_URL needs COLLECTIONS_MCP_OAUTH_CLIENT_ID and "
                "COLLECTIONS_MCP_OAUTH_CLIENT_SECRET (client credentials for the introspection endpoint)"
            )
        return self

    @field_validator("tools", mode="before")
    @classmethod
    def _tool_names(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()] or None
        return value

    @field_validator("tools")
    @classmethod
    def _known_tools(cls, value: list[str] | None) -> list[str] | None:
        known = installed_catalog().tool_names
        unknown = [name for name in value or [] if name not in known]
        if unknown:
            raise ValueError(f"COLLECTIONS_MCP_TOOLS names unknown tool(s) {', '.join(unknown)}; see `collections-mcp tools`")
        return value

    @field_validator("toolsets")
    @classmethod
    def _known_toolsets(cls, value: list[str] | None) -> list[str] | None:
        known = installed_catalog().by_name
        unknown = [name for name in value or [] if name not in known]
        if unknown:
            raise ValueError(
                f"COLLECTIONS_MCP_TOOLSETS names unknown toolset(s) {', '.join(unknown)}; known: {', '.join(known)}"
            )
        return value


@dataclass(frozen=True)
class VendorPlan:
    """Which vendors the server talks to and with what settings."""

    sandbox: bool
    vendors: dict[str, VendorSettings]


def load_vendor_settings(catalog: Catalog | None = None) -> dict[str, VendorSettings]:
    """Every toolset's settings as the environment and .env give them, enabled or not."""
    return {toolset.name: toolset.settings_cls() for toolset in (catalog or installed_catalog()).toolsets}


def derived_settings(
    catalog: Catalog, vendors: dict[str, VendorSettings], env_file: str | None
) -> dict[str, VendorSettings]:
    """`vendors` plus the cross-vendor toolsets their settings enable (e.g. the accounts tools with Scollect)."""
    derived = dict(vendors)
    for toolset in catalog.toolsets:
        if toolset.derive_settings is not None and toolset.name not in derived:
            settings = toolset.derive_settings(vendors, env_file)
            if settings is not None:
                derived[toolset.name] = settings
    return derived


def plan_vendors(
    server: ServerSettings, vendor_settings: dict[str, VendorSettings] | None = None, catalog: Catalog | None = None
) -> VendorPlan:
    """Decide real vendors vs sandbox. Half-configured vendors are errors even when the sandbox is forced."""
    catalog = catalog or installed_catalog()
    settings = vendor_settings if vendor_settings is not None else load_vendor_settings(catalog)
    enabled: dict[str, VendorSettings] = {}
    problems: list[str] = []
    for name, vendor in settings.items():
        try:
            if vendor.enabled:
                enabled[name] = vendor
        except VendorConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("; ".join(problems))
    enabled = derived_settings(catalog, enabled, ".env")  # cross-vendor tools, on whenever a vendor they read is
    if server.sandbox or not enabled:
        return VendorPlan(sandbox=True, vendors={})
    if server.toolsets:
        missing = [name for name in server.toolsets if name not in enabled]
        if missing:
            raise ConfigError(
                f"COLLECTIONS_MCP_TOOLSETS selects {', '.join(missing)} but that vendor is not configured "
                f"(see .env.example for its variables)"
            )
    return VendorPlan(sandbox=False, vendors=enabled)
