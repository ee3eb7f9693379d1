"""Issue 17, cases 2, 9, 10, 12 and 13 in the store: every writer takes the file's lock, the
store checks what it reads back, damaged files are named while the rest keeps working, no
temporary file outlives its writer, and symbols that cannot name a file are refused."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_helpers import assert_one_line_error, run_sitcli
from robustness_helpers import run_main

from sitcli.data.store import DamagedFile, Store
from sitcli.errors import BadInput
from sitcli.files import atomic_path, sweep_stale_temps


def bars(n: int, start: str = "2000-01-01", base: float = 100.0) -> pd.DataFrame:
    index = pd.date_range(start, periods=n, freq="D", tz="UTC", name="time")
    close = base + np.arange(n) % 17
    return pd.DataFrame({"open": close, "high": close + 1, "low": close - 1, "close": close,
                         "volume": np.arange(n, dtype=float)}, index=index)


# ---------------------------------------------------------------- case 2: the merge race


def _merge(root: str, start: str, n: int, barrier) -> None:
    barrier.wait()
    Store(root).write(bars(n, start), source="csv", symbol="X", timeframe="1d", merge=True)


def test_concurrent_merges_never_lose_rows_20_trials(tmp_path):
    ctx = multiprocessing.get_context("fork")
    for trial in range(20):
        root = tmp_path / f"t{trial}"
        Store(root).write(bars(2000), source="csv", symbol="X", timeframe="1d")
        barrier = ctx.Barrier(2)
        # two disjoint ranges after the stored 2000 days
        jobs = [ctx.Process(target=_merge, args=(str(root), start, 300, barrier))
                for start in ("2010-01-01", "2011-01-01")]
        for job in jobs:
            job.start()
        for job in jobs:
            job.join(30)
            assert job.exitcode == 0
        assert len(Store(root).read("X")) == 2000 + 300 + 300, f"rows lost in trial {trial}"


def test_two_cli_imports_with_merge_both_land(tmp_path):
    data = tmp_path / "data"
    files = []
    for i, start in enumerate(("2001-01-01", "2003-01-01", "2005-01-01")):
        path = tmp_path / f"part{i}.csv"
        bars(400, start).reset_index().rename(columns={"time": "date"}).to_csv(path, index=False)
        files.append(path)
    assert run_sitcli("data", "import", files[0], "--symbol", "X", data_dir=data).returncode == 0
    env = {**os.environ, "SITCLI_DATA_DIR": str(data)}
    exe = os.path.join(os.path.dirname(sys.executable), "sitcli")
    procs = [subprocess.Popen([exe, "data", "import", f, "--symbol", "X", "--merge"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for f in files[1:]]
    for p in procs:
        assert p.wait(60) == 0, p.stderr.read()
    assert len(Store(data).read("X")) == 1200


# ---------------------------------------------------------------- case 9: trusting files


def test_random_bit_flips_are_detected_or_harmless(tmp_path):
    store = Store(tmp_path)
    path = store.write(bars(200), source="csv", symbol="X", timeframe="1d", note="n")
    good = path.read_bytes()
    original = store.read("X")
    rng = np.random.default_rng(17)
    detected = harmless = 0
    for bit in rng.choice(len(good) * 8, size=300, replace=False):
        flipped = bytearray(good)
        flipped[bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(bytes(flipped))
        try:
            got = store.read("X")
        except DamagedFile as exc:
            assert str(path) in str(exc)
            detected += 1
            continue
        # what reads back without an error is exactly what was written
        pd.testing.assert_frame_equal(got, original)
        assert got.attrs["sitcli"]["symbol"] == "X" and got.attrs["sitcli"]["note"] == "n"
        harmless += 1
    print(f"bit flips: {detected} detected, {harmless} read back unchanged (of 300)")
    assert detected + harmless == 300 and detected > 200


def _truncate(path, keep: int = 100) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def test_one_truncated_file_is_named_and_the_rest_still_listed(tmp_path):
    store = Store(tmp_path)
    for symbol in ("AAA", "BBB", "CCC"):
        store.write(bars(30), source="csv", symbol=symbol, timeframe="1d")
    broken = store.path("csv", "BBB", "1d")
    _truncate(broken)
    got = run_main("data", "list", "-f", "csv", data_dir=tmp_path)
    assert got.code == 1
    assert "AAA" in got.stdout and "CCC" in got.stdout and "BBB" not in got.stdout
    assert f"damaged file(s), left out above: {broken}" in got.stderr
    verified = run_main("data", "verify", "-f", "json", data_dir=tmp_path)
    assert verified.code == 1
    assert str(broken) in verified.stdout and '"damaged": null' in verified.stdout
    shown = run_main("data", "show", "BBB", data_dir=tmp_path)
    assert shown.code == 1 and f"damaged file {broken}" in shown.stderr
    assert "internal error" not in shown.stderr
    assert run_main("data", "show", "CCC", data_dir=tmp_path).code == 0


def test_a_foreign_file_with_repeated_timestamps_is_damaged_not_a_bug(tmp_path):
    path = tmp_path / "csv" / "1d" / "DUP.parquet"
    path.parent.mkdir(parents=True)
    frame = bars(5).reset_index()
    frame.loc[3, "time"] = frame.loc[2, "time"]
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    proc = run_sitcli("data", "show", "DUP", data_dir=tmp_path)
    assert_one_line_error(proc, 1, f"damaged file {path}", "out of order or repeated")


# ---------------------------------------------------------------- case 10: leftovers


def test_a_killed_writers_temp_file_is_removed_by_the_next_write(tmp_path):
    store = Store(tmp_path)
    target = store.write(bars(10), source="csv", symbol="X", timeframe="1d")
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from pathlib import Path
        from sitcli.files import atomic_path
        with atomic_path(Path({str(target)!r})) as tmp:
            tmp.write_bytes(b"half")
            print(tmp, flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    tmp = child.stdout.readline().strip()
    assert os.path.exists(tmp)
    # while its writer lives, the temp file is left alone
    assert sweep_stale_temps(target.parent) == []
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    store.write(bars(12), source="csv", symbol="X", timeframe="1d")
    assert not os.path.exists(tmp)
    assert sorted(p.name for p in target.parent.iterdir()) == [".X.parquet.lock", "X.parquet"]


def test_an_interrupted_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


# ---------------------------------------------------------------- case 13: the environment


def _read_only_run(data: Path, *args) -> subprocess.CompletedProcess:
    """`sitcli ARGS` with the store `data` read-only. File permissions do not bind root (CI's
    container runs as root): root gets `data` bind-mounted read-only in a mount namespace of
    the command's own, everyone else a directory without write permission."""
    if os.geteuid() != 0:
        data.chmod(0o500)
        try:
            return run_sitcli(*args, data_dir=data)
        finally:
            data.chmod(0o700)
    wrapper = ["unshare", "-m", "sh", "-c",
               'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"', str(data)]
    probe = subprocess.run([*wrapper, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"root without a mount namespace cannot make a read-only store: "
                    f"{probe.stderr.strip()}")
    return run_sitcli(*args, data_dir=data, wrapper=wrapper)


def test_read_only_store_says_what_could_not_be_written_where(tmp_path):
    csv = tmp_path / "x.csv"
    bars(5).reset_index().rename(columns={"time": "date"}).to_csv(csv, index=False)
    data = tmp_path / "data"
    data.mkdir()
    proc = _read_only_run(data, "data", "import", csv, "--symbol", "X")
    assert list(data.iterdir()) == []
    reason = "ead-only file system" if os.geteuid() == 0 else "ermission denied"
    assert_one_line_error(proc, 1, "could not write", str(data), reason)


def test_a_store_path_that_is_a_file_is_an_environment_error(tmp_path):
    csv = tmp_path / "x.csv"
    bars(5).reset_index().rename(columns={"time": "date"}).to_csv(csv, index=False)
    blocker = tmp_path / "data"
    blocker.write_text("not a directory")
    proc = run_sitcli("data", "import", csv, "--symbol", "X", data_dir=blocker)
    assert_one_line_error(proc, 1, "could not write", str(blocker))


def test_unwritable_report_directory_is_an_environment_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    got = run_main("report", "daily", "--demo", "--symbols", "NVDA", "--asof", "2025-11-24",
                   "--out", blocker / "sub", "-f", "json")
    assert got.code == 1
    assert "could not create the report directory" in got.stderr
    assert "internal error" not in got.stderr


# ---------------------------------------------------------------- case 12: symbols


@pytest.mark.parametrize("symbol, fragment", [
    (".hidden", "starts with '.'"),
    ("X" * 300, "is 300 characters long; at most 64"),
    ("NV DA", "contains spaces"),
])
def test_symbols_that_cannot_name_a_file_are_refused(tmp_path, symbol, fragment):
    with pytest.raises(BadInput, match=fragment):
        Store(tmp_path).write(bars(3), source="csv", symbol=symbol, timeframe="1d")
    assert not any(p.suffix == ".parquet" for p in tmp_path.rglob("*"))


def test_spaces_around_a_symbol_are_dropped(tmp_path):
    store = Store(tmp_path)
    path = store.write(bars(3), source="csv", symbol="  NVDA ", timeframe="1d")
    assert path.name == "NVDA.parquet"
    assert store.read(" NVDA").attrs["sitcli"]["symbol"] == "NVDA"


def test_a_bare_base_finds_the_one_stored_pair(tmp_path):
    store = Store(tmp_path)
    store.write(bars(30), source="ccxt", symbol="RENDER/USDT", timeframe="1d")
    assert store.read("RENDER").attrs["sitcli"]["symbol"] == "RENDER/USDT"
    got = run_main("backtest", "buy_and_hold", "--symbols", "RENDER", "-f", "json",
                   data_dir=tmp_path)
    assert got.code == 0, got.stderr
    store.write(bars(30), source="ccxt", symbol="RENDER/USDC", timeframe="1d")
    with pytest.raises(BadInput, match="RENDER matches several stored pairs at 1d: "
                                       "RENDER/USDC, RENDER/USDT; name one of them"):
        store.read("RENDER")


def test_bad_timeframe_and_unknown_symbol_are_usage_errors(tmp_path):
    assert run_main("backtest", "--demo", "--symbols", "NVDA", "--timeframe", "abc").code == 2
    got = run_main("data", "show", "NOPE", "--demo")
    assert got.code == 2 and "unknown symbol 'NOPE'" in got.stderr


def test_conflicting_flags_are_refused(tmp_path):
    csv = tmp_path / "x.csv"
    bars(5).reset_index().rename(columns={"time": "date"}).to_csv(csv, index=False)
    got = run_main("data", "import", csv, "--symbol", "X", "--merge", "--replace",
                   data_dir=tmp_path / "d")
    assert got.code == 2 and "--merge and --replace contradict" in got.stderr
    got = run_main("backtest", "--demo", "--data-dir", tmp_path, "--symbols", "NVDA")
    assert got.code == 2 and "--demo reads the embedded demo data and --data-dir" in got.stderr
    got = run_main("backtest", "buy_and_hold", "--strategy", "catalyst_fade", "--demo")
    assert got.code == 2 and "strategy given twice" in got.stderr


def test_the_sit_hint_names_sit_build(tmp_path):
    got = run_main("backtest", "--symbols", "SIT", data_dir=tmp_path)
    assert got.code in (2, 3)
    assert '"sitcli sit build"' in got.stderr and "data pull SIT" not in got.stderr


def test_lock_wait_is_bounded(tmp_path):
    from sitcli.data.store import file_lock

    target = tmp_path / "x.parquet"
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from pathlib import Path
        from sitcli.data.store import file_lock
        with file_lock(Path({str(target)!r})):
            print("held", flush=True)
            time.sleep(30)
        """)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    started = time.monotonic()
    try:
        with pytest.raises(Exception, match="locked by another sitcli process"):
            with file_lock(target, timeout=0.3):
                pass
    finally:
        child.kill()
        child.wait()
    assert time.monotonic() - started < 5


def test_ctrl_c_while_sweep_writes_out_keeps_the_result_and_leaves_no_temp(tmp_path,
                                                                           monkeypatch):
    import json

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt     # what Ctrl-C raises in the middle of the write

    monkeypatch.setattr(json, "dump", interrupted)
    out = tmp_path / "sweep.json"
    got = run_main("sweep", "--demo", "--symbols", "NVDA", "--grid", "hold=1,3", "--out", out,
                   "-f", "csv")
    assert got.code == 130
    assert f"interrupted while writing {out}: not written" in got.stderr
    assert len(got.stdout.strip().splitlines()) == 3          # header + both combinations
    assert list(tmp_path.iterdir()) == []


def test_the_store_reads_a_file_as_pyarrows_read_table(tmp_path):
    """`store.read_table` (ParquetFile, no dataset layer) gives what `pq.read_table` gives,
    data and schema metadata, or fails where it fails, on a file with random bits flipped."""
    import pyarrow.parquet as pq

    from sitcli.data.store import read_table

    path = Store(tmp_path).write(bars(200), source="csv", symbol="X", timeframe="1d", note="n")
    good = path.read_bytes()

    def outcome(read):
        try:
            table = read(path)
        except Exception:   # noqa: BLE001 - which error differs; that both fail is the point
            return "fails"
        return table.schema.metadata, table.to_pydict()

    assert outcome(read_table) == outcome(lambda p: pq.read_table(p,
                                                                  page_checksum_verification=True))
    rng = np.random.default_rng(18)
    for bit in rng.choice(len(good) * 8, size=400, replace=False):
        flipped = bytearray(good)
        flipped[bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(bytes(flipped))
        theirs = outcome(lambda p: pq.read_table(p, page_checksum_verification=True))
        assert outcome(read_table) == theirs, bit
