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
    "sitcli/strategies/catalyst_momentum.py",
    "sitcli/cli/__init__.py",
)
IGNORE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__",
                                ".pytest_cache", ".ruff_cache", ".hypothesis", "*.nbi", "*.nbc")


def _pip_wheel(src: Path, dest: Path) -> subprocess.CompletedProcess:
    # no build isolation: the build must not need the network
    cmd = [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
           "-w", str(dest), "--disable-pip-version-check", "--quiet"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    shutil.copytree(ROOT, src, ignore=IGNORE)
    dest = base / "dist"
    proc = _pip_wheel(src, dest)   # the dev extra brings setuptools and wheel
    assert proc.returncode == 0, f"pip wheel failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
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


def test_installed_wheel_reads_its_own_demo_data(wheel, tmp_path):
    """A non-editable install: the wheel's files alone, put first on the path, answer
    `sitcli data list --demo` from the demo bars inside the wheel."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    code = ("import sitcli, sys; from sitcli.cli import main; print(sitcli.__file__); "
            "sys.argv = ['sitcli', 'data', 'list', '--demo', '--format', 'csv']; main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, cwd=tmp_path,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    first, *rows = proc.stdout.splitlines()
    assert first.startswith(str(site))                 # the wheel's copy, not the checkout's
    assert str(site) in proc.stdout and "NVDA" in proc.stdout and "RENDER/USDT" in proc.stdout
