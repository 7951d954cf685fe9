"""The installed distribution: one import package (`collections_mcp`), and a console script that works from it alone.

The wheel is built from this checkout and installed into a fresh virtual environment whose only other content is
the dependencies (borrowed from the test environment's site-packages, without running its .pth files, so nothing of
the checkout is importable there). A generic top-level name such as `server` or `tools` in site-packages would
collide with any other distribution using it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", str(out),
         str(ROOT)],
        check=True, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    [built] = out.glob("collections_mcp-*.whl")
    return built


def test_the_wheel_holds_one_top_level_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"collections_mcp"}
    for expected in ("collections_mcp/server/app.py", "collections_mcp/tools/scollect/client.py",
                     "collections_mcp/sandbox/wiring.py", "collections_mcp/prompts/work_account.md",
                     "collections_mcp/views/account.html",
                     "collections_mcp/server/state/postgres/migrations/0001_shared_state.sql"):  # fmt: skip
        assert expected in names
    assert not any(name.startswith(("collections_mcp/tests", "collections_mcp/bench")) for name in names)


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only the wheel installed (and the dependencies made visible); its bin directory."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-index",
         str(wheel)],
        check=True, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())  # fmt: skip
    # The test environment's packages as a plain path entry: its .pth files (the editable install of this checkout
    # among them) are not processed from there.
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin"


def _clean_env(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "COLLECTIONS_MCP_"))}
    return env | {"HOME": str(home), "COLLECTIONS_MCP_STATE_DIR": str(home / "state")}


def test_the_console_script_runs_from_the_installed_package_alone(installed: Path, tmp_path: Path) -> None:
    env = _clean_env(tmp_path)
    where = subprocess.run(
        [str(installed / "python"), "-c",
         "import collections_mcp, importlib.util as u; print(collections_mcp.__file__); "
         "print([name for name in ('server', 'tools', 'sandbox', 'prompts', 'views') if u.find_spec(name)])"],
        cwd=tmp_path, env=env, check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    package_file, importable = where.stdout.splitlines()
    assert Path(package_file).is_relative_to(installed.parent), "collections_mcp comes from the wheel, not the checkout"
    assert importable == "[]", "no generic top-level package is importable"
    version = subprocess.run([str(installed / "collections-mcp"), "--version"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert version.returncode == 0 and version.stdout.startswith("collections-mcp 0."), version.stderr
    tools = subprocess.run([str(installed / "collections-mcp"), "tools"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert tools.returncode == 0, tools.stderr
    listed = tools.stdout.splitlines()
    assert len(listed) >= 40 and any(line.startswith("scollect_get_account ") for line in listed)
    # The sandbox comes through its entry point too: doctor starts the simulators and reaches every vendor.
    doctor = subprocess.run([str(installed / "collections-mcp"), "doctor"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "5 of 5 vendor check(s) OK (sandbox mode" in doctor.stdout
