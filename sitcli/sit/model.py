"""The SIT price model (paper eq. 11-12) and its seeded Monte Carlo.

Log price X_t = ln P_t ($/M SIT), time t in years from the model origin:

    dX_t = kappa (theta_t - X_t) dt + sigma dW_t + J dN_t,   N Poisson(lam), J ~ N(mu_j, sigma_j^2)
    theta_t = theta0 + beta t + gamma sin(2 pi t / t_season) + sum_k slope_k max(t - t_k, 0)

The last sum is ours, not the paper's: ``theta_kinks`` = ((t_k, slope_k), ...) bends the trend
at t_k, which is how a scenario makes the mean path turn up (the paper's Fig. 6 is U-shaped,
its Table 3 alone falls monotonically). With no kinks the model is exactly the paper's.

Stepping over [a, b], h = b - a:

- ``exact``: X_b = e^{-kappa h} X_a + kappa int_a^b e^{-kappa(b-s)} theta_s ds + diffusion + jumps.
  The theta integral is in closed form (``theta_integral``), the diffusion term is drawn from its
  exact law N(0, sigma^2 (1 - e^{-2 kappa h}) / (2 kappa)), the number of jumps in the step is
  Poisson(lam h), each jump time is uniform in the step and each size is decayed by
  e^{-kappa (b - tau)} to the step's end. So the law of X on the grid is exact, not an
  approximation, at any step size. (The within-step path, e.g. a bar's high and low, is only
  seen at the grid points: use sub-steps for OHLC.)
- ``euler``: X_b = X_a + kappa (theta_a - X_a) h + sigma sqrt(h) Z + sum J (jumps undecayed), the
  paper's scheme as the extract re-ran it; biased at coarse steps.

Paths are seeded one by one (a SeedSequence spawns one 32-bit seed per path), so the output
depends on the seed and the path count, never on the number of threads.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, fields
from importlib.resources import files

import numpy as np
from numba import njit, prange

from sitcli.errors import BadInput

SCHEMES = ("exact", "euler")


@dataclass(frozen=True)
class SitParams:
    """Model parameters; the defaults are the paper's Table 3 with X_0 = theta_0 ($2.00/M SIT)."""

    kappa: float = 2.5
    theta0: float = math.log(2.0)
    beta: float = -0.35
    sigma: float = 0.40
    lam: float = 3.0
    mu_j: float = 0.10
    sigma_j: float = 0.25
    gamma: float = 0.08
    t_season: float = 1.0
    x0: float = math.log(2.0)
    theta_kinks: tuple[tuple[float, float], ...] = ()   # ours: ((t_k years, extra slope), ...)

    def __post_init__(self):
        checks = (
            (self.kappa > 0, "kappa must be > 0 (mean reversion speed per year)"),
            (self.sigma >= 0, "sigma must be >= 0"),
            (self.lam >= 0, "lam (jump intensity per year) must be >= 0"),
            (self.sigma_j >= 0, "sigma_j must be >= 0"),
            (self.t_season > 0, "t_season must be > 0 (years)"),
        )
        for ok, message in checks:
            if not ok:
                raise BadInput(f"SIT model: {message}")
        values = [getattr(self, f.name) for f in fields(self) if f.name != "theta_kinks"]
        if not all(math.isfinite(v) for v in values):
            raise BadInput("SIT model: every parameter must be a finite number")


# ---------------------------------------------------------------- scenarios


def _scenarios() -> dict:
    return tomllib.loads((files("sitcli.datasets") / "sit" / "scenarios.toml").read_text(encoding="utf-8"))


def scenario_names() -> list[str]:
    return list(_scenarios())


