"""Shared fixtures. `cli` runs the installed `sitcli` entry point in a subprocess."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from cli_helpers import run_sitcli

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# derived tables kept between runs (sitcli.cache: exchange sessions) go to this run's own
# temporary directory, not the user's cache
os.environ.setdefault("SITCLI_CACHE_DIR", tempfile.mkdtemp(prefix="sitcli-test-cache-"))
# no test reads the user's own config file (tests that need one point SITCLI_CONFIG at theirs)
os.environ["SITCLI_CONFIG"] = ""


@pytest.fixture
def cli(tmp_path):
    """run_cli(*args, data_dir=None, check_code=None) -> CompletedProcess (text stdout/stderr).

    SITCLI_DATA_DIR points at ``data_dir`` or a fresh ``tmp_path / "data"`` (also available as
    ``run_cli.data_dir``); ``check_code`` asserts the exit code and shows the output if not.
    """
    default_dir = tmp_path / "data"

    def run_cli(*args, data_dir=None, check_code=None, input=None, timeout=120):
        proc = run_sitcli(*args, data_dir=data_dir or default_dir, input=input, timeout=timeout)
        if check_code is not None:
            assert proc.returncode == check_code, (
                f"sitcli {' '.join(map(str, args))} exited {proc.returncode}, expected "
                f"{check_code}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
        return proc

    run_cli.data_dir = default_dir
    return run_cli
