"""Running the installed `sitcli` entry point in a subprocess, and checking its errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SITCLI = Path(sys.executable).parent / "sitcli"


def run_sitcli(*args, data_dir: Path, input=None, timeout=120) -> subprocess.CompletedProcess:
    """The installed entry point with SITCLI_DATA_DIR at `data_dir`, wide plain output."""
    env = {**os.environ, "SITCLI_DATA_DIR": str(data_dir), "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("SITCLI_DEBUG", None)
    return subprocess.run([str(SITCLI), *map(str, args)], capture_output=True, text=True,
                          env=env, input=input, timeout=timeout)


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
