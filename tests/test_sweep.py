"""`sitcli sweep`: per-combination summaries that equal the full backtest, on any number of
threads, chunks or Dask workers, in memory that does not grow with bars x combinations."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import assert_one_line_error

sys.path.insert(0, str(Path(__file__).resolve().parent / "benchmarks"))

GRID = {"leverage": ["5", "20", "50"], "stop": ["0.01", "nan"], "hold": ["1", "5"]}


def config(account="isolated", grid=GRID):
    from sitcli.backtest import RunConfig

    # perpetual venue, high leverage, funding on: liquidations, stops, time exits and every
    # cost appear in the grid
    return RunConfig(symbols=["NVDA", "RENDER/USDT"], venue="perp-isolated", account=account,
                     grid=grid, overrides={"funding_rate_8h": "0.0003"})


def demo():
    from sitcli.data.store import demo_store
    from sitcli.events import load_events

    return demo_store(), load_events(None)


def assert_rows_match(full: list[dict], summary: list[dict]) -> None:
    assert len(full) == len(summary)
    for a, b in zip(full, summary, strict=True):
        for key, expected in a.items():
            got = b[key]
            if isinstance(expected, float) and math.isnan(expected):
                assert math.isnan(got), (a["label"], key, got)
            elif expected is None or isinstance(expected, (str, bool, pd.Timestamp)):
                assert got == expected, (a["label"], key, got, expected)
            else:
                assert got == pytest.approx(expected, rel=1e-9, abs=1e-9), (a["label"], key)


@pytest.mark.parametrize("account", ["isolated", "shared"])
def test_sweep_summaries_equal_the_full_backtest(account):
    from sitcli.backtest import run_backtest
    from sitcli.sweep import run_sweep

    store, events = demo()
    full = run_backtest(config(account), store, events)
    swept = run_sweep(config(account), store, events, workers=2, chunk_size=5)
    assert swept.complete
    runs = full.run_stats()
    assert sum(r["liquidations"] for r in runs) > 0      # the grid exercises liquidation
    assert sum(r["fees"] + r["funding"] for r in runs) > 0
    assert_rows_match(runs, swept.run_rows())
    assert_rows_match(full.combo_stats(), swept.combo_rows())


@pytest.mark.parametrize("account", ["isolated", "shared"])
def test_block_sums_are_the_backtests_returns_cut_into_blocks(account):
    """The sweep kernel's per-block sums (`SweepResult.blocks`) are `block_sums` of the full
    backtest's `combination_returns`, and those returns are the summed equity curve's, written
    out here by hand: r_t = E_t / E_{t-1} - 1 from the second bar on."""
    from sitcli.backtest import run_backtest
    from sitcli.overfit import block_count, block_sums, combination_returns
    from sitcli.sweep import run_sweep

    store, events = demo()
    swept = run_sweep(config(account), store, events, workers=2, chunk_size=5)
    full = run_backtest(config(account), store, events)
    r = combination_returns(full)
    n = len(full.index)
    assert r.shape == (n - 1, 12) and block_count(n - 1) == 16 == swept.blocks[0].shape[0]
    expected = block_sums(r, 16)
    for ci in range(12):
        curve = full.combo_curve(ci)[1]
        with np.errstate(invalid="ignore"):
            assert np.array_equal(r[:, ci], curve[1:] / curve[:-1] - 1, equal_nan=True)
        # a combination wiped out to 0 has no return after that (0 / 0); every other bar counts
        assert expected[2][:, ci].sum() == np.count_nonzero(curve[:-1])
    assert expected[2].sum(axis=0).min() < n - 1 < expected[2].sum(axis=0).max() + 1
    for got, want in zip(swept.blocks, expected, strict=True):
        assert np.allclose(got, want, rtol=1e-12, atol=1e-14)
    # the counts are kept in the smallest integers that hold a block's length: exactly
    assert swept.blocks[2].dtype == np.uint8 and np.array_equal(swept.blocks[2], expected[2])


def test_parallel_chunked_sweep_equals_one_serial_call_bit_for_bit():
    from sitcli.sweep import run_sweep

    store, events = demo()
    one = run_sweep(config(), store, events, workers=1, chunk_size=10_000)
    many = run_sweep(config(), store, events, workers=2, chunk_size=5)
    assert_same_arrays(one, many)


def assert_same_arrays(a, b) -> None:
    """Two sweeps' kept statistics, bit for bit (dtypes included)."""
    for field in ("col_stats", "acc_kept", "combo_kept", "acc_curve", "combo_curve", "finished"):
        x, y = getattr(a, field), getattr(b, field)
        assert x.dtype == y.dtype and np.array_equal(x, y), field
    for x, y in zip(a.blocks, b.blocks, strict=True):
        assert x.dtype == y.dtype and np.array_equal(x, y), "blocks"


