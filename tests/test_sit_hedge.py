"""The hedge experiment: the minimum-variance identity E = rho^2 (by hand and by simulation),
the basis model, the calibration claim, reproducibility, and `sitcli sit hedge` end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from cli_helpers import assert_one_line_error

from sitcli.errors import BadInput
from sitcli.sit.hedge import (
    Basis,
    basis_paths,
    hedge_stats,
    load_basis,
    parse_horizon,
    procurement,
    run_scenario,
)
from sitcli.sit.model import load_scenario, simulate_log_paths

# --- the identity, by hand -----------------------------------------------------------------------

def test_min_variance_identity_worked_by_hand():
    # cost S = 1,3,2,6 (mean 3), strip F = 0,2,2,4 (mean 2); deviations s = -2,0,-1,3, f = -2,0,0,2
    # sum sf = 4+0+0+6 = 10, sum f^2 = 4+0+0+4 = 8, sum s^2 = 4+0+1+9 = 14
    # h* = 10/8 = 1.25; rho^2 = 10^2 / (14*8) = 100/112
    # S - 1.25 F = 1, 0.5, -0.5, 1 (mean 0.5), deviations .5,0,-1,.5: sum of squares 1.5
    # E = 1 - 1.5/14 = 12.5/14 = 100/112 = rho^2
    s = hedge_stats(np.array([1.0, 3.0, 2.0, 6.0]), np.array([0.0, 2.0, 2.0, 4.0]))
    assert s["hedge_ratio"] == pytest.approx(1.25)
    assert s["rho_squared"] == pytest.approx(100 / 112)
    assert s["var_unhedged"] == pytest.approx(14 / 3) and s["var_hedged"] == pytest.approx(1.5 / 3)
    assert s["variance_reduction"] == pytest.approx(12.5 / 14)
    assert s["std_reduction"] == pytest.approx(1 - math.sqrt(1.5 / 14))
    # any other ratio does worse (h* minimises the variance)
    for h in (0.0, 1.0, 1.5):
        assert hedge_stats(np.array([1.0, 3.0, 2.0, 6.0]), np.array([0.0, 2.0, 2.0, 4.0]),
                           ratio=h)["var_hedged"] > s["var_hedged"]


# --- the identity and the basis, by simulation ---------------------------------------------------

@pytest.fixture(scope="module")
def baseline_index():
    params = load_scenario("baseline")
    return np.exp(simulate_log_paths(params, 4000, 1.0, 12, 11)[:, 1:])


def test_efficiency_equals_rho_squared_in_and_out_of_sample():
    r = run_scenario("baseline", 4000, 5, 12)
    assert r["variance_reduction"] == pytest.approx(r["rho_squared"], abs=1e-12)   # algebra
    # out of sample: h* from the first 2000 paths applied to the other 2000 gives E equal to
    # that half's rho^2 within Monte Carlo error
    oos = r["out_of_sample"]
    tolerance = 4 * r["variance_reduction_stderr"] * math.sqrt(2)
    assert abs(oos["variance_reduction"] - r["rho_squared"]) < tolerance
    assert oos["variance_reduction"] <= oos["rho_squared"] + 1e-12   # a fitted ratio never beats the best
    assert 0 < r["variance_reduction_stderr"] < 0.02


def test_zero_basis_hedges_everything(baseline_index):
    months = baseline_index.shape[1]
    log_basis = basis_paths(Basis(0.0, 3.0), len(baseline_index), months, 1)
    cost, payoff = procurement(baseline_index, log_basis, np.full(months, 2.0))
    s = hedge_stats(cost, payoff)
    assert s["hedge_ratio"] == pytest.approx(1.0)
    assert s["variance_reduction"] == pytest.approx(1.0, abs=1e-9)


def test_efficiency_falls_as_the_basis_vol_rises(baseline_index):
    months = baseline_index.shape[1]
    futures = np.full(months, 2.0)
    efficiencies = []
    for sigma in (0.02, 0.05, 0.1, 0.2, 0.4):
        log_basis = basis_paths(Basis(sigma, 3.0), len(baseline_index), months, 1)
        cost, payoff = procurement(baseline_index, log_basis, futures)
        efficiencies.append(hedge_stats(cost, payoff)["variance_reduction"])
    assert all(a > b for a, b in zip(efficiencies, efficiencies[1:], strict=False)), efficiencies
    assert efficiencies[0] > 0.99 and efficiencies[-1] < 0.6


def test_basis_is_an_ar1_with_the_stated_long_run_std():
    # Var(b_k) = sigma^2 (1 - phi^(2k)), phi = 2^(-1/3): at k = 12, phi^24 = 2^-8
    b = basis_paths(Basis(0.2, 3.0), 20_000, 12, 3)
    expected = 0.2 * math.sqrt(1 - 2.0 ** -8)
    assert b[:, 11].std() == pytest.approx(expected, rel=0.03)
    assert b[:, 0].std() == pytest.approx(0.2 * math.sqrt(1 - 2.0 ** (-2 / 3)), rel=0.03)
    assert abs(b.mean()) < 0.01


def test_futures_strip_is_priced_without_bias():
    # F(0,T) = E[I_T] under the model, so the strip's mean payoff is zero within MC error
    params = load_scenario("demand-explosion")
    from sitcli.sit.futures import futures_price

    index = np.exp(simulate_log_paths(params, 8000, 1.0, 12, 9)[:, 1:])
    futures = futures_price(params, params.x0, 0.0, np.arange(1, 13) / 12)
    _, payoff = procurement(index, np.zeros_like(index), futures)
    assert abs(payoff.mean()) < 4 * payoff.std() / math.sqrt(len(payoff))


def test_calibrated_baseline_lands_within_3_points_of_87pct():
    basis = load_basis()
    assert basis.sigma > 0 and basis.half_life_months == 3.0
    r = run_scenario("baseline", 10_000, 7, 12, basis)
    assert abs(r["variance_reduction"] - 0.87) < 0.03


def test_same_seed_same_numbers_other_seed_other_numbers():
    a, b = run_scenario("tech-progress", 500, 21, 6), run_scenario("tech-progress", 500, 21, 6)
    c = run_scenario("tech-progress", 500, 22, 6)
    assert a == b
    assert a["std_unhedged"] != c["std_unhedged"]


@pytest.mark.parametrize("text, months", [("12m", 12), ("1y", 12), ("2y", 24), ("18M", 18), ("1m", 1)])
def test_parse_horizon(text, months):
    assert parse_horizon(text) == months


@pytest.mark.parametrize("text", ["12", "0m", "-3m", "1.5y", "abc", "12w", ""])
def test_parse_horizon_refuses(text):
    with pytest.raises(BadInput, match="--horizon"):
        parse_horizon(text)


def test_one_month_horizon_is_a_single_purchase():
    r = run_scenario("baseline", 1000, 2, 1)
    assert r["horizon_months"] == 1 and 0 < r["variance_reduction"] < 1


# --- the command ---------------------------------------------------------------------------------

def test_cli_prints_results_beside_the_paper(cli):
    out = cli("sit", "hedge", "--paths", "1000", "--seed", "3", check_code=0)
    text = out.stdout
    for scenario in ("baseline", "demand-explosion", "tech-progress"):
        assert scenario in text
    assert "paper" in text and "1.80" in text and "0.65" in text and "0.850" in text
    assert "87.0%" in text and "91.0%" in text and "78.0%" in text
    assert "63.9% (implied)" in text   # 1 - 0.65/1.80, the std reduction the paper's table implies
    assert "rho^2" in text and "variance reduction" in text and "std reduction" in text
    again = cli("sit", "hedge", "--paths", "1000", "--seed", "3", check_code=0)
    assert again.stdout == text


def test_cli_json_shows_the_identity(cli):
    out = cli("sit", "hedge", "--scenario", "baseline", "--paths", "2000", "--horizon", "6m",
              "--format", "json", check_code=0)
    payload = json.loads(out.stdout)
    [r] = payload["scenarios"]
    assert r["scenario"] == "baseline" and r["horizon_months"] == 6 and r["paths"] == 2000
    assert r["variance_reduction"] == pytest.approx(r["rho_squared"], abs=1e-12)
    assert r["paper"]["variance_reduction"] == 0.87
    assert r["std_hedged"] < r["std_unhedged"]


@pytest.mark.parametrize("args, fragment", [
    (("--scenario", "moon"), "unknown scenario 'moon'"),
    (("--paths", "0"), "--paths"),
    (("--paths", "-5"), "--paths"),
    (("--horizon", "0m"), "--horizon"),
    (("--horizon", "12"), "--horizon"),
    (("--horizon", "soon"), "--horizon"),
])
def test_cli_bad_input_exits_2(cli, args, fragment):
    assert_one_line_error(cli("sit", "hedge", *args), 2, fragment)
