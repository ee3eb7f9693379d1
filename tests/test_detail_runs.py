"""`--detail` end to end: aligning stored finer bars to each symbol's bars, `data resample`,
`backtest --detail/--compare-detail`, `sweep --detail`, and the real intraday files."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_detail_kernel import check_liquidations_on_fine_bars

from sitcli import instruments as inst_mod
from sitcli.backtest import RunConfig
from sitcli.bars import bar_times, detail_layout, resample_sessions, session_spans
from sitcli.data.store import Store
from sitcli.engine.records import LIQUIDATION, TAKE

# one worker compiles the `--detail` kernels for both modules (`make test`: --dist loadgroup)
pytestmark = pytest.mark.xdist_group("detail")

INTRADAY = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "intraday"
EQUITIES = INTRADAY.parent / "equities" / "daily"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "daily_swing.py"


def utc(*stamps):
    return pd.DatetimeIndex(pd.to_datetime(list(stamps)), tz="UTC")


def test_session_spans_and_layout_by_hand():
    # two daily bars, 14:30-21:00; finer bars at 13:30 (pre-market), 14:30, 20:30, 21:00
    # (after hours), then the next day 14:30
    fine = utc("2024-01-02 13:30", "2024-01-02 14:30", "2024-01-02 20:30", "2024-01-02 21:00",
               "2024-01-03 14:30")
    opens = utc("2024-01-02 14:30", "2024-01-03 14:30")
    closes = utc("2024-01-02 21:00", "2024-01-03 21:00")
    first, end = session_spans(fine, opens, closes)
    assert first.tolist() == [1, 4] and end.tolist() == [3, 5]
    valid = np.array([False, True, True, False, True])     # out-of-session rows hold no price
    assert detail_layout(first, end, valid).tolist() == [1, 4, 5]
    # the first day without prices: its span is empty and starts where the next day's does
    valid = np.array([False, False, False, False, True])
    assert detail_layout(first, end, valid).tolist() == [4, 4, 5]


def hourly(index, opens):
    """Hourly bars at `index` opening at `opens`, each ranging 1 around its open."""
    o = np.asarray(opens, float)
    return pd.DataFrame({"open": o, "high": o + 1, "low": o - 1, "close": o + 0.5,
                         "volume": 1.0}, index=index)


def test_resample_keeps_only_the_regular_session_of_a_stock():
    # NVDA on 2024-01-02 (XNYS 14:30-21:00 UTC): a pre-market bar at 12:00 and an after-hours
    # bar at 22:00 with extreme prices are not part of the day
    index = utc("2024-01-02 12:00", "2024-01-02 14:30", "2024-01-02 15:30", "2024-01-02 20:30",
                "2024-01-02 22:00")
    fine = hourly(index, [50, 100, 102, 101, 150])
    day = resample_sessions(fine, inst_mod.instrument("NVDA"), "1d", "1h")
    assert day.index.tolist() == utc("2024-01-02").tolist()
    assert day.iloc[0].to_dict() == {"open": 100, "high": 103, "low": 99, "close": 101.5,
                                     "volume": 3.0}
    # a 24/7 symbol's day is the UTC day, every hour in it
    day = resample_sessions(fine, inst_mod.instrument("BTC/USDT"), "1d", "1h")
    assert day.iloc[0][["open", "high", "low", "close"]].tolist() == [50, 151, 49, 150.5]


def test_resample_refuses_a_coarser_source():
    from sitcli.errors import BadInput

    with pytest.raises(BadInput, match="--timeframe 1h: must be longer"):
        resample_sessions(hourly(utc("2024-01-02"), [1.0]), inst_mod.instrument("NVDA"),
                          "1h", "1d")


# -- a hand-made 24/7 symbol: four days, day 1's hours reach the take-profit before the low

def day_path_store(root: Path, up_first: bool) -> Store:
    """ZZZ/USDT hourly: day 0 flat at 100; day 1 up to 106 then down to 85 (or the reverse);
    days 2-3 flat at 95."""
    prices = [100.0] * 24
    path = [100, 103, 106, 104, 100, 95, 90, 85, 88, 92, 95] if up_first else \
        [100, 97, 93, 89, 85, 90, 95, 100, 106, 100, 95]
    day1 = list(np.interp(np.linspace(0, len(path) - 1, 25), range(len(path)), path))
    rows = []
    for h in range(24):
        a, b = day1[h], day1[h + 1]
        rows.append((a, max(a, b), min(a, b), b))
    index = pd.date_range("2024-03-01", periods=96, freq="1h", tz="UTC")
    o = prices + [r[0] for r in rows] + [95.0] * 48
    h = prices + [r[1] for r in rows] + [95.0] * 48
    lo = prices + [r[2] for r in rows] + [95.0] * 48
    c = prices + [r[3] for r in rows] + [95.0] * 48
    fine = pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": 1.0},
                        index=index)
    store = Store(root)
    store.write(fine, source="csv", symbol="ZZZ/USDT", timeframe="1h")
    daily = resample_sessions(fine, inst_mod.instrument("ZZZ/USDT"), "1d", "1h")
    store.write(daily, source="csv", symbol="ZZZ/USDT", timeframe="1d")
    return store


def config(**kw):
    base = dict(symbols=["ZZZ/USDT"], strategy="buy_and_hold", params={"take": "0.05"},
                leverage=10.0, detail="1h")
    return RunConfig(**{**base, **kw})


def test_detail_turns_the_daily_liquidation_into_the_take_profit(tmp_path):
    from sitcli.detail import comparison, run_detailed
    from sitcli.events import load_events

    store = day_path_store(tmp_path, up_first=True)
    detailed, plain, info = run_detailed(config(), store, load_events(None))
    assert [t["exit_reason"] for t in plain.trades] == [LIQUIDATION]
    assert [t["exit_reason"] for t in detailed.trades] == [TAKE]
    assert detailed.trades[0]["exit_bar"] == plain.trades[0]["exit_bar"] == 1
    rows, summary = comparison(detailed, plain, info)
    assert summary["trades_changed"] == 1
    assert (summary["liquidations"], summary["liquidations_detail"]) == (1, 0)
    # held: bar 1 only (filled at its open, closed inside it); it has 24 hours
    assert (summary["held_bars_covered"], summary["held_bars"]) == (1, 1)
    assert rows[0]["total_return_pct"] < -90 and rows[0]["total_return_pct_detail"] > 40
    # the low first: detail agrees with the daily rule
    store = day_path_store(tmp_path / "down", up_first=False)
    detailed, plain, info = run_detailed(config(), store, load_events(None))
    assert [t["exit_reason"] for t in detailed.trades] == [LIQUIDATION]
    assert comparison(detailed, plain, info)[1]["trades_changed"] == 0


def test_sweep_with_detail_equals_backtest_with_detail(tmp_path):
    """Slow (20-35 s) when first in a run on an empty numba cache: it compiles the
    sweep kernel's `--detail` version, which `make warm` leaves out."""
    from test_sweep import assert_rows_match

    from sitcli.backtest import run_backtest
    from sitcli.events import load_events
    from sitcli.sweep import run_sweep

    store = day_path_store(tmp_path, up_first=True)
    cfg = config(grid={"leverage": ["2", "10", "20"], "take": ["0.03", "0.05", "0.2"]},
                 leverage=None)
    full = run_backtest(cfg, store, load_events(None))
    swept = run_sweep(cfg, store, load_events(None), workers=1)
    assert_rows_match(full.run_stats(), swept.run_rows())
    plain = run_backtest(config(grid=cfg.grid, leverage=None, detail=None), store,
                         load_events(None))
    assert [r["liquidations"] for r in plain.run_stats()] != \
        [r["liquidations"] for r in full.run_stats()]


