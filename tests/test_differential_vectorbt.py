"""Differential test: at 1x with no costs and no stops the kernel is a plain long-only
backtest, so its equity curve and trades must equal vectorbt's `Portfolio.from_signals`
on the same signals and fill prices (DESIGN §5).

The kernel fills a signal of bar t at bar t+1's open; vectorbt fills at its `price` on the
signal's own bar, so vectorbt gets the signals shifted by one bar and `price=open`. The kernel
closes what is still open at the last close (reason END); vectorbt keeps that trade open, but
values it at the same close, so the equity curves still match bar for bar.

The first test to reach each of vectorbt's numba functions compiles it (tens of seconds on a
fresh install, whose cache is empty); the tests share one xdist worker (`make test` runs
`--dist loadgroup`) so that compiling is paid once, not once per worker.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import vectorbt as vbt  # noqa: E402  (a dependency: the test oracle)
from engine_helpers import run_kernel

from sitcli.engine.records import END, SIGNAL

pytestmark = pytest.mark.xdist_group("vectorbt")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CASH = 10_000.0
MAX_REL = 1e-9


def test_the_vectorbt_tests_share_one_worker(request):
    """`make test` (`--dist loadgroup`) sends this module to one worker, so vectorbt's
    kernels compile once in the run, not once a worker: pytest-xdist marks the module's
    tests' node ids with their group, which pytest 9.2 silently dropped."""
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not an xdist worker under --dist loadgroup")
    assert request.node.nodeid.endswith("@vectorbt"), request.node.nodeid


def ma_signals(close, window):
    """Enter when the close is above its `window`-bar mean, exit when below."""
    ma = pd.Series(close).rolling(window).mean().to_numpy()
    with np.errstate(invalid="ignore"):
        return close > ma, close < ma


def compare(o, h, l, c, window):
    """Run both engines; assert equal equity and trades; return (max rel diff, n trades)."""
    enter, leave = ma_signals(c, window)
    eq, trades, liqs = run_kernel(o, h, l, c, enter.astype(np.int8), leave, cash=CASH,
                                  leverage=1.0)
    assert len(liqs) == 0

    shifted_enter = np.r_[False, enter[:-1]]
    shifted_leave = np.r_[False, leave[:-1]]
    pf = vbt.Portfolio.from_signals(c, shifted_enter, shifted_leave, price=o, init_cash=CASH,
                                    fees=0.0, size=np.inf, direction="longonly")
    value = np.asarray(pf.value(), dtype=float).ravel()
    assert value.shape == eq.shape
    rel = np.abs(eq - value) / np.abs(value)
    max_rel = float(rel.max())
    assert max_rel < MAX_REL, f"max relative difference {max_rel:.3e} at bar {int(rel.argmax())}"

    vt = pf.trades.records_arr
    assert len(trades) == len(vt), f"kernel {len(trades)} trades, vectorbt {len(vt)}"
    closed = vt[vt["status"] == 1]
    open_ = vt[vt["status"] == 0]
    assert len(open_) <= 1
    k_closed = trades[trades["exit_reason"] != END]
    assert (k_closed["exit_reason"] == SIGNAL).all()
    assert len(k_closed) == len(closed)
    np.testing.assert_array_equal(k_closed["entry_bar"], closed["entry_idx"])
    np.testing.assert_array_equal(k_closed["exit_bar"], closed["exit_idx"])
    np.testing.assert_allclose(k_closed["entry_price"], closed["entry_price"], rtol=1e-12)
    np.testing.assert_allclose(k_closed["exit_price"], closed["exit_price"], rtol=1e-12)
    np.testing.assert_allclose(k_closed["qty"], closed["size"], rtol=1e-9)
    np.testing.assert_allclose(k_closed["pnl"], closed["pnl"], rtol=1e-9, atol=1e-9 * CASH)
    if len(open_):   # the kernel closed it at the last close
        last = trades[-1]
        assert last["exit_reason"] == END and last["exit_bar"] == len(c) - 1
        assert last["entry_bar"] == open_[0]["entry_idx"]
        assert last["entry_price"] == pytest.approx(open_[0]["entry_price"], rel=1e-12)
        assert last["exit_price"] == c[-1]
    else:
        assert (trades["exit_reason"] != END).all()
    return max_rel, len(trades)


def synthetic(n, seed):
    rng = np.random.default_rng(seed)
    c = 50.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.02, n)))
    o = np.r_[50.0, c[:-1]] * np.exp(rng.normal(0, 0.006, n))
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.01, n)))
    l = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.01, n)))
    return o, h, l, c


