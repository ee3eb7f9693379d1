"""Issue 17, cases 3, 4, 8 (NaN outputs) and 11: user code runs only when named, cannot shadow
a built-in, cannot read the future anywhere in the data, and cannot exit or hang sitcli."""

from __future__ import annotations

import json
import textwrap
import time

import pytest
from cli_helpers import run_sitcli
from robustness_helpers import run_main

DEMO_NVDA = ("--demo", "--symbols", "NVDA")

HEADER = '''
import numpy as np
from sitcli.strategy import Param, Strategy
'''


def write_strategy(path, body: str, name: str = "mine", doc: str = "A test strategy."):
    path.write_text(HEADER + textwrap.dedent(f'''
        class Mine(Strategy):
            """{doc}"""
            name = "{name}"
            params = {{}}

            def signals(self, bars, events, params, context):
        ''') + textwrap.indent(textwrap.dedent(body), " " * 8))
    return path


# ---------------------------------------------------------------- case 4: only named code runs


def test_a_strategies_folder_in_the_working_directory_is_never_run(tmp_path, monkeypatch):
    folder = tmp_path / "strategies"
    folder.mkdir()
    marker = tmp_path / "ran"
    write_strategy(folder / "catalyst_momentum.py", f"""
        open({str(marker)!r}, "w").close()
        n = len(bars)
        return np.ones(n, np.int8), np.zeros(n, bool)
        """, name="catalyst_momentum")
    monkeypatch.chdir(tmp_path)
    got = run_main("backtest", *DEMO_NVDA, "-f", "json")
    assert got.code == 0, got.stderr
    assumptions = json.loads(got.stdout)["assumptions"]
    assert (assumptions["strategy"], assumptions["strategy_source"]) == ("catalyst_momentum",
                                                                         "built-in")
    got = run_main("report", "daily", "--demo", "--symbols", "NVDA", "--asof", "2025-11-24",
                   "--out", "-", "-f", "json")
    assert got.code == 0, got.stderr
    assert json.loads(got.stdout)["settings"]["strategies"][0]["source"] == "built-in"
    listed = run_main("strategies", "list", "-f", "json")
    assert all(row["source"] == "built-in" for row in json.loads(listed.stdout)["strategies"])
    assert not marker.exists()


def test_a_user_file_may_not_take_a_builtin_name(tmp_path):
    path = write_strategy(tmp_path / "copy.py", "return np.zeros(len(bars), np.int8), "
                          "np.zeros(len(bars), bool)", name="catalyst_momentum")
    got = run_main("backtest", "--strategy", path, *DEMO_NVDA)
    assert got.code == 2
    assert f"strategy file {path} is named 'catalyst_momentum', the name of a built-in" in got.stderr


def test_a_named_user_file_runs_and_its_path_is_in_header_and_json(tmp_path):
    path = write_strategy(tmp_path / "flat.py", "return np.zeros(len(bars), np.int8), "
                          "np.zeros(len(bars), bool)", name="flat")
    got = run_main("backtest", "--strategy", path, *DEMO_NVDA, "-f", "json")
    assert got.code == 0, got.stderr
    assert json.loads(got.stdout)["assumptions"]["strategy_source"] == str(path)
    table = run_main("backtest", "--strategy", path, *DEMO_NVDA)
    assert f"flat ({path})" in table.stdout


