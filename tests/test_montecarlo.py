"""Monte Carlo of trades: one repeated trade gives the deterministic compounding on every path;
the run's own order replays the engine's equity exactly (5x, 20x and 50x, liquidations
included); ruin stops a path or tops it up; protection keeps drawdowns at or above -100%;
seeds reproduce; the command runs through the installed entry point."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitcli.backtest import RunConfig, run_backtest
from sitcli.data.store import demo_store
from sitcli.errors import BadInput
from sitcli.events import load_events
from sitcli.montecarlo import (
    DRAWDOWN,
    FINAL,
    INJECTED,
    RUINS,
    TradeSample,
    draw_indices,
    refilled_samples,
    replay,
    samples_from_result,
    simulate,
)


def sample(returns, liquidated=None, cash=1000.0, size=1.0, protection=True, slot=10.0, hold=5.0):
    r = np.asarray(returns, np.float64)
    return TradeSample("test", r, np.full(len(r), hold), np.full(len(r), slot),
                       np.zeros(len(r), bool) if liquidated is None else np.asarray(liquidated),
                       cash, size, protection)


def test_one_trade_repeated_is_deterministic_compounding_on_every_path():
    # +10% on margin, half the equity as margin: each trade multiplies equity by 1.05
    s = sample([0.10] * 12, size=0.5)
    out = simulate(s, paths=500, method="iid", seed=3, ruin_level=0.0)
    expected = 1000.0 * 1.05 ** 12
    for key in ("p5", "median", "p95", "mean"):
        assert out["final_equity"][key] == pytest.approx(expected, rel=1e-12)
    assert out["max_drawdown_pct"]["p5"] == 0.0 and out["ruin_probability"]["any"] == 0.0
    block = simulate(s, paths=200, method="block", block=4, seed=3, ruin_level=0.0)
    assert block["final_equity"]["p5"] == pytest.approx(expected, rel=1e-12)


def test_replay_by_hand_with_a_liquidation_that_stops_the_path():
    # 1000 -> +20% on full margin 1200 -> -50% 600 -> liquidated (-100% of margin): 0, stop
    s = sample([0.20, -0.50, -1.0, 0.30], liquidated=[False, False, True, False], hold=2.0)
    row = replay(s, ruin_level=0.01)
    assert row[FINAL] == 0.0 and row[RUINS] == 1
    assert row[DRAWDOWN] == pytest.approx(-1.0)
    history = simulate(s, paths=1, seed=0)["history"]
    assert history["final_equity"] == 0.0 and history["ruined"]
    assert not simulate(sample([0.1, -0.2]), paths=1)["history"]["ruined"]


def test_topup_refills_to_the_starting_cash_and_counts_the_capital():
    # liquidated (equity 0): refill 1000; +50%: 1500. Capital put in: 2000, return -25%
    s = sample([-1.0, 0.5], liquidated=[True, False])
    row = replay(s, ruin_level=0.01, on_ruin="topup")
    assert (row[FINAL], row[INJECTED], row[RUINS]) == (1500.0, 1000.0, 1)
    history = simulate(s, paths=10, seed=0)["history"]["topped_up"]
    assert history == {"final_equity": 1500.0, "capital_injected": 1000.0,
                       "return_on_capital_pct": -25.0}
    out = simulate(sample([-1.0] * 3, liquidated=[True] * 3), paths=50, on_ruin="topup", seed=1)
    assert out["capital_injected"]["median"] == 3000.0          # three wipe-outs, three refills
    assert out["return_on_capital_pct"]["median"] == pytest.approx(-75.0)   # 1000 left of 4000
    # 3 liquidations in 3 slots of 10 days each
    assert out["liquidations_per_year"] == pytest.approx(3 / (30 / 365.25))


def test_without_protection_a_gap_loss_takes_the_account_below_zero():
    s = sample([-1.6], protection=False)
    assert replay(s)[FINAL] == pytest.approx(-600.0)
    assert replay(sample([-1.6], protection=True))[FINAL] == 0.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-3.0, 3.0), min_size=1, max_size=30), st.floats(0.05, 1.0),
       st.sampled_from(["stop", "topup"]))
def test_drawdown_never_passes_minus_100_with_protection(returns, size, on_ruin):
    out = simulate(sample(returns, size=size), paths=40, seed=2, on_ruin=on_ruin, chunks=2)
    assert out["max_drawdown_pct"]["p5"] >= -100.0 - 1e-9
    assert out["final_equity"]["p5"] >= 0.0


def test_same_seed_same_numbers_other_seed_other_numbers():
    s = sample(np.linspace(-0.4, 0.5, 20))
    a, b = simulate(s, paths=300, seed=9), simulate(s, paths=300, seed=9, chunks=7)
    assert a["final_equity"] == b["final_equity"]    # chunking (and cores) do not change draws
    assert simulate(s, paths=300, seed=10)["final_equity"] != a["final_equity"]


def test_block_draws_are_runs_of_consecutive_trades():
    idx = draw_indices(10, 50, "block", 4, np.random.default_rng(0))
    assert idx.shape == (50, 10)
    steps = np.diff(idx[:, :4], axis=1) % 10
    assert (steps == 1).all()        # within a block, the next trade in order (wrapping)


@pytest.fixture(scope="module")
def demo_result():
    cfg = RunConfig(["NVDA", "RENDER/USDT"], venue="cfd-offshore",
                    grid={"leverage": ["5", "20", "50"]})
    return run_backtest(cfg, demo_store(), load_events())


def test_replay_equals_the_engines_final_equity_at_5_20_and_50x(demo_result):
    """The run's own order, compounded trade by trade, lands on the engine's final equity,
    liquidations included (ruin level 0: the path goes on as the engine does)."""
    samples = samples_from_result(demo_result)
    liquidated = 0
    for s, run in zip(samples, demo_result.runs, strict=True):
        engine = demo_result.equity[-1, run.account]
        assert replay(s, ruin_level=0.0)[FINAL] == pytest.approx(engine, rel=1e-9, abs=1e-6), s.label
        liquidated += int(s.liquidated.sum())
    assert liquidated >= 4         # the 20x and 50x runs are wiped out by liquidations


def test_shared_account_is_refused():
    cfg = RunConfig(["NVDA", "AMD"], account="shared")
    with pytest.raises(BadInput, match="--account shared"):
        samples_from_result(run_backtest(cfg, demo_store(), load_events()))
    with pytest.raises(BadInput, match="--account shared"):
        refilled_samples(cfg, demo_store(), load_events())


def test_refilled_samples_are_the_engines_topup_run():
    """At 50x the engine wipes NVDA's account out; the refilled sample holds the trades of the
    backtest run with --on-ruin topup (the engine refills the account and trades on), the same
    as the single run's up to its first ruin."""
    from dataclasses import replace

    store, events = demo_store(), load_events()
    cfg = RunConfig(["NVDA"], venue="cfd-offshore", leverage=50.0)
    once = samples_from_result(run_backtest(cfg, store, events))[0]
    refilled = refilled_samples(cfg, store, events, ruin_level=0.01)[0]
    assert refilled.refills >= 5 and len(refilled.returns) > 3 * len(once.returns)
    # up to the first ruin, the trades are the single run's
    k = len(once.returns)
    assert np.array_equal(refilled.returns[:k], once.returns)
    assert once.liquidated[-1] and refilled.liquidated[k - 1]
    topped = run_backtest(replace(cfg, on_ruin="topup"), store, events)
    assert np.array_equal(refilled.returns, np.sort(topped.trades, order="entry_bar")["return_on_margin"])
    assert refilled.refills == topped.refills[0]
    # trades never overlap and time runs forward
    entry_days = np.cumsum(np.append(0.0, refilled.slot_days[:-1]))
    assert (refilled.hold_days <= refilled.slot_days + 1e-9).all() and (np.diff(entry_days) >= 0).all()
    # topping up after every ruin, the replay injects what the engine injected
    row = replay(refilled, ruin_level=0.01, on_ruin="topup")
    assert row[RUINS] == refilled.refills and row[INJECTED] == pytest.approx(topped.injected.sum())


