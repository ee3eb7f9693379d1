"""Synthetic demo bars shipped with sitcli, so every command works offline with `--demo`.

These are NOT market prices. They are random paths shaped to look like the real instruments
(volatility, correlation, fat tails, jumps, weekend gaps, funding) so the engine has something
realistic to chew on. Regenerate the shipped files with `python -m sitcli.demo [--out DIR]`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

DEMO_SEED = 20260322
DEMO_DIR = Path(__file__).resolve().parent.parent / "datasets" / "demo"
SUBSTEPS = 16  # intraday steps per bar for high/low
TAIL_DF = 4.0  # Student-t degrees of freedom: fat tails, finite variance

# symbol: (24/7?, annual vol, AI-factor loading, overnight share of variance,
#          (jumps per year, min size, max size), pinned levels at start/1/3/2/3/end,
#          typical volume, price decimals)
# Pinning the path to a few plausible levels keeps prices in a believable range whatever the seed.
SPECS: dict[str, tuple] = {
    "NVDA": (False, 0.50, 0.88, 0.25, (3.0, 0.08, 0.22), (16, 50, 130, 140), 4.0e8, 2),
    "AMD": (False, 0.50, 0.86, 0.25, (3.0, 0.08, 0.22), (65, 140, 125, 170), 5.5e7, 2),
    "TSM": (False, 0.35, 0.82, 0.30, (2.0, 0.06, 0.14), (72, 100, 170, 185), 1.2e7, 2),
    "^NDX": (False, 0.20, 0.92, 0.15, (1.0, 0.03, 0.05), (11000, 16800, 19800, 20800), 4.5e9, 2),
    "RENDER/USDT": (True, 0.90, 0.55, 1e-4, (5.0, 0.12, 0.35), (1.5, 4.2, 7.0, 2.2), 4.0e6, 3),
}
SYMBOLS = (*SPECS, "SIT")

def _t(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.standard_t(TAIL_DF, size=shape) / np.sqrt(TAIL_DF / (TAIL_DF - 2))


def _ar1(noise: np.ndarray, phi: float) -> np.ndarray:
    out = np.empty_like(noise)
    out[0] = noise[0] / np.sqrt(1 - phi**2)  # start in the stationary distribution
    for i in range(1, len(noise)):
        out[i] = phi * out[i - 1] + noise[i]
    return out


def _bars(rng, log_open, log_close, intraday_sd, volume_base, daily_sd) -> pd.DataFrame:
    """OHLCV from open/close with a Brownian bridge between them for the high and low."""
    n = len(log_open)
    steps = np.cumsum(rng.standard_normal((n, SUBSTEPS)) * (intraday_sd / np.sqrt(SUBSTEPS)), 1)
    k = np.arange(1, SUBSTEPS + 1) / SUBSTEPS
    path = log_open[:, None] + k * (log_close - log_open)[:, None] + steps - k * steps[:, -1:]
    o, c = np.exp(log_open), np.exp(log_close)
    ret = np.abs(np.diff(log_close, prepend=log_open[0]))
    # Volume clusters (AR(1) in logs) and rises with the size of the day's move.
    volume = volume_base * np.exp(0.3 * _ar1(rng.standard_normal(n) * 0.6, 0.8))
    volume *= 0.5 + 0.6 * ret / daily_sd
    return pd.DataFrame({"open": o, "high": np.maximum(np.maximum(o, c), np.exp(path.max(1))),
                         "low": np.minimum(np.minimum(o, c), np.exp(path.min(1))),
                         "close": c, "volume": volume})


def _factor_asset(rng, days, factor, session, spec) -> pd.DataFrame:
    crypto, vol, load, gap, (lam, j_lo, j_hi), levels, volume_base, decimals = spec
    n = len(days)
    # Equities move only on weekdays; holidays still move (folded into the next open as a gap),
    # so a change in the holiday calendar drops a row instead of reshuffling the whole path.
    w = np.ones(n) if crypto else (days.day_of_week < 5).astype(float)
    per_year = 365.0 if crypto else 365.0 * 5 / 7
    jump_var = lam * (j_hi**3 - j_lo**3) / (3 * (j_hi - j_lo))  # lam * E[J^2], J ~ U(lo, hi)
    sd = np.sqrt((vol**2 - jump_var) / per_year)
    e = load * factor + np.sqrt(1 - load**2) * _t(rng, (n, 2))
    jumps = np.where(rng.random(n) < lam / per_year, rng.uniform(j_lo, j_hi, n), 0.0)
    jumps *= rng.choice([-1.0, 1.0], n)
    overnight = w * (sd * np.sqrt(gap) * e[:, 0] + (0 if crypto else jumps))
    intraday = w * (sd * np.sqrt(1 - gap) * e[:, 1] + (jumps if crypto else 0))
    raw = np.cumsum(overnight + intraday)
    # Pin the walk to the levels at evenly spaced trading days; the correction is spread over
    # trading time only, so weekends stay flat.
    tau = np.cumsum(w)
    knots = np.flatnonzero(w)[np.linspace(0, w.sum() - 1, len(levels)).round().astype(int)]
    log_close = raw + np.interp(tau, tau[knots], np.log(levels) - raw[knots])
    log_open = np.concatenate([[log_close[0] - overnight[0] - intraday[0]], log_close[:-1]])
    log_open += overnight
    df = _bars(rng, log_open, log_close, sd * np.sqrt(1 - gap), volume_base,
               vol / np.sqrt(365.0 if crypto else 252.0)).set_index(days)
    df[["open", "high", "low", "close"]] = df[["open", "high", "low", "close"]].round(decimals)
    df["volume"] = df["volume"].round()
    return df if crypto else df[session]


def _funding(rng, n: int) -> np.ndarray:
    """Daily sum of three 8-hourly perp funding rates: ~+0.01% each, with negative spells."""
    rates = 1e-4 + 6e-5 * _ar1(rng.standard_normal(3 * n) * 0.5, 0.85)
    starts, lengths = rng.random(n) < 4 / 365, rng.geometric(1 / 6, n)
    spell = np.zeros(n)
    for day in np.flatnonzero(starts):
        spell[day : day + lengths[day]] = 1.0
    rates -= np.repeat(spell, 3) * 2.5e-4
    return rates.reshape(n, 3).sum(1).round(8)


def _sit(rng, days) -> pd.DataFrame:
    """The SIT index from the paper's model (Table 3, `baseline`), daily bars from hourly steps."""
    from sitcli.sit.model import load_scenario, simulate_log_grid

    params, m = load_scenario("baseline"), 24
    times = np.arange(len(days) * m + 1) / (365.0 * m)
    x = simulate_log_grid(params, times, n_paths=1, seed=int(rng.integers(2**31)))[0]
    px = np.exp(x)
    o, c = px[:-1:m], px[m::m]
    day_path = np.lib.stride_tricks.sliding_window_view(px, m + 1)[::m]
    ret = np.abs(np.diff(x[::m]))
    volume = 5000 * np.exp(0.3 * _ar1(rng.standard_normal(len(days)) * 0.6, 0.8))
    volume *= 0.5 + 0.6 * ret / (params.sigma / np.sqrt(365.0))
    df = pd.DataFrame({"open": o, "high": day_path.max(1), "low": day_path.min(1), "close": c,
                       "volume": volume.round()}, index=days)
    df[["open", "high", "low", "close"]] = df[["open", "high", "low", "close"]].round(4)
    return df


