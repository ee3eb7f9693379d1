"""Walk-forward and out-of-sample on hand-made data whose best parameter flips half-way: the
picks follow the data, the stitched curve is each window's own run, and the sweep's
summaries-only kernel picks what the full records pick."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sitcli.backtest import RunConfig, run_backtest
from sitcli.cli.backtest import _ranked
from sitcli.data.store import Store
from sitcli.errors import BadInput
from sitcli.events import COLUMNS, load_events
from sitcli.walkforward import data_index, oos, oos_split, walk_forward, walk_windows

N = 200
SYMBOL = "TAO/USDT"      # 24/7: one bar a day, no session calendar to think about


def rank(rows):
    return _ranked(rows, "total_return_pct")


@pytest.fixture(scope="module")
def flip(tmp_path_factory):
    """Up 1% a day for 100 days, then down 1% a day; a catalyst every 5 days."""
    root = tmp_path_factory.mktemp("flip")
    index = pd.date_range("2024-01-01", periods=N, freq="D", tz="UTC")
    close = 100 * np.cumprod(np.where(np.arange(N) < N // 2, 1.01, 0.99))
    open_ = np.concatenate([[100.0], close[:-1]])
    bars = pd.DataFrame({"open": open_, "high": np.maximum(open_, close) * 1.001,
                         "low": np.minimum(open_, close) * 0.999, "close": close,
                         "volume": 1.0}, index=index)
    store = Store(root / "data")
    store.write(bars, source="csv", symbol=SYMBOL, timeframe="1d")
    rows = [f"{index[i]:%Y-%m-%d}T12:00:00Z,news {i},test,1,confirmed,crypto,,asset_class,t"
            for i in range(2, N - 1, 5)]
    path = root / "events.csv"
    path.write_text(",".join(COLUMNS) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    events = load_events([path], builtin=False)
    cfg = RunConfig([SYMBOL], strategy="catalyst_momentum", venue="perp-isolated",
                    params={"hold": "3"}, grid={"side": ["long", "short"], "leverage": ["2"]})
    return cfg, store, events


def test_windows_rolling_and_anchored():
    index = pd.date_range("2024-01-01", periods=100, freq="D", tz="UTC")
    rolling = walk_windows(index, 3, train=30, test=20)
    assert [(w.train[0], w.test[0], w.test[1]) for w in rolling] == [
        (index[10], index[40], index[59]), (index[30], index[60], index[79]),
        (index[50], index[80], index[99])]
    assert all(w.train[1] == index[index.get_loc(w.test[0]) - 1] for w in rolling)
    anchored = walk_windows(index, 3, test=20, anchored=True)
    assert {w.train[0] for w in anchored} == {index[0]}
    split = oos_split(index, fraction=0.3)
    assert (split.train[1], split.test[0]) == (index[69], index[70])
    assert oos_split(index, start="2024-03-01").test[0] == pd.Timestamp("2024-03-01", tz="UTC")
    with pytest.raises(BadInput, match="needs 130 bars"):
        walk_windows(index, 5, train=30, test=20)
    with pytest.raises(BadInput, match="--oos 1.5"):
        oos_split(index, fraction=1.5)


def test_walk_forward_picks_follow_the_flip_and_stitch_each_windows_own_run(flip):
    cfg, store, events = flip
    windows = walk_windows(data_index(cfg, store), 4, train=40, test=40)
    wf = walk_forward(cfg, store, events, windows, rank)
    picks = [w["chosen"]["side"] for w in wf["windows"]]
    assert picks[0] == picks[1] == "long" and picks[3] == "short"
    # the stitched curve is, window by window, the chosen combination's own run scaled by the
    # capital carried in
    capital = cfg.cash
    for w, row in zip(windows, wf["windows"], strict=True):
        own = run_backtest(RunConfig([SYMBOL], strategy="catalyst_momentum", venue="perp-isolated",
                                     params={"hold": "3", "side": row["chosen"]["side"]},
                                     leverage=2.0, start=w.test[0].isoformat(),
                                     end=w.test[1].isoformat()), store, events)
        curve = pd.Series(own.equity[:, 0], index=own.index)
        piece = wf["equity"].loc[w.test[0]:w.test[1]]
        assert np.allclose(piece.to_numpy(), curve.to_numpy() * capital / cfg.cash, rtol=1e-12)
        assert row["capital_in"] == pytest.approx(capital)
        capital = float(curve.iloc[-1]) * capital / cfg.cash
    assert wf["final_equity"] == pytest.approx(capital)
    assert wf["total_return_pct"] == pytest.approx(100 * (capital / cfg.cash - 1))
    # trades: every window's, dollar amounts on the carried capital
    assert set(wf["trades"]["window"]) == {0, 1, 2, 3}
    assert wf["trades"]["pnl"].sum() == pytest.approx(wf["final_equity"] - cfg.cash, rel=1e-9)


def test_summaries_only_picks_what_full_records_pick(flip):
    cfg, store, events = flip
    windows = walk_windows(data_index(cfg, store), 4, train=40, test=40)
    full = walk_forward(cfg, store, events, windows, rank)
    summ = walk_forward(cfg, store, events, windows, rank, summaries=True,
                        sweep_kwargs={"workers": 1})
    assert [w["chosen"] for w in summ["windows"]] == [w["chosen"] for w in full["windows"]]
    for a, b in zip(summ["windows"], full["windows"], strict=True):
        assert a["in_sample"]["total_return_pct"] == pytest.approx(b["in_sample"]["total_return_pct"])
    assert np.array_equal(summ["equity"].to_numpy(), full["equity"].to_numpy())


def test_oos_reports_the_in_sample_pick_on_the_later_data(flip):
    cfg, store, events = flip
    out = oos(cfg, store, events, oos_split(data_index(cfg, store), fraction=0.5), rank)
    assert out["chosen"]["side"] == "long" and out["combinations"] == 2
    assert out["in_sample"]["total_return_pct"] > 0 > out["out_of_sample"]["total_return_pct"]


# --- through the installed entry point ---------------------------------------------------------

DEMO = ("catalyst_momentum", "--demo", "--symbols", "NVDA", "--venue", "cfd-offshore",
        "--grid", "leverage=2,5", "--grid", "hold=1,3")


def test_sweep_walk_forward_json(cli):
    doc = json.loads(cli("sweep", *DEMO, "--walk-forward", "3", "--wf-anchored", "--format",
                         "json", check_code=0).stdout)
    assert doc["test"] == "walk-forward" and doc["mode"] == "anchored"
    assert len(doc["windows"]) == 3 and doc["kernel"].startswith("sweep")
    assert len({w["train"][0] for w in doc["windows"]}) == 1          # anchored at the start
    # each window hands its capital to the next
    for a, b in zip(doc["windows"], doc["windows"][1:], strict=False):
        assert b["capital_in"] == pytest.approx(a["capital_out"])
    assert doc["final_equity"] == pytest.approx(doc["windows"][-1]["capital_out"])


def test_backtest_walk_forward_writes_the_stitched_curve_and_trades(cli, tmp_path):
    cli("backtest", *DEMO, "--walk-forward", "3", "--out", tmp_path / "wf", check_code=0)
    saved = json.loads((tmp_path / "wf" / "walkforward.json").read_text())
    assert saved["mode"] == "rolling" and saved["kernel"].startswith("backtest")
    curve = pd.read_csv(tmp_path / "wf" / "oos_equity.csv")
    assert curve["equity"].iloc[-1] == pytest.approx(saved["final_equity"])
    assert curve["equity"].iloc[0] == pytest.approx(saved["starting_capital"])
    trades = pd.read_csv(tmp_path / "wf" / "oos_trades.csv")
    assert set(trades["window"]) <= {0, 1, 2}
    # net PnL of the stitched trades is the stitched curve's gain
    assert trades["pnl"].sum() == pytest.approx(saved["final_equity"] - saved["starting_capital"],
                                                rel=1e-9)


def test_backtest_oos_table(cli):
    out = cli("backtest", *DEMO, "--oos", "0.3", check_code=0).stdout
    assert "in sample, then out of sample" in out and "out-of-sample" in out


@pytest.mark.parametrize("args, fragment", [
    (("--oos", "0.3"), "add --grid"),
    (("--grid", "hold=1,3", "--oos", "0.3", "--walk-forward", "2"), "pick one"),
    (("--grid", "hold=1,3", "--wf-test", "20"), "add it"),
    (("--grid", "hold=1,3", "--walk-forward", "50", "--wf-test", "100"), "bars"),
])
def test_bad_walk_forward_options_exit_2(cli, args, fragment):
    from cli_helpers import assert_one_line_error

    assert_one_line_error(cli("sweep", "--demo", "--symbols", "NVDA", *args), 2, fragment)