@pytest.mark.parametrize("args, fragment", [
    (("--paths", "0"), "--paths 0"),
    (("--method", "shuffle"), "--method 'shuffle'"),
    (("--on-ruin", "borrow"), "--on-ruin 'borrow'"),
    (("--ruin-level", "1.5"), "--ruin-level 1.5"),
])
def test_bad_options_exit_2(cli, args, fragment):
    from cli_helpers import assert_one_line_error

    assert_one_line_error(cli("montecarlo", "--demo", "--symbols", "NVDA", *args), 2, fragment)


def test_montecarlo_command_json(cli):
    proc = cli("montecarlo", "catalyst_momentum", "--demo", "--symbols", "NVDA",
               "--venue", "cfd-offshore", "--grid", "leverage=5,20", "--paths", "2000",
               "--seed", "4", "--on-ruin", "topup", "--format", "json", check_code=0)
    doc = json.loads(proc.stdout)
    runs = {r["label"]: r for r in doc["runs"]}
    assert set(runs) == {"NVDA leverage=5.0", "NVDA leverage=20.0"}
    high = runs["NVDA leverage=20.0"]
    assert high["paths"] == 2000 and high["on_ruin"] == "topup"
    assert high["capital_injected"]["median"] > 0 and high["liquidations_per_year"] > 0
    assert 0 <= high["ruin_probability"]["1m"] <= high["ruin_probability"]["12m"] <= 1
    assert not math.isnan(runs["NVDA leverage=5.0"]["final_equity"]["median"])
    table = cli("montecarlo", "--demo", "--symbols", "NVDA", "--leverage", "2", "--paths", "500",
                check_code=0)
    assert "ruin within 12 months" in table.stdout and "synthetic" in table.stdout.lower()
    # 20x: the engine wipes the account out again and again, refills it and trades on
    assert high["history"]["refills"] >= 5 and high["history"]["trades"] > 20
