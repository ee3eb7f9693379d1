"""The embedded demo data: reproducible, shipped in the package, shaped like the real thing."""

import importlib.resources
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sitcli
from sitcli.data.store import Store
from sitcli.demo import SPECS, SYMBOLS, generate_demo, write_demo
from sitcli.sit.model import load_scenario

# exchange_calendars trips a pandas 3.1 deprecation inside its own code; nothing to fix here.
pytestmark = pytest.mark.filterwarnings("ignore:Series.values returning:DeprecationWarning")

CRYPTO = ("RENDER/USDT", "SIT")
TARGET_VOL = {s: spec[1] for s, spec in SPECS.items()}
# SIT's sigma=0.40 is the diffusion only; the paper's jumps (lam=3, J~N(0.10, 0.25^2)) add more.
SIT = load_scenario("baseline")
TARGET_VOL["SIT"] = float(np.hypot(SIT.sigma, np.sqrt(SIT.lam * (SIT.mu_j**2 + SIT.sigma_j**2))))


@pytest.fixture(scope="module")
def demo() -> dict[str, pd.DataFrame]:
    return generate_demo()


def _shipped_root() -> Path:
    return Path(str(importlib.resources.files("sitcli.datasets") / "demo"))


def _log_returns(df: pd.DataFrame) -> pd.Series:
    return np.log(df["close"]).diff().dropna()


def test_shipped_files_match_the_generator(demo):
    store = Store(_shipped_root())
    for symbol, df in demo.items():
        pd.testing.assert_frame_equal(store.read(symbol, "1d", source="demo"), df,
                                      check_exact=True, check_freq=False)


def test_shipped_files_are_package_resources_and_small():
    files = sorted(_shipped_root().rglob("*.parquet"))
    assert len(files) == len(SYMBOLS)
    assert sum(f.stat().st_size for f in files) < 1_000_000
    assert all(f.stat().st_mode & 0o044 == 0o044 for f in files)  # readable by every user


def test_package_data_globs_cover_the_shipped_files():
    pyproject = Path(sitcli.__file__).resolve().parent.parent / "pyproject.toml"
    if not pyproject.exists():
        pytest.skip("installed without the source tree")
    globs = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]
    datasets = pyproject.parent / "datasets"
    covered = {p for g in globs["sitcli.datasets"] for p in datasets.glob(g)}
    missing = [str(f.relative_to(datasets)) for f in datasets.glob("demo/**/*.parquet")
               if f not in covered]
    assert not missing, f"add 'demo/**/*.parquet' to package-data; not shipped: {missing}"


def test_regenerating_is_deterministic(tmp_path, demo):
    written = write_demo(tmp_path)
    assert len(written) == len(SYMBOLS)
    again = generate_demo()
    for symbol in SYMBOLS:
        pd.testing.assert_frame_equal(again[symbol], demo[symbol], check_exact=True)


def test_schema_and_ohlc_invariants(demo):
    assert set(demo) == set(SYMBOLS)
    for symbol, df in demo.items():
        assert df.index.name == "time" and str(df.index.tz) == "UTC", symbol
        assert df.index.is_monotonic_increasing and df.index.is_unique, symbol
        assert (df.index == df.index.normalize()).all(), symbol
        assert (df.dtypes == "float64").all(), symbol
        assert list(df.columns[:5]) == ["open", "high", "low", "close", "volume"], symbol
        assert (df[["open", "high", "low", "close"]] > 0).all().all(), symbol
        assert (df["low"] <= df[["open", "close"]].min(axis=1)).all(), symbol
        assert (df["high"] >= df[["open", "close"]].max(axis=1)).all(), symbol
        assert (df["volume"] > 0).all(), symbol
    assert "funding_rate" in demo["RENDER/USDT"]
    funding = demo["RENDER/USDT"]["funding_rate"]
    assert 1e-4 < funding.mean() < 5e-4 and (funding < 0).any()


def test_calendars_and_coverage(demo):
    for symbol, df in demo.items():
        assert df.index[-1] - df.index[0] >= pd.Timedelta(days=3 * 365 - 5), symbol
        if symbol in CRYPTO:
            assert (df.index.to_series().diff().dropna() == pd.Timedelta(days=1)).all(), symbol
        else:
            assert (df.index.day_of_week < 5).all(), symbol
            assert pd.Timestamp("2025-12-25", tz="UTC") not in df.index, symbol
            assert 745 <= len(df) <= 756, symbol


def test_volatility_correlation_and_jumps(demo):
    for symbol, df in demo.items():
        per_year = 365 if symbol in CRYPTO else 252
        vol = _log_returns(df).std() * np.sqrt(per_year)
        assert 0.6 * TARGET_VOL[symbol] < vol < 1.4 * TARGET_VOL[symbol], (symbol, vol)
    assert _log_returns(demo["NVDA"]).corr(_log_returns(demo["AMD"])) > 0.3
    assert any((_log_returns(df).abs() > np.log(1.08)).any() for df in demo.values())


def test_gaps_volume_and_price_levels(demo):
    nvda, render = demo["NVDA"], demo["RENDER/USDT"]
    gap = np.log(nvda["open"] / nvda["close"].shift()).dropna().abs()
    assert gap.median() > 0.002  # equities open away from the previous close
    crypto_gap = np.log(render["open"] / render["close"].shift()).dropna().abs()
    assert crypto_gap.median() < 0.002  # 24/7 markets barely gap
    r = _log_returns(nvda).abs()
    assert r.corr(nvda["volume"].iloc[1:]) > 0.3
    assert 5 < nvda["close"].min() and nvda["close"].max() < 400
    assert 0.2 < demo["SIT"]["close"].min() and demo["SIT"]["close"].max() < 10
