"""The wheel ships the data files the CLI needs at run time (venue presets, instruments, the
catalyst calendar, the demo bars) and the built-in strategies.

The project tree is copied to a temporary directory first so the build leaves no `build/` or
`*.egg-info` behind in the repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO_SYMBOLS = ("NVDA", "AMD", "TSM", "^NDX", "RENDER%2FUSDT", "SIT")
EXPECTED = (
    "sitcli/datasets/venues.toml",
    "sitcli/datasets/instruments.toml",
    "sitcli/datasets/events/catalysts.csv",
    "sitcli/strategies/catalyst_long.py",
    "sitcli/cli/__init__.py",
)
IGNORE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__",
                                ".pytest_cache", ".ruff_cache", ".hypothesis", "*.nbi", "*.nbc")


def _pip_wheel(src: Path, dest: Path, isolated: bool) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-w", str(dest),
           "--disable-pip-version-check", "--quiet"]
    if not isolated:
        cmd.insert(5, "--no-build-isolation")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    shutil.copytree(ROOT, src, ignore=IGNORE)
    dest = base / "dist"
    proc = _pip_wheel(src, dest, isolated=False)
    if proc.returncode != 0:
        # the venv's own setuptools is too old or lacks bdist_wheel: let pip fetch the
        # build requirements (from the package index the environment is configured with)
        proc = _pip_wheel(src, dest, isolated=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
            if "network" in tail.lower() or "No matching distribution" in tail:
                pytest.skip(f"cannot get the build backend offline:\n{tail}")
            pytest.fail(f"pip wheel failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    wheels = sorted(dest.glob("sitcli-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def wheel_names(wheel) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        return zf.namelist()


@pytest.mark.parametrize("path", EXPECTED)
def test_wheel_ships(wheel_names, path):
    assert path in wheel_names


def test_wheel_ships_six_demo_parquet_files(wheel_names):
    demo = sorted(n for n in wheel_names
                  if n.startswith("sitcli/datasets/demo/") and n.endswith(".parquet"))
    assert len(demo) == 6, demo
    assert sorted(Path(n).stem for n in demo) == sorted(DEMO_SYMBOLS)


def test_wheel_declares_the_entry_point(wheel, wheel_names):
    name = next(n for n in wheel_names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(wheel) as zf:
        text = zf.read(name).decode()
    assert "[console_scripts]" in text and "sitcli = sitcli.cli:main" in text