def test_threaded_kernel_equals_serial_kernel_on_a_liquidating_workload():
    from bench_kernel import workload

    from sitcli.engine.kernel import sweep_nb, sweep_serial_nb
    from sitcli.sweep import pbo_edges

    inputs = workload(400, 64)
    k = len(inputs[8])
    starts = np.arange(k + 1, dtype=np.int64)
    edges = pbo_edges(400)
    parallel = sweep_nb(*inputs, starts, starts, 0, k, edges)
    halves = [sweep_serial_nb(*inputs, starts, starts, lo, hi, edges)
              for lo, hi in ((0, 29), (29, k))]
    for got, *parts in zip(parallel, *halves, strict=True):
        # the per-block sums are (3, blocks, combinations): their combinations are the last axis
        assert np.array_equal(got, np.concatenate(parts, axis=-1 if got.ndim == 3 else 0))
    from sitcli.engine.kernel import S_LIQS, S_TRADES

    assert parallel[0][:, S_LIQS].sum() > 0 and parallel[0][:, S_TRADES].sum() > 1000


def test_interrupted_sweep_keeps_the_finished_combinations():
    from sitcli.sweep import run_sweep

    store, events = demo()
    complete = run_sweep(config(), store, events, workers=1, chunk_size=4)

    def interrupt(done, total):
        if done >= 8:
            raise KeyboardInterrupt

    partial = run_sweep(config(), store, events, workers=1, chunk_size=4, progress=interrupt)
    assert not partial.complete
    assert partial.finished.sum() == 8 and partial.finished[:8].all()
    rows = partial.combo_rows()
    assert [r["combination"] for r in rows] == list(range(8))
    assert_rows_match(complete.combo_rows()[:8], rows)


def test_dask_local_cluster_equals_local():
    pytest.importorskip("distributed", reason="Dask is the optional extra sitcli[dask]")
    from sitcli.sweep import run_sweep

    store, events = demo()
    local = run_sweep(config(), store, events, workers=1)
    remote = run_sweep(config(), store, events, executor="dask", workers=2, chunk_size=3)
    assert remote.complete
    assert_same_arrays(local, remote)


MEMORY_PROBE = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    sys.path.insert(0, {bench!r})
    from bench_kernel import workload
    from sitcli.engine.kernel import sweep_nb
    from sitcli.engine.kernel import simulate

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    from sitcli.sweep import pbo_edges
    small = workload(64, 4)
    starts = np.arange(5, dtype=np.int64)
    sweep_nb(*small, starts, starts, 0, 4, pbo_edges(64))
    simulate(*small)
    inputs = workload({bars}, {combos})
    starts = np.arange({combos} + 1, dtype=np.int64)
    before = peak()
    out = sweep_nb(*inputs, starts, starts, 0, {combos}, pbo_edges({bars}))
    after_sweep = peak()
    full = simulate(*inputs)
    after_full = peak()
    print(json.dumps({{"sweep_growth": after_sweep - before, "full_growth": after_full - after_sweep,
                      "sweep_result_bytes": sum(a.nbytes for a in out),
                      "full_result_bytes": sum(a.nbytes for a in full)}}))
