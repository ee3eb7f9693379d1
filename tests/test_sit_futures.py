"""SIT futures: the closed form against Monte Carlo and quadrature, convergence at expiry, the
listing calendar, daily limits, margin rates and daily mark-to-market on hand-made paths."""

import math
from datetime import date

import numpy as np
import pytest
from scipy.integrate import quad

from sitcli.errors import BadInput
from sitcli.sit import futures as fut
from sitcli.sit.model import SitParams, load_scenario, log_mean, log_var, simulate_log_grid

MATURITIES = np.array([0.05, 0.25, 1.0, 2.0, 3.0])


@pytest.mark.parametrize("name", ["baseline", "demand-explosion", "tech-progress"])
def test_closed_form_matches_monte_carlo_within_three_standard_errors(name):
    params = load_scenario(name)
    n = 20_000
    prices = np.exp(simulate_log_grid(params, np.concatenate([[0.0], MATURITIES]), n, seed=21)[:, 1:])
    closed = fut.futures_price(params, params.x0, 0.0, MATURITIES)
    se = prices.std(axis=0, ddof=1) / math.sqrt(n)
    assert np.all(np.abs(prices.mean(axis=0) - closed) < 3 * se), (prices.mean(axis=0), closed, se)


def test_closed_form_matches_monte_carlo_from_a_later_start_off_the_mean():
    # valued at t = 1.3 with the index far above its mean, across the demand-explosion kinks
    params = load_scenario("demand-explosion")
    t, x_t, n = 1.3, math.log(3.5), 20_000
    T = t + MATURITIES
    paths = simulate_log_grid(params, np.concatenate([[t], T]), n, seed=8, x_start=x_t)
    prices = np.exp(paths[:, 1:])
    closed = fut.futures_price(params, x_t, t, T)
    se = prices.std(axis=0, ddof=1) / math.sqrt(n)
    assert np.all(np.abs(prices.mean(axis=0) - closed) < 3 * se)


def test_without_jumps_the_closed_form_is_the_lognormal_mean():
    params = SitParams(lam=0.0)
    for T in (0.1, 1.0, 2.5):
        expected = math.exp(log_mean(params, T) + 0.5 * log_var(params, T))
        assert float(fut.futures_price(params, params.x0, 0.0, T)) == pytest.approx(expected, rel=1e-12)


def test_jump_integral_against_adaptive_quadrature():
    params = load_scenario("demand-explosion")
    for tau in (1e-3, 0.2, 1.0, 5.0):
        numeric = quad(lambda u: params.lam * (math.exp(params.mu_j * math.exp(-params.kappa * u)
                                                        + 0.5 * params.sigma_j ** 2
                                                        * math.exp(-2 * params.kappa * u)) - 1),
                       0, tau, epsabs=1e-14, epsrel=1e-12)[0]
        assert float(fut.jump_term(params, tau)) == pytest.approx(numeric, rel=1e-10)


def test_futures_converge_to_the_index_at_expiry():
    params = SitParams()
    x = np.log(np.array([0.5, 2.0, 7.0]))
    assert np.allclose(fut.futures_price(params, x, 1.25, 1.25), np.exp(x), rtol=1e-14)
    near = fut.futures_price(params, x, 1.25 - 1e-7, 1.25)
    assert np.allclose(near, np.exp(x), rtol=1e-5)
    # far from expiry the index level matters less and less (mean reversion)
    far = fut.futures_price(params, x, 0.0, 4.0)
    assert far.max() / far.min() < 1.01 < 14.0


def test_expiry_before_valuation_is_refused():
    with pytest.raises(BadInput):
        fut.futures_price(SitParams(), 0.7, 1.0, 0.5)


def test_round_to_tick():
    assert np.allclose(fut.round_to_tick([1.234, 1.235001, 0.0001]), [1.23, 1.24, 0.01])


# ---------------------------------------------------------------- listing


def test_third_wednesdays():
    # January 2026 starts on a Thursday: Wednesdays 7, 14, 21
    assert fut.third_wednesday(2026, 1) == date(2026, 1, 21)
    assert fut.third_wednesday(2026, 7) == date(2026, 7, 15)     # July 1 2026 is a Wednesday
    assert fut.third_wednesday(2027, 12) == date(2027, 12, 15)


def test_listing_six_monthlies_then_four_quarterlies():
    on_expiry = fut.listing(date(2026, 1, 21))          # the January contract's last trading day
    assert [c.code for c in on_expiry] == ["SITF26", "SITG26", "SITH26", "SITJ26", "SITK26", "SITM26",
                                           "SITU26", "SITZ26", "SITH27", "SITM27"]
    assert [c.kind for c in on_expiry] == ["monthly"] * 6 + ["quarterly"] * 4
    day_after = fut.listing(date(2026, 1, 22))
    assert day_after[0].code == "SITG26" and day_after[5].code == "SITN26"   # Feb..Jul (N = July)
    assert [c.code for c in day_after[6:]] == ["SITU26", "SITZ26", "SITH27", "SITM27"]
    # October: monthlies Oct..Mar 27, so the quarterlies start after March 2027
    october = fut.listing(date(2026, 10, 1))
    assert [c.code for c in october[6:]] == ["SITM27", "SITU27", "SITZ27", "SITH28"]
    assert all(c.last_trade.weekday() == 2 and 15 <= c.last_trade.day <= 21 for c in october)


