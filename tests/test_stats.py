"""sitcli.stats: the span rule, the short-span rule, ruin and ranking (the formulas themselves
are checked against vectorbt in test_differential_vectorbt.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitcli import stats


def test_span_starts_at_the_bar_before_the_first_fill():
    times = pd.date_range("2024-01-01", periods=10, freq="D", tz="UTC")
    assert stats.span_start(times, times[4]) == 3          # fill on bar 4: span from bar 3
    assert stats.span_start(times, times[0]) == 0          # nothing before the first bar
    assert stats.span_start(times, None) == 0              # never traded: all bars
    # a fill between two of the symbol's bars (another symbol's bar in a union index)
    assert stats.span_start(times, times[4] + pd.Timedelta("6h")) == 4


def test_span_stats_over_a_late_first_trade_by_hand():
    """200 flat bars at the starting cash, then 100 bars of +0.1% a bar: the span is the
    last flat bar plus the 100 moving ones, so CAGR is 1.001 ** 252 - 1, not diluted by the
    flat years."""
    times = pd.date_range("2020-01-01", periods=300, freq="D", tz="UTC")
    equity = np.r_[np.full(200, 10_000.0), 10_000.0 * 1.001 ** np.arange(1, 101)]
    out = stats.span_stats(equity, times, start=199, cash=10_000.0, ann=252.0)
    assert out["span_bars"] == 101
    assert out["span_first"] == times[199] and out["span_last"] == times[-1]
    # 101 returns: one 0 and a hundred of 0.001; growth 1.001 ** 100
    assert out["cagr_pct"] == pytest.approx(100 * (1.001 ** (100 * 252 / 101) - 1), rel=1e-12)
    assert out["total_return_pct"] == pytest.approx(100 * (1.001 ** 100 - 1), rel=1e-12)
    assert out["stats_note"] is None and not out["ruined"]
    whole = stats.span_stats(equity, times, start=0, cash=10_000.0, ann=252.0)
    assert whole["cagr_pct"] == pytest.approx(100 * (1.001 ** (100 * 252 / 300) - 1), rel=1e-12)


def test_short_spans_are_not_annualised():
    times = pd.date_range("2024-01-01", periods=43, freq="D", tz="UTC")
    equity = 10_000 * np.cumprod(np.r_[1.0, np.full(42, 1.05)])   # +5% a day for 43 bars
    out = stats.span_stats(equity, times, 0, 10_000.0, 365.0)
    assert math.isnan(out["cagr_pct"]) and math.isnan(out["sharpe"]) and math.isnan(out["sortino"])
    assert out["total_return_pct"] == pytest.approx(100 * (1.05 ** 42 - 1))
    assert "43 bars" in out["stats_note"] and "not annualised" in out["stats_note"]
    # 60 hourly bars are 2.5 days: too short by the day count although not by bars
    hourly = pd.date_range("2024-01-01", periods=100, freq="h", tz="UTC")
    out = stats.span_stats(np.linspace(1e4, 2e4, 100), hourly, 0, 1e4, 365 * 24.0)
    assert math.isnan(out["cagr_pct"]) and out["stats_note"]


def test_nan_outside_a_runs_span_is_dropped():
    times = pd.date_range("2024-01-01", periods=200, freq="D", tz="UTC")
    equity = np.r_[np.full(20, np.nan), np.linspace(1e4, 1.2e4, 150), np.full(30, np.nan)]
    out = stats.span_stats(equity, times, 0, 1e4, 252.0)
    assert out["span_bars"] == 150
    assert out["span_first"] == times[20] and out["span_last"] == times[169]
    assert out["final_equity"] == pytest.approx(1.2e4)


def test_ruined():
    assert stats.ruined(-100.0) and stats.ruined(-99.95) and stats.ruined(-250.0)
    assert not stats.ruined(-99.0) and not stats.ruined(math.nan) and not stats.ruined(5.0)


def test_rank_puts_ruined_runs_last_whatever_the_metric():
    sharpe = [0.5, 1.12, math.nan, 0.85, -0.2, 2.0]
    ruined = [False, True, False, True, False, False]
    order = stats.rank(sharpe, ruined, lower_is_better=False)
    # survivors by Sharpe (the NaN one after them), then the ruined ones by Sharpe
    assert order.tolist() == [5, 0, 4, 2, 1, 3]
    assert stats.rank(sharpe, ruined, lower_is_better=True).tolist() == [4, 0, 5, 2, 3, 1]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([0.0, 1.0, 2.0, -3.5, math.nan, 7.25]), min_size=1, max_size=40),
       st.lists(st.booleans(), min_size=40, max_size=40), st.integers(1, 45), st.booleans())
def test_rank_top_is_the_head_of_the_full_ranking(values, ruined, top, lower):
    """argpartition's shortcut gives exactly the first `top` rows of the full sort, ties by
    row number included."""
    ruined = ruined[:len(values)]
    full = stats.rank(values, ruined, lower)
    assert stats.rank(values, ruined, lower, top).tolist() == full[:top].tolist()
    assert sorted(full.tolist()) == list(range(len(values)))