@pytest.mark.parametrize("seed", [0, 7, 2024])
def test_matches_vectorbt_on_synthetic_bars(seed):
    """Slow (over 20 s) where vectorbt's cache is empty: the first of these tests compiles
    `Portfolio.from_signals` and its helpers; later ones take well under a second."""
    max_rel, n_trades = compare(*synthetic(1500, seed), window=20)
    assert n_trades >= 20
    print(f"synthetic seed {seed}: {n_trades} trades, max rel diff {max_rel:.2e}")


REAL = [
    # id, path under ../shared/data, column names (open, high, low, close), MA window
    ("NVDA-daily", "equities/daily/NVDA.csv", ("Open", "High", "Low", "Close"), 20, 100),
    # only ~43 daily bars of RENDER: a 5-bar mean gives several trades
    ("RENDER-daily", "crypto/daily/RENDER-USDT.csv", ("open", "high", "low", "close"), 5, 3),
    ("RENDER-hourly", "crypto/hourly/RENDER-USDT.csv", ("open", "high", "low", "close"), 20, 20),
]


@pytest.mark.parametrize("name,rel_path,columns,window,min_trades", REAL,
                         ids=[r[0] for r in REAL])
def test_matches_vectorbt_on_real_bars(name, rel_path, columns, window, min_trades):
    path = SHARED_DATA / rel_path
    if not path.is_file():
        pytest.skip(f"../shared/data not present: {path} is missing")
    df = pd.read_csv(path)
    bars = df[list(columns)].to_numpy(np.float64)
    assert np.isfinite(bars).all() and (bars > 0).all(), f"{name}: NaN or non-positive prices"
    o, h, l, c = (np.ascontiguousarray(bars[:, j]) for j in range(4))
    max_rel, n_trades = compare(o, h, l, c, window)
    assert n_trades >= min_trades
    print(f"{name}: {len(c)} bars, {n_trades} trades, max rel diff {max_rel:.2e}")


# --- return statistics: sitcli.stats against vectorbt's returns accessor -------------------

STATS_REL = 1e-12


def vbt_stats(equity: np.ndarray, cash: float, timeframe: str, is_24_7: bool) -> dict:
    """The statistics the stats table showed before sitcli had its own module."""
    from sitcli.backtest import bar_duration

    curve = pd.Series(equity, index=pd.date_range("2020-01-01", periods=len(equity),
                                                  freq=bar_duration(timeframe)))
    returns = curve.pct_change().fillna(0.0).replace([np.inf, -np.inf], np.nan).fillna(-1.0)
    acc = returns.vbt.returns(freq=bar_duration(timeframe),
                              year_freq="365 days" if is_24_7 else "252 days")
    return {"total_return_pct": 100 * (curve.iloc[-1] / cash - 1),
            "cagr_pct": 100 * float(acc.annualized()), "sharpe": float(acc.sharpe_ratio()),
            "sortino": float(acc.sortino_ratio()),
            "max_drawdown_pct": 100 * float(acc.max_drawdown()),
            "final_equity": float(curve.iloc[-1])}


def assert_stats_equal(mine: dict, theirs: dict) -> None:
    for key, expected in theirs.items():
        got = mine[key]
        if np.isnan(expected):
            assert np.isnan(got), (key, got)
        else:
            assert got == pytest.approx(expected, rel=STATS_REL, abs=1e-12), key


def leveraged_curve(n: int, seed: int, leverage: float, flat_head: int = 0) -> np.ndarray:
    """An equity curve that trades in bursts: flat stretches (returns of exactly 0), gains,
    losses and, at high leverage, a wipe-out that stays at 0."""
    rng = np.random.default_rng(seed)
    r = leverage * rng.normal(0.0005, 0.02, n) * (rng.random(n) < 0.6)
    r[:flat_head] = 0.0
    equity = CASH * np.cumprod(np.maximum(1 + r, 0.0))
    return equity


@pytest.mark.parametrize("seed, leverage, timeframe, is_24_7", [
    (0, 1.0, "1d", False), (1, 5.0, "1d", True), (2, 20.0, "1h", True), (3, 60.0, "1d", False),
    (4, 0.3, "15m", True)])