""")


def test_sweep_memory_does_not_grow_with_bars_times_combinations():
    bars, combos = 4000, 3000
    code = MEMORY_PROBE.format(bench=str(Path(__file__).parent / "benchmarks"), bars=bars,
                               combos=combos)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = json.loads(proc.stdout)
    curves = bars * combos * 8                       # one float64 equity curve per combination
    # a few hundred bytes per combination: trade and curve statistics (296 B) and PBO's
    # 16 blocks' Σr, Σr² and counts (384 B)
    assert m["sweep_result_bytes"] < combos * 700
    assert m["sweep_growth"] < curves / 4           # the process did not hold the curves
    assert m["full_result_bytes"] >= curves         # (the full kernel does, for comparison)


# -- the command line


def test_cli_sweep_json_agrees_with_backtest_grid(cli):
    grid = ["--grid", "leverage=5,20", "--grid", "stop=0.01,nan"]
    common = ["catalyst_momentum", "--demo", "--symbols", "NVDA,RENDER/USDT", "--venue",
              "perp-isolated", *grid, "--format", "json"]
    swept = cli("sweep", *common, "--workers", "2", check_code=0)
    full = cli("backtest", *common, check_code=0)
    sweep_rows = json.loads(swept.stdout)["results"]
    backtest_rows = json.loads(full.stdout)["aggregate"]
    assert len(sweep_rows) == 4 == len(backtest_rows)
    by_label = {r["label"]: r for r in sweep_rows}
    for row in backtest_rows:
        got = by_label[row["label"]]
        for key in ("total_return_pct", "max_drawdown_pct", "trades", "liquidations", "fees",
                    "final_equity"):
            assert got[key] == pytest.approx(row[key], rel=1e-9), key
    payload = json.loads(swept.stdout)
    assert payload["complete"] is True and payload["finished"] == 4
    # the overfitting statistics of the two commands' winner meet too (tests/test_overfit.py)
    mine, theirs = payload["overfitting"], json.loads(full.stdout)["overfitting"]
    assert mine.keys() == theirs.keys() and mine["winner"] == theirs["winner"]
    for key in ("psr", "dsr", "pbo", "sharpe_per_bar", "sharpe_variance", "pbo_splits"):
        assert mine[key] == pytest.approx(theirs[key], rel=1e-9), key


def test_cli_sweep_csv_and_out_file(cli, tmp_path):
    out = tmp_path / "sweep.csv"
    proc = cli("sweep", "--demo", "--symbols", "NVDA", "--venue", "perp-isolated",
               "--grid", "leverage=2,5,10", "--grid", "hold=1,3", "--format", "csv",
               "--out", out, "--rank-by", "sharpe", check_code=0)
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("combination,leverage,hold,total_return_pct")
    assert len(lines) == 1 + 6
    assert out.read_text() == proc.stdout
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(set(lines[0].split(","))) == len(lines[0].split(","))      # unique headers
    ruined = [r["ruined"] == "true" for r in rows]
    assert ruined == sorted(ruined)                   # every ruined run below every survivor
    for r in rows:
        assert (r["ruined"] == "true") == (float(r["total_return_pct"]) <= -99.9)
    sharpe = [float(r["sharpe"] or "nan") for r, gone in zip(rows, ruined, strict=True)
              if not gone]
    finite = [s for s in sharpe if math.isfinite(s)]
    assert finite == sorted(finite, reverse=True)
    assert rows[0]["span_first"] < rows[0]["span_last"] and int(rows[0]["span_bars"]) > 60


def test_cli_sweep_parquet_out_equals_csv(cli, tmp_path):
    import pyarrow.parquet as pq

    args = ["sweep", "--demo", "--symbols", "NVDA,RENDER/USDT", "--venue", "cfd-offshore",
            "--grid", "leverage=2,50,200", "--grid", "hold=1,3", "--rank-by", "sharpe"]
    proc = cli(*args, "--format", "csv", "--out", tmp_path / "s.parquet", check_code=0)
    table = pq.read_table(tmp_path / "s.parquet").to_pandas()
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert list(table.columns) == list(rows[0])
    assert [int(r["combination"]) for r in rows] == table["combination"].tolist()
    assert table["ruined"].any() and not table["ruined"].all()
    for r, (_, t) in zip(rows, table.iterrows(), strict=True):
        assert float(r["final_equity"]) == t["final_equity"]
        assert r["sharpe"] == "" if math.isnan(t["sharpe"]) else float(r["sharpe"]) == t["sharpe"]
    assert str(table["span_first"].dtype) == "datetime64[ns, UTC]"


def test_csv_written_in_batches_on_threads_equals_one_write():
    """`write_csv` formats batches on two threads and writes them in order: byte for byte the
    CSV one Arrow writer makes of the whole ranked table (NaN and NaT blank, times as UTC
    text, integers and flags as they are), over several batches."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from sitcli.cli.sweep import CSV_BATCH_ROWS, write_csv

    n = 3 * CSV_BATCH_ROWS + 17
    rng = np.random.default_rng(4)
    value = rng.normal(size=n) * 1e3
    value[::7] = np.nan
    first = np.datetime64("2023-01-03", "ns") + rng.integers(0, 5, n) * np.timedelta64(1, "D")
    first[::11] = np.datetime64("NaT")
    table = {"combination": np.arange(n), "value": value, "trades": rng.integers(0, 40, n),
             "span_first": first, "ruined": rng.random(n) < 0.2}
    order = rng.permutation(n)
    got = io.BytesIO()
    write_csv(got, table, order, list(table))
    text = np.datetime_as_string(first[order].astype("datetime64[s]"), timezone="UTC")
    whole = pa.table({"combination": table["combination"][order],
                      "value": pa.array(value[order], mask=np.isnan(value[order])),
                      "trades": table["trades"][order],
                      "span_first": pa.array(text, mask=np.isnat(first[order])),
                      "ruined": table["ruined"][order]})
    expected = io.BytesIO(b"combination,value,trades,span_first,ruined\n")
    expected.seek(0, 2)
    pacsv.write_csv(whole, expected, write_options=pacsv.WriteOptions(include_header=False,
                                                                     quoting_style="needed"))
    assert got.getvalue() == expected.getvalue()
    assert got.getvalue().count(b"\n") == n + 1 and b'"2023-01-03T00:00:00Z"' in got.getvalue()


