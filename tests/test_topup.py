"""`--on-ruin topup` in the engine: a wiped-out account is refilled to its starting cash and
trades on; the refill is capital put in, not a return. Hand-worked at 50x, by property over
every account mode, summaries-only == full records, the trade Monte Carlo's replay == the
engine, and through the CLI and the API."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitcli.engine.records import ACCOUNT, CROSS, ISOLATED, account_dt, column_dt


def run(o, h, l, c, entries, exits, *, leverage=50.0, mode=ISOLATED, cash=1000.0, topup=True,
        ruin_level=0.0, mmr=0.0, closeout=0.5, nbp=True):
    """One instrument, one column, one account through `simulate_injected`."""
    from sitcli.engine.kernel import no_detail, simulate_injected

    def col(x):
        return np.ascontiguousarray(np.asarray(x, np.float64).reshape(-1, 1))

    o, h, l, c = col(o), col(h), col(l), col(c)
    n = len(o)
    cols = np.zeros(1, column_dt)
    cols[0] = (0, 0, 0, 0, leverage, 1.0, math.nan, math.nan, 0, 0, 0, 0, 0, 0, 365, 0, 0, 0)
    accounts = np.zeros(1, account_dt)
    for key, value in (("init_cash", cash), ("mode", mode), ("closeout", closeout), ("nbp", nbp),
                       ("topup", topup), ("ruin_level", ruin_level)):
        accounts[key] = value
    tiers = (np.array([[0.0]]), np.array([[mmr]]), np.array([[0.0]]), np.array([[np.inf]]))
    ent = np.asarray(entries, np.int8).reshape(n, 1)
    ex = np.asarray(exits, bool).reshape(n, 1)
    return simulate_injected(o, h, l, c, np.zeros((n, 1)), np.zeros((n, 1, 2)), ent, ex, cols,
                                accounts, *tiers, False, False, np.array([n - 1]),
                                np.zeros((n, 1)), *no_detail(1))


# 50x long, maintenance 0, no costs, 1,000 cash, all of it as margin:
#   qty = 1,000 x 50 / 100 = 500, liquidation at E x (1 - 1/50) = 98 (a 2% fall takes the margin)
#   bar 1: opens at 100, low 97 reaches 98: liquidated, -500 x 2 = -1,000 -> 0; refilled +1,000
#   bar 2: opens at 100 again, close 100.5: equity 1,000 + 500 x 0.5 = 1,250
#   bar 3: low 97.5 reaches 98: liquidated -> 0; refilled +1,000
#   bar 4: opens at 100, close 101: 1,000 + 500 x 1 = 1,500; exit signal
#   bar 5: exits at the open 102: 1,000 + 500 x 2 = 2,000
# capital put in 1,000 + 2 x 1,000 = 3,000; return on it 2,000 / 3,000 - 1 = -33.3%
HAND = dict(o=[100, 100, 100, 99.5, 100, 102], h=[100, 100.5, 101, 100, 101, 102],
            l=[100, 97, 99.5, 97.5, 99.8, 101.5], c=[100, 99, 100.5, 99, 101, 102],
            entries=[1, 1, 0, 1, 0, 0], exits=[0, 0, 0, 0, 1, 0])


def test_hand_worked_50x_two_liquidations_two_refills():
    equity, trades, liqs, injected, tally = run(**HAND)
    assert len(liqs) == 2 and list(liqs["bar"]) == [1, 3]
    assert list(trades["pnl"]) == pytest.approx([-1000.0, -1000.0, 1000.0])
    assert equity[:, 0] == pytest.approx([1000, 1000, 1250, 1000, 1500, 2000])
    assert injected[:, 0] == pytest.approx([0, 1000, 0, 1000, 0, 0])
    assert tuple(tally[0]) == (2000.0, 2.0)
    # identity: final equity = starting cash + net trade PnL + capital injected
    assert equity[-1, 0] == pytest.approx(1000 + trades["pnl"].sum() + injected.sum())
    # without topup the first liquidation ends it: nothing left to open the next position with
    stop_equity, stop_trades, _, none, _ = run(**HAND, topup=False)
    assert stop_equity[-1, 0] == 0.0 and len(stop_trades) == 1 and none.shape == (0, 1)


def test_hand_worked_statistics_exclude_the_refills():
    from sitcli import stats

    equity, _, _, injected, tally = run(**HAND)
    out = stats.curve_stats(equity[:, 0], 1000.0, 252.0, injected[:, 0])
    # returns: bar 1 from 1,000 to 0 before its refill: -100%; bar 2 1,000 -> 1,250: +25%;
    # bar 3 1,250 -> 0: -100%; bar 4 1,000 -> 1,500: +50%; bar 5 1,500 -> 2,000: +33.3%
    assert out["max_drawdown_pct"] == -100.0
    assert out["cagr_pct"] == -100.0          # growth 0: a wipe-out is a total loss
    assert out["total_return_pct"] == pytest.approx(100.0)  # 2,000 / the first 1,000 ...
    extra = stats.topup_stats(equity[-1, 0], 1000.0, tally[0, 0], tally[0, 1], 2, 365.25)
    assert extra["return_on_capital_pct"] == pytest.approx(100 * (2000 / 3000 - 1))  # ... of 3,000
    assert extra["liquidations_per_year"] == pytest.approx(2.0)
    r, dd = stats._returns_drawdown(equity[:, 0], injected[:, 0])
    assert r == pytest.approx([0, -1, 0.25, -1, 0.5, 2000 / 1500 - 1])
    assert dd == pytest.approx([0, -1, 0, -1, 0, 0])


def test_ruin_level_refills_an_account_before_it_reaches_zero():
    # 5x long, 1,000 margin, qty 50: a fall from 100 to 80.4 loses 980 -> 20 left = 2% of cash
    # exit at bar 2's open, 80.4: 20 left
    o, h, l, c = [100, 100, 80.4, 81], [100, 100, 81, 82], [100, 80.4, 80, 80.5], [100, 80.4, 81, 82]
    args = (o, h, l, c, [1, 0, 1, 0], [0, 1, 0, 0])
    kept = run(*args, leverage=5.0, ruin_level=0.01)   # 2% > 1%: not wiped out, trades on small
    assert kept[4][0, 1] == 0.0
    refilled = run(*args, leverage=5.0, ruin_level=0.05)
    assert refilled[4][0, 1] == 1.0 and refilled[4][0, 0] == pytest.approx(980.0)
    # the refill waits for the account to be flat: at bar 1's close the position is still open
    assert refilled[3][2, 0] == pytest.approx(980.0) and refilled[3][1, 0] == 0.0


def prices(steps, start=100.0):
    close = start * np.exp(np.cumsum(steps))
    open_ = np.r_[start, close[:-1]]
    spread = np.abs(np.asarray(steps)) + 0.002
    return open_, np.maximum(open_, close) * (1 + spread), np.minimum(open_, close) * (1 - spread), close


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-0.05, 0.05), min_size=5, max_size=60),
       st.lists(st.sampled_from([-1, 0, 0, 1]), min_size=60, max_size=60),
       st.sampled_from([5.0, 20.0, 50.0, 100.0]), st.sampled_from([ISOLATED, CROSS, ACCOUNT]))
def test_topped_up_equity_never_below_zero_and_injected_is_refills_times_cash(steps, signals,
                                                                             leverage, mode):
    o, h, l, c = prices(steps)
    n = len(o)
    entries = np.array(signals[:n])
    exits = np.zeros(n, bool)
    exits[::7] = True
    equity, trades, liqs, injected, tally = run(o, h, l, c, entries, exits, leverage=leverage,
                                                mode=mode, mmr=0.005)
    assert (equity >= -1e-9).all()
    # ruin level 0 with protection: an account is refilled only from exactly 0
    assert tally[0, 0] == pytest.approx(tally[0, 1] * 1000.0, rel=1e-12)
    assert injected.sum() == pytest.approx(tally[0, 0], rel=1e-12)
    assert equity[-1, 0] == pytest.approx(1000 + trades["pnl"].sum() + tally[0, 0], rel=1e-9,
                                          abs=1e-6)


GRID = {"leverage": ["5", "20", "50"], "hold": ["1", "5"]}


def config(account="isolated", **kw):
    from sitcli.backtest import RunConfig

    return RunConfig(symbols=["NVDA", "RENDER/USDT"], venue="perp-isolated", account=account,
                     grid=GRID, overrides={"funding_rate_8h": "0.0003"}, on_ruin="topup", **kw)


@pytest.mark.parametrize("account", ["isolated", "shared"])
def test_sweep_summaries_equal_the_full_backtest_with_topup(account):
    from test_sweep import assert_rows_match

    from sitcli.backtest import run_backtest
    from sitcli.data.store import demo_store
    from sitcli.events import load_events
    from sitcli.sweep import run_sweep

    store, events = demo_store(), load_events(None)
    full = run_backtest(config(account), store, events)
    swept = run_sweep(config(account), store, events, workers=2, chunk_size=2)
    assert full.refills.sum() > 0                 # the grid wipes accounts out
    runs, combos = full.run_stats(), full.combo_stats()
    if account == "isolated":
        assert sum(r["refills"] for r in runs) == full.refills.sum()
        assert all("return_on_capital_pct" in r for r in runs)
    assert sum(r["capital_injected"] for r in combos) == pytest.approx(full.injected.sum())
    assert_rows_match(runs, swept.run_rows())
    assert_rows_match(combos, swept.combo_rows())


def test_monte_carlo_replay_equals_the_engines_topup_run():
    """The run's own trade order, refilled at the same ruin level, lands on the engine's final
    equity and capital injected at 5x, 20x and 50x; `refilled_samples` is that engine run."""
    from sitcli.backtest import RunConfig, run_backtest
    from sitcli.data.store import demo_store
    from sitcli.events import load_events
    from sitcli.montecarlo import FINAL, INJECTED, RUINS, refilled_samples, replay, samples_from_result

    store, events = demo_store(), load_events(None)
    cfg = RunConfig(["NVDA", "RENDER/USDT"], venue="cfd-offshore",
                    grid={"leverage": ["5", "20", "50"]}, on_ruin="topup", ruin_level=0.01)
    result = run_backtest(cfg, store, events)
    samples = samples_from_result(result)
    refills = 0
    for s, run_ in zip(samples, result.runs, strict=True):
        row = replay(s, ruin_level=0.01, on_ruin="topup")
        a = run_.account
        assert row[FINAL] == pytest.approx(result.equity[-1, a], rel=1e-9, abs=1e-6), s.label
        assert row[INJECTED] == pytest.approx(result.injected[:, a].sum(), rel=1e-9, abs=1e-6)
        assert row[RUINS] == result.refills[a] == s.refills
        refills += s.refills
    assert refills >= 10
    again = refilled_samples(RunConfig(["NVDA", "RENDER/USDT"], venue="cfd-offshore",
                                       grid={"leverage": ["5", "20", "50"]}), store, events, 0.01)
    assert [list(s.returns) for s in again] == [list(s.returns) for s in samples]


def test_backtest_and_sweep_commands_show_the_capital_put_in(cli):
    proc = cli("backtest", "--demo", "--symbols", "NVDA", "--venue", "cfd-offshore",
               "--leverage", "50", "--on-ruin", "topup", "--format", "json", check_code=0)
    doc = json.loads(proc.stdout)
    row = doc["stats"]["NVDA"]
    assert row["refills"] > 1 and row["capital_injected"] == pytest.approx(row["refills"] * 1e4)
    assert row["return_on_capital_pct"] == pytest.approx(
        100 * (row["final_equity"] / (1e4 + row["capital_injected"]) - 1))
    assert row["liquidations_per_year"] > 1 and "on_ruin" in doc["assumptions"]
    plain = json.loads(cli("backtest", "--demo", "--symbols", "NVDA", "--venue", "cfd-offshore",
                           "--leverage", "50", "--format", "json", check_code=0).stdout)
    assert "refills" not in plain["stats"]["NVDA"] and "on_ruin" not in plain["assumptions"]
    table = cli("backtest", "--demo", "--symbols", "NVDA", "--venue", "cfd-offshore",
                "--leverage", "50", "--on-ruin", "topup", check_code=0).stdout
    assert "Return on capital put in [%]" in table and "Liquidations per year" in table
    swept = cli("sweep", "--demo", "--symbols", "NVDA", "--venue", "cfd-offshore", "--grid",
                "leverage=5,50", "--on-ruin", "topup", "--rank-by", "return_on_capital_pct",
                "--format", "csv", check_code=0).stdout.splitlines()
    header = swept[0].split(",")
    assert {"capital_injected", "refills", "return_on_capital_pct"} <= set(header)
    lev = [float(line.split(",")[header.index("leverage")]) for line in swept[1:]]
    assert lev == [5.0, 50.0]       # ranked by the return on capital put in: 5x first


@pytest.mark.parametrize("args, fragment", [
    (("--on-ruin", "borrow"), "--on-ruin 'borrow'"),
    (("--ruin-level", "1"), "--ruin-level 1"),
])
def test_bad_on_ruin_exits_2(cli, args, fragment):
    from cli_helpers import assert_one_line_error

    assert_one_line_error(cli("backtest", "--demo", "--symbols", "NVDA", *args), 2, fragment)


def test_api_backtest_on_ruin_topup():
    import sitcli

    out = sitcli.backtest("catalyst_momentum", ["NVDA"], store=sitcli.demo(), leverage=50,
                          venue="cfd-offshore", on_ruin="topup")
    row = out.stats.loc["NVDA"]
    assert row["refills"] > 1 and row["capital_injected"] == pytest.approx(row["refills"] * 1e4)


def test_a_topup_grid_is_ranked_by_the_return_on_capital_put_in():
    """Refills are not gains: unless --rank-by says otherwise, a topup grid's winner is the
    best return on all the capital put in, not the best total return."""
    import sitcli

    table = sitcli.sweep(symbols=["NVDA"], venue="cfd-offshore", on_ruin="topup",
                         grid={"leverage": [5, 20, 50, 100]}, store=sitcli.demo())
    roc = list(table["return_on_capital_pct"])
    assert roc == sorted(roc, reverse=True)
    by_total = sitcli.sweep(symbols=["NVDA"], venue="cfd-offshore", on_ruin="topup",
                            grid={"leverage": [5, 20, 50, 100]}, store=sitcli.demo(),
                            rank_by="total_return_pct")
    assert list(by_total["total_return_pct"]) == sorted(by_total["total_return_pct"], reverse=True)
