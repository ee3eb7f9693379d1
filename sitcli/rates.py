"""Overnight benchmark rates for CFD financing: the series sitcli ships and the user's own.

A series is a CSV `date,<NAME>` in percent per annum (FRED's layout), one value per day it was
published. sitcli ships DFF (effective fed funds, 1954-) and SOFR (2018-) in `datasets/rates/`
(sources in its README); `sitcli data import --rate NAME FILE` stores the user's own in
`<data dir>/rates/NAME.csv`, which takes precedence over a shipped series of the same name.
A venue's `financing_benchmark` is either such a NAME or a constant annual fraction
(`instruments.parse_benchmark`).
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from sitcli.errors import BadInput
from sitcli.instruments import BENCHMARK_NAME

PERCENT_RANGE = (-20.0, 100.0)   # percent per annum a benchmark can plausibly take


def shipped_dir() -> Path:
    return Path(str(files("sitcli.datasets") / "rates"))


def user_dir(data_root: Path) -> Path:
    return Path(data_root) / "rates"


def names(data_root: Path | None = None) -> list[str]:
    dirs = [shipped_dir()] + ([user_dir(data_root)] if data_root else [])
    return sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.csv")})


def _path(name: str, data_root: Path | None) -> Path:
    if data_root is not None and (user_dir(data_root) / f"{name}.csv").is_file():
        return user_dir(data_root) / f"{name}.csv"
    shipped = shipped_dir() / f"{name}.csv"
    if shipped.is_file():
        return shipped
    raise BadInput(f"financing_benchmark={name}: no such rate series; stored: "
                   f"{', '.join(names(data_root))}, or import one with "
                   f"`sitcli data import --rate {name} FILE`")


def load(name: str, data_root: Path | None = None) -> pd.Series:
    """The series as annual fractions, indexed by day (tz-naive midnight), ascending."""
    path = _path(name, data_root)
    return _read(path, path.stat().st_mtime).copy()


@lru_cache(maxsize=8)
def _read(path: Path, mtime: float) -> pd.Series:
    return parse_csv(path) / 100.0


def parse_csv(path: Path) -> pd.Series:
    """A `date,value` CSV (percent per annum; blank values skipped) as a Series in percent."""
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise BadInput(f"rate file {path}: not a readable CSV ({exc})") from None
    if df.shape[1] != 2:
        raise BadInput(f"rate file {path}: expected two columns, a date and the rate in percent "
                       f"per annum (FRED's layout), got {', '.join(map(str, df.columns))}")
    dates = pd.to_datetime(df.iloc[:, 0], errors="coerce")
    values = pd.to_numeric(df.iloc[:, 1].replace(".", np.nan), errors="coerce")
    bad_date = dates.isna()
    if bad_date.any():
        row = int(np.flatnonzero(bad_date)[0]) + 2
        raise BadInput(f"rate file {path}, row {row}: {df.iloc[row - 2, 0]!r} is not a date "
                       "(YYYY-MM-DD)")
    series = pd.Series(values.to_numpy(np.float64), index=pd.DatetimeIndex(dates).normalize())
    series = series.dropna()   # FRED leaves holidays blank
    if series.empty:
        raise BadInput(f"rate file {path}: no values")
    lo, hi = PERCENT_RANGE
    out = series[(series < lo) | (series > hi)]
    if len(out):
        raise BadInput(f"rate file {path}: {out.iloc[0]:g} on {out.index[0]:%Y-%m-%d} is outside "
                       f"{lo:g}..{hi:g}; give the rate in percent per annum (4.33, not 0.0433)")
    if not series.index.is_monotonic_increasing or series.index.has_duplicates:
        series = series.groupby(level=0).last().sort_index()
    return series


def import_rate(name: str, source: Path, data_root: Path) -> tuple[Path, pd.Series]:
    """Store a user's series under `<data_root>/rates/NAME.csv` (atomically)."""

    key = name.strip().upper()
    if not BENCHMARK_NAME.match(key):
        raise BadInput(f"--rate {name!r}: use a name of letters, digits and _, e.g. SOFR or ESTR")
    series = parse_csv(Path(source))
    target = user_dir(data_root) / f"{key}.csv"
    from sitcli.files import atomic_write

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(f"date,{key}\n")
            for day, value in series.items():
                fh.write(f"{day:%Y-%m-%d},{value!r}\n")

    atomic_write(target, write)
    return target, series


def on_days(name: str, days: pd.DatetimeIndex, data_root: Path | None = None):
    """The benchmark in force on each day (the last value published on or before it), as
    annual fractions; days before the series starts take its first value, days after it ends
    its last. Returns (values, note or None)."""
    series = load(name, data_root)
    values = series.reindex(series.index.union(days)).ffill().reindex(days)
    before = values.isna()
    values = values.fillna(series.iloc[0]).to_numpy(np.float64)
    notes = []
    if before.any():
        notes.append(f"{int(before.sum())} nights before {name} starts "
                     f"({series.index[0]:%Y-%m-%d}) charged at its first value "
                     f"{100 * series.iloc[0]:g}%")
    after = int((days > series.index[-1]).sum())
    if after:
        notes.append(f"{after} nights after {name} ends ({series.index[-1]:%Y-%m-%d}) charged "
                     f"at its last value {100 * series.iloc[-1]:g}%")
    return values, "; ".join(notes) or None