def test_cli_resample_then_backtest_compare_detail(cli, cli_process, tmp_path):
    store = day_path_store(tmp_path / "made", up_first=True)
    csv = tmp_path / "zzz_1h.csv"
    store.read("ZZZ/USDT", "1h").to_csv(csv, index_label="date")
    cli("data", "import", csv, "--symbol", "ZZZ/USDT", "--timeframe", "1h", check_code=0)
    proc = cli_process("data", "resample", "--symbol", "ZZZ/USDT", "--from", "1h", "--format",
                       "json", check_code=0)
    made = json.loads(proc.stdout)
    assert (made["fine_bars"], made["bars"], made["timeframe"]) == (96, 4, "1d")
    proc = cli("backtest", "buy_and_hold", "--symbols", "ZZZ/USDT", "--leverage", "10",
               "--param", "take=0.05", "--detail", "1h", "--compare-detail", "--format", "json",
               check_code=0)
    detail = json.loads(proc.stdout)["detail"]
    assert (detail["trades_changed"], detail["liquidations"], detail["liquidations_detail"]) \
        == (1, 1, 0)
    [row] = detail["runs"]
    assert row["symbol"] == "ZZZ/USDT" and row["leverage"] == 10


def invoke(*args):
    """The app in-process (CliRunner): output, and the error a command raised."""
    from typer.testing import CliRunner

    from sitcli.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})
    return result.stdout, result.exception


