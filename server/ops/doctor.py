"""`collections-mcp doctor`: are the settings valid, and can this installation reach and log in to each vendor?

Each enabled vendor gets one cheap authenticated read through its real client (the same code path a tool
uses, so login, base URL, TLS and database header are all exercised). In sandbox mode the simulators are
started and checked the same way. Nothing is written at any vendor, and no secret is printed: reasons are
vendor messages with every configured secret value blanked and the usual SSN/card scrub applied.

The reads are each toolset's `probe`, the same ones `/readyz` runs on the server's open clients, under the same
call deadline (COLLECTIONS_MCP_CALL_DEADLINE_SECONDS) and through circuit breakers with the server's settings:
each line ends with the breaker state the check left behind (a vendor that failed as many times in a row as
COLLECTIONS_MCP_BREAKER_FAILURES shows it open, as a server's would be). A running server's own breakers are
in its /readyz, for a caller with a token.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

import anyio
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_settings import SettingsError

from collections_mcp.server.core.catalog import installed_catalog
from collections_mcp.server.core.redaction import display_url, scrub_text
from collections_mcp.server.settings import ConfigError, ServerSettings, plan_vendors, unparsable_setting
from collections_mcp.tools.common.errors import VendorAuthError, VendorError, VendorNotFound, VendorUnavailable
from collections_mcp.tools.common.resilience import (
    BreakerSnapshot,
    BreakerState,
    VendorBreakers,
    call_deadline,
    using_breakers,
)
from collections_mcp.tools.common.settings import VendorSettings


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    target: str = ""
    seconds: float | None = None
    breakers: str = ""


async def probe(name: str, client: Any) -> str:
    """The toolset's probe (one cheap authenticated read) on an open client; raises the client's error on failure."""
    check = installed_catalog().by_name[name].probe
    if check is None:
        return "client opened; this toolset declares no check of its own"
    detail: str = await check(client)
    return detail


def _secrets(settings: BaseModel) -> list[str]:
    """Every secret value in the settings, nested settings included (the accounts toolset carries Scollect's)."""
    found: list[str] = []
    for field in type(settings).model_fields:
        value = getattr(settings, field)
        if isinstance(value, SecretStr) and value.get_secret_value():
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            found.extend(_secrets(value))
    return found


def _safe(text: str, secrets: list[str]) -> str:
    """Vendors sometimes echo what they were sent; blank every configured secret before anything is printed."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return scrub_text(text)


def _target(settings: VendorSettings) -> str:
    """The base URL without credentials, query or fragment (a URL may carry user:password@)."""
    return display_url(settings.base_url) if settings.base_url else ""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, VendorAuthError):
        return f"credentials rejected: {exc.message}"
    if isinstance(exc, VendorUnavailable):
        return f"unreachable: {exc.message}"
    if isinstance(exc, VendorNotFound):
        return f"not found: {exc.message} (check the base URL)"
    if isinstance(exc, VendorError):
        return f"refused: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def describe_breakers(snapshots: dict[str, BreakerSnapshot]) -> str:
    """'breaker Scollect: closed' or 'breaker Scollect: open since ..., next trial at ...', one per vendor."""
    parts = []
    for snapshot in snapshots.values():
        text = f"breaker {snapshot.vendor}: {snapshot.state.value.replace('_', '-')}"
        if snapshot.state is BreakerState.CLOSED and snapshot.consecutive_failures:
            text += f" ({snapshot.consecutive_failures} failure(s) in a row)"
        if snapshot.unreachable_since is not None and snapshot.state is not BreakerState.CLOSED:
            text += f" since {snapshot.unreachable_since:%Y-%m-%dT%H:%M:%SZ}"
        if snapshot.next_trial is not None and snapshot.state is BreakerState.OPEN:
            text += f", next trial at {snapshot.next_trial:%Y-%m-%dT%H:%M:%SZ}"
        parts.append(text)
    return "; ".join(parts)


async def check_vendor(name: str, settings: VendorSettings, server: ServerSettings) -> Check:
    toolset = installed_catalog().by_name[name]
    secrets = _secrets(settings)
    started = time.perf_counter()
    deadline = server.call_deadline_seconds
    breakers = VendorBreakers(failure_threshold=server.breaker_failures, cooldown_seconds=server.breaker_cooldown_seconds)
    # The deadline bounds the probe's vendor work as it bounds a tool call's; the scope is a backstop for the rest
    # (opening the client).
    limit = deadline + 5
    try:
        with anyio.fail_after(limit), call_deadline(deadline), using_breakers(breakers):
            async with toolset.open_client(settings) as client:
                detail = await probe(name, client)
        ok = True
    except TimeoutError:
        ok, detail = False, f"no answer within {limit:.0f} s"
    except Exception as exc:  # every failure is a report line, not a crash: the next vendor still gets checked
        ok, detail = False, _reason(exc)
    seconds = time.perf_counter() - started
    return Check(toolset.title, ok, _safe(detail, secrets), _target(settings), seconds, describe_breakers(breakers.snapshot()))


async def check_all(settings: ServerSettings) -> tuple[str, list[Check]]:
    """The mode line and one check per enabled vendor (sandbox: the simulators, started for the duration)."""
    from collections_mcp.server.ops.runtime import resolved_config

    async with resolved_config(settings) as (config, _sandbox):
        names = [name for name in installed_catalog().by_name if name in config.vendors]
        if settings.toolsets is not None:
            names = [name for name in names if name in settings.toolsets]
        results: dict[str, Check] = {}

        async def run(name: str) -> None:
            results[name] = await check_vendor(name, config.vendors[name], settings)

        async with anyio.create_task_group() as group:
            for name in names:
                group.start_soon(run, name)
        mode = "sandbox mode: simulated vendors with demo data" if config.sandbox else "live vendors"
        return mode, [results[name] for name in names]


async def check_state(settings: ServerSettings) -> Check:
    """Where the shared state lives; for PostgreSQL: reachable, and its schema current (no password shown)."""
    if settings.database_url is None:
        return Check("shared state", True, f"SQLite files in {settings.state_dir} (one machine; "
                     "COLLECTIONS_MCP_DATABASE_URL shares it between replicas)")  # fmt: skip
    from collections_mcp.server.state.postgres.database import PostgresDatabase
    from collections_mcp.server.state.postgres.migrations import known_migrations, pending_migrations
    from collections_mcp.tools.common.state import StateUnavailable

    db = PostgresDatabase(settings.database_url, pool_size=1, timeout_seconds=settings.database_timeout_seconds)
    started = time.perf_counter()
    try:
        with anyio.fail_after(settings.database_timeout_seconds * 3):
            pending = await pending_migrations(db)
    except StateUnavailable as exc:
        return Check("shared state", False, str(exc), "PostgreSQL", time.perf_counter() - started)
    except TimeoutError:
        return Check("shared state", False, f"{db.display}: no answer", "PostgreSQL", time.perf_counter() - started)
    except ConfigError as exc:
        return Check("shared state", False, str(exc), db.display, time.perf_counter() - started)
    finally:
        await db.close()
    seconds = time.perf_counter() - started
    if not pending:
        return Check("shared state", True, f"schema up to date (version {known_migrations()[-1].version})", db.display, seconds)
    labels = ", ".join(migration.label for migration in pending)
    if settings.database_migrate:
        return Check("shared state", True, f"reachable; the server applies {labels} at start", db.display, seconds)
    return Check("shared state", False, f"pending migration(s) {labels}: run `collections-mcp migrate` "
                 "(COLLECTIONS_MCP_DATABASE_MIGRATE is false)", db.display, seconds)  # fmt: skip


def check_replicas(settings: ServerSettings) -> Check | None:
    """With a shared database: the replica settings `serve` needs over HTTP (the shared keys are never shown)."""
    if settings.database_url is None:
        return None
    try:
        settings.require_shared_keys()
    except ConfigError as exc:
        return Check("replicas", False, str(exc))
    keys = len(settings.shared_keys())
    rotation = f"{keys} shared keys (the first seals; all open)" if keys > 1 else "1 shared key"
    name = settings.replica_id or "host name and port (COLLECTIONS_MCP_REPLICA_ID unset)"
    return Check("replicas", True, f"{rotation}; replica id {name}")


def _line(check: Check) -> str:
    status = "OK  " if check.ok else "FAIL"
    timing = f" ({check.seconds:.2f} s)" if check.seconds is not None else ""
    target = f"  {check.target}" if check.target else ""
    breakers = f" [{check.breakers}]" if check.breakers else ""
    return f"{status}  {check.name}{target}: {check.detail}{breakers}{timing}"


def _settings_problem(exc: ValidationError) -> str:
    return "; ".join(error["msg"].removeprefix("Value error, ") for error in exc.errors())


def doctor_main() -> int:
    """Print one line per check; 0 when everything is OK, 1 otherwise."""
    from collections_mcp.server.core.version import package_version
    from collections_mcp.server.transport.logs import configure_logging

    print(f"collections-mcp {package_version()} doctor")
    try:
        settings = ServerSettings()
        plan = plan_vendors(settings)
    except ValidationError as exc:
        print(_line(Check("settings", False, _settings_problem(exc))))
        return 1
    except SettingsError as exc:
        print(_line(Check("settings", False, unparsable_setting(exc))))
        return 1
    except ConfigError as exc:
        print(_line(Check("settings", False, str(exc))))
        return 1
    configure_logging(settings.log_level)
    if plan.sandbox:
        why = "COLLECTIONS_MCP_SANDBOX is set" if settings.sandbox else "no vendor is configured"
        print(_line(Check("settings", True, f"valid; {why}, so the built-in sandbox vendors are checked")))
    else:
        titles = ", ".join(installed_catalog().by_name[name].title for name in plan.vendors)
        print(_line(Check("settings", True, f"valid; enabled vendors: {titles}")))
    state = anyio.run(check_state, settings)
    print(_line(state), flush=True)
    replicas = check_replicas(settings)
    if replicas is not None:
        print(_line(replicas), flush=True)
        state = state if replicas.ok else replicas  # either failing fails the run
    try:
        mode, checks = anyio.run(check_all, settings)
    except ConfigError as exc:
        print(_line(Check("startup", False, str(exc))))
        return 1
    for check in checks:
        print(_line(check), flush=True)
    failed = [check for check in checks if not check.ok]
    summary = f"{len(checks) - len(failed)} of {len(checks)} vendor check(s) OK ({mode})."
    print(summary if not failed else f"{summary} Fix the FAIL lines above.")
    sys.stdout.flush()
    return 1 if failed or not state.ok else 0
