"""`sitcli scenario --method historical`: first passage through the engine's liquidation price."""

import math

import numpy as np
import pandas as pd
import pytest

from sitcli.engine.paths import first_passage_nb
from sitcli.instruments import venue
from sitcli.scenario import historical, lp_ratio
from sitcli.tiers import venue_for


def frame(rows):
    a = np.array(rows, float)
    index = pd.date_range("2024-01-01", periods=len(a), freq="D", tz="UTC")
    return pd.DataFrame(a, columns=["open", "high", "low", "close"], index=index)

NO_FINE = (np.empty(0), np.empty(0), np.empty(0), np.empty(0, np.int64))   # no --detail


def test_a_hand_made_gap_gives_the_hand_computed_gap_loss():
    # entry at bar 0's close 100, 20x long, maintenance 0: liquidation at 95.
    # bar 1 opens at 90, already past 95: filled at 90, loss 10% x 20 = 200% of the margin,
    # of which 100% is beyond it (the gap loss); the margin caps the trader's loss at -100%.
    bars = frame([(100, 100, 100, 100), (90, 91, 89, 90), (90, 90, 90, 90)])
    arrays = [bars[c].to_numpy() for c in ("open", "high", "low", "close")]
    # args after the leverages: fee 0, close-out fee 0, closed at the bankruptcy price (a
    # perpetual), negative balance protection
    to, rom, gap = first_passage_nb(*arrays, np.array([0]), 1, 1, np.array([0.95]),
                                    np.array([20.0]), 0.0, 0.0, True, True, *NO_FINE)
    assert to[0, 0] == 1
    assert gap[0, 0] == pytest.approx(1.0)
    assert rom[0, 0] == pytest.approx(-1.0)
    # a CFD close-out at the same gap without protection keeps the whole -200%
    to, rom, gap = first_passage_nb(*arrays, np.array([0]), 1, 1, np.array([0.95]),
                                    np.array([20.0]), 0.0, 0.0, False, False, *NO_FINE)
    assert rom[0, 0] == pytest.approx(-2.0)
    # the same fall inside the bar instead (open 99, low 89): liquidated at 95, no gap loss
    bars = frame([(100, 100, 100, 100), (99, 99, 89, 90), (90, 90, 90, 90)])
    arrays = [bars[c].to_numpy() for c in ("open", "high", "low", "close")]
    to, rom, gap = first_passage_nb(*arrays, np.array([0]), 1, 1, np.array([0.95]),
                                    np.array([20.0]), 0.0, 0.0, True, True, *NO_FINE)
    assert to[0, 0] == 1 and gap[0, 0] == 0.0 and rom[0, 0] == pytest.approx(-1.0)
    # with a 0.05% fee each side the perp loses its margin and the entry fee: -1 - 20 x 0.0005
    to, rom, gap = first_passage_nb(*arrays, np.array([0]), 1, 1, np.array([0.95]),
                                    np.array([20.0]), 0.0005, 0.0, True, True, *NO_FINE)
    assert rom[0, 0] == pytest.approx(-1.01)


def test_liquidation_price_ratios_come_from_the_engine():
    perp = venue_for("RENDER/USDT", "perp-isolated", when="2024-11-01")
    # RENDER's 2024-10-24 brackets: 50x only below a 16,000 notional, so the 10,000 account's
    # 500,000 order is cut to 16,000 (margin 320, q = 16,000 at E = 1); at the liquidation
    # price it sits in bracket 2 (rate 1.5%, amount 25):
    # LP = (M + c - qE) / (q (m - 1)) = (320 + 25 - 16000) / (16000 x (0.015 - 1))
    assert lp_ratio(1, 50, perp) == pytest.approx(15_655 / 15_760, rel=1e-9)
    cfd = venue("cfd-retail", "equity")
    # close-out at half the required margin (notional / 5): 1 + (0.5 / 5 - 1 / 2) for 2x
    assert lp_ratio(1, 2, cfd) == pytest.approx(1 - (1 / 2 - 0.5 / 5))
    assert lp_ratio(1, 1, perp) == 0.0          # 1x long: LP <= 0
    # 100x is above RENDER's 75x: no bracket allows it; the scenario flags it and counts it
    # liquidated at once
    assert math.isnan(lp_ratio(1, 100, perp))


