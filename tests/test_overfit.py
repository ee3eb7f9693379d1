"""Overfitting statistics: the deflated Sharpe ratio against the paper's worked example and
hand-worked cases, PBO by CSCV on hand-made blocks, pure noise, noise with every combination's
full-sample mean equal, and one planted edge."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitcli.overfit import (
    EULER_GAMMA,
    MIN_SPLITS,
    block_sums,
    deflated_sharpe,
    expected_max_sharpe,
    grid_statistics,
    moments,
    pbo,
    probabilistic_sharpe,
)


def test_deflated_sharpe_reproduces_the_papers_worked_example():
    # Bailey & López de Prado (2014), section "A numerical example": annualized SR 2.5 over
    # 1,250 daily returns (250 a year), 100 trials whose annualized SRs have variance 0.5,
    # skewness -3, kurtosis 10. The paper finds SR0* ≈ 0.1132 per day and DSR ≈ 0.9004.
    sr, var = 2.5 / math.sqrt(250), 0.5 / 250
    assert expected_max_sharpe(100, var) == pytest.approx(0.1132, abs=5e-5)
    assert deflated_sharpe(sr, 1250, -3.0, 10.0, 100, var) == pytest.approx(0.9004, abs=5e-5)


def test_probabilistic_sharpe_by_hand():
    # SR 0.1 over 101 returns, normal: z = 0.1·√100 / √(1 + 2/4·0.01) = 1/√1.005 = 0.997509
    assert probabilistic_sharpe(0.1, 101) == pytest.approx(0.840741, abs=1e-6)
    # negative skew widens the band: 1 − (−1)(0.1) + (6 − 1)/4·0.01 = 1.1125
    assert probabilistic_sharpe(0.1, 101, -1.0, 6.0) == pytest.approx(
        0.5 * math.erfc(-(1.0 / math.sqrt(1.1125)) / math.sqrt(2)), abs=1e-12)
    assert probabilistic_sharpe(0.1, 101, benchmark=0.1) == 0.5


def test_expected_max_of_two_trials_by_hand():
    # N = 2: Φ⁻¹(1/2) = 0, so E[max] = √V·γ·Φ⁻¹(1 − 1/(2e)); Φ⁻¹(0.816060) = 0.900453 (normal tables)
    assert expected_max_sharpe(2, 0.04) == pytest.approx(0.2 * EULER_GAMMA * 0.900453, abs=1e-6)
    assert expected_max_sharpe(1, 0.04) == 0.0   # one trial: nothing to deflate


@settings(max_examples=60, deadline=None)
@given(sr=st.floats(-0.5, 0.5), n=st.integers(30, 3000), trials=st.integers(2, 500),
       var=st.floats(1e-6, 0.05))
def test_deflation_only_lowers_and_more_trials_lower_more(sr, n, trials, var):
    psr = probabilistic_sharpe(sr, n)
    dsr = deflated_sharpe(sr, n, 0.0, 3.0, trials, var)
    assert dsr <= psr + 1e-12
    assert deflated_sharpe(sr, n, 0.0, 3.0, trials * 2, var) <= dsr + 1e-12


def test_moments_by_hand():
    sr, skew, kurt, n = moments([0.01, 0.03])    # mean 0.02, population sd 0.01
    assert (sr, skew, kurt, n) == (pytest.approx(2.0), pytest.approx(0.0), pytest.approx(1.0), 2)
    assert moments([0.0, 0.0, 0.0])[:3] == (0.0, 0.0, 3.0)


def _two_blocks(a_first, a_second, b_first, b_second):
    """Two combinations over two blocks of two bars, each block's Sharpe ±1 as given."""
    def block(sign):
        return [0.02 * sign, 0.0]
    a = block(a_first) + block(a_second)
    b = block(b_first) + block(b_second)
    return np.array([a, b]).T


def test_pbo_two_blocks_reversal_is_certain_overfit():
    # A wins block 1 and loses block 2, B the opposite. Split {1}: A is picked, ranks 1 of 2 on
    # block 2: ω = 1/3, λ = ln(1/2). Split {2}: B is picked and ranks last on block 1. PBO = 1.
    r = _two_blocks(+1, -1, -1, +1)
    result = pbo(*block_sums(r, 2))
    assert result.splits == 2 and result.pbo == 1.0
    assert np.allclose(result.logits, [math.log(0.5)] * 2)


def test_pbo_two_blocks_persistent_winner_never_overfits():
    # A beats B in both blocks: every split picks A, ranked 2 of 2 out of sample: ω = 2/3, λ = ln 2
    r = _two_blocks(+1, +1, -1, -1)
    result = pbo(*block_sums(r, 2))
    assert result.pbo == 0.0 and np.allclose(result.logits, [math.log(2.0)] * 2)