def load_scenario(name: str) -> SitParams:
    table = _scenarios()
    if name not in table:
        raise BadInput(f"unknown scenario {name!r}; choose one of {', '.join(table)}")
    row = {k: v for k, v in table[name].items() if k != "description"}
    allowed = {f.name for f in fields(SitParams)}
    unknown = set(row) - allowed
    if unknown:
        raise BadInput(f"scenario {name!r}: unknown field(s) {', '.join(sorted(unknown))}")
    if "theta0" in row and "x0" not in row:
        row["x0"] = row["theta0"]
    kinks = tuple((float(t), float(s)) for t, s in row.pop("theta_kinks", ()))
    return SitParams(**{k: float(v) for k, v in row.items()}, theta_kinks=kinks)


def scenario_description(name: str) -> str:
    return str(_scenarios().get(name, {}).get("description", ""))


# ---------------------------------------------------------------- closed forms


def theta(params: SitParams, t) -> np.ndarray:
    t = np.asarray(t, dtype=float)
    p = params
    out = p.theta0 + p.beta * t + p.gamma * np.sin(2 * np.pi * t / p.t_season)
    for t_k, slope in p.theta_kinks:
        out = out + slope * np.maximum(t - t_k, 0.0)
    return out


def _ramp_integral(kappa: float, a, b, start):
    """kappa int_a^b e^{-kappa(b-s)} max(s - start, 0) ds (start = -inf gives the plain line s)."""
    c = np.maximum(a, start)
    live = c < b
    c = np.where(live, c, b)
    w = np.exp(-kappa * (b - c))
    return np.where(live, (b - start) - (c - start) * w - (1.0 - w) / kappa, 0.0)


def theta_integral(params: SitParams, a, b) -> np.ndarray:
    """kappa int_a^b e^{-kappa(b-s)} theta_s ds, exact, elementwise over arrays a <= b."""
    p = params
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    k = p.kappa
    w = np.exp(-k * (b - a))
    const = p.theta0 * (1.0 - w)
    line = p.beta * (b - a * w - (1.0 - w) / k)
    om = 2 * np.pi / p.t_season
    sine = p.gamma * k / (k * k + om * om) * ((k * np.sin(om * b) - om * np.cos(om * b))
                                             - w * (k * np.sin(om * a) - om * np.cos(om * a)))
    out = const + line + sine
    for t_k, slope in p.theta_kinks:
        out = out + slope * _ramp_integral(k, a, b, t_k)
    return out


def log_mean(params: SitParams, t, t0: float = 0.0, x_t0: float | None = None) -> np.ndarray:
    """E[X_t | X_{t0}] (default: from the origin at x0), jumps included: lam mu_j (1-e^{-kappa u})/kappa."""
    p = params
    x_t0 = p.x0 if x_t0 is None else x_t0
    t = np.asarray(t, dtype=float)
    u = t - t0
    decay = np.exp(-p.kappa * u)
    return decay * x_t0 + theta_integral(p, np.full_like(t, t0), t) + p.lam * p.mu_j * (1 - decay) / p.kappa


def log_var(params: SitParams, t, t0: float = 0.0) -> np.ndarray:
    """Var[X_t | X_{t0}] = (sigma^2 + lam (mu_j^2 + sigma_j^2)) (1 - e^{-2 kappa u}) / (2 kappa)."""
    p = params
    u = np.asarray(t, dtype=float) - t0
    total = p.sigma ** 2 + p.lam * (p.mu_j ** 2 + p.sigma_j ** 2)
    return total * (1 - np.exp(-2 * p.kappa * u)) / (2 * p.kappa)


# ---------------------------------------------------------------- simulation