def generate_demo(seed: int = DEMO_SEED, start="2023-01-01", end="2025-12-31"
                  ) -> dict[str, pd.DataFrame]:
    """Daily demo bars per symbol: UTC `time` index, float64 open/high/low/close/volume."""
    import exchange_calendars as xcals  # slow import; keep it off the CLI's startup path

    days = pd.date_range(start, end, freq="D", tz="UTC", name="time").as_unit("ns")
    # Explicit bounds: the calendar's default window moves with the wall clock.
    sessions = xcals.get_calendar("XNYS", start=days[0].tz_localize(None),
                                  end=days[-1].tz_localize(None)).sessions
    session = days.isin(sessions.tz_localize("UTC"))
    # One child generator per stream, spawned in a fixed order, so editing one symbol's
    # parameters leaves every other symbol's draws unchanged.
    factor_rng, *rngs = np.random.default_rng(seed).spawn(len(SYMBOLS) + 2)
    factor = _t(factor_rng, (len(days), 2))  # the common "AI factor", overnight and intraday
    out = {s: _factor_asset(rngs[i], days, factor, session, SPECS[s]) for i, s in enumerate(SPECS)}
    out["RENDER/USDT"]["funding_rate"] = _funding(rngs[-2], len(days))
    out["SIT"] = _sit(rngs[-1], days)
    return {s: out[s].astype("float64") for s in SYMBOLS}


def write_demo(root: Path, seed: int = DEMO_SEED) -> list[Path]:
    """Write every demo frame into the Parquet store at `root`; returns the files written."""
    from sitcli.data.store import Store

    store = Store(Path(root))
    note = f"synthetic demo data generated by sitcli.demo (seed {seed}), not market prices"
    paths = [store.write(df, source="demo", symbol=symbol, timeframe="1d", synthetic=True,
                         note=note) for symbol, df in generate_demo(seed).items()]
    for path in paths:
        path.chmod(0o644)  # the store writes 0600 temp files; package data must be world-readable
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sitcli.demo",
                                     description="Regenerate the synthetic demo bars.")
    parser.add_argument("--out", type=Path, default=DEMO_DIR,
                        help=f"store root (default {DEMO_DIR})")
    parser.add_argument("--seed", type=int, default=DEMO_SEED)
    args = parser.parse_args(argv)
    for path in write_demo(args.out, args.seed):
        print(path)


if __name__ == "__main__":
    main()