def test_pbo_ties_take_the_average_rank():
    # identical combinations: the winner shares ranks 1..2, average 1.5, ω = 1.5/3, λ = 0 -> counts
    r = _two_blocks(+1, -1, +1, -1)
    result = pbo(*block_sums(r, 2))
    assert np.allclose(result.logits, 0.0) and result.pbo == 1.0


def test_pbo_needs_an_even_number_of_blocks():
    with pytest.raises(ValueError, match="even"):
        pbo(*block_sums(np.zeros((9, 2)), 3))


def test_pbo_of_pure_noise_is_a_coin_flip():
    # independent noise: the in-sample winner's out-of-sample rank is uniform, so PBO ≈ 1/2
    rng = np.random.default_rng(7)
    r = rng.normal(0, 0.01, (1600, 40))
    result = pbo(*block_sums(r, 10))
    assert result.splits == 252
    assert 0.3 <= result.pbo <= 0.7


def test_pbo_on_sampled_splits_estimates_the_full_one():
    """A grid too large to rank on every split ranks a seeded sample of them: the count is
    reported, the same inputs give the same answer, and it lies within three standard errors
    (0.5 / sqrt(splits)) of the PBO over all 12,870 splits."""
    rng = np.random.default_rng(7)
    r = rng.normal(0, 0.01, (1600, 40))
    full = pbo(*block_sums(r, 16))
    sampled = pbo(*block_sums(r, 16), max_ranked=300 * 40)
    assert full.splits == 12_870 and sampled.splits == 300
    assert sampled.pbo == pbo(*block_sums(r, 16), max_ranked=300 * 40).pbo
    assert abs(sampled.pbo - full.pbo) <= 3 * 0.5 / math.sqrt(300)
    # never fewer than MIN_SPLITS, however large the grid
    assert pbo(*block_sums(r, 16), max_ranked=1).splits == MIN_SPLITS