@pytest.mark.parametrize("args, fragment", [
    (["--grid", "leverage="], "give at least one value"),
    ([], "no --grid"),
    (["--grid", "nonsense=1,2"], "not a parameter"),
    (["--grid", "leverage=2", "--executor", "spark"], "--executor"),
    (["--grid", "leverage=2", "--scheduler", "tcp://127.0.0.1:1"], "add --executor dask"),
])
def test_cli_sweep_bad_input_exits_2(cli, args, fragment):
    proc = cli("sweep", "--demo", "--symbols", "NVDA", *args)
    assert_one_line_error(proc, 2, fragment)


def test_dask_executor_without_dask_says_how_to_install(tmp_path):
    code = ("import sys; sys.modules['distributed'] = None; "
            "sys.argv = ['sitcli', 'sweep', '--demo', '--symbols', 'NVDA', '--grid', "
            "'leverage=2,3', '--executor', 'dask']; "
            "from sitcli.cli import main; main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={"SITCLI_DATA_DIR": str(tmp_path), "PATH": "/usr/bin"})
    assert_one_line_error(proc, 2, "pip install 'sitcli[dask]'")


def test_wiped_out_account_does_not_open_zero_size_positions():
    """An isolated account liquidated to rounding dust kept entering positions whose quantity
    underflowed to 0 (and then divided by their zero margin); such orders are not filled."""
    from bench_suite import workload

    from sitcli.engine.kernel import simulate

    args, _, _ = workload(400_000, 1, 20, seed=11, vol=0.0008)
    equity, trades, liqs = simulate(*args)
    assert len(liqs) > 0 and (trades["qty"] > 0).all()
    assert np.isfinite(trades["return_on_margin"]).all()
    assert (equity[-1] > -1e-9).all()   # dust, not debt


@pytest.mark.parametrize("account", ["isolated", "shared"])
def test_prepare_sweep_lays_out_the_same_kernel_inputs_as_the_backtest(account):
    """The sweep's array layout of the grid against `prepare_backtest` on the whole product:
    signal parameters (side, status) interleaved with engine ones, several symbols."""
    from sitcli.backtest import prepare_backtest
    from sitcli.sweep import GridCombos, prepare_sweep

    grid = {"leverage": ["2", "5"], "side": ["event", "long"], "stop": ["0.01", "nan"],
            "status": ["confirmed", "confirmed,rumor"], "size": ["0.5", "1"], "hold": ["1", "4"]}
    store, events = demo()
    cfg = config(account, grid)
    full = prepare_backtest(cfg, store, events)
    fast = prepare_sweep(cfg, store, events)
    assert isinstance(fast.combos, GridCombos) and len(fast.combos) == 64
    # the product's columns are built a chunk at a time: here every chunk at once
    assert fast.kernel_args[8] is None and fast.kernel_args[9] is None
    fast_args = list(fast.kernel_args)
    fast_args[8:10] = fast.combos.kernel_columns(0, 64)
    for i, (a, b) in enumerate(zip(full.kernel_args, fast_args, strict=True)):
        if isinstance(a, np.ndarray) and a.dtype.names:
            for name in a.dtype.names:
                assert np.array_equal(a[name], b[name], equal_nan=a[name].dtype.kind == "f"), \
                    (i, name)
        else:
            assert np.array_equal(a, b, equal_nan=np.asarray(a).dtype.kind == "f"), i
    assert [repr(fast.combos[i]) for i in range(64)] == [repr(c) for c in full.combos]  # NaN-safe
    assert [(r.symbol, r.leg, r.combo, r.account) for r in fast.runs] == \
        [(r.symbol, r.leg, r.combo, r.account) for r in full.runs]
    for key in grid:
        assert repr(fast.combos.column(key).tolist()) == repr([c[key] for c in full.combos])
    # a chunk's columns, cut unevenly, are the whole product's rows, accounts numbered from 0
    per_combo = 1 if account == "shared" else 2
    for lo, hi in ((0, 7), (7, 50), (50, 64)):
        cols, accounts = fast.combos.kernel_columns(lo, hi)
        want = full.kernel_args[8][2 * lo:2 * hi].copy()
        want["group"] -= lo * per_combo
        assert cols.tobytes() == want.tobytes()
        assert accounts.tobytes() == full.kernel_args[9][lo * per_combo:hi * per_combo].tobytes()


SIGNAL_GRID = {"side": ["event", "long"], "status": ["confirmed", "confirmed,rumor"]}


@pytest.mark.parametrize("grid", [GRID, SIGNAL_GRID], ids=["engine grid", "signal grid"])
def test_table_a_batch_of_ranked_rows_at_a_time_equals_the_whole_table(grid, tmp_path):
    """`sweep` ranks on a few columns computed in batches (`table_columns`) and computes the
    rest a batch of ranked rows at a time as it writes them (`combo_table(rows)`): the same
    columns, dtypes and bytes as the whole table, and the same CSV and Parquet files, at batch
    sizes that cut the rows unevenly; for an interrupted sweep too. A grid of signal
    parameters only is laid out by `prepare_backtest` and cut into chunks as such."""
    import pyarrow.parquet as pq

    from sitcli.backtest import run_backtest
    from sitcli.cli.backtest import stat_keys
    from sitcli.cli.sweep import write_csv, write_parquet
    from sitcli.stats import rank
    from sitcli.sweep import run_sweep

    store, events = demo()
    swept = run_sweep(config(grid=grid), store, events, workers=2, chunk_size=3)
    if grid is SIGNAL_GRID:                   # chunks of `prepare_backtest`'s own columns
        full = run_backtest(config(grid=grid), store, events)
        assert_rows_match(full.run_stats(), swept.run_rows())
        assert_rows_match(full.combo_stats(), swept.combo_rows())

    def interrupt(done, total):
        if done >= 3:
            raise KeyboardInterrupt

    partial = run_sweep(config(grid=grid), store, events, workers=1, chunk_size=3,
                        progress=interrupt)
    assert not partial.complete and partial.finished.sum() == 3
    for result in (swept, partial):
        whole = result.combo_table()
        keys = [k for k in ("combination", *stat_keys(grid, True)) if k in whole]
        assert list(result.combo_table([])) == list(whole)
        n = len(whole["combination"])
        order = rank(whole["sharpe"], whole["ruined"], False)
        for rows in (order[:3], order[3:], np.arange(n)):
            part = result.combo_table(rows)
            for key in whole:
                want = np.ascontiguousarray(np.asarray(whole[key])[rows])
                got = np.ascontiguousarray(part[key])
                assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), key
        some = result.table_columns(("combination", "sharpe", "ruined", "nonsense"), batch=4)
        assert list(some) == ["combination", "sharpe", "ruined"]
        for key, got in some.items():
            assert got.dtype == whole[key].dtype
            assert np.ascontiguousarray(got).tobytes() == \
                np.ascontiguousarray(whole[key]).tobytes()
        written = []
        for table, size in ((whole, 5), (result.combo_table, 5), (result.combo_table, 2)):
            raw = io.BytesIO()
            write_csv(raw, table, order, keys, size=size)
            written.append(raw.getvalue())
        assert written[0] == written[1] == written[2] and written[0].count(b"\n") == n + 1
        write_parquet(tmp_path / "whole.parquet", whole, order, keys)
        write_parquet(tmp_path / "batches.parquet", result.combo_table, order, keys)
        assert pq.read_table(tmp_path / "whole.parquet").equals(
            pq.read_table(tmp_path / "batches.parquet"))


