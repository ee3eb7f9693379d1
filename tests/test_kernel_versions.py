"""The bar loop's shortcuts against the long way round, to the last bit.

`account_nb` is compiled in two versions: the general one, and one for the common account
(one isolated column, no finer bars) that the sweep runs with its shape as constants. And a
one-column account crosses a flat stretch in one step (`_flat_run_nb`) where a wider account
walks it bar by bar (`_flat_bars_nb`). Neither may change a number: each is run here against
the other path on workloads with every cost, rule and edge switched on.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sitcli.engine.records import ISOLATED, account_dt, column_dt

N_BARS, N_INST, N_COMBOS = 260, 2, 24
EDGES = np.array([0, 60, 130, 200, N_BARS - 1], np.int64)   # PBO's blocks of the returns


def workload(seed: int, *, fill_at_close: bool, take_first: bool, topup: bool):
    """simulate's 24 arguments for N_COMBOS one-column isolated accounts per instrument:
    fat-tailed bars with gaps and missing bars (one instrument ends early), frequent signals,
    every venue's liquidation rule, leverage up to 60x (liquidations), stops, take-profits,
    time exits, fees, spread, slippage, funding at the bar and while closed, financing, and
    negative balance protection on and off."""
    from sitcli.engine.kernel import no_detail

    rng = np.random.default_rng(seed)
    n = N_BARS
    ret = rng.standard_t(3, (n, N_INST)) * 0.02
    close = 100 * np.exp(np.cumsum(ret, axis=0))
    open_ = np.vstack([np.full((1, N_INST), 100.0), close[:-1]]) * np.exp(
        rng.normal(0, 0.01, (n, N_INST)))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.01, (n, N_INST))))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.01, (n, N_INST))))
    missing = rng.random((n, N_INST)) < 0.05
    missing[-40:, 1] = True                          # instrument 1's data ends early
    for a in (open_, high, low, close):
        a[missing] = np.nan
    entries = rng.choice(np.array([-1, 0, 0, 0, 1], np.int8), (n, N_INST))
    exits = rng.random((n, N_INST)) < 0.08
    k = N_COMBOS * N_INST
    cols = np.zeros(k, column_dt)
    cols["inst"] = np.tile(np.arange(N_INST), N_COMBOS)
    cols["sig"] = cols["inst"]
    cols["group"] = np.arange(k)
    cols["leverage"] = rng.choice([1.0, 5.0, 20.0, 60.0], k)
    cols["size"] = rng.choice([0.5, 1.0], k)
    cols["stop"] = np.where(rng.random(k) < 0.3, math.nan, rng.uniform(0.01, 0.08, k))
    cols["take"] = np.where(rng.random(k) < 0.3, math.nan, rng.uniform(0.02, 0.15, k))
    cols["max_bars"] = rng.choice([0, 3, 12], k)
    cols["fee"] = 0.0005
    cols["half_spread"] = 0.0002
    cols["slippage"] = 0.0001
    cols["fin_days"] = 365.0
    cols["liq_fee"] = 0.005
    cols["liq_rule"] = rng.integers(0, 4, k)         # Binance, Bybit, OKX, Hyperliquid
    accounts = np.zeros(k, account_dt)
    accounts["init_cash"] = 1000.0
    accounts["mode"] = ISOLATED
    accounts["nbp"] = rng.random(k) < 0.7
    accounts["topup"] = topup
    accounts["ruin_level"] = 0.2
    floors = np.array([[0.0, 5_000.0, 50_000.0]])
    mmrs = np.array([[0.01, 0.025, 0.05]])
    cums = np.array([[0.0, 75.0, 1325.0]])
    maxlevs = np.array([[75.0, 40.0, 20.0]])
    funding = rng.normal(1e-4, 3e-4, (n, N_INST))
    financing = rng.normal(0, 1e-4, (n, N_INST, 2))
    last_bar = np.array([n - 1, n - 41], np.int64)
    funding_closed = np.where(rng.random((n, N_INST)) < 0.2, 1e-4, 0.0)
    return (open_, high, low, close, funding, financing, entries, exits, cols, accounts, floors,
            mmrs, cums, maxlevs, np.bool_(fill_at_close), np.bool_(take_first), last_bar,
            funding_closed, *no_detail(N_INST))


def mark_prices(args, seed):
    rng = np.random.default_rng(seed + 100)
    return np.stack([a * (1 + rng.normal(0, 0.003, a.shape)) for a in args[:4]])


def assert_identical(a, b):
    for x, y in zip(a, b, strict=True):
        assert x.shape == y.shape
        assert np.array_equal(x, y, equal_nan=True)


@pytest.mark.parametrize("seed, fill_at_close, take_first, topup, marked", [
    (1, False, False, False, False),
    (2, True, False, True, False),
    (3, False, True, False, True),
    (4, True, True, True, True),
])
def test_sweep_version_for_one_isolated_column_equals_the_general_loop(seed, fill_at_close,
                                                                       take_first, topup,
                                                                       marked):
    """Every output of the sweep (trade statistics, curves, PBO's block sums), from the version
    compiled for one isolated column and from the general version, which the sweep takes when
    finer-bar arrays are passed (here empty ones: no bar has finer bars, so nothing else
    changes). One combination of one account, and one of several accounts. The first keeps
    its trades in the fold's short records (`fold_trade_dt`), the second full ones, so this
    also checks that the short record loses nothing the statistics use, protection included."""
    from sitcli.engine.kernel import sweep_serial_nb

    args = workload(seed, fill_at_close=fill_at_close, take_first=take_first, topup=topup)
    no_fine = np.empty((0, N_INST))
    general = (*args[:18], no_fine, no_fine, no_fine, no_fine, *args[22:])
    mark = (mark_prices(args, seed),) if marked else ()
    k = len(args[8])
    acc_start = np.arange(k + 1, dtype=np.int64)
    for combo_start in (np.arange(k + 1, dtype=np.int64),          # one account each
                        np.arange(0, k + 1, N_INST, dtype=np.int64)):   # both instruments
        m = len(combo_start) - 1
        fast = sweep_serial_nb(*args, acc_start, combo_start, 0, m, EDGES, *mark)
        slow = sweep_serial_nb(*general, acc_start, combo_start, 0, m, EDGES, *mark)
        assert_identical(fast, slow)
    from sitcli.engine.kernel import S_LIQS, S_PROTECTION, S_TRADES

    stats = fast[0]   # it traded, liquidated, and protection forgave a loss
    assert stats[:, S_TRADES].sum() > 200 and stats[:, S_LIQS].sum() > 5
    assert stats[:, S_PROTECTION].sum() > 0.0


@pytest.mark.parametrize("seed, fill_at_close, topup", [(5, False, False), (6, True, True)])
def test_flat_stretches_crossed_in_one_step_equal_the_bar_by_bar_walk(seed, fill_at_close,
                                                                      topup):
    """A one-column account crosses its flat stretches in one step; give it a second column
    that never trades (same instrument, a signal set without entries) and it walks them bar by
    bar. Its equity at every bar, its trades and its liquidations are the same, bit for bit,
    in the full-record kernel and in the sweep."""
    from sitcli.engine.kernel import simulate_injected, sweep_serial_nb

    args = workload(seed, fill_at_close=fill_at_close, take_first=False, topup=topup)
    one = list(args)
    cols, accounts = args[8][:N_INST].copy(), args[9][:N_INST].copy()   # one column each
    one[8], one[9] = cols, accounts
    wide = list(one)
    idle = cols.copy()
    idle["sig"] = N_INST + idle["inst"]              # a signal column with no entry at all
    wide[8] = np.sort(np.concatenate([cols, idle]), order="group", kind="stable")
    wide[6] = np.hstack([args[6], np.zeros_like(args[6])])
    wide[7] = np.hstack([args[7], args[7]])
    e1, t1, l1, i1, y1 = simulate_injected(*one)
    e2, t2, l2, i2, y2 = simulate_injected(*wide)
    assert_identical((e1, i1, y1), (e2, i2, y2))
    assert len(t1) > 10 and len(t1) == len(t2)
    assert np.array_equal(wide[8]["inst"][t2["col"]], cols["inst"][t1["col"]])
    for field in t1.dtype.names:
        if field != "col":
            assert np.array_equal(t1[field], t2[field], equal_nan=True), field
    assert np.array_equal(l1["bar"], l2["bar"]) and np.array_equal(l1["fill_price"],
                                                                    l2["fill_price"])
    s1 = sweep_serial_nb(*one, np.arange(N_INST + 1, dtype=np.int64),
                         np.arange(N_INST + 1, dtype=np.int64), 0, N_INST, EDGES)
    s2 = sweep_serial_nb(*wide, np.arange(0, 2 * N_INST + 1, 2, dtype=np.int64),
                         np.arange(N_INST + 1, dtype=np.int64), 0, N_INST, EDGES)
    assert_identical(s1[1:], s2[1:])
    assert np.array_equal(s1[0], s2[0][::2])         # the idle column has no trades
    assert not s2[0][1::2].any()


def test_flat_index_by_hand():
    """Bar 1's entry is cancelled by its own exit (an exit alone closes nothing, and an entry
    with an exit is no entry), so from bars 0-3 the next entry is bar 3's; none after it.
    Instrument 0 has no close at bar 2: 0, 1, 2, 2, 3, 4 closes before bars 0..5."""
    from sitcli.engine.kernel import flat_index_arrays, flat_index_nb

    close = np.array([[1.0], [2.0], [np.nan], [3.0], [4.0]])
    entries = np.array([[0], [1], [0], [-1], [0]], np.int8)
    exits = np.array([[False], [True], [True], [False], [False]])
    next_entry, closes_before = flat_index_arrays(close, entries)
    next_entry[:], closes_before[:] = -7, -7     # what was there before is overwritten
    flat_index_nb(close, entries, exits, next_entry, closes_before)
    assert next_entry[:, 0].tolist() == [3, 3, 3, 3, 5, 5]
    assert closes_before[:, 0].tolist() == [0, 1, 2, 2, 3, 4]


def _streams():
    from numba import njit

    from sitcli.engine.kernel import curve_refill_nb, curve_start_nb, curve_stream_nb, curve_update_nb

    @njit
    def one_at_a_time(values, injected, out):   # the helpers have no Python entry point
        curve_start_nb(out)
        for t in range(values.shape[0]):
            if injected.shape[0] > 0 and injected[t] != 0.0:
                curve_refill_nb(out, values[t], injected[t])
            else:
                curve_update_nb(out, values[t])

    @njit
    def whole(values, injected, out):
        curve_start_nb(out)
        curve_stream_nb(out, values, injected)

    return one_at_a_time, whole


@pytest.mark.parametrize("seed", range(6))
def test_a_curve_streamed_in_registers_equals_one_value_at_a_time(seed):
    """`curve_stream_nb` (a combination's summed curve) keeps the statistics in locals over
    the whole curve; `curve_update_nb` / `curve_refill_nb` load and store them at each value.
    Both step by `curve_step_nb`, so every statistic agrees to the last bit: flat stretches,
    new peaks and lows, an equity of 0 and back, and refills (`--on-ruin topup`)."""
    from sitcli.engine.kernel import C_N, C_SUM, N_CURVE_STATS

    one_at_a_time, whole = _streams()
    rng = np.random.default_rng(seed)
    n = 400
    values = 1000.0 * np.exp(np.cumsum(rng.standard_t(3, n) * 0.03))
    values[rng.random(n) < 0.4] = np.nan
    values = pd.Series(values).ffill().fillna(1000.0).to_numpy(copy=True)   # flat stretches
    values[rng.integers(0, n, 3)] = 0.0              # ruin, then a refilled account
    for injected in (np.empty(0), np.where(rng.random(n) < 0.05, 500.0, 0.0)):
        a = np.zeros(N_CURVE_STATS)
        b = np.zeros(N_CURVE_STATS)
        one_at_a_time(values, injected, a)
        whole(values, injected, b)
        assert a.tobytes() == b.tobytes()
        assert a[C_N] == n and a[C_SUM] != 0.0   # the stream ran over every value

