"""The SIT price model: simulated moments against the closed forms, jump counts, seeds,
scenarios (the demand-explosion mean path turns up late), and the benchmark's reduced run."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
from scipy.integrate import quad

from sitcli.errors import BadInput
from sitcli.sit.futures import futures_price
from sitcli.sit.model import (
    SitParams,
    load_scenario,
    log_mean,
    log_var,
    scenario_names,
    simulate_log_grid,
    simulate_log_paths,
    theta,
    theta_integral,
)

BENCH = Path(__file__).resolve().parent / "benchmarks" / "bench_sit.py"
HORIZONS = np.array([0.0, 0.05, 0.5, 1.0, 2.0, 3.0])


def _check_moments(x, params, t, z=4.0):
    """Sample mean and variance of X_t within z standard errors of the closed forms."""
    n = len(x)
    mean, var = x.mean(), x.var(ddof=1)
    se_mean = math.sqrt(var / n)
    se_var = np.std((x - mean) ** 2, ddof=1) / math.sqrt(n)
    assert abs(mean - log_mean(params, t)) < z * se_mean, (t, mean, log_mean(params, t))
    assert abs(var - log_var(params, t)) < z * se_var, (t, var, log_var(params, t))


@pytest.mark.parametrize("name", ["baseline", "demand-explosion", "tech-progress"])
def test_exact_scheme_moments_match_the_closed_forms(name):
    params = load_scenario(name)
    x = simulate_log_grid(params, HORIZONS, 20_000, seed=11)
    assert np.all(x[:, 0] == params.x0)
    for k, t in enumerate(HORIZONS[1:], start=1):
        _check_moments(x[:, k], params, t)


def test_euler_with_fine_steps_matches_the_closed_forms_too():
    params = SitParams()
    x = simulate_log_paths(params, 5_000, 1.0, 12, seed=3, scheme="euler", substeps=84)
    for month in (1, 6, 12):
        _check_moments(x[:, month], params, month / 12)


def test_log_variance_closed_form_by_hand():
    # kappa 2.5, t 1: (0.4^2 + 3 (0.1^2 + 0.25^2)) (1 - e^-5) / 5 = (0.16 + 0.2175) 0.993262 / 5
    assert log_var(SitParams(), 1.0) == pytest.approx(0.3775 * (1 - math.exp(-5)) / 5)
    # no jumps, start on theta with no trend or season: the mean stays put
    flat = SitParams(beta=0.0, gamma=0.0, lam=0.0)
    assert log_mean(flat, 2.0) == pytest.approx(math.log(2.0))


@pytest.mark.parametrize("kinks", [(), ((0.4, 0.9), (1.3, -0.5))])
def test_theta_integral_closed_form_against_quadrature(kinks):
    params = SitParams(theta_kinks=kinks, gamma=0.3, t_season=0.7)
    for a, b in ((0.0, 0.3), (0.2, 1.5), (1.1, 3.0)):
        def integrand(s, b=b):
            return params.kappa * math.exp(-params.kappa * (b - s)) * float(theta(params, s))

        numeric = quad(integrand, a, b, points=[k[0] for k in kinks if a < k[0] < b] or None, limit=200)[0]
        assert float(theta_integral(params, a, b)) == pytest.approx(numeric, abs=1e-10)


def test_jump_counts_follow_the_poisson_intensity():
    params = SitParams(lam=3.0)
    years, n = 2.0, 20_000
    _, counts = simulate_log_grid(params, np.linspace(0, years, 505), n, seed=5, return_jump_counts=True)
    expected = params.lam * years                       # 6 jumps per path on average
    assert abs(counts.mean() - expected) < 4 * math.sqrt(expected / n)
    # Poisson: variance equals the mean (4 standard errors of the sample variance ~ sqrt(2/n) var)
    assert abs(counts.var(ddof=1) - expected) < 4 * expected * math.sqrt(2 / n + 1 / (expected * n))
    assert (counts == 0).mean() == pytest.approx(math.exp(-expected), abs=4 * math.sqrt(math.exp(-6) / n))


def test_no_jumps_when_the_intensity_is_zero():
    _, counts = simulate_log_grid(SitParams(lam=0.0), np.linspace(0, 1, 50), 100, seed=1,
                                  return_jump_counts=True)
    assert counts.sum() == 0


def test_same_seed_same_paths_different_seed_different_paths():
    params = load_scenario("demand-explosion")
    a = simulate_log_paths(params, 300, 1.0, 252, seed=42)
    b = simulate_log_paths(params, 300, 1.0, 252, seed=42)
    c = simulate_log_paths(params, 300, 1.0, 252, seed=43)
    assert a.shape == (300, 253)
    assert np.array_equal(a, b)
    assert not np.allclose(a[:, 1:], c[:, 1:])


def test_paths_do_not_depend_on_thread_count_or_path_count():
    params = SitParams()
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = simulate_log_paths(params, 64, 0.5, 252, seed=9)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = simulate_log_paths(params, 64, 0.5, 252, seed=9)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, many)
    # each path has its own seed: the first 10 of 64 paths are the 10 paths of a 10-path run
    assert np.array_equal(simulate_log_paths(params, 10, 0.5, 252, seed=9), one[:10])


def test_scenarios_load_and_baseline_is_table_3():
    assert scenario_names() == ["baseline", "demand-explosion", "tech-progress"]
    base = load_scenario("baseline")
    assert base == SitParams()
    assert (base.kappa, base.beta, base.sigma, base.lam, base.mu_j, base.sigma_j, base.gamma) == \
        (2.5, -0.35, 0.40, 3.0, 0.10, 0.25, 0.08)
    assert base.x0 == base.theta0 == pytest.approx(math.log(2.0))
    with pytest.raises(BadInput, match="baseline, demand-explosion, tech-progress"):
        load_scenario("moon")


def _mean_price_by_month(params):
    months = np.arange(37)
    return futures_price(params, params.x0, 0.0, months / 12)   # E[P_t] = F(0, t)


def test_demand_explosion_mean_path_falls_then_rises_late():
    mean = _mean_price_by_month(load_scenario("demand-explosion"))
    low = int(np.argmin(mean[6:])) + 6
    assert 12 <= low <= 24                      # the trough sits in the rebalancing phase
    assert mean[low] < mean[0]                  # the supply-driven phase falls first
    assert np.all(np.diff(mean[24:]) > 0)       # the demand-driven phase rises month by month
    assert mean[36] > 1.5 * mean[low]
    # and the simulated paths agree: late mean above the trough by far more than MC error
    params = load_scenario("demand-explosion")
    p = np.exp(simulate_log_grid(params, np.array([0.0, low / 12, 3.0]), 4000, seed=2))
    assert p[:, 2].mean() - p[:, 1].mean() > 5 * math.hypot(p[:, 1].std(), p[:, 2].std()) / math.sqrt(4000)


def test_baseline_mean_path_falls_as_the_extract_reports():
    mean = _mean_price_by_month(load_scenario("baseline"))
    # the extract's Euler re-run: about $1.82 at 12 months, $1.30 at 24 and $0.92 at 36
    assert mean[12] == pytest.approx(1.82, abs=0.03)
    assert mean[24] == pytest.approx(1.30, abs=0.03)
    assert mean[36] == pytest.approx(0.92, abs=0.03)
    assert _mean_price_by_month(load_scenario("tech-progress"))[36] < mean[36]


@pytest.mark.parametrize("bad", [dict(kappa=0.0), dict(sigma=-0.1), dict(lam=-1.0), dict(t_season=0.0),
                                 dict(beta=float("nan"))])
def test_bad_parameters_are_refused(bad):
    with pytest.raises(BadInput):
        SitParams(**bad)


def test_bad_simulation_arguments_are_refused():
    with pytest.raises(BadInput, match="paths"):
        simulate_log_paths(SitParams(), 0, 1.0, 252, seed=1)
    with pytest.raises(BadInput, match="horizon"):
        simulate_log_paths(SitParams(), 10, 0.0, 252, seed=1)
    with pytest.raises(BadInput, match="scheme"):
        simulate_log_paths(SitParams(), 10, 1.0, 252, seed=1, scheme="milstein")
    with pytest.raises(BadInput, match="seed"):
        simulate_log_paths(SitParams(), 10, 1.0, 252, seed=-1)


def test_benchmark_reduced_run_prints_its_json():
    proc = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert (report["paths"], report["steps"]) == (200, 252)
    assert report["seconds_compiled"] > 0 and report["seconds_first_call"] > 0