def test_listing_a_directory_reads_files_without_running_them(tmp_path):
    marker = tmp_path / "ran"
    folder = tmp_path / "mine"
    folder.mkdir()
    write_strategy(folder / "a_strategy.py", "return None", name="listed_one",
                   doc="Listed without being imported.")
    (folder / "a_strategy.py").write_text((folder / "a_strategy.py").read_text()
                                          + f"\nopen({str(marker)!r}, 'w').close()\n")
    (folder / "helper.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    proc = run_sitcli("strategies", "list", "--dir", folder, "-f", "json", data_dir=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)["strategies"]}
    assert rows["listed_one"] == {"name": "listed_one", "source": str(folder / "a_strategy.py"),
                                  "summary": "Listed without being imported."}
    assert "helper" not in rows and "buy_and_hold" in rows
    assert not marker.exists()


# ---------------------------------------------------------------- case 3: look-ahead everywhere

PEEK_LAST = """
    close = bars["close"].to_numpy()
    n = len(bars)
    entries = np.zeros(n, np.int8)
    # trade tomorrow's move today, but only in the last {share} of the bars
    start = int(n * (1 - {share}))
    entries[start:-1] = np.sign(close[start + 1:] - close[start:-1])
    return entries, np.zeros(n, bool)
"""


@pytest.mark.parametrize("share", [0.05, 0.02])
def test_a_strategy_peeking_only_at_the_end_is_refused(tmp_path, share):
    path = write_strategy(tmp_path / "peek.py", PEEK_LAST.format(share=share), name="peek")
    got = run_main("backtest", "--strategy", path, *DEMO_NVDA)
    assert got.code == 2, (got.code, got.stdout[-500:])
    assert f"strategy peek ({path}) looks ahead" in got.stderr
    assert got.stdout == ""


def test_a_strategy_peeking_from_a_date_on_is_refused(tmp_path):
    path = write_strategy(tmp_path / "late.py", """
        import pandas as pd
        close = bars["close"].to_numpy()
        n = len(bars)
        entries = np.zeros(n, np.int8)
        late = np.flatnonzero(bars.index >= pd.Timestamp("2025-10-01", tz="UTC"))
        late = late[late < n - 1]
        entries[late] = np.sign(close[late + 1] - close[late])
        return entries, np.zeros(n, bool)
        """, name="late")
    got = run_main("backtest", "--strategy", path, *DEMO_NVDA)
    assert got.code == 2 and "looks ahead" in got.stderr


# ---------------------------------------------------------------- cases 8 and 11: bad behaviour


def test_nan_exits_are_an_error_naming_the_strategy(tmp_path):
    path = write_strategy(tmp_path / "nan.py", """
        n = len(bars)
        exits = np.zeros(n)
        exits[5] = np.nan
        return np.zeros(n, np.int8), exits
        """, name="nanny")
    got = run_main("backtest", "--strategy", path, *DEMO_NVDA)
    assert got.code == 2
    assert f"strategy nanny ({path}) returned NaN in its exits on NVDA" in got.stderr


def test_sys_exit_inside_a_strategy_is_an_error_naming_the_file(tmp_path):
    path = write_strategy(tmp_path / "quitter.py", "import sys\nsys.exit(0)", name="quitter")
    got = run_main("backtest", "--strategy", path, *DEMO_NVDA)
    assert got.code == 2
    assert f"strategy quitter ({path}) called sys.exit(0) on NVDA" in got.stderr
    at_import = tmp_path / "quit_early.py"
    at_import.write_text("import sys\nsys.exit(0)\n")
    got = run_main("backtest", "--strategy", at_import, *DEMO_NVDA)
    assert got.code == 2 and f"strategy file {at_import} called sys.exit(0) while loading" in got.stderr


def test_a_hanging_strategy_is_stopped_by_its_timeout(tmp_path):
    path = write_strategy(tmp_path / "hang.py", "while True:\n    pass", name="hang")
    started = time.monotonic()
    proc = run_sitcli("backtest", "--strategy", path, *DEMO_NVDA, "--strategy-timeout", "1",
                      data_dir=tmp_path, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert f"strategy hang ({path}) ran longer than 1 s on NVDA and was stopped" in proc.stderr
    assert time.monotonic() - started < 30


def test_report_daily_marks_a_hanging_strategys_symbol_and_reports_the_rest(tmp_path):
    path = write_strategy(tmp_path / "slow.py", """
        if context.symbol == "AMD":
            while True:
                pass
        return np.zeros(len(bars), np.int8), np.zeros(len(bars), bool)
        """, name="slow")
    got = run_main("report", "daily", "--demo", "--symbols", "NVDA,AMD", "--asof", "2025-11-24",
                   "--strategy", path, "--strategy-timeout", "0.5", "--out", "-", "-f", "json")
    assert got.code == 1, got.stderr
    doc = json.loads(got.stdout)
    status = {s["symbol"]: (s["status"], s["problem"]) for s in doc["symbols"]}
    assert status["NVDA"] == ("ok", None)
    assert status["AMD"][0] == "error" and "ran longer than 0.5 s on AMD" in status["AMD"][1]
    assert (doc["status"], doc["exit_code"]) == ("errors", 1)
