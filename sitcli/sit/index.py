"""The paper's Token Price Index (TPI, Def. 5.2, eqs 4-6) from a user's file of provider prices.

    P_i   = P_raw_i * S_SIT / S_i            capability adjustment (eq. 6)
    w_i   = V_i / sum V, each at most 30%    volume weights with a cap (eq. 5)
    TPI_t = sum_i w_i * P_i                  (eq. 4)

The paper does not say what happens to the weight above the cap. Our choice: capped providers
get exactly the cap and the excess goes to the uncapped providers in proportion to their
volumes, repeated until no weight exceeds the cap (the usual rule for capped index weights).
That needs at least ceil(1 / cap) providers (4 at 30%).

File format (CSV, one row per timestamp and provider, header required, other columns ignored):
    time      ISO date or date-time (UTC if no zone)
    provider  name, unique within a timestamp
    price     raw price, $ per million output tokens, > 0
    volume    the provider's volume over the period, any unit shared by all rows, > 0
    score     capability score on the same scale as the reference score, > 0
S_SIT, the reference score, is a parameter (default `DEFAULT_REFERENCE_SCORE`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

DEFAULT_CAP = 0.30
# The SIT bar (Def. 5.1) is MMLU 86%, HumanEval 67%, GSM8K 92%. The paper does not say how the
# three combine into S; ours: the plain average of the three percentages, so S_SIT = 245/3.
SIT_BENCHMARKS = {"MMLU": 86.0, "HumanEval": 67.0, "GSM8K": 92.0}
DEFAULT_REFERENCE_SCORE = sum(SIT_BENCHMARKS.values()) / len(SIT_BENCHMARKS)
COLUMNS = ("time", "provider", "price", "volume", "score")
_TOL = 1e-12


def min_providers(cap: float) -> int:
    """Fewest providers whose weights can all stay at or below `cap` and still sum to 1."""
    return math.ceil(1.0 / cap - _TOL)


def capped_weights(volumes: np.ndarray, cap: float = DEFAULT_CAP) -> tuple[np.ndarray, np.ndarray]:
    """Volume weights with each at most `cap`; returns (weights, capped mask).

    Capped providers sit exactly at the cap; the rest share what is left in proportion to
    their volumes, so ratios among uncapped providers equal their volume ratios. Each round
    caps at least one more provider, so the loop ends within len(volumes) rounds.
    """
    volumes = np.asarray(volumes, dtype=np.float64)
    n = volumes.size
    if n == 0 or not np.all(volumes > 0) or not np.all(np.isfinite(volumes)):
        raise ValueError("volumes must be positive and finite")
    if not 0 < cap <= 1:
        raise ValueError("cap must be in (0, 1]")
    if n * cap < 1 - _TOL:
        raise ValueError(f"{n} providers cannot satisfy a {cap:.0%} cap (need {min_providers(cap)})")
    capped = np.zeros(n, dtype=np.bool_)
    while True:
        left = 1.0 - cap * capped.sum()
        free_volume = volumes[~capped].sum()
        weights = np.where(capped, cap, left * volumes / free_volume)
        over = ~capped & (weights > cap * (1 + _TOL))
        if not over.any():
            return weights, capped
        capped |= over


def adjusted_prices(raw: np.ndarray, scores: np.ndarray, reference_score: float) -> np.ndarray:
    """SIT-equivalent prices (eq. 6): a model scoring above the bar delivers more than one SIT
    per token, so its price per SIT is lower."""
    return np.asarray(raw, dtype=np.float64) * reference_score / np.asarray(scores, dtype=np.float64)


def load_prices(path: Path):
    """The prices CSV as a DataFrame (time as UTC timestamps), checked; BadInput otherwise."""
    import pandas as pd

    from sitcli.errors import BadInput

    path = Path(path)
    fix = f"expected columns {','.join(COLUMNS)} (see `sitcli sit index --help`)"
    try:
        frame = pd.read_csv(path, dtype={"provider": str}, comment="#", skipinitialspace=True)
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file; pass a CSV with columns {','.join(COLUMNS)}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: not a readable CSV ({str(exc).splitlines()[0]}); {fix}") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise BadInput(f"{path}: missing column(s) {', '.join(missing)}; {fix}")
    frame = frame[list(COLUMNS)]
    if frame.empty:
        raise BadInput(f"{path}: no rows; add one row per timestamp and provider")
    try:
        frame["time"] = pd.to_datetime(frame["time"], utc=True, format="ISO8601")
    except (ValueError, TypeError):
        raise BadInput(f"{path}: column time has a value that is not an ISO date, "
                       "e.g. 2025-01-31 or 2025-01-31T12:00Z") from None
    frame["provider"] = frame["provider"].fillna("").str.strip()
    for _, row in frame[frame["provider"] == ""].head(1).iterrows():
        raise BadInput(f"{path}: data row {row.name + 1} has no provider name; fill the provider column")
    for col in ("price", "volume", "score"):
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = ~(values > 0) | ~np.isfinite(values)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise BadInput(f"{path}: data row {i + 1} ({frame['provider'].iloc[i]}): {col} "
                           f"{frame[col].iloc[i]!r} is not a positive number; every {col} must be > 0")
        frame[col] = values.astype(np.float64)
    dup = frame.duplicated(["time", "provider"])
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise BadInput(f"{path}: data row {i + 1}: provider {frame['provider'].iloc[i]} appears twice at "
                       f"{frame['time'].iloc[i].isoformat()}; keep one row per provider and time")
    return frame.sort_values(["time", "provider"], kind="stable").reset_index(drop=True)


def compute_index(frame, reference_score: float = DEFAULT_REFERENCE_SCORE,
                  cap: float = DEFAULT_CAP) -> list[dict]:
    """One record per timestamp: TPI, provider count, capped providers and per-provider detail."""
    from sitcli.errors import BadInput

    if not reference_score > 0 or not math.isfinite(reference_score):
        raise BadInput(f"--reference-score {reference_score}: must be a positive number")
    if not 0 < cap <= 1:
        raise BadInput(f"--cap {cap}: must be in (0, 1], e.g. 0.3")
    need = min_providers(cap)
    stamps = frame["time"]
    daily = bool((stamps == stamps.dt.normalize()).all())
    out = []
    for stamp, group in frame.groupby("time", sort=True):
        label = stamp.strftime("%Y-%m-%d") if daily else stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        if len(group) < need:
            raise BadInput(f"{label}: {len(group)} provider(s) cannot satisfy the {cap:.0%} weight cap "
                           f"(weights must sum to 1); give at least {need} providers per timestamp "
                           "or raise --cap")
        volume = group["volume"].to_numpy()
        weights, capped = capped_weights(volume, cap)
        prices = adjusted_prices(group["price"].to_numpy(), group["score"].to_numpy(), reference_score)
        providers = group["provider"].tolist()
        detail = [{"provider": p, "raw_price": r, "score": s, "adjusted_price": a, "volume": v,
                   "volume_share": v / volume.sum(), "weight": w, "capped": bool(c)}
                  for p, r, s, a, v, w, c in zip(providers, group["price"], group["score"], prices,
                                                 volume, weights, capped, strict=True)]
        out.append({"time": label, "tpi": float(weights @ prices), "providers": len(group),
                    "capped": [p for p, c in zip(providers, capped, strict=True) if c],
                    "weights": dict(zip(providers, weights.tolist(), strict=True)),
                    "detail": detail})
    return out