@njit(cache=True, parallel=True)
def _simulate_kernel(x_start, a, b, s, lam_h, h, kappa, mu_j, sigma_j, decay_jumps, record_every,
                     seeds, out, jumps):
    """X_{k+1} = a_k X_k + b_k + s_k Z + jumps; writes every record_every-th point into out."""
    n_paths = out.shape[0]
    n_steps = a.shape[0]
    for i in prange(n_paths):
        np.random.seed(seeds[i])
        x = x_start
        out[i, 0] = x
        count = 0
        for k in range(n_steps):
            x = a[k] * x + b[k] + s[k] * np.random.standard_normal()
            if lam_h[k] > 0.0:
                n = np.random.poisson(lam_h[k])
                count += n
                for _ in range(n):
                    size = mu_j + sigma_j * np.random.standard_normal()
                    if decay_jumps:
                        size *= math.exp(-kappa * h[k] * np.random.random())
                    x += size
            if (k + 1) % record_every == 0:
                out[i, (k + 1) // record_every] = x
        jumps[i] = count


def path_seeds(seed: int, n_paths: int) -> np.ndarray:
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise BadInput(f"seed {seed!r} must be a non-negative integer, e.g. --seed 7")
    return np.random.SeedSequence(int(seed)).generate_state(n_paths, dtype=np.uint32).astype(np.int64)


def step_coefficients(params: SitParams, times: np.ndarray, scheme: str):
    """Per-step (a, b, s) of X_{k+1} = a X_k + b + s Z for the grid ``times`` (years)."""
    if scheme not in SCHEMES:
        raise BadInput(f"unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    p = params
    t0, t1 = times[:-1], times[1:]
    h = t1 - t0
    if scheme == "exact":
        a = np.exp(-p.kappa * h)
        b = theta_integral(p, t0, t1)
        s = np.sqrt(p.sigma ** 2 * (1 - np.exp(-2 * p.kappa * h)) / (2 * p.kappa))
    else:
        a = 1.0 - p.kappa * h
        b = p.kappa * theta(p, t0) * h
        s = p.sigma * np.sqrt(h)
    return a, b, s, h


def simulate_log_grid(params: SitParams, times, n_paths: int, seed: int, scheme: str = "exact",
                      x_start: float | None = None, record_every: int = 1,
                      return_jump_counts: bool = False):
    """Log-price paths on the time grid ``times`` (years, increasing), X(times[0]) = x_start.

    Returns an (n_paths, (len(times)-1)//record_every + 1) array, and with ``return_jump_counts``
    also the number of jumps per path.
    """
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or len(times) < 2 or not np.all(np.diff(times) > 0):
        raise BadInput("the simulation grid needs at least two strictly increasing times")
    if not isinstance(n_paths, (int, np.integer)) or n_paths <= 0:
        raise BadInput(f"paths {n_paths!r} must be a positive integer, e.g. --paths 10000")
    n_steps = len(times) - 1
    if record_every < 1 or n_steps % record_every:
        raise BadInput("record_every must divide the number of steps")
    p = params
    a, b, s, h = step_coefficients(p, times, scheme)
    out = np.empty((int(n_paths), n_steps // record_every + 1))
    jumps = np.zeros(int(n_paths), dtype=np.int64)
    x = p.x0 if x_start is None else float(x_start)
    _simulate_kernel(x, a, b, s, p.lam * h, h, p.kappa, p.mu_j, p.sigma_j, scheme == "exact",
                     int(record_every), path_seeds(seed, int(n_paths)), out, jumps)
    return (out, jumps) if return_jump_counts else out


def simulate_log_paths(params: SitParams, n_paths: int, years: float, steps_per_year: int, seed: int,
                       scheme: str = "exact", substeps: int = 1) -> np.ndarray:
    """(n_paths, n_steps + 1) log prices at t = 0, dt, 2dt, ... with dt = 1/steps_per_year and
    n_steps = round(years * steps_per_year); ``substeps`` finer steps are taken per output step."""
    if not (years > 0 and math.isfinite(years)):
        raise BadInput(f"horizon {years!r} years must be > 0")
    if not isinstance(steps_per_year, (int, np.integer)) or steps_per_year <= 0:
        raise BadInput(f"steps per year {steps_per_year!r} must be a positive integer")
    if not isinstance(substeps, (int, np.integer)) or substeps <= 0:
        raise BadInput(f"substeps {substeps!r} must be a positive integer")
    n_steps = max(1, int(round(years * steps_per_year)))
    times = np.arange(n_steps * substeps + 1) / (steps_per_year * substeps)
    return simulate_log_grid(params, times, n_paths, seed, scheme, record_every=int(substeps))
