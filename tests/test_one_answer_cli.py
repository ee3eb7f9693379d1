"""Regression tests, through the installed `sitcli`, for the cases where two commands (or one
symbol in two runs) gave two answers. Each test names its case in "One answer everywhere"."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import assert_one_line_error, shared_store

from sitcli.data.store import Store


def payload(proc) -> dict:
    return json.loads(proc.stdout)


def write_bars(data: Path, symbol: str, rows, start="2024-01-02") -> pd.DatetimeIndex:
    index = pd.bdate_range(start, periods=len(rows), tz="UTC")
    bars = pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=index, dtype=float)
    bars["volume"] = 1.0
    bars.index.name = "time"
    Store(data).write(bars, source="csv", symbol=symbol, timeframe="1d")
    return index


@pytest.fixture(scope="module")
def real_data(tmp_path_factory) -> Path:
    # the pair: AMD's file ends 2026-01-20, ^NDX's five weeks later
    root = tmp_path_factory.mktemp("real")
    shared_store(root, {"AMD": "equities/daily/AMD_2021-2026_yahoo_ohlcv.csv",
                        "^NDX": "equities/daily/NDX.csv"})
    return root


def test_case1_amd_beside_ndx_equals_amd_alone(cli, real_data, tmp_path):
    args = ("backtest", "buy_and_hold", "--start", "2025-06-01", "--leverage", "1", "--venue",
            "cfd-offshore", "--format", "json")
    both = payload(cli(*args, "--symbols", "AMD,^NDX", "--out", tmp_path / "both",
                       data_dir=real_data, check_code=0))
    alone = payload(cli(*args, "--symbols", "AMD", data_dir=real_data, check_code=0))
    assert both["stats"]["AMD"] == alone["stats"]["AMD"]
    trades = pd.read_csv(tmp_path / "both" / "trades.csv", parse_dates=["exit_time"])
    amd_last = pd.Timestamp(both["assumptions"]["data"][0]["last"])
    assert trades.loc[trades["symbol"] == "AMD", "exit_time"].max() == amd_last
    equity = pd.read_csv(tmp_path / "both" / "equity.csv", index_col="time", parse_dates=True)
    after = equity.loc[equity.index > amd_last, "AMD"]
    assert len(after) > 0 and after.isna().all()     # not drawn past AMD's own data


def test_case3_perp_funding_on_nvda_counts_every_stamp(cli, tmp_path):
    data = tmp_path / "d"
    write_bars(data, "NVDA", [(100, 100, 100, 100)] * 6, start="2025-01-06")   # Mon..Mon
    out = payload(cli("backtest", "buy_and_hold", "--symbols", "NVDA", "--venue",
                      "perp-isolated", "--leverage", "1", "--fill", "close", "--set", "fee=0",
                      "--set", "half_spread=0", "--set", "slippage=0", "--format", "json",
                      data_dir=data, check_code=0))
    # held Mon 21:00 -> Mon 21:00 UTC: 7 days x 3 stamps x qty 100 x 100 x 0.0001
    assert out["stats"]["NVDA"]["funding"] == pytest.approx(21.0)


def test_case4_fees_forgiven_by_protection_are_not_reported_as_paid(cli, tmp_path):
    data = tmp_path / "d"
    write_bars(data, "NVDA", [(100, 100, 100, 100), (100, 100, 100, 100), (90, 90, 90, 90),
                              (90, 90, 90, 90)])
    out = payload(cli("backtest", "buy_and_hold", "--symbols", "NVDA", "--venue",
                      "cfd-offshore", "--leverage", "50", "--fill", "close", "--set", "fee=0.001",
                      "--set", "liquidation_fee=0.01", "--set", "half_spread=0", "--set",
                      "slippage=0", "--set", "financing_markup=0", "--set",
                      "financing_benchmark=0", "--format", "json", data_dir=data, check_code=0))
    s = out["stats"]["NVDA"]
    # margin = 10000 / (1 + 50 x 0.001) = 9523.81, qty = 4761.90, entry fee 476.19.
    # Bar 2 opens at 90: closed out there, 47,619.05 of price loss; the exit fee (428.57) and
    # close-out fee (4,285.71) would leave -42,809.52, all forgiven: the fees first, the
    # remaining 38,095.24 of price loss as protection
    margin = 10_000 / 1.05
    qty = margin * 50 / 100
    assert s["fees"] == pytest.approx(qty * 100 * 0.001)
    assert s["liquidation_fees"] == pytest.approx(0.0)
    assert s["protection"] == pytest.approx(qty * 10 - margin)
    assert s["final_equity"] == pytest.approx(0.0)
    # the accounting identity: 10,000 + net PnL = final equity
    assert 10_000 + (-qty * 10 - s["fees"] + s["protection"]) == pytest.approx(0.0, abs=1e-6)


def test_case5_scenario_flags_leverage_above_the_bracket_and_loses_the_margin(cli):
    out = payload(cli("scenario", "--demo", "--symbols", "RENDER/USDT", "--leverage", "20,50,100",
                      "--horizon", "1", "--format", "json", check_code=0))
    rows = out["symbols"]["RENDER/USDT"]["rows"]
    assert [r["above_venue_cap"] for r in rows] == [False, False, True]
    assert rows[2]["liquidation_price_move_pct"] == pytest.approx(0.0)
    assert rows[2]["p_liquidation_pct"] == 100.0
    for r in rows:
        # a perpetual liquidation closes at the bankruptcy price: the margin and the 0.05%
        # entry fee are lost, whatever the leverage; the loss never shrinks as leverage rises
        if r["p_liquidation_pct"] >= 1.0:
            assert r["p99_loss_on_margin_pct"] == pytest.approx(-100 * (1 + r["leverage"] * 0.0005))
    table = cli("scenario", "--demo", "--symbols", "RENDER/USDT", "--leverage", "100",
                "--horizon", "1", check_code=0).stdout
    assert "above cap: leverage 100 is above the 50x" in table


def test_case6_positions_cut_to_a_bracket_say_so(cli, tmp_path):
    out = payload(cli("backtest", "--demo", "--symbols", "RENDER/USDT", "--leverage", "50",
                      "--out", tmp_path / "o", "--format", "json", check_code=0))
    assert "entries cut to the brackets' limit" in out["assumptions"]["position_size"]
    assert out["stats"]["RENDER/USDT"]["effective_leverage"] < 50
    assert out["stats"]["RENDER/USDT"]["cut_trades"] > 0
    trades = list(csv.DictReader(io.StringIO((tmp_path / "o" / "trades.csv").read_text())))
    cut = [t for t in trades if float(t["requested_qty"]) > float(t["qty"])]
    assert cut and all(float(t["effective_leverage"]) < 50 for t in cut)
    table = cli("backtest", "--demo", "--symbols", "RENDER/USDT", "--grid", "leverage=20,50",
                check_code=0).stdout
    assert "Effective" in table and "(mean)" in table


def test_case10_the_calculator_refuses_cross_margin(cli):
    proc = cli("liquidation", "--venue", "perp-isolated", "--leverage", "20", "--entry", "100",
               "--set", "margin_mode=cross")
    assert_one_line_error(proc, 2, "cross", "other positions")


def test_case11_sit_shock_on_real_prices_is_labelled_and_needs_sit_over_the_span(cli, tmp_path):
    data = tmp_path / "d"
    rows = [(100 + i % 7, 103 + i % 7, 98 + i % 7, 101 + i % 7) for i in range(300)]
    write_bars(data, "NVDA", rows, start="2025-01-02")
    cli("sit", "build", "--start", "2025-06-01", "--end", "2026-06-30", data_dir=data,
        check_code=0)
    out = cli("backtest", "sit_shock", "--symbols", "NVDA", data_dir=data, check_code=0).stdout
    assert "SYNTHETIC DATA: SIT (sit, read by sit_shock) simulated" in out
    assert "covers" in out and "no signal before" in out and "notes" in out
    proc = cli("backtest", "sit_shock", "--symbols", "NVDA", "--end", "2025-05-01",
               data_dir=data)
    assert_one_line_error(proc, 3, "reads SIT", "sitcli sit build")


def test_case11_bootstrap_says_its_paths_and_seed(cli):
    out = cli("scenario", "--demo", "--symbols", "NVDA", "--method", "bootstrap", "--paths",
              "500", "--seed", "9", "--leverage", "5", "--horizon", "1", check_code=0).stdout
    assert "starts: 500 simulated paths, seed 9" in out and "every bar" not in out


def test_orders_that_never_fill_say_why(cli):
    """Issue 17 case 8: 0 trades and 0.00% with exit 0 used to be all a user saw."""
    out = payload(cli("backtest", "--demo", "--symbols", "RENDER/USDT", "--leverage", "100",
                      "--allow-above-cap", "--format", "json", check_code=0))
    assert out["stats"]["RENDER/USDT"]["trades"] == 0
    [note] = [n for n in out["assumptions"]["notes"] if "none filled" in n]
    assert "entry orders, none filled" in note and "liquidates a 100x position on entry" in note
    # at 50x the brackets cut the position to the smallest bracket instead, and it trades
    out = payload(cli("backtest", "--demo", "--symbols", "RENDER/USDT", "--leverage", "50",
                      "--allow-above-cap", "--format", "json", check_code=0))
    assert out["stats"]["RENDER/USDT"]["trades"] > 0


def test_scenario_at_events_warns_below_ten_catalysts(cli):
    """Issue 15: a sample-size warning wherever fewer than 10 starts stand behind a figure."""
    few = cli("scenario", "--demo", "--symbols", "RENDER/USDT", "--at-events", "--leverage", "5",
              "--horizon", "1", check_code=0).stdout
    assert "warning: only 9 catalyst starts: fewer than 10" in few
    many = payload(cli("scenario", "--demo", "--symbols", "NVDA", "--at-events", "--leverage",
                       "5", "--horizon", "1", "--format", "json", check_code=0))
    assert many["symbols"]["NVDA"]["sample_warning"] is None
