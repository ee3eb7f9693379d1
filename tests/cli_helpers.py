"""Running `sitcli` (the installed entry point in a subprocess, or its `main` in this process),
and checking its errors."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import warnings
from pathlib import Path

SITCLI = Path(sys.executable).parent / "sitcli"


def run_sitcli(*args, data_dir: Path, input=None, timeout=120,
               wrapper=()) -> subprocess.CompletedProcess:
    """The installed entry point with SITCLI_DATA_DIR at `data_dir`, wide plain output;
    `wrapper`: a command that runs it (its arguments, then sitcli's)."""
    env = {**os.environ, "SITCLI_DATA_DIR": str(data_dir), "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("SITCLI_DEBUG", None)
    return subprocess.run([*wrapper, str(SITCLI), *map(str, args)], capture_output=True,
                          text=True, env=env, input=input, timeout=timeout)


def run_in_process(*args, data_dir: Path, input=None) -> subprocess.CompletedProcess:
    """`sitcli ARGS` through `sitcli.cli.main` in this process, with run_sitcli's environment:
    the same exit codes, stdout and stderr, without a subprocess's ~1-2 s of imports. The
    state a command may leave behind (config files' venues and instruments, the stored files it
    read) is put back, as a fresh process would start."""
    from sitcli import config, instruments, runs
    from sitcli.cli import main

    args = [str(a) for a in args]
    saved_env, saved_argv, saved_stdin = os.environ.copy(), sys.argv, sys.stdin
    saved_user = dict(instruments.USER_VENUES), dict(instruments.USER_INSTRUMENTS)
    saved_active = config.ACTIVE
    os.environ.update({"SITCLI_DATA_DIR": str(data_dir), "COLUMNS": "200", "NO_COLOR": "1"})
    os.environ.pop("SITCLI_DEBUG", None)
    sys.argv, sys.stdin = ["sitcli", *args], io.StringIO(input or "")
    runs.READ.clear()
    out, err, code = io.StringIO(), io.StringIO(), 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                warnings.catch_warnings():
            # a fresh interpreter's filters, so warnings reach stderr as they would there
            warnings.resetwarnings()
            for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning,
                             ResourceWarning):
                warnings.simplefilter("ignore", category)
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv, sys.stdin = saved_argv, saved_stdin
        os.environ.clear()
        os.environ.update(saved_env)
        instruments.USER_VENUES.clear()
        instruments.USER_VENUES.update(saved_user[0])
        instruments.USER_INSTRUMENTS.clear()
        instruments.USER_INSTRUMENTS.update(saved_user[1])
        instruments.add_user_entries()   # clears the tables' caches
        config.ACTIVE = saved_active
        runs.READ.clear()
    return subprocess.CompletedProcess(["sitcli", *args], code, out.getvalue(), err.getvalue())


def assert_one_line_error(proc, code: int = 2, *fragments: str) -> str:
    """Exit `code`, nothing on stdout, one `error:` line on stderr holding every fragment."""
    assert proc.returncode == code, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one error line, got:\n{proc.stderr}"
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert proc.stdout == ""
    return lines[0]


SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_store(root: Path, files: dict[str, str]):
    """A Store at `root` holding real daily bars from ../shared/data ({symbol: path below it});
    skips the calling test with the reason when ../shared/data is absent."""
    import pytest

    from sitcli.data.sources.csv import read_csv_ohlcv
    from sitcli.data.store import Store

    if not SHARED_DATA.is_dir():
        pytest.skip(f"../shared/data not present at {SHARED_DATA}: real-price runs skipped")
    store = Store(root)
    for symbol, rel in files.items():
        store.write(read_csv_ohlcv(SHARED_DATA / rel), source="csv", symbol=symbol,
                    timeframe="1d")
    return store
