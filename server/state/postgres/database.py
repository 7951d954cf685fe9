"""One PostgreSQL database shared by every replica: a pool of async psycopg connections, bounded waits, and errors
that say what failed without the URL's password.

Connections are autocommit (each store statement is its own transaction unless a store opens one). A connection
that sat idle in the pool is checked before it is handed out (a restarted PostgreSQL leaves broken connections
behind); a busy one is not (a check costs a round trip per statement). When a statement fails because its
connection broke, the pool's idle connections are checked and an operation that is safe to repeat runs once more
on a sound one. Every wait is bounded by `timeout_seconds`: getting a connection, connecting, and each
statement. Past it, or when PostgreSQL refuses or drops the connection, a store call raises `StateUnavailable`,
which the pipeline turns into a clear tool error. The pool reconnects by itself when PostgreSQL is back;
nothing needs a restart.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import anyio
import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from pydantic import SecretStr

from collections_mcp.tools.common.state import StateUnavailable

log = logging.getLogger("collections_mcp.database")

# What a broken or unreachable database looks like to psycopg (OperationalError covers refused connections,
# a server shutting down, a statement timeout; InterfaceError a connection closed under us).
CONNECTION_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout, TimeoutError, OSError)
# A pooled connection idle for longer than this is checked (one round trip) before it is handed out.
IDLE_CHECK_SECONDS = 2.0

T = TypeVar("T")
Connection = psycopg.AsyncConnection[tuple[object, ...]]


class ConnectionBroke(StateUnavailable):
    """The connection broke under a statement (PostgreSQL restarted or dropped it), rather than no connection
    being available in time: worth one more try on a sound connection."""


def display_url(url: SecretStr | str) -> str:
    """The URL as it may be shown: scheme, user, host, port and database; never the password or the query
    (which may carry one, e.g. sslpassword)."""
    raw = url.get_secret_value() if isinstance(url, SecretStr) else url
    parts = urlsplit(raw.strip())
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username}@" if parts.username else ""
    netloc += host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class PostgresDatabase:
    """The shared database: opened once per server (`open`/`close`), used by every PostgreSQL store."""

    def __init__(self, url: SecretStr, *, pool_size: int = 10, timeout_seconds: float = 5.0) -> None:
        self._url = url
        self.display = display_url(url)
        self.pool_size = pool_size
        self.timeout_seconds = timeout_seconds
        self._pool: AsyncConnectionPool | None = None
        self._returned: weakref.WeakKeyDictionary[Connection, float] = weakref.WeakKeyDictionary()

    def url_secret(self) -> str:
        """The URL with its password, for a connection of a store's own (a LISTEN connection); never shown."""
        return self._url.get_secret_value()

    def _secrets(self) -> list[str]:
        parts = urlsplit(self._url.get_secret_value())
        values = [parts.password or "", *(value for _, value in parse_qsl(parts.query))]
        return sorted((value for value in values if len(value) >= 3), key=len, reverse=True)

    def describe_failure(self, exc: BaseException) -> str:
        """What went wrong, naming the database but never its password."""
        if isinstance(exc, PoolTimeout | TimeoutError):
            reason = f"no answer within {self.timeout_seconds:g} s"
        else:
            reason = " ".join(str(exc).split()) or type(exc).__name__
        for secret in self._secrets():
            reason = reason.replace(secret, "***")
        return f"the shared database {self.display} is unreachable ({reason})"

    def connect_options(self) -> dict[str, object]:
        statement_ms = int(self.timeout_seconds * 1000)
        return {
            "autocommit": True,
            "connect_timeout": max(1, round(self.timeout_seconds)),
            "application_name": "collections-mcp",
            "options": f"-c statement_timeout={statement_ms} -c lock_timeout={statement_ms}",
        }

    async def open(self) -> None:
        if self._pool is not None:
            return
        self._pool = AsyncConnectionPool(
            self._url.get_secret_value(),
            kwargs=self.connect_options(),
            min_size=1,
            max_size=self.pool_size,
            open=False,
            timeout=self.timeout_seconds,
            check=self._check_if_idle,
            reset=self._note_return,
            # Keep trying to reconnect for as long as the server runs: an outage ends, the server does not.
            reconnect_timeout=365 * 86_400,
            name="collections-mcp",
        )
        await self._pool.open(wait=False)

    async def _note_return(self, conn: Connection) -> None:
        self._returned[conn] = time.monotonic()

    async def _check_if_idle(self, conn: Connection) -> None:
        if time.monotonic() - self._returned.get(conn, 0.0) > IDLE_CHECK_SECONDS:
            await AsyncConnectionPool.check_connection(conn)

    async def run(self, work: Callable[[Connection], Awaitable[T]], *, repeatable: bool = True) -> T:
        """`work` on a pooled connection. When its connection turns out broken (PostgreSQL restarted since it was
        last used), the idle connections are checked and `work` runs once more if it is `repeatable` (safe to
        run twice: a first attempt may have committed before the connection broke)."""
        try:
            async with self.connection() as conn:
                return await work(conn)
        except ConnectionBroke:
            if not repeatable or self._pool is None or self._pool.closed:
                raise
        with anyio.move_on_after(self.timeout_seconds):
            await self._pool.check()  # drop every broken idle connection, so the next one is sound
        async with self.connection() as conn:
            return await work(conn)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close(timeout=self.timeout_seconds)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A pooled connection for one store operation; `StateUnavailable` when the database cannot serve it."""
        if self._pool is None:
            await self.open()
        assert self._pool is not None
        try:
            with anyio.fail_after(self.timeout_seconds * 2):  # a statement timeout on top of a connection wait
                async with self._pool.connection(timeout=self.timeout_seconds) as conn:
                    yield conn
        except (PoolTimeout, TimeoutError) as exc:
            raise StateUnavailable(self.describe_failure(exc)) from None
        except CONNECTION_ERRORS as exc:
            raise ConnectionBroke(self.describe_failure(exc)) from None

    @asynccontextmanager
    async def dedicated(self, *, statement_timeout_seconds: float | None = None) -> AsyncIterator[Connection]:
        """A connection of its own, outside the pool (migrations hold a session lock on it)."""
        options = self.connect_options()
        if statement_timeout_seconds is not None:
            statement_ms = int(statement_timeout_seconds * 1000)
            options["options"] = f"-c statement_timeout={statement_ms} -c lock_timeout={statement_ms}"
        try:
            conn = await psycopg.AsyncConnection.connect(self._url.get_secret_value(), **options)  # type: ignore[arg-type]
        except CONNECTION_ERRORS as exc:
            raise StateUnavailable(self.describe_failure(exc)) from None
        try:
            yield conn
        finally:
            await conn.close()