def test_probabilities_rise_with_leverage_and_horizon_on_demo_bars():
    from sitcli.data.store import demo_store

    bars = demo_store().read("RENDER/USDT")
    rows = historical(bars, venue_for("RENDER/USDT", "perp-isolated", when="2024-11-01"),
                      [2, 5, 10, 20, 50], [1, 5, 20], 1)
    table = {(r["leverage"], r["horizon"]): r["p_liquidation_pct"] for r in rows}
    for h in (1, 5, 20):
        probs = [table[(lev, h)] for lev in (2, 5, 10, 20, 50)]
        assert probs == sorted(probs)
    for lev in (2, 5, 10, 20, 50):
        probs = [table[(lev, h)] for h in (1, 5, 20)]
        assert probs == sorted(probs)
    assert table[(50, 1)] > 0 and all(not math.isnan(r["p99_loss_on_margin_pct"]) for r in rows)


def test_cli_scenario(cli):
    proc = cli("scenario", "--demo", "--symbols", "NVDA", "--leverage", "10,50", "--horizon",
               "1,5", "--format", "json", check_code=0)
    import json

    info = json.loads(proc.stdout)["symbols"]["NVDA"]
    assert info["synthetic"] and len(info["rows"]) == 4
    for args, fragment in ((("--leverage", "0,5"), "--leverage"),
                           (("--horizon", "5000"), "--horizon"),
                           (("--method", "brownian"), "historical, bootstrap or jump-diffusion"),
                           (("--method", "bootstrap", "--paths", "0"), "--paths"),
                           (("--side", "up"), "--side")):
        bad = cli("scenario", "--demo", "--symbols", "NVDA", *args)
        assert bad.returncode == 2 and fragment in bad.stderr and "Traceback" not in bad.stderr


def test_bootstrap_converges_to_the_historical_figure_and_repeats_with_its_seed():
    from sitcli.data.store import demo_store
    from sitcli.scenario import bootstrap

    bars = demo_store().read("RENDER/USDT")
    perp = venue_for("RENDER/USDT", "perp-isolated", when="2024-11-01")
    hist = {(r["leverage"], r["horizon"]): r["p_liquidation_pct"]
            for r in historical(bars, perp, [10, 50], [1, 5], 1)}
    boot = bootstrap(bars, perp, [10, 50], [1, 5], 1, paths=20_000, seed=3)
    for r in boot:
        p = r["p_liquidation_pct"] / 100
        se = math.sqrt(max(p * (1 - p), 1e-4) / 20_000)
        # resampling the same bars: the one-bar figure is the same population; over 5 bars
        # blocks of 5 keep most of the path shape. Allow 4 standard errors plus 2 points for
        # the blocks' joins and the series' ends.
        assert abs(p - hist[(r["leverage"], r["horizon"])] / 100) < 4 * se + 0.02, r
    def plain(rows):
        return [{k: v for k, v in r.items() if k != "returns"} for r in rows]

    again = bootstrap(bars, perp, [10, 50], [1, 5], 1, paths=20_000, seed=3)
    assert plain(again) == plain(boot)
    other = bootstrap(bars, perp, [10, 50], [1, 5], 1, paths=20_000, seed=4)
    assert plain(other) != plain(boot)


