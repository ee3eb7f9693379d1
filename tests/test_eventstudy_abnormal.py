"""Abnormal returns against a benchmark: a hand-made market model recovered exactly, CARs and
t-statistics by hand, the split by expected direction, and the sample-size warning below 10."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from sitcli.eventstudy import MIN_EVENTS, Window, abnormal_study, cumulative, market_model, t_stat

N = 400
EVENT_BARS = (100, 200, 300)
ABNORMAL = (0.05, 0.02, -0.01)        # added to the symbol's return on each event bar
DIRECTION = (1, 1, -1)


def hand_market():
    rng = np.random.default_rng(0)
    m = rng.normal(0, 0.01, N)
    m[0] = 0.0
    r = 0.001 + 1.5 * m                # the market model, exactly
    for j, a in zip(EVENT_BARS, ABNORMAL, strict=True):
        r[j] += a
    bench = 100 * np.cumprod(1 + m)
    close = 50 * np.cumprod(1 + r)
    index = pd.date_range("2024-01-01", periods=N, freq="D", tz="UTC")
    events = pd.DataFrame({
        # published in the evening before the event bar's midnight open
        "time": [index[j] - pd.Timedelta(hours=4) for j in EVENT_BARS],
        "title": [f"e{j}" for j in EVENT_BARS], "direction": list(DIRECTION)})
    return close, bench, index, events


def test_market_model_is_recovered_and_abnormal_returns_are_the_planted_ones():
    close, bench, index, events = hand_market()
    out = abnormal_study(close, bench, index, events, Window(-2, 3), estimation=40)
    assert out["events_used"] == 3
    for e in out["events"]:
        assert e["alpha"] == pytest.approx(0.001, abs=1e-12) and e["beta"] == pytest.approx(1.5)
    # offsets -2..3: CAR is 0 before the event bar, then the planted return from offset 0 on
    for e, a in zip(out["events"], ABNORMAL, strict=True):
        assert np.allclose(e["car_pct"], [0, 0, 100 * a, 100 * a, 100 * a, 100 * a], atol=1e-9)
    at0 = out["offsets"][2]
    # mean (5 + 2 - 1)/3 = 2%, sd of (5, 2, -1)% = 3%, t = 2 / (3 / sqrt 3) = 1.1547
    assert at0["mean_car_pct"] == pytest.approx(2.0)
    assert at0["t_stat"] == pytest.approx(2 / (3 / math.sqrt(3)))
    assert at0["share_positive"] == pytest.approx(2 / 3)
    split = out["at_last_offset"]
    assert split["expected up"]["events"] == 2 and split["expected up"]["mean_car_pct"] == pytest.approx(3.5)
    assert split["expected down"]["mean_car_pct"] == pytest.approx(-1.0)
    # signed by direction: 5, 2 and +1 (the down event fell as expected): mean 8/3 %
    assert split["signed by direction"]["mean_car_pct"] == pytest.approx(8 / 3)
    assert split["direction unknown"]["events"] == 0


def test_sample_size_warning_below_ten_events():
    close, bench, index, events = hand_market()
    out = abnormal_study(close, bench, index, events, Window(-2, 3), estimation=40)
    assert all(row["sample_warning"] for row in out["offsets"])          # 3 events
    assert MIN_EVENTS == 10
    # twelve events, far enough apart that no estimation window holds another event bar
    idx = pd.date_range("2020-01-01", periods=12 * 60 + 60, freq="D", tz="UTC")
    m = np.random.default_rng(1).normal(0, 0.01, len(idx))
    r = 0.5 * m
    bars = list(range(60, len(idx) - 10, 60))[:12]
    many = pd.DataFrame({"time": [idx[j] for j in bars], "title": "x", "direction": 1})
    out = abnormal_study(100 * np.cumprod(1 + r), 100 * np.cumprod(1 + m), idx, many,
                         Window(-1, 2), estimation=40)
    assert out["events_used"] == 12 and not out["offsets"][-1]["sample_warning"]
    assert out["at_last_offset"]["expected down"]["sample_warning"]     # none there


def test_estimation_window_before_the_data_is_skipped_and_counted():
    close, bench, index, events = hand_market()
    out = abnormal_study(close, bench, index, events, Window(-2, 3), estimation=150)
    assert out["events_used"] == 2 and out["skipped"]["estimation_outside_data"] == 1


def test_cumulative_by_hand():
    offsets = np.arange(-3, 3)
    a, b, c, d, e, f = 0.1, 0.2, 0.3, 0.4, 0.5, 0.6
    got = cumulative(np.array([a, b, c, d, e, f]), offsets)
    assert np.allclose(got, [-(b + c), -c, 0.0, d, d + e, d + e + f])


def test_t_stat_and_market_model_edges():
    assert t_stat(np.array([1.0])) is None and t_stat(np.array([2.0, 2.0])) is None
    assert t_stat(np.array([1.0, 3.0])) == pytest.approx(2 / (math.sqrt(2) / math.sqrt(2)))
    alpha, beta, obs = market_model(np.array([0.1, np.nan, 0.3]), np.array([0.0, 1.0, 0.1]))
    assert obs == 2 and beta == pytest.approx(2.0) and alpha == pytest.approx(0.1)


def test_events_study_benchmark_cli(cli):
    proc = cli("events", "study", "--demo", "--symbols", "NVDA,RENDER/USDT", "--benchmark", "^NDX",
               "--window=-2,3", "--format", "json", check_code=0)
    doc = json.loads(proc.stdout)
    nvda, render = doc["symbols"]["NVDA"], doc["symbols"]["RENDER/USDT"]
    assert nvda["abnormal"]["events_used"] >= MIN_EVENTS and not nvda["sample_warning"]
    assert render["sample_warning"] and render["abnormal"]["offsets"][0]["sample_warning"]
    assert "market model" in doc["assumptions"]["abnormal"]
    table = cli("events", "study", "--demo", "--symbols", "RENDER/USDT", "--benchmark", "^NDX",
                "--window=-2,3", check_code=0).stdout
    assert "abnormal return vs ^NDX" in table and "fewer than 10" in table
    bad = cli("events", "study", "--demo", "--benchmark", "^NDX", "--estimation", "3")
    assert bad.returncode == 2 and "--estimation 3" in bad.stderr