def _sharpe(s, q, c):
    """Sharpe ratios from sums of r, r² and counts (any shape); 0 where a series never moved."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = s / c
        var = q / c - mu * mu
        out = mu / np.sqrt(var)
    return np.where((c > 1) & (var > 1e-30), out, 0.0)


def _pbo_by_numpy(sums, sumsq, counts, chosen):
    """CSCV written out with numpy on every split at once (the implementation before the
    compiled one): in-sample sums by a 0/1 mask, argmax, average rank of the OOS ties."""
    masks = np.zeros((len(chosen), len(sums)))
    masks[np.arange(len(chosen))[:, None], chosen] = 1.0
    s_in, q_in, c_in = masks @ sums, masks @ sumsq, masks @ counts
    inside = _sharpe(s_in, q_in, c_in)
    outside = _sharpe(sums.sum(0) - s_in, sumsq.sum(0) - q_in, counts.sum(0) - c_in)
    rows = np.arange(len(chosen))
    best = np.argmax(inside, axis=1)
    mine = outside[rows, best][:, None]
    omega = ((outside < mine).sum(1) + ((outside == mine).sum(1) + 1) / 2) / (sums.shape[1] + 1)
    return np.log(omega / (1 - omega)), inside[rows, best], outside[rows, best]


@pytest.mark.parametrize("n_combos", [3, 1023, 2500])
def test_pbo_equals_the_numpy_ranking_bit_for_bit(n_combos):
    """The compiled ranking (tiles of combinations, two passes) against numpy's on every
    split: the same logits to the last bit, with exact ties in and out of sample (copies of
    a combination, flat ones) across tile edges and a combination wiped out half way."""
    from itertools import combinations

    rng = np.random.default_rng(n_combos)
    r = rng.normal(0.0002, 0.01, (480, n_combos))
    r[:, n_combos // 2] = r[:, 0]               # an exact copy, in another tile when > 1024
    r[:, -1] = 0.0                              # never traded
    r[240:, 1] = np.nan                         # wiped out: no returns after that
    sums = block_sums(r, 12)
    chosen = np.array(list(combinations(range(12), 6)))
    result = pbo(*sums)
    logits, inside, outside = _pbo_by_numpy(*sums, chosen)
    assert result.splits == len(chosen) == 924
    assert np.array_equal(result.logits, logits)
    assert result.pbo == (logits <= 0).mean()
    slope = np.polyfit(inside, outside, 1)[0]
    assert result.degradation == slope


def test_pbo_near_one_when_every_combination_has_the_same_full_sample_mean():
    # noise demeaned per combination: whatever beats the rest in sample must trail them out of
    # sample (the halves add up to the same total), the purest overfit
    rng = np.random.default_rng(11)
    r = rng.normal(0, 0.01, (1600, 40))
    r -= r.mean(0)
    assert pbo(*block_sums(r, 10)).pbo >= 0.9


def test_pbo_near_zero_with_one_planted_edge():
    rng = np.random.default_rng(3)
    r = rng.normal(0, 0.01, (1600, 40))
    r[:, 17] += 0.004                        # Sharpe 0.4 per bar against 0 for the rest
    stats = grid_statistics(r, winner=17, n_blocks=10)
    assert stats["pbo"] <= 0.05
    assert stats["dsr"] > 0.99 and stats["trials"] == 40


def test_grid_statistics_of_noise_deflate_the_winner():
    rng = np.random.default_rng(5)
    r = rng.normal(0, 0.01, (500, 45))
    winner = int(np.argmax(r.mean(0) / r.std(0)))
    stats = grid_statistics(r, winner=winner, n_blocks=16)
    assert stats["psr"] > 0.9                # the best of 45 looks good on its own...
    assert stats["dsr"] < 0.6                # ...and not after counting the 44 others
    assert stats["pbo_splits"] == math.comb(16, 8)


def test_block_sums_keep_only_summaries():
    r = np.arange(12, dtype=float).reshape(6, 2)
    sums, sumsq, counts = block_sums(r, 3)
    assert sums.tolist() == [[2, 4], [10, 12], [18, 20]]
    assert sumsq[0].tolist() == [0 + 4, 1 + 9] and counts.tolist() == [[2, 2]] * 3


def test_backtest_grid_prints_and_returns_the_winners_overfitting_statistics(cli, capsys):
    from sitcli.cli.backtest import print_overfitting

    doc = json.loads(cli("backtest", "catalyst_momentum", "--demo", "--symbols", "NVDA", "--venue",
                         "cfd-offshore", "--grid", "leverage=5,20", "--grid", "hold=1,3,5",
                         "--format", "json", check_code=0).stdout)
    stats = doc["overfitting"]
    best = max(doc["aggregate"], key=lambda row: row["total_return_pct"])   # --rank-by default
    assert stats["trials"] == 6 and stats["winner"] == best["label"]
    assert 0 <= stats["dsr"] <= stats["psr"] <= 1 and 0 <= stats["pbo"] <= 1
    assert stats["pbo_splits"] == math.comb(16, 8)
    print_overfitting(stats)
    table = capsys.readouterr().out
    assert "Overfitting of the ranking's winner" in table and "DSR" in table
    assert "luckiest of 6 coin flips" in table


def test_result_statistics_winner_is_the_ranked_combination():
    from sitcli.backtest import RunConfig, run_backtest
    from sitcli.data.store import demo_store
    from sitcli.events import load_events
    from sitcli.overfit import combination_returns, result_statistics

    cfg = RunConfig(["NVDA"], venue="cfd-offshore", grid={"hold": ["1", "3", "5"]})
    result = run_backtest(cfg, demo_store(), load_events())
    r = combination_returns(result)
    assert r.shape == (len(result.index) - 1, 3)
    # one symbol, own account: the combination's returns are its equity curve's
    eq = result.equity[:, 2]
    assert np.allclose(r[:, 2], eq[1:] / eq[:-1] - 1, equal_nan=True)
    stats = result_statistics(result, winner=2)
    assert stats["winner"] == "hold=5" and stats["sharpe_per_bar"] == moments(r[:, 2])[0]


SWEEP_GRID = {"leverage": ["5", "20", "50"], "stop": ["0.01", "nan"], "hold": ["1", "5"]}
SWEEP_CASES = {
    # stocks with holidays beside a 24/7 token: the union of their bars, weekends flat for
    # the stocks; at 50x some accounts are wiped out to 0 (returns after that are NaN)
    "stocks and crypto, isolated": dict(symbols=["NVDA", "AMD", "RENDER/USDT"]),
    "stocks and crypto, shared": dict(symbols=["NVDA", "AMD", "RENDER/USDT"], account="shared"),
    "topup": dict(symbols=["NVDA", "RENDER/USDT"], on_ruin="topup"),
    "one stock, one account": dict(symbols=["TSM"]),
}


def _sweep_config(**kw):
    from sitcli.backtest import RunConfig

    return RunConfig(venue="perp-isolated", grid=SWEEP_GRID,
                     overrides={"funding_rate_8h": "0.0003"}, **kw)


def _assert_same_statistics(swept, full, store, events):
    """`sweep`'s overfitting statistics of its ranked winner equal `backtest --grid`'s, and
    its per-block sums equal the backtest's returns cut into the same blocks."""
    from sitcli.cli.backtest import overfitting
    from sitcli.metrics import default_rank_by
    from sitcli.overfit import block_sums, combination_returns, sweep_statistics
    from sitcli.stats import rank

    rank_by = default_rank_by(full.cfg.on_ruin)
    expected = overfitting(full, full.combo_stats(), rank_by)      # what `backtest` prints
    table = swept.combo_table()                                     # as `sweep` ranks it
    order = rank(table[rank_by], table["ruined"], False)
    got = sweep_statistics(swept, int(table["combination"][order[0]]), store, events)
    assert got["winner"] == expected["winner"]
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, str) or value is None:
            assert got[key] == value, key
        else:
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12, nan_ok=True), key
    assert 0 < got["pbo"] < 1 and got["pbo_splits"] == math.comb(16, 8)
    sums = block_sums(combination_returns(full), got["pbo_blocks"])
    for mine, theirs in zip(swept.blocks, sums, strict=True):
        assert np.allclose(mine, theirs, rtol=1e-9, atol=1e-12)
    return got