def test_cli_compare_detail_table_and_bad_input(tmp_path):
    from sitcli.errors import BadInput, DataMissing

    day_path_store(tmp_path, up_first=True)
    run = ("backtest", "buy_and_hold", "--symbols", "ZZZ/USDT", "--data-dir", tmp_path)
    out, error = invoke(*run, "--leverage", "10", "--param", "take=0.05", "--detail", "1h",
                        "--compare-detail")
    assert error is None, error
    assert "detail 1h covered 1 of 1 held bars; 1 trades changed" in out
    assert "Plain rule vs --detail 1h" in out and "1 -> 0" in out
    _, error = invoke(*run, "--compare-detail")
    assert isinstance(error, BadInput) and "--compare-detail needs --detail" in str(error)
    _, error = invoke(*run, "--detail", "1d")
    assert isinstance(error, BadInput) and "finer than --timeframe 1d" in str(error)
    _, error = invoke(*run, "--detail", "5m")
    assert isinstance(error, DataMissing) and "--detail 5m" in str(error)
    _, error = invoke("sweep", *run[1:], "--grid", "leverage=2,5", "--detail", "1d")
    assert isinstance(error, BadInput) and "--detail 1d" in str(error)


# -- the real intraday files (skipped when ../shared/data is absent)

def real_store(root: Path, name: str, symbol: str, fine_tf: str) -> Store:
    from sitcli.data.sources.csv import read_csv_ohlcv

    path = INTRADAY / name
    if not path.is_file():
        pytest.skip(f"real intraday data not found: {path}")
    store = Store(root)
    fine = read_csv_ohlcv(path)
    store.write(fine, source="csv", symbol=symbol, timeframe=fine_tf)
    daily = resample_sessions(store.read(symbol, fine_tf), inst_mod.instrument(symbol), "1d",
                              fine_tf)
    store.write(daily, source="csv", symbol=symbol, timeframe="1d")
    return store


@pytest.mark.parametrize("name,symbol,fine_tf,venue,leverage", [
    ("ftx_btc-perp_20211231-20220201_1m.csv", "BTC/USDT", "1m", None, 50.0),
    ("NVDA_1h_2023-01-03_2024-09-26_yfinance.csv", "NVDA", "1h", "perp-isolated", 50.0),
])
def test_real_data_detailed_liquidations_lie_on_a_fine_bar_that_reached_them(
        tmp_path, name, symbol, fine_tf, venue, leverage):
    from sitcli.backtest import prepare_backtest
    from sitcli.detail import comparison, run_detailed
    from sitcli.engine.kernel import simulate
    from sitcli.events import load_events

    store = real_store(tmp_path, name, symbol, fine_tf)
    cfg = RunConfig(symbols=[symbol], strategy=str(EXAMPLE), venue=venue, leverage=leverage,
                    params={"hold": "1", "take": "0.02"}, detail=fine_tf)
    prep = prepare_backtest(cfg, store, load_events(None))
    _, trades, liqs = simulate(*prep.kernel_args)
    assert len(liqs) > 0
    fine = prep.kernel_args[18:22]
    o, c = prep.kernel_args[0], prep.kernel_args[3]
    on_fine = [rec for rec in liqs if not (rec["gap"] and rec["fill_price"] == o[rec["bar"], 0])
               and not rec["fill_price"] == c[rec["bar"], 0]]
    assert on_fine   # liquidations inside the day, not at its open or close
    check_liquidations_on_fine_bars(np.array(on_fine), trades, prep.kernel_args[8], fine,
                                    prep.kernel_args[22])
    detailed, plain, info = run_detailed(cfg, store, load_events(None))
    rows, summary = comparison(detailed, plain, info)
    assert summary["held_bars"] > 0 and summary["held_bars_covered"] == summary["held_bars"]
    assert summary["trades_changed"] == sum(r["trades_changed"] for r in rows)
    assert math.isfinite(rows[0]["total_return_pct_detail"])


