"""Two replicas behind nginx, for real: `collections-mcp serve --transport http` processes on free loopback ports,
sharing one PostgreSQL database and one set of vendor simulators, behind Debian's nginx running the shipped
deploy/nginx.conf (its addresses, listen port and file paths rewritten for this machine, nothing else). Used by the
replica tests (tests/e2e/test_replicas.py, started once per session) and the replica benchmarks (bench/replicas.py).
Missing binaries are an error that names the command installing them, never a skip.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from anyio.abc import Process

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CONF = ROOT / "deploy" / "nginx.conf"
INSTALL = "scripts/system-packages.sh (or: apt-get install -y nginx)"
SCRIPT = str(Path(sys.executable).with_name("collections-mcp"))
ANNOUNCE = "MCP streamable HTTP at "
REPLICA_IDS = ("replica-a", "replica-b")  # as in deploy/nginx.conf
SHIPPED_ADDRESSES = ("10.0.0.11:8000", "10.0.0.12:8000")
STARTUP_SECONDS = 60.0  # a hang guard; readiness is the announcement
_CLEARED = ("COLLECTIONS_MCP_", "SCOLLECT_", "COLLECT_", "BILLING_CARE_", "PROCURIOS_", "OTEL_")


def nginx_bin() -> str:
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(f"nginx not found (PATH, /usr/sbin/nginx): run {INSTALL}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def render_nginx_conf(text: str, *, listen_port: int, replica_ports: list[int], prefix: Path) -> str:
    """The shipped config for this machine: every replacement must find its text in the shipped file, so a change to
    deploy/nginx.conf that these tests do not follow fails here instead of testing something else."""
    replacements = [(address, f"127.0.0.1:{port}") for address, port in zip(SHIPPED_ADDRESSES, replica_ports, strict=True)]
    replacements += [
        ("listen 80;", f"listen 127.0.0.1:{listen_port};"),
        ("worker_processes auto;", "worker_processes 1;"),
        ("pid /run/collections-mcp-nginx.pid;", f"pid {prefix}/nginx.pid;"),
        ("error_log /var/log/nginx/collections-mcp-error.log warn;", f"error_log {prefix}/error.log warn;"),
        ("access_log /var/log/nginx/collections-mcp-access.log collections_mcp;",
         f"access_log {prefix}/access.log collections_mcp;"),
    ]  # fmt: skip
    for old, new in replacements:
        assert old in text, f"deploy/nginx.conf no longer contains {old!r}"
        text = text.replace(old, new)
    return text


@dataclass
class Nginx:
    url: str
    prefix: Path

    def logs(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.prefix.glob("*.log"))


def _nginx_files(replica_ports: list[int], root: Path) -> tuple[Path, int, Path]:
    prefix = root / "nginx"
    prefix.mkdir(parents=True, exist_ok=True)
    for folder in (root, prefix):  # as root, the workers run as `nobody` and need to reach their temp directories
        folder.chmod(0o755)
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(render_nginx_conf(SHIPPED_CONF.read_text(), listen_port=port, replica_ports=replica_ports, prefix=prefix))
    return prefix, port, conf


@asynccontextmanager
async def running_nginx(replica_ports: list[int], root: Path) -> AsyncIterator[Nginx]:
    binary = nginx_bin()
    prefix, port, conf = _nginx_files(replica_ports, root)
    command = [binary, "-p", str(prefix), "-c", str(conf)]
    checked = await anyio.run_process([*command, "-t"], check=False)
    assert checked.returncode == 0, checked.stderr.decode(errors="replace")
    process = await anyio.open_process([*command, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with anyio.fail_after(STARTUP_SECONDS):
            while not await _accepts(port):
                assert process.returncode is None, "nginx exited at start"
                await anyio.sleep(0.02)
        yield Nginx(url=f"http://127.0.0.1:{port}", prefix=prefix)
    finally:
        with suppress(ProcessLookupError):
            process.send_signal(signal.SIGQUIT)  # graceful
        with anyio.move_on_after(10):
            await process.wait()
        if process.returncode is None:
            process.kill()
        with anyio.CancelScope(shield=True):
            await process.aclose()


async def _accepts(port: int) -> bool:
    try:
        stream = await anyio.connect_tcp("127.0.0.1", port)
    except OSError:
        return False
    await stream.aclose()
    return True


@dataclass
class Replica:
    """One `collections-mcp serve` process of the cluster."""

    replica_id: str
    port: int
    env: dict[str, str]
    cwd: Path
    process: Process | None = None
    stderr_paths: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stderr(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.stderr_paths if path.exists())

    async def start(self) -> None:
        path = self.cwd / f"stderr-{len(self.stderr_paths)}.log"
        self.stderr_paths.append(path)
        with path.open("wb") as stderr:
            self.process = await anyio.open_process(
                [SCRIPT, "serve", "--transport", "http", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip
        with anyio.fail_after(STARTUP_SECONDS):
            while ANNOUNCE not in (text := path.read_text(errors="replace")):
                if self.process.returncode is not None:
                    raise RuntimeError(f"replica {self.replica_id} exited with {self.process.returncode}:\n{text[-3000:]}")
                await anyio.sleep(0.02)

    async def said(self, text: str) -> None:
        """Until the process wrote `text` on stderr (it announces its own changes of state there)."""
        with anyio.fail_after(STARTUP_SECONDS):
            while True:
                if text in self.stderr():
                    return
                await anyio.sleep(0.02)

    async def kill(self) -> None:
        """kill -9: no draining, no unregistering, its sockets closed by the kernel."""
        assert self.process is not None
        self.process.kill()
        await self.process.wait()

    async def stop(self) -> None:
        process = self.process
        if process is None:
            return
        if process.returncode is None:
            with suppress(ProcessLookupError):
                process.terminate()
            with anyio.move_on_after(15):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
        with anyio.CancelScope(shield=True):
            await process.aclose()
        self.process = None


@dataclass
class ReplicaCluster:
    replicas: dict[str, Replica]
    nginx: Nginx
    database_url: str

    @property
    def url(self) -> str:
        """The balancer's MCP endpoint."""
        return f"{self.nginx.url}/mcp"

    def __getitem__(self, replica_id: str) -> Replica:
        return self.replicas[replica_id]

    def texts(self) -> list[str]:
        """Everything the replicas and nginx wrote (logs), for leak checks."""
        return [replica.stderr() for replica in self.replicas.values()] + [self.nginx.logs()]