def test_monte_carlo_matches_the_barrier_hitting_probability_of_driftless_gbm():
    # dS = sigma S dW: log price drifts at nu = -sigma^2/2 per bar. The probability that its
    # minimum over T bars reaches b = ln(0.95) is, for continuous monitoring,
    #   P = Phi((b - nu T) / (sigma sqrt T)) + exp(2 nu b / sigma^2) Phi((b + nu T) / (sigma sqrt T)).
    # The simulation looks at 64 steps a bar, which misses crossings between steps; the
    # Broadie-Glasserman shift b - 0.5826 sigma sqrt(dt) is the discretisation we state.
    from statistics import NormalDist

    from sitcli.engine.paths import jump_diffusion_paths_nb, paths_first_passage_nb

    sigma, horizon, steps, n = 0.02, 5, 64, 40_000
    nu = -sigma ** 2 / 2
    o, h, l, c = jump_diffusion_paths_nb(n, horizon, steps, nu, sigma, 0.0, 0.0, 0.0, 11, False)
    to, _, _ = paths_first_passage_nb(o, h, l, c, horizon, 1, np.array([0.95]),
                                      np.array([20.0]), 0.0, 0.0, True, True)
    p_mc = float((to[:, 0] > 0).mean())
    b = math.log(0.95) - 0.5826 * sigma * math.sqrt(1 / steps)
    phi = NormalDist().cdf
    s = sigma * math.sqrt(horizon)
    p_exact = phi((b - nu * horizon) / s) + math.exp(2 * nu * b / sigma ** 2) * phi(
        (b + nu * horizon) / s)
    se = math.sqrt(p_exact * (1 - p_exact) / n)
    assert abs(p_mc - p_exact) < 3 * se, (p_mc, p_exact, se)


def test_jump_diffusion_fit_and_seed(cli):
    import json

    args = ("scenario", "--demo", "--symbols", "RENDER/USDT", "--method", "jump-diffusion",
            "--paths", "5000", "--leverage", "10,50", "--horizon", "1,5", "--format", "json")
    first = json.loads(cli(*args, "--seed", "5", check_code=0).stdout)["symbols"]["RENDER/USDT"]
    again = json.loads(cli(*args, "--seed", "5", check_code=0).stdout)["symbols"]["RENDER/USDT"]
    assert first == again
    fit = first["fitted"]
    assert 0.02 < fit["sigma"] < 0.08 and fit["lam"] >= 0     # demo RENDER: ~90% a year
    probs = {(r["leverage"], r["horizon"]): r["p_liquidation_pct"] for r in first["rows"]}
    assert probs[(10, 1)] < probs[(50, 1)] and probs[(50, 1)] < probs[(50, 5)]


def test_compare_venues_at_events_and_plot(cli, tmp_path):
    import json

    proc = cli("scenario", "--demo", "--symbols", "NVDA", "--leverage", "5,50", "--horizon", "1",
               "--compare-venues", "--at-events", "--format", "json", "--plot",
               tmp_path / "heat.png", check_code=0)
    result = json.loads(proc.stdout)["symbols"]
    assert set(result) == {"NVDA @ perp-isolated", "NVDA @ cfd-offshore", "NVDA @ cfd-retail"}
    retail = result["NVDA @ cfd-retail"]
    assert retail["starts"].endswith("catalysts")
    assert [r["above_venue_cap"] for r in retail["rows"]] == [False, True]   # ESMA 5x cap
    # the CFD close-out at half the required margin sits nearer than the perp's liquidation
    move = {k: v["rows"][1]["liquidation_price_move_pct"] for k, v in result.items()}
    assert move["NVDA @ cfd-retail"] > move["NVDA @ perp-isolated"]
    assert (tmp_path / "heat.png").read_bytes().startswith(b"\x89PNG")
    bad = cli("scenario", "--demo", "--symbols", "NVDA", "--plot", tmp_path / "heat.svg")
    assert bad.returncode == 2 and ".png or .html" in bad.stderr
    bad = cli("scenario", "--demo", "--symbols", "NVDA", "--at-events", "--method", "bootstrap")
    assert bad.returncode == 2 and "historical" in bad.stderr


def test_simulated_paths_do_not_depend_on_how_they_are_split():
    from sitcli.data.store import demo_store
    from sitcli.engine.paths import bootstrap_paths_nb

    bars = demo_store().read("NVDA")
    arrays = [bars[c].to_numpy(np.float64) for c in ("open", "high", "low", "close")]
    whole = bootstrap_paths_nb(*arrays, 10, 6, 3, 42, 0)
    parts = [bootstrap_paths_nb(*arrays, 5, 6, 3, 42, first) for first in (0, 5)]
    for i in range(4):
        np.testing.assert_array_equal(whole[i], np.concatenate([parts[0][i], parts[1][i]]))
