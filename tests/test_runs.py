"""Run history: manifests, `runs list|show|compare|rerun`, and `sitcli.load_run`."""

from __future__ import annotations

import hashlib
import json

import pytest
from cli_helpers import assert_one_line_error, shared_store

REAL = {"NVDA": "equities/daily/NVDA.csv"}
BACKTEST = ("backtest", "--symbols", "NVDA", "--start", "2022-01-01", "--end", "2024-06-30")


def _runs(cli) -> list[dict]:
    return json.loads(cli("runs", "list", "--format", "json", check_code=0).stdout)["runs"]


@pytest.fixture
def real(cli, tmp_path):
    """A store of real NVDA daily bars at the `cli` fixture's data directory."""
    return shared_store(cli.data_dir, REAL)


def test_saved_run_manifest_and_rerun_bit_for_bit(cli, real):
    cli(*BACKTEST, "--leverage", "5", "--save", check_code=0)
    [run] = _runs(cli)
    assert run["command"] == "backtest" and run["args"].endswith("--leverage 5 --save")
    manifest = json.loads(cli("runs", "show", run["id"], "--format", "json",
                              check_code=0).stdout)
    assert manifest["argv"] == [*BACKTEST, "--leverage", "5", "--save"]
    assert manifest["sitcli_version"] == __import__("sitcli").__version__
    # the data it read: the stored file's path below the store, its hash and span
    stored = real.path("csv", "NVDA", "1d")
    [data] = manifest["data"]
    assert data["path"] == "csv/1d/NVDA.parquet"
    assert data["sha256"] == hashlib.sha256(stored.read_bytes()).hexdigest()
    bars = real.read("NVDA")
    assert data["rows"] == len(bars)
    assert data["first"][:10] == f"{bars.index[0]:%Y-%m-%d}"
    assert data["last"][:10] == f"{bars.index[-1]:%Y-%m-%d}"
    # the files it wrote, hashed; the results summary is summary.json's statistics
    folder = cli.data_dir / "runs" / run["id"]
    assert sorted(manifest["outputs"]) == ["equity.csv", "liquidations.csv", "summary.json",
                                           "trades.csv"]
    for name, digest in manifest["outputs"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    summary = json.loads((folder / "summary.json").read_text())
    assert manifest["results"]["stats"] == summary["stats"]
    # rerun: the same bytes
    again = cli("runs", "rerun", run["id"], check_code=0)
    assert again.stdout.startswith("reproduced bit for bit: 4 files identical")
    assert len(_runs(cli)) == 1          # a rerun is not added to the history


def test_rerun_names_the_data_file_that_changed(cli, real):
    out = cli.data_dir.parent / "nvda-5x"
    cli(*BACKTEST, "--leverage", "5", "--out", out, check_code=0)
    assert (out / "run.json").is_file()
    # the history lists --out runs too; its id and its directory both find it
    [run] = _runs(cli)
    assert run["path"] == str(out)
    # a revised history: one close 10% higher inside the span
    bars = real.read("NVDA")
    day = bars.index.get_indexer([bars.loc["2023-06-01":].index[0]])[0]
    bars.iloc[day, bars.columns.get_loc("close")] *= 1.1
    bars.iloc[day, bars.columns.get_loc("high")] = bars.iloc[day][["high", "close"]].max()
    real.write(bars, source="csv", symbol="NVDA", timeframe="1d")
    proc = cli("runs", "rerun", str(out))
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("not reproduced: ")
    assert "summary.json" in proc.stdout.splitlines()[0]
    assert "input changed: data file csv/1d/NVDA.parquet changed (sha256 " in proc.stdout


def test_compare_shows_the_differing_argument_and_the_stats(cli, cli_process, real):
    cli(*BACKTEST, "--venue", "perp-binance", "--leverage", "5", "--save", check_code=0)
    cli(*BACKTEST, "--venue", "perp-binance", "--leverage", "20", "--save", check_code=0)
    a, b = (r["id"] for r in _runs(cli_process))   # `runs list` through the entry point
    payload = json.loads(cli("runs", "compare", a, b, "--format", "json", check_code=0).stdout)
    assert (payload["A"], payload["B"]) == (a, b)
    assert payload["inputs"] == [{"input": "args", "A": "--leverage 5", "B": "--leverage 20"}]
    rows = {r["stat"]: r for r in payload["stats"]}
    assert (rows["Leverage"]["A NVDA"], rows["Leverage"]["B NVDA"]) == (5.0, 20.0)
    for run_id, tag in ((a, "A"), (b, "B")):
        summary = json.loads((cli.data_dir / "runs" / run_id / "summary.json").read_text())
        assert rows["Total return [%]"][f"{tag} NVDA"] == summary["stats"]["NVDA"]["total_return_pct"]
    table = cli_process("runs", "compare", a, b, check_code=0).stdout
    assert "What differed in the inputs" in table and "--leverage 20" in table
    # the same inputs: said so
    same = cli("runs", "compare", a, a, check_code=0).stdout
    assert "The inputs were the same" in same


def test_config_file_recorded_and_its_change_named(cli, tmp_path):
    cfg = tmp_path / "lev.toml"
    cfg.write_text("[backtest]\nleverage = 3\n")
    out = tmp_path / "run"
    cli("backtest", "--demo", "--symbols", "NVDA", "--config", cfg, "--out", out, check_code=0)
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["config"]["files"][0]["path"] == str(cfg)
    assert manifest["config"]["options"] == {"leverage": 3}
    assert manifest["data"][0]["path"] == "demo/1d/NVDA.parquet"
    cfg.write_text("[backtest]\nleverage = 4\n")
    proc = cli("runs", "rerun", out)
    assert proc.returncode == 1
    assert f"input changed: config file {cfg} changed" in proc.stdout
    assert proc.stdout.count(str(cfg)) == 1          # named once, as the config file it is
    assert manifest["argument_files"] == []


def test_sweep_and_scenario_manifests_rerun(cli, tmp_path):
    """Slow (about 20 s on a loaded machine): `runs rerun` starts a fresh `sitcli` process per
    rerun by design, and this test reruns a sweep and a scenario."""
    table = tmp_path / "sweep.csv"
    cli("sweep", "--demo", "--symbols", "NVDA", "--grid", "leverage=2,5", "--out", table,
        check_code=0)
    manifest = json.loads((tmp_path / "sweep.csv.run.json").read_text())
    assert manifest["command"] == "sweep" and list(manifest["outputs"]) == ["sweep.csv"]
    assert manifest["results"]["combinations"] == 2
    assert [r["leverage"] for r in manifest["results"]["top"]] == [2.0, 5.0] or \
        sorted(r["leverage"] for r in manifest["results"]["top"]) == [2.0, 5.0]
    assert cli("runs", "rerun", table, check_code=0).stdout.startswith(
        "reproduced bit for bit: 1 file identical (sweep.csv)")
    cli("scenario", "--demo", "--symbols", "NVDA", "--leverage", "5,20", "--horizon", "5",
        "--save", check_code=0)
    scen = [r for r in _runs(cli) if r["command"] == "scenario"]
    assert len(scen) == 1
    shown = json.loads(cli("runs", "show", scen[0]["id"], "--format", "json",
                           check_code=0).stdout)
    written = json.loads((cli.data_dir / "runs" / scen[0]["id"] / "scenario.json").read_text())
    assert [r["p_liquidation_pct"] for r in shown["results"]["rows"]] == [
        r["p_liquidation_pct"] for r in written["symbols"]["NVDA"]["rows"]]
    assert cli("runs", "rerun", scen[0]["id"], check_code=0).stdout.startswith(
        "reproduced bit for bit: 1 file identical (scenario.json)")


def test_unknown_run_is_one_line(cli_process):
    assert_one_line_error(cli_process("runs", "show", "nope"), 2, "run 'nope'", "runs list")


def test_load_run_reads_back_what_the_api_saved(tmp_path):
    import sitcli

    run = sitcli.backtest("catalyst_momentum", ["NVDA", "AMD"], store=sitcli.demo(),
                          leverage=5)
    folder = run.save(tmp_path / "nvda-5x")
    manifest = json.loads((folder / "run.json").read_text())
    assert manifest["argv"] is None
    assert manifest["api"]["function"] == "backtest"
    assert manifest["api"]["arguments"]["leverage"] == 5
    assert manifest["api"]["arguments"]["symbols"] == ["NVDA", "AMD"]
    assert sorted(r["path"] for r in manifest["data"]) == ["demo/1d/AMD.parquet",
                                                          "demo/1d/NVDA.parquet"]
    saved = sitcli.load_run(folder)
    assert saved.manifest["id"] == manifest["id"]
    import pandas as pd

    pd.testing.assert_frame_equal(saved.stats.drop(columns=["span_first", "span_last"]),
                                  run.stats.drop(columns=["span_first", "span_last"]),
                                  check_dtype=False)
    assert len(saved.trades) == len(run.trades) and list(saved.trades) == list(run.trades)
    assert saved.equity.to_numpy().tolist() == run.equity.to_numpy().tolist()
    assert list(saved.equity.index) == list(run.equity.index)
    assert saved.assumptions["strategy"] == run.assumptions["strategy"]
    from sitcli.errors import BadInput

    with pytest.raises(BadInput, match="no run"):
        sitcli.load_run(tmp_path / "nothing")