@pytest.mark.parametrize("on_ruin", ["stop", "topup"])
def test_sweep_keeps_the_curve_statistics_its_tables_read(on_ruin):
    """A sweep keeps 6 of the kernel's 11 curve statistics per account and combination (8
    with --on-ruin topup: the capital injected and the refills); they are the kernel's own,
    bit for bit, and the fields it drops are ones no table reads (0 in `acc_curve`)."""
    from dataclasses import replace

    from sitcli.engine.kernel import C_FIRST, C_N, C_PEAK, C_REFILLS, sweep_serial_nb
    from sitcli.sweep import chunk_args, column_source, curve_fields, pbo_edges, run_sweep

    store, events = demo()
    cfg = replace(config(), on_ruin=on_ruin)
    swept = run_sweep(cfg, store, events, workers=2, chunk_size=5)
    fields = curve_fields(cfg)
    assert len(fields) == (8 if on_ruin == "topup" else 6)
    assert swept.acc_kept.shape == (24, len(fields)) and swept.combo_kept.shape == (12, len(fields))
    args = swept.prep.kernel_args
    _, acc_curve, combo_curve, _ = sweep_serial_nb(
        *chunk_args(args, column_source(swept.prep, False), 0, 12), pbo_edges(len(swept.prep.index)))
    assert np.array_equal(swept.acc_kept, acc_curve[:, fields])
    assert np.array_equal(swept.combo_kept, combo_curve[:, fields])
    assert not set(fields) & {C_FIRST, C_PEAK, C_N}
    assert (swept.acc_curve[:, [C_FIRST, C_PEAK, C_N]] == 0).all()
    assert np.array_equal(swept.acc_curve[:, fields], acc_curve[:, fields])
    if on_ruin == "topup":
        assert swept.combo_curve[:, C_REFILLS].sum() > 0
