"""A throwaway PostgreSQL cluster from Debian's `postgresql` binaries: initdb in a temp dir, a free loopback port,
password authentication over TCP, fsync off (tests and benchmarks only). Started once per test session (and once
per benchmark run); missing binaries are an error that names the command installing them, never a skip.

PostgreSQL refuses to run as root: as root the cluster runs as the `postgres` system user the package creates.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

INSTALL = "scripts/system-packages.sh (or: apt-get install -y postgresql)"
SUPERUSER = "postgres"


def postgres_bin() -> Path:
    """The newest /usr/lib/postgresql/*/bin with initdb, pg_ctl and postgres."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda path: int(path.parent.name), reverse=True)
    for path in candidates:
        if all((path / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return path
    raise RuntimeError(f"PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin: run {INSTALL}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PgCluster:
    bin: Path
    data: Path
    port: int
    password: str
    run_as: str | None  # the system user running the server (None: this process's user)
    durable: bool = False  # fsync on, as in production (benchmarks); off for tests

    def url(self, database: str = "postgres", *, user: str = SUPERUSER, password: str | None = None) -> str:
        return f"postgresql://{user}:{password or self.password}@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.data.parent / "server.log"), "-w", *args],
            check=True, capture_output=True, timeout=60, user=self.run_as,
        )  # fmt: skip

    def start(self) -> None:
        durability = "" if self.durable else "-c fsync=off -c full_page_writes=off "
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' {durability}"
            "-c max_connections=200 -c shared_buffers=32MB"
        )
        self._pg_ctl("-o", options, "start")

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")

    def admin(self, database: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.url(database), autocommit=True, connect_timeout=10)

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """A new database (copied from `template` when given); returns its URL."""
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
        with self.admin() as conn:
            conn.execute(statement)
        return self.url(name)

    def databases(self) -> list[str]:
        with self.admin() as conn:
            rows = conn.execute("SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres'").fetchall()
        return [str(name) for (name,) in rows]


@contextmanager
def throwaway_cluster(*, durable: bool = False) -> Iterator[PgCluster]:
    """initdb + start in a temp dir; stopped and removed on exit. `durable`: fsync on (production-like)."""
    bin_dir = postgres_bin()
    run_as: str | None = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError(f"running as root but there is no `postgres` system user: run {INSTALL}") from None
        run_as = "postgres"
    root = Path(tempfile.mkdtemp(prefix="collections-mcp-pg-"))
    password = "pg-" + secrets.token_hex(12)
    try:
        if run_as is not None:
            shutil.chown(root, user=run_as)
        pwfile = root / "pwfile"
        pwfile.write_text(password + "\n")
        if run_as is not None:
            shutil.chown(pwfile, user=run_as)
        subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", SUPERUSER, f"--pwfile={pwfile}",
             "--auth-host=scram-sha-256", "--auth-local=trust", "--no-sync", "-E", "UTF8", "--locale=C"],
            check=True, capture_output=True, timeout=120, user=run_as,
        )  # fmt: skip
        cluster = PgCluster(
            bin=bin_dir, data=root / "data", port=_free_port(), password=password, run_as=run_as, durable=durable
        )
        cluster.start()
        try:
            yield cluster
        finally:
            with suppress(subprocess.CalledProcessError):  # already stopped (a test stopped it on purpose)
                cluster.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