@pytest.mark.parametrize("case", list(SWEEP_CASES))
def test_sweep_overfitting_equals_backtest_grids(case):
    """One grid, one data set: `sweep` and `backtest --grid` give the same winner, PSR, DSR,
    PBO and per-block sums (the sweep from the sums its kernel keeps, no curves)."""
    from sitcli.backtest import run_backtest
    from sitcli.data.store import demo_store
    from sitcli.events import load_events
    from sitcli.sweep import run_sweep

    store, events = demo_store(), load_events()
    cfg = _sweep_config(**SWEEP_CASES[case])
    full = run_backtest(cfg, store, events)
    swept = run_sweep(cfg, store, events, workers=2, chunk_size=5)
    from sitcli.engine.kernel import C_REFILLS

    got = _assert_same_statistics(swept, full, store, events)
    assert got["trials"] == 12
    wiped = swept.blocks[2].sum(axis=0) < len(full.index) - 1     # returns left out after 0
    if case == "topup":
        assert swept.combo_curve[:, C_REFILLS].sum() > 0 and not wiped.any()
    elif "crypto" in case:
        assert wiped.any()


def test_sweep_overfitting_on_dask_equals_backtest_grids():
    pytest.importorskip("distributed", reason="Dask is the optional extra sitcli[dask]")
    from sitcli.backtest import run_backtest
    from sitcli.data.store import demo_store
    from sitcli.events import load_events
    from sitcli.sweep import run_sweep

    store, events = demo_store(), load_events()
    cfg = _sweep_config(**SWEEP_CASES["stocks and crypto, shared"])
    swept = run_sweep(cfg, store, events, executor="dask", workers=2, chunk_size=5)
    _assert_same_statistics(swept, run_backtest(cfg, store, events), store, events)


def test_identical_combinations_have_nothing_to_rank():
    # a grid where nothing traded: every Sharpe is 0, every split a tie; PBO is not 1, it is moot
    stats = grid_statistics(np.zeros((64, 5)), winner=0, n_blocks=4)
    assert math.isnan(stats["pbo"]) and "same Sharpe ratio" in stats["note"]


def test_sweep_trials_first_then_the_winner_equal_everything_at_once():
    """`sweep` computes the winner-free part (PBO, the trials' Sharpe variance) before it ranks
    and lets the per-block sums go (`SweepResult.release_blocks`): the statistics are exactly
    those computed at once, in the same order; and PBO from the sweep's integer counts equals
    PBO from the same counts as float64, bit for bit (accounts wiped out to 0 make the counts
    differ between combinations)."""
    from sitcli.data.store import demo_store
    from sitcli.events import load_events
    from sitcli.overfit import pbo, sweep_statistics
    from sitcli.sweep import run_sweep

    store, events = demo_store(), load_events()
    swept = run_sweep(_sweep_config(**SWEEP_CASES["stocks and crypto, isolated"]), store,
                      events, workers=2, chunk_size=5)
    sums, sumsq, counts = swept.blocks
    assert counts.dtype == np.uint8 and len(np.unique(counts.sum(0))) > 1
    as_int, as_float = pbo(sums, sumsq, counts), pbo(sums, sumsq, counts.astype(np.float64))
    assert np.array_equal(as_int.logits, as_float.logits) and as_int.pbo == as_float.pbo
    assert as_int.degradation == as_float.degradation
    whole = sweep_statistics(swept, 7, store, events)
    trials = swept.release_blocks()
    assert swept.blocks is None
    split = sweep_statistics(swept, 7, store, events, trials)
    assert list(split) == list(whole) and "oos_degradation" in split
    for key, value in whole.items():
        assert split[key] == value or (value != value and split[key] != split[key]), key