# ---------------------------------------------------------------- daily limits


def test_limit_bands_round_inward_to_the_tick():
    # 2.37 x 1.15 = 2.7255 -> 2.72; x 0.85 = 2.0145 -> 2.02; x 1.25 = 2.9625 -> 2.96
    assert fut.limit_band(2.37, 0.15) == pytest.approx((2.02, 2.72))
    assert fut.limit_band(2.37, 0.25)[1] == pytest.approx(2.96)


def test_limits_first_tier_halt_then_wider_band_then_lock_until_next_session():
    prices = [100, 110, 120, 118, 130, 140, 100, 99]
    session = [0, 0, 0, 0, 0, 0, 1, 1]
    traded, state, settle = fut.apply_daily_limits(prices, session, base=100.0, halt_steps=2)
    # session 0, base 100: 120 > 115 -> trades at 115, halted for 2 points (120 and 118);
    # the band widens to +-25%: 130 > 125 -> locked at 125 for the rest of the session.
    assert traded[:6].tolist() == [100, 110, 115, 115, 125, 125]
    assert state[:6].tolist() == [fut.FREE, fut.FREE, fut.HALTED, fut.HALTED, fut.LOCKED, fut.LOCKED]
    # session 1 is measured against the settlement 125: 125 x 0.85 = 106.25, so 100 halts there
    assert settle.tolist() == [125.0, 106.25]
    assert traded[6:].tolist() == [106.25, 106.25]
    assert state[6:].tolist() == [fut.HALTED, fut.HALTED]


def test_limits_leave_ordinary_sessions_alone_and_lock_downward_too():
    traded, state, settle = fut.apply_daily_limits([10.0, 10.5, 9.2, 9.0], [0, 0, 1, 1], base=10.0,
                                                   halt_steps=1)
    assert traded.tolist() == [10.0, 10.5, 9.2, 9.0] and not state.any()
    assert settle.tolist() == [10.5, 9.0]
    # a 40% fall from 10: halted at 8.50 for one point, then locked at 7.50
    traded, state, _ = fut.apply_daily_limits([6.0, 6.0, 9.0], [0, 0, 0], base=10.0, halt_steps=1)
    assert traded.tolist() == [8.5, 7.5, 7.5]
    assert state.tolist() == [fut.HALTED, fut.LOCKED, fut.LOCKED]


# ---------------------------------------------------------------- margin


def test_initial_margin_rate_is_eq7_clamped_to_the_band():
    # 3 x sigma x sqrt(1/252): sigma 0.40 -> 7.56% -> floor 8%; 0.50 -> 9.449%; 0.80 -> 15.1% -> cap 12%
    rates = fut.initial_margin_rate([0.40, 0.50, 0.80, np.nan])
    assert rates[0] == 0.08 and rates[2] == 0.12 and rates[3] == 0.08
    assert rates[1] == pytest.approx(3 * 0.5 / math.sqrt(252))


def test_realised_vol_of_a_hand_made_series():
    # log returns alternate +r, -r: sample std over 20 returns = r sqrt(20/19)
    r = 0.02
    settle = np.exp(np.cumsum([0.0] + [r if i % 2 == 0 else -r for i in range(20)]))
    vol = fut.realised_vol(settle)
    assert np.isnan(vol[:20]).all()
    assert vol[20] == pytest.approx(r * math.sqrt(20 / 19) * math.sqrt(252))


def test_mark_to_market_with_margin_calls_by_hand():
    # long 1000 lots (a lot is worth its price in $), 10% initial margin, deposit = 0.10 x 1000 x 2.00
    s = [2.00, 1.90, 1.80, 1.95]
    out = fut.mark_to_market(s, side=1, lots=1000, margin_rates=0.10, deposit=200.0)
    # day 1: -100 -> 100 < maintenance 0.75 x 190 = 142.5 -> call 190 - 100 = 90 -> 190
    # day 2: -100 -> 90 < 0.75 x 180 = 135 -> call 90 -> 180
    # day 3: +150 -> 330 >= 0.75 x 195 = 146.25 -> no call
    assert out["variation"] == pytest.approx([0, -100, -100, 150])
    assert out["call"] == pytest.approx([0, 90, 90, 0])
    assert out["balance"] == pytest.approx([200, 190, 180, 330])
    assert out["maintenance"] == pytest.approx([150, 142.5, 135, 146.25])
    assert out["closed_on"] is None


def test_unmet_margin_call_closes_the_position():
    out = fut.mark_to_market([2.00, 1.90, 1.80], side=1, lots=1000, margin_rates=0.10, deposit=200.0,
                             meet_calls=False)
    assert out["closed_on"] == 1
    assert out["balance"] == pytest.approx([200, 100, 100])
    # a short gains on the same path and never gets a call
    short = fut.mark_to_market([2.00, 1.90, 1.80], side=-1, lots=1000, margin_rates=0.10, deposit=200.0)
    assert short["balance"] == pytest.approx([200, 300, 400]) and not short["call"].any()


def test_deposit_below_initial_margin_is_refused():
    with pytest.raises(BadInput):
        fut.mark_to_market([2.0, 2.1], side=1, lots=1000, margin_rates=0.10, deposit=100.0)