def test_return_stats_equal_vectorbt(seed, leverage, timeframe, is_24_7):
    from sitcli import stats

    equity = leveraged_curve(800, seed, leverage, flat_head=50)
    mine = stats.curve_stats(equity, CASH, stats.bars_per_year(timeframe, is_24_7))
    assert_stats_equal(mine, vbt_stats(equity, CASH, timeframe, is_24_7))
    # the streamed sums of the sweep kernel give the same numbers
    from numba import njit

    from sitcli.engine.kernel import N_CURVE_STATS, curve_start_nb, curve_update_nb

    @njit
    def stream(curve, out):   # the kernel's helpers have no Python entry point of their own
        curve_start_nb(out)
        for value in curve:
            curve_update_nb(out, value)

    sums = np.zeros((1, N_CURVE_STATS))
    stream(equity, sums[0])
    streamed = stats.streamed_stats(sums, np.array([len(equity)]), CASH,
                                    stats.bars_per_year(timeframe, is_24_7))
    for key, value in mine.items():
        if key == "sharpe" or key == "sortino":   # sums of squares: a few more ulps
            assert streamed[key][0] == pytest.approx(value, rel=1e-9), key
        elif np.isnan(value):
            assert np.isnan(streamed[key][0]), key
        else:
            assert streamed[key][0] == pytest.approx(value, rel=1e-12, abs=1e-12), key


def test_return_stats_of_a_wiped_out_account_equal_vectorbt():
    from sitcli import stats

    equity = np.array([CASH, 12_000, 6_000, 0.0, 0.0, 0.0])
    mine = stats.curve_stats(equity, CASH, 252.0)
    assert_stats_equal(mine, vbt_stats(equity, CASH, "1d", False))
    # by hand: returns 0, +0.2, -0.5, -1, 0, 0; growth 0 -> CAGR -100%; drawdown -100%
    assert mine["cagr_pct"] == -100 and mine["max_drawdown_pct"] == -100
    assert stats.ruined(mine["total_return_pct"])


def test_return_stats_of_the_demo_backtest_equal_vectorbt():
    """Every run of the demo (kernel equity over each symbol's own bars) against vectorbt."""
    from sitcli import stats
    from sitcli.backtest import RunConfig, run_backtest
    from sitcli.data.store import demo_store
    from sitcli.events import load_events

    result = run_backtest(RunConfig(symbols=["NVDA", "RENDER/USDT"], venue="cfd-offshore",
                                    leverage=20.0), demo_store(), load_events(None))
    for run in result.runs:
        leg = result.legs[run.leg]
        equity = result.equity[result.index.get_indexer(leg.bars.index), run.account]
        ann = stats.bars_per_year("1d", leg.instrument.is_24_7)
        assert_stats_equal(stats.curve_stats(equity, CASH, ann),
                           vbt_stats(equity, CASH, "1d", leg.instrument.is_24_7))


def test_return_stats_of_real_prices_equal_vectorbt():
    from sitcli import stats

    path = SHARED_DATA / "equities/daily/NVDA.csv"
    if not path.is_file():
        pytest.skip(f"../shared/data not present: {path} is missing")
    close = pd.read_csv(path)["Close"].to_numpy(np.float64)
    equity = CASH * close / close[0]
    assert_stats_equal(stats.curve_stats(equity, CASH, 252.0),
                       vbt_stats(equity, CASH, "1d", False))


def test_stats_full_is_vectorbt_over_the_same_span():
    """`backtest --stats full` (in-process) adds vectorbt's full statistics per run; over the
    same span its headline numbers are sitcli's own. Slow (about 20 s) on an empty cache:
    vectorbt compiles its returns statistics' kernels."""
    import json

    from typer.testing import CliRunner

    from sitcli.cli import app

    proc = CliRunner().invoke(app, ["backtest", "--demo", "--symbols", "NVDA,RENDER/USDT",
                                    "--venue", "cfd-offshore", "--leverage", "20",
                                    "--stats", "full", "--format", "json"])
    assert proc.exit_code == 0, proc.stderr
    payload = json.loads(proc.stdout)
    for label, mine in payload["stats"].items():
        theirs = payload["stats_full"][label]
        assert theirs["Start"] == mine["span_first"] and theirs["End"] == mine["span_last"]
        assert theirs["Sharpe Ratio"] == pytest.approx(mine["sharpe"], rel=STATS_REL)
        assert theirs["Sortino Ratio"] == pytest.approx(mine["sortino"], rel=STATS_REL)
        assert theirs["Annualized Return [%]"] == pytest.approx(mine["cagr_pct"], rel=STATS_REL)
        assert theirs["Total Return [%]"] == pytest.approx(mine["total_return_pct"],
                                                           rel=STATS_REL, abs=1e-9)
        assert -theirs["Max Drawdown [%]"] == pytest.approx(mine["max_drawdown_pct"],
                                                            rel=STATS_REL)
