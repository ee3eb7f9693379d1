r"""SIT futures: the closed-form price F(t,T), the contract listing, price limits and margin.

Closed form (the paper's eq. 13 leaves A(t,T) unwritten). The model measure is used as the
pricing measure: the paper gives no market price of risk, so F(t,T) = E[P_T | X_t] under the
simulated dynamics. With tau = T - t, solving the linear SDE of sitcli/sit/model.py from t to T:

    X_T = e^{-kappa tau} X_t + kappa int_t^T e^{-kappa(T-s)} theta_s ds
          + sigma int_t^T e^{-kappa(T-s)} dW_s + sum_{t < tau_i <= T} J_i e^{-kappa(T - tau_i)}.

The three random parts are independent. The Gaussian part has variance
sigma^2 (1 - e^{-2 kappa tau}) / (2 kappa); the compound-Poisson part has, by Campbell's formula,
log E[exp(sum J_i e^{-kappa(T-tau_i)})] = lam int_0^tau (E[exp(J e^{-kappa u})] - 1) du with
E[exp(J c)] = exp(mu_j c + sigma_j^2 c^2 / 2). Hence F(t,T) = exp(e^{-kappa tau} X_t + A(t,T)) with

    A(t,T) = kappa int_t^T e^{-kappa(T-s)} theta_s ds                       (trend, seasonality, kinks)
           + sigma^2 (1 - e^{-2 kappa tau}) / (4 kappa)                     (diffusion convexity)
           + lam int_0^tau (exp(mu_j e^{-kappa u} + sigma_j^2 e^{-2 kappa u} / 2) - 1) du   (jumps)

The theta integral is elementary (``model.theta_integral``: constant theta0 (1 - e^{-kappa tau}),
the linear trend and each kink ramp by parts, the sine by the standard e^{as} sin(bs) integral).
The jump integral has no elementary form: with v = e^{-kappa u} it is
(lam / kappa) int_{e^{-kappa tau}}^1 (exp(mu_j v + sigma_j^2 v^2 / 2) - 1) / v dv, whose integrand is
analytic on [0, 1], so a fixed 32-node Gauss-Legendre rule is accurate to rounding error.
At tau = 0, A = 0 and F = P_t: the futures price converges to the index at expiry.

Contract rules follow the paper's section 5 (see ``listing``, ``apply_daily_limits``,
``initial_margin_rate``, ``mark_to_market``); where the paper is silent the choice is ours and
is said so in the function's docstring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from sitcli.errors import BadInput
from sitcli.sit.model import SitParams, theta_integral

TICK = 0.01                     # $ per M SIT (paper)
MONTHLY = 6                     # consecutive monthly contracts (paper)
QUARTERLY = 4                   # nearest quarterly contracts beyond the monthlies (paper)
TIER1, TIER2 = 0.15, 0.25       # daily limits (paper)
TIER1_HALT_MINUTES = 10         # paper
ALPHA = 3.0                     # margin coverage coefficient (paper, "99.7%")
MARGIN_FLOOR, MARGIN_CAP = 0.08, 0.12   # paper's 8-12% band
MAINTENANCE_RATIO = 0.75        # maintenance = 75% of initial (paper)
HOLDING_YEARS = 1.0 / 252.0     # ours: T in eq. 7 = one trading day, the daily mark-to-market cycle
VOL_WINDOW = 20                 # daily returns in sigma_20 (paper)
DAYS_PER_YEAR = 365.25          # model time is calendar time in years
MONTH_CODES = "FGHJKMNQUVXZ"

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(32)


# ---------------------------------------------------------------- closed form


def jump_term(params: SitParams, tau) -> np.ndarray:
    """lam int_0^tau (exp(mu_j e^{-kappa u} + sigma_j^2 e^{-2 kappa u}/2) - 1) du by Gauss-Legendre."""
    p = params
    tau = np.asarray(tau, dtype=float)
    if p.lam == 0.0:
        return np.zeros_like(tau)
    lo = np.exp(-p.kappa * tau)[..., None]
    v = lo + (1.0 - lo) * (_GL_NODES + 1.0) / 2.0
    f = np.expm1(p.mu_j * v + 0.5 * p.sigma_j ** 2 * v * v) / v
    return p.lam / p.kappa * (1.0 - lo[..., 0]) / 2.0 * (f @ _GL_WEIGHTS)


def futures_log_a(params: SitParams, t, T) -> np.ndarray:
    """A(t,T) of F(t,T) = exp(e^{-kappa (T-t)} x_t + A(t,T)); arrays broadcast."""
    p = params
    t, T = np.broadcast_arrays(np.asarray(t, dtype=float), np.asarray(T, dtype=float))
    tau = T - t
    if np.any(tau < -1e-12):
        raise BadInput("futures price asked for an expiry before the valuation time")
    tau = np.maximum(tau, 0.0)
    diffusion = p.sigma ** 2 * (1.0 - np.exp(-2.0 * p.kappa * tau)) / (4.0 * p.kappa)
    return theta_integral(p, t, t + tau) + diffusion + jump_term(p, tau)


def futures_price(params: SitParams, x_t, t, T) -> np.ndarray:
    """F(t,T) = E[P_T | X_t = x_t] in $/M SIT (model measure = pricing measure), unrounded."""
    x_t, t, T = np.broadcast_arrays(np.asarray(x_t, dtype=float), np.asarray(t, dtype=float),
                                    np.asarray(T, dtype=float))
    return np.exp(np.exp(-params.kappa * (T - t)) * x_t + futures_log_a(params, t, T))


def round_to_tick(price, tick: float = TICK) -> np.ndarray:
    """Nearest tick; never below one tick, because a listed price must stay positive."""
    return np.maximum(np.round(np.asarray(price, dtype=float) / tick) * tick, tick)


# ---------------------------------------------------------------- listing


@dataclass(frozen=True)
class Contract:
    code: str           # e.g. SITH26: SIT, month code, two-digit year
    year: int
    month: int
    last_trade: date    # third Wednesday of the delivery month (paper)
    kind: str = field(compare=False)   # "monthly" or "quarterly" (listed as; not identity)

    @property
    def delivery(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def third_wednesday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(2 - first.weekday()) % 7 + 14)


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _contract(year: int, month: int, kind: str) -> Contract:
    return Contract(f"SIT{MONTH_CODES[month - 1]}{year % 100:02d}", year, month,
                    third_wednesday(year, month), kind)


def listing(asof: date) -> list[Contract]:
    """The contracts trading on ``asof``: 6 consecutive monthlies, then the 4 nearest quarterlies
    (Mar/Jun/Sep/Dec) after the last monthly. A contract trades through its last trading day."""
    year, month = asof.year, asof.month
    if asof > third_wednesday(year, month):
        year, month = _next_month(year, month)
    out = []
    for _ in range(MONTHLY):
        out.append(_contract(year, month, "monthly"))
        year, month = _next_month(year, month)
    while len(out) < MONTHLY + QUARTERLY:
        if month % 3 == 0:
            out.append(_contract(year, month, "quarterly"))
        year, month = _next_month(year, month)
    return out


def year_fraction(day: date, origin: date) -> float:
    return (day - origin).days / DAYS_PER_YEAR


def settlement_time(contract: Contract, origin: date) -> float:
    """Model time (years) of the final settlement: the end (24:00 UTC) of the last trading day."""
    return year_fraction(contract.last_trade + timedelta(days=1), origin)


# ---------------------------------------------------------------- daily price limits


FREE, HALTED, LOCKED = 0, 1, 2


def limit_band(base: float, rate: float, tick: float = TICK) -> tuple[float, float]:
    """Limit prices around ``base``, rounded inward to the tick so a limit never exceeds its rate."""
    down = math.ceil(round(base * (1 - rate) / tick, 9)) * tick
    up = math.floor(round(base * (1 + rate) / tick, 9)) * tick
    return max(down, tick), up


def apply_daily_limits(prices, session, base: float, halt_steps: int, tick: float = TICK):
    """Traded futures prices under the ±15% / ±25% daily limits.

    ``prices``: unconstrained prices on a fine grid (already on the tick); ``session``: the
    session number of each point (non-decreasing); ``base``: the reference for the first session;
    ``halt_steps``: grid points a first-tier halt lasts (10 minutes, at least 1).

    Rules. The base of each session is the previous session's settlement (its last traded price;
    the paper does not say what the limits are measured against: this is our choice). When the price
    first leaves the ±15% band, it trades at the band's edge and trading halts for ``halt_steps``
    points (state HALTED); then the band widens to ±25%. When the price leaves the ±25% band it
    trades at that edge and the market is halted for the rest of the session (state LOCKED).
    Returns (traded prices, state per point, settlement per session).
    """
    prices = np.asarray(prices, dtype=float)
    session = np.asarray(session)
    traded = prices.copy()
    state = np.zeros(len(prices), dtype=np.int8)
    bounds = np.flatnonzero(np.diff(session)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(prices)]])
    settlements = np.empty(len(starts))
    for n, (i, j) in enumerate(zip(starts, ends, strict=True)):
        lo, hi = limit_band(base, TIER1, tick)
        window = prices[i:j]
        if window.min() < lo or window.max() > hi:   # rare: most sessions stay inside ±15%
            _limit_session(window, traded[i:j], state[i:j], base, halt_steps, tick)
        base = settlements[n] = float(traded[j - 1])
    return traded, state, settlements


def _limit_session(prices, traded, state, base: float, halt_steps: int, tick: float) -> None:
    lo, hi = limit_band(base, TIER1, tick)
    halt_left, locked_at, widened = 0, None, False
    for k in range(len(prices)):
        if locked_at is not None:
            traded[k], state[k] = locked_at, LOCKED
        elif halt_left > 0:
            traded[k], state[k] = traded[k - 1], HALTED
            halt_left -= 1
        elif lo <= prices[k] <= hi:
            traded[k] = prices[k]
        elif not widened:
            traded[k], state[k] = (hi if prices[k] > hi else lo), HALTED
            halt_left, widened = max(halt_steps, 1) - 1, True
            lo, hi = limit_band(base, TIER2, tick)
        else:
            locked_at = hi if prices[k] > hi else lo
            traded[k], state[k] = locked_at, LOCKED


# ---------------------------------------------------------------- margin


def realised_vol(settlements, window: int = VOL_WINDOW, periods_per_year: float = 252.0) -> np.ndarray:
    """Annualised standard deviation of the last ``window`` daily log returns (NaN until enough)."""
    s = np.asarray(settlements, dtype=float)
    r = np.diff(np.log(s))
    out = np.full(len(s), np.nan)
    for k in range(window, len(s)):
        out[k] = np.std(r[k - window:k], ddof=1) * math.sqrt(periods_per_year)
    return out


def initial_margin_rate(vol, alpha: float = ALPHA, holding_years: float = HOLDING_YEARS,
                        floor: float = MARGIN_FLOOR, cap: float = MARGIN_CAP) -> np.ndarray:
    """Eq. 7 as a rate of notional: clip(alpha sigma_20 sqrt(T), 8%, 12%).

    Ours: sigma_20 annualised, T in years and equal to one trading day (1/252) because positions
    are marked to market daily; the floor M_floor is the band's 8% and the 12% top caps the rate.
    With alpha = 3 the rate moves inside the band for sigma_20 between about 42% and 63%.
    A missing volatility (NaN) gets the floor.
    """
    raw = alpha * np.asarray(vol, dtype=float) * math.sqrt(holding_years)
    return np.clip(np.nan_to_num(raw, nan=floor), floor, cap)


def model_futures_vol(params: SitParams, tau) -> np.ndarray:
    """Instantaneous annualised vol of ln F(t,T): e^{-kappa tau} sqrt(sigma^2 + lam (mu_j^2 + sigma_j^2)).

    Used for the margin rate when fewer than 20 daily settlements exist (e.g. a curve at the origin).
    """
    p = params
    return np.exp(-p.kappa * np.asarray(tau, dtype=float)) * math.sqrt(
        p.sigma ** 2 + p.lam * (p.mu_j ** 2 + p.sigma_j ** 2))


def mark_to_market(settlements, side: int, lots: float, margin_rates, deposit: float,
                   meet_calls: bool = True, maintenance_ratio: float = MAINTENANCE_RATIO) -> dict:
    """Daily mark-to-market of a futures position opened at ``settlements[0]``.

    One lot is 1M SIT and prices are $/M SIT, so a lot's value is its price in dollars.
    Each day d >= 1: variation margin side * lots * (S_d - S_{d-1}) goes to the account; the
    initial margin is rate_d * lots * S_d, the maintenance margin 75% of it. If the balance falls
    below maintenance, a margin call asks for the amount that restores the initial margin; with
    ``meet_calls`` it is paid the same day, otherwise the position is closed at S_d and the
    account stops (the engine's close-out at ``closeout_level`` 0.75 is this second branch).
    Returns arrays per day: balance, variation, initial, maintenance, call, and ``closed_on``.
    """
    s = np.asarray(settlements, dtype=float)
    rates = np.broadcast_to(np.asarray(margin_rates, dtype=float), s.shape)
    if side not in (1, -1) or lots <= 0:
        raise BadInput("side must be +1 or -1 and lots > 0")
    n = len(s)
    balance, variation, call = np.zeros(n), np.zeros(n), np.zeros(n)
    initial = rates * lots * s
    maintenance = maintenance_ratio * initial
    balance[0] = deposit
    if deposit < initial[0]:
        raise BadInput(f"deposit {deposit:g} is below the initial margin {initial[0]:g}")
    closed_on = None
    for d in range(1, n):
        variation[d] = side * lots * (s[d] - s[d - 1])
        balance[d] = balance[d - 1] + variation[d]
        if balance[d] < maintenance[d]:
            call[d] = initial[d] - balance[d]
            if meet_calls:
                balance[d] += call[d]
            else:
                closed_on = d
                balance[d + 1:] = balance[d]
                break
    return {"balance": balance, "variation": variation, "initial": initial,
            "maintenance": maintenance, "call": call, "closed_on": closed_on}
