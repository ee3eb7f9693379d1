"""The Python API (`sitcli.api`, re-exported as `sitcli.*`) against the CLI: the same numbers
to the last digit, the same files, the same errors, and a light `import sitcli`."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from cli_helpers import run_sitcli, shared_store

import sitcli
from sitcli.errors import BadInput


def invoke(*args) -> str:
    """`sitcli ARGS` in-process (typer's runner); its stdout."""
    from typer.testing import CliRunner

    from sitcli.cli import app

    out = CliRunner().invoke(app, [str(a) for a in args])
    assert out.exit_code == 0, (out.stdout[-2000:], out.stderr[-2000:])
    return out.stdout


def plain(value):
    """What `--format json` makes of a value (the CLI's own conversion)."""
    from sitcli.cli.render import _plain

    return json.loads(json.dumps(_plain(value), allow_nan=False))


def same_files(a, b) -> None:
    from sitcli.cli.backtest import OUT_FILES

    for name in OUT_FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def check_frames(run, out) -> None:
    """The DataFrames equal what the CLI wrote: stats to summary.json, trades and equity to
    their CSV files (pandas writes floats with repr, so equal text is equal to the last bit)."""
    summary = json.loads((out / "summary.json").read_text())
    assert list(run.stats.index) == list(summary["stats"])
    for label, row in summary["stats"].items():
        assert plain(run.stats.loc[label].to_dict()) == row
    assert plain(run.aggregate.reset_index().to_dict("records")) == [
        {"label": r.pop("label"), **r} for r in summary["aggregate"]]
    assert run.trades.to_csv(index=False) == (out / "trades.csv").read_text()
    assert run.equity.to_csv(index_label="time") == (out / "equity.csv").read_text()
    assert run.liquidations.to_csv(index=False) == (out / "liquidations.csv").read_text()
    assert plain(run.assumptions) == summary["assumptions"]


# --- import cost and names -----------------------------------------------------------------

def test_import_sitcli_loads_neither_numba_nor_pandas():
    code = ("import sys, sitcli; heavy = [m for m in ('numba', 'pandas', 'numpy') "
            "if m in sys.modules]; print(heavy, callable(sitcli.backtest))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    # touching an API name loads it (and pandas) only then
    assert proc.stdout.strip() == "[] True"
    light = subprocess.run([sys.executable, "-c", "import sys, sitcli; print('pandas' in sys.modules,"
                            " 'numba' in sys.modules)"], capture_output=True, text=True, timeout=60)
    assert light.stdout.strip() == "False False", light.stderr


def test_api_names_survive_importing_the_submodules_of_the_same_name():
    import importlib

    import sitcli.backtest
    import sitcli.liquidation
    import sitcli.scenario
    import sitcli.sweep
    from sitcli import api

    for name in ("backtest", "liquidation", "scenario", "sweep"):
        assert getattr(sitcli, name) is getattr(api, name)
        assert importlib.import_module(f"sitcli.{name}").__name__ == f"sitcli.{name}"
    from sitcli.backtest import RunConfig  # the modules still serve their names

    assert RunConfig.__module__ == "sitcli.backtest"
    assert sitcli.Strategy is importlib.import_module("sitcli.strategy").Strategy


def test_store_defaults_to_the_cli_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SITCLI_DATA_DIR", str(tmp_path / "env"))
    assert sitcli.Store().root == tmp_path / "env"
    assert sitcli.Store(tmp_path / "mine").root == tmp_path / "mine"
    assert sitcli.demo().demo and sitcli.demo().read_only


# --- backtest: API vs CLI ------------------------------------------------------------------

def test_backtest_on_the_demo_equals_the_cli(tmp_path):
    stdout = invoke("backtest", "--demo", "--symbols", "NVDA,RENDER/USDT", "--leverage", "20",
                    "--venue", "perp-binance", "--param", "hold=3", "--out", tmp_path / "cli",
                    "--format", "json")
    run = sitcli.backtest("catalyst_momentum", ["NVDA", "RENDER/USDT"], venue="perp-binance",
                          leverage=20, params={"hold": 3}, store=sitcli.demo())
    assert run.save(tmp_path / "api") == tmp_path / "api"
    same_files(tmp_path / "cli", tmp_path / "api")
    assert plain(run.payload) == json.loads(stdout)
    check_frames(run, tmp_path / "cli")
    assert set(run.stats.index) == {"NVDA", "RENDER/USDT"}
    assert len(run.trades) > 0 and (run.stats["leverage"] == 20).all()


def test_backtest_grid_on_the_demo_equals_the_cli(tmp_path):
    stdout = invoke("backtest", "--demo", "--symbols", "AMD", "--grid", "leverage=2,5",
                    "--grid", "hold=1,3", "--out", tmp_path / "cli", "--format", "json")
    run = sitcli.backtest(symbols=["AMD"], grid={"leverage": [2, 5], "hold": [1, 3]},
                          store=sitcli.demo())
    run.save(tmp_path / "api")
    same_files(tmp_path / "cli", tmp_path / "api")
    cli = json.loads(stdout)
    assert plain(run.payload) == cli
    assert len(run.stats) == 4 and cli["ranking"] and "overfitting" in cli
    check_frames(run, tmp_path / "cli")


def test_backtest_on_real_nvda_equals_the_installed_cli(tmp_path):
    """The installed entry point in a subprocess against the API, on real stored bars."""
    store = shared_store(tmp_path / "data", {"NVDA": "equities/daily/NVDA.csv"})
    proc = run_sitcli("backtest", "--symbols", "NVDA", "--leverage", "5", "--start", "2022-01-01",
                      "--out", tmp_path / "cli", "--format", "json", data_dir=store.root)
    assert proc.returncode == 0, proc.stderr
    run = sitcli.backtest(symbols=["NVDA"], leverage=5, start="2022-01-01",
                          store=sitcli.Store(store.root))
    run.save(tmp_path / "api")
    same_files(tmp_path / "cli", tmp_path / "api")
    assert plain(run.payload) == json.loads(proc.stdout)
    check_frames(run, tmp_path / "cli")
    assert run.assumptions["data"][0]["source"] == "csv"
    assert run.assumptions["data"][0]["first"] >= pd.Timestamp("2022-01-01", tz="UTC")
    assert run.equity.index[0] >= pd.Timestamp("2022-01-01", tz="UTC")
    assert not run.result.synthetic


# --- the other commands ----------------------------------------------------------------------

def test_liquidation_equals_the_installed_cli(tmp_path):
    args = dict(side="long", entry=100, leverage=50, venue="perp-bybit")
    proc = run_sitcli("liquidation", "--side", "long", "--entry", "100", "--leverage", "50",
                      "--venue", "perp-bybit", "--format", "json", data_dir=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert plain(sitcli.liquidation(**args)) == json.loads(proc.stdout)


def test_liquidation_hand_worked_and_equal_to_the_cli():
    # 50x long at 100, 1 unit, no maintenance and no fee: margin 100/50 = 2, so the whole
    # margin is gone at 100 - 2 = 98; a +3% move earns 3 on 2 of margin = +150%
    got = sitcli.liquidation(side="long", entry=100, leverage=50, qty=1, moves=[-1, 3])
    assert got["liquidation_price"] == pytest.approx(98.0)
    assert [m["return_on_margin_pct"] for m in got["moves"]] == pytest.approx([-50.0, 150.0])
    cli = invoke("liquidation", "--side", "long", "--entry", "100", "--leverage", "50", "--qty",
                 "1", "--moves=-1,3", "--format", "json")
    assert plain(got) == json.loads(cli)


def test_scenario_equals_the_cli():
    cli = invoke("scenario", "--demo", "--symbols", "NVDA,RENDER/USDT", "--leverage", "10,20",
                 "--horizon", "1,5", "--format", "json")
    got = sitcli.scenario(["NVDA", "RENDER/USDT"], leverage=[10, 20], horizon=[1, 5],
                          store=sitcli.demo())
    for info in got.values():
        for row in info["rows"]:
            assert len(row.pop("returns")) > 0
    assert plain(got) == json.loads(cli)["symbols"]


def test_sweep_equals_the_cli():
    cli = json.loads(invoke("sweep", "--demo", "--symbols", "NVDA", "--grid", "leverage=2,5",
                            "--grid", "hold=1,3", "--workers", "1", "--format", "json"))
    table = sitcli.sweep(symbols=["NVDA"], grid={"leverage": [2, 5], "hold": [1, 3]},
                         store=sitcli.demo(), workers=1)
    assert table.attrs["complete"] and len(table) == 4 == len(cli["results"])
    rows = plain(table.reset_index(names="label").to_dict("records"))
    assert rows == cli["results"]


# --- errors stay the CLI's -------------------------------------------------------------------

def test_bad_arguments_raise_bad_input_naming_the_flag():
    with pytest.raises(BadInput, match="--leverage"):
        sitcli.backtest(symbols=["NVDA"], leverage=-1, store=sitcli.demo())
    with pytest.raises(BadInput, match="side 'sideways'"):
        sitcli.liquidation(side="sideways", entry=100, leverage=10)
    with pytest.raises(BadInput, match="--horizon"):
        sitcli.scenario(["NVDA"], horizon=[1.5], store=sitcli.demo())
    with pytest.raises(BadInput, match="--stats"):
        sitcli.backtest(symbols=["NVDA"], stats="most", store=sitcli.demo())


def test_the_api_tour_example_runs(tmp_path):
    """examples/api_tour.py, public API only, on the demo: it writes the backtest's files."""
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "api_tour.py"
    proc = subprocess.run([sys.executable, str(example)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "liquidated at 98.5000" in proc.stdout
    assert "error: --leverage -1" in proc.stdout
    # it starts with the trader's tour's run: the CLI's `backtest --demo` aggregate
    cli = subprocess.run([str(Path(sys.executable).parent / "sitcli"), "backtest", "--demo",
                          "--format", "json"], capture_output=True, text=True, cwd=tmp_path,
                         timeout=120)
    aggregate = json.loads(cli.stdout)["aggregate"][0]
    assert f"{aggregate['total_return_pct']:.6f}" in proc.stdout
    assert (tmp_path / "runs" / "api-tour" / "summary.json").is_file()


USER_STRATEGY = '''"""every_tenth: long at every tenth bar (a user's file, written against the public API)."""
import numpy as np

import sitcli


class EveryTenth(sitcli.Strategy):
    name = "every_tenth"

    def signals(self, bars, events, params, context):
        entries = np.zeros(len(bars), np.int8)
        entries[::10] = 1
        return entries, np.zeros(len(bars), bool)
'''


def test_a_user_strategy_file_runs_the_same_through_api_and_cli(tmp_path):
    path = tmp_path / "every_tenth.py"
    path.write_text(USER_STRATEGY)
    stdout = invoke("backtest", path, "--demo", "--symbols", "TSM", "--param", "hold=2",
                    "--out", tmp_path / "cli", "--format", "json")
    run = sitcli.backtest(str(path), ["TSM"], params={"hold": 2}, store=sitcli.demo())
    run.save(tmp_path / "api")
    same_files(tmp_path / "cli", tmp_path / "api")
    assert plain(run.payload) == json.loads(stdout)
    assert run.assumptions["strategy"] == "every_tenth"
    # an entry at every tenth bar, each held 2 bars (so never still open at the next one):
    # a trade per tenth bar, the last perhaps unfilled at the end of the data
    bars = run.assumptions["data"][0]["bars"]
    assert run.stats.loc["TSM", "trades"] == len(run.trades)
    assert len(run.trades) in (-(-bars // 10), -(-bars // 10) - 1)


def test_save_and_missing_data_errors_are_the_clis(tmp_path):
    from sitcli.errors import DataMissing

    run = sitcli.backtest(symbols=["TSM"], store=sitcli.demo())
    (tmp_path / "file").write_text("x")
    with pytest.raises(BadInput, match="exists and is not a directory"):
        run.save(tmp_path / "file")
    with pytest.raises(DataMissing, match="NVDA"):
        sitcli.backtest(symbols=["NVDA"], store=sitcli.Store(tmp_path / "empty"))
