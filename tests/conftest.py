"""Shared fixtures. `cli` runs `sitcli`'s entry function in this process (its exit codes,
stdout and stderr, without a subprocess's start-up); `cli_process` runs the installed entry
point in a subprocess, for the tests about the process itself and at least one per command."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from cli_helpers import run_in_process, run_sitcli

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# derived tables kept between runs (sitcli.cache: exchange sessions) go to this run's own
# temporary directory, not the user's cache
os.environ.setdefault("SITCLI_CACHE_DIR", tempfile.mkdtemp(prefix="sitcli-test-cache-"))
# no test reads the user's own config file (tests that need one point SITCLI_CONFIG at theirs)
os.environ["SITCLI_CONFIG"] = ""


def _runner(tmp_path, in_process: bool):
    default_dir = tmp_path / "data"

    def run_cli(*args, data_dir=None, check_code=None, input=None, timeout=120):
        if in_process:
            proc = run_in_process(*args, data_dir=data_dir or default_dir, input=input)
        else:
            proc = run_sitcli(*args, data_dir=data_dir or default_dir, input=input,
                              timeout=timeout)
        if check_code is not None:
            assert proc.returncode == check_code, (
                f"sitcli {' '.join(map(str, args))} exited {proc.returncode}, expected "
                f"{check_code}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
        return proc

    run_cli.data_dir = default_dir
    return run_cli


@pytest.fixture
def cli(tmp_path):
    """run_cli(*args, data_dir=None, check_code=None) -> CompletedProcess (text stdout/stderr),
    run through sitcli.cli.main in this process.

    SITCLI_DATA_DIR points at ``data_dir`` or a fresh ``tmp_path / "data"`` (also available as
    ``run_cli.data_dir``); ``check_code`` asserts the exit code and shows the output if not.
    """
    return _runner(tmp_path, in_process=True)


@pytest.fixture
def cli_process(tmp_path):
    """`cli`, but through the installed `sitcli` entry point in a subprocess."""
    return _runner(tmp_path, in_process=False)