def test_real_nvda_hourly_resamples_to_the_published_daily_bars(tmp_path):
    store = real_store(tmp_path, "NVDA_1h_2023-01-03_2024-09-26_yfinance.csv", "NVDA", "1h")
    daily = store.read("NVDA", "1d")
    yahoo = pd.read_csv(EQUITIES / "NVDA.csv", index_col="Date", parse_dates=True)
    yahoo.index = yahoo.index.tz_localize("UTC")
    both = daily.join(yahoo, how="inner")
    assert len(both) == len(daily) > 400
    # PROVENANCE: within 7.9 bp mean (Yahoo's daily file is dividend-adjusted); a session
    # cut at the wrong hours would be far off on the volatile days
    gap = (both["close"] / both["Close"] - 1).abs()
    assert gap.mean() < 10e-4 and gap.max() < 60e-4
    # the half-day 2023-11-24 closes at 13:00 New York: its day has three hours
    opens, closes = bar_times(daily.index, inst_mod.instrument("NVDA"), "1d")
    short = (closes - opens)[daily.index == pd.Timestamp("2023-11-24", tz="UTC")]
    assert short[0] == pd.Timedelta("3.5h")


def test_real_amd_five_minutes_with_extended_hours_resample_to_the_regular_session(tmp_path):
    path = INTRADAY / "AMD_5min_2025-05-12_2026-03-12_ibkr.csv"
    if not path.is_file():
        pytest.skip(f"real intraday data not found: {path}")
    fine = pd.read_csv(path, index_col="datetime", parse_dates=True)
    # the file's stamps are naive New York time (PROVENANCE); the store keeps UTC
    fine.index = fine.index.tz_localize("America/New_York").tz_convert("UTC")
    daily = resample_sessions(fine, inst_mod.instrument("AMD"), "1d", "5m")
    yahoo = pd.read_csv(EQUITIES / "AMD.csv", index_col="Date", parse_dates=True)
    yahoo.index = yahoo.index.tz_localize("UTC")
    both = daily.join(yahoo, how="inner").iloc[:-1]   # the last day is partial
    assert len(both) > 150
    # PROVENANCE: regular-session closes within 1.8 bp mean, 13.5 bp max; pre-market and
    # after-hours bars would move the open and close far more on 2025-10-06
    gap = (both["close"] / both["Close"] - 1).abs()
    assert gap.mean() < 3e-4 and gap.max() < 15e-4
    # the walk leaves the pre- and after-hours bars out, and says how many
    from sitcli.backtest import load_legs
    from sitcli.detail import load_detail

    store = Store(tmp_path)
    store.write(fine, source="csv", symbol="AMD", timeframe="5m")
    store.write(daily, source="csv", symbol="AMD", timeframe="1d")
    cfg = RunConfig(symbols=["AMD"], detail="5m")
    legs = load_legs(cfg, store)
    _, info = load_detail(cfg, legs, legs[0].bars.index, store)
    in_session = info.fine_rows
    assert in_session + info.outside["AMD"] == len(fine)
    # PROVENANCE: 115 regular-only days of 78 bars, others with pre-market from 08:00 and
    # after-hours to 16:55; the regular session holds most bars but not all
    assert 0 < info.outside["AMD"] < in_session
    deal = daily.loc["2025-10-06"]
    assert deal["open"] == pytest.approx(226.46) and deal["close"] == pytest.approx(203.64)


def test_held_bars_and_changed_trades_by_hand():
    from sitcli.detail import changed_trades, held_bars
    from sitcli.engine.records import STOP, trade_dt

    t = np.zeros(3, trade_dt)
    t["col"], t["entry_bar"], t["exit_bar"] = [0, 0, 1], [1, 3, 2], [3, 4, 2]
    # bars 1-3 and 3-4 of column 0 (bar 3 once), bar 2 of column 1
    assert held_bars(t, None, 10, False).tolist() == [[0, 1], [0, 2], [0, 3], [0, 4], [1, 2]]
    # filled at a close: the entry bar's intrabar steps come before the position
    assert held_bars(t, None, 10, True).tolist() == [[0, 2], [0, 3], [0, 4]]
    d = t.copy()
    d[1]["exit_reason"] = STOP          # column 0: one trade changed its reason
    d = d[[0, 1]]                       # column 1: its trade is gone
    assert changed_trades(t, d).tolist() == [1, 1]
    assert changed_trades(t, t).tolist() == [0, 0]