def clean_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(_CLEARED)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


@contextmanager
def _tempdir(root: Path | None) -> Iterator[Path]:
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
        yield root
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="collections-mcp-replicas-") as made:
        yield Path(made)


@asynccontextmanager
async def running_cluster(
    vendor_env: dict[str, str], database_url: str, *, root: Path | None = None, **settings: str
) -> AsyncIterator[ReplicaCluster]:
    """Two replicas (REPLICA_IDS) on the database at `database_url`, their vendors at `vendor_env`, behind nginx.
    `settings`: extra COLLECTIONS_MCP_* settings for both (e.g. LEASE_SECONDS="1")."""
    with _tempdir(root) as where:
        ports = [free_port() for _ in REPLICA_IDS]
        shared_key = secrets.token_hex(32)
        async with running_nginx(ports, where) as nginx:
            replicas: dict[str, Replica] = {}
            for replica_id, port in zip(REPLICA_IDS, ports, strict=True):
                state = where / replica_id
                state.mkdir(parents=True, exist_ok=True)
                env = clean_env() | vendor_env | {
                    "COLLECTIONS_MCP_DATABASE_URL": database_url, "COLLECTIONS_MCP_SECRET_KEYS": shared_key,
                    "COLLECTIONS_MCP_REPLICA_ID": replica_id, "COLLECTIONS_MCP_STATE_DIR": str(state),
                    "COLLECTIONS_MCP_PUBLIC_URL": nginx.url,  # payment links point at the balancer
                } | {f"COLLECTIONS_MCP_{key}": value for key, value in settings.items()}  # fmt: skip
                replicas[replica_id] = Replica(replica_id, port, env, state)
            try:
                async with anyio.create_task_group() as starting:
                    for replica in replicas.values():
                        starting.start_soon(replica.start)
                yield ReplicaCluster(replicas=replicas, nginx=nginx, database_url=database_url)
            finally:
                with anyio.CancelScope(shield=True):
                    for replica in replicas.values():
                        await replica.stop()
