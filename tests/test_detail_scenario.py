"""`--detail` in `scenario` and `events study`, funding stamps on finer bars, and the finer
bar's time on a liquidation record: hand-made daily bars with hand-made hourly paths."""

import json

import numpy as np
import pandas as pd
import pytest

from sitcli import instruments as inst_mod
from sitcli.bars import resample_sessions
from sitcli.data.store import Store
from sitcli.engine.paths import first_passage_nb

NO_FINE = (np.empty(0), np.empty(0), np.empty(0), np.empty(0, np.int64))


def bars(rows):
    a = np.asarray(rows, np.float64).reshape(-1, 4)
    return [np.ascontiguousarray(a[:, j]) for j in range(4)]


def layout(per_bar):
    """first_passage_nb's finer arrays from one list of (o, h, l, c) rows per bar."""
    rows = [r for bar in per_bar for r in bar]
    o, h, lo, _ = bars(rows) if rows else (np.empty(0),) * 4
    start = np.concatenate([[0], np.cumsum([len(b) for b in per_bar])]).astype(np.int64)
    return o, h, lo, start


def passage(daily, fine, leverage=20.0, ratio=0.95, bankrupt=False, nbp=False):
    """Entry at bar 0's close, one bar of horizon: (bars to liquidation, return on margin,
    gap loss) of one start at one leverage."""
    to, rom, gap = first_passage_nb(*bars(daily), np.array([0]), 1, 1, np.array([ratio]),
                                    np.array([leverage]), 0.0, 0.0, bankrupt, nbp, *fine)
    return int(to[0, 0]), float(rom[0, 0]), float(gap[0, 0])


DAY = [(100, 100, 100, 100), (99, 99, 89, 90)]


def test_first_passage_with_a_gap_at_an_hourly_open_fills_worse():
    # 20x long from 100, liquidation price 95. The day (99, 99, 89, 90): the bar rule fills
    # at 95 exactly: return on margin 20 x (95 / 100 - 1) = -100%, no gap loss.
    assert passage(DAY, NO_FINE) == (1, pytest.approx(-1.0), 0.0)
    # the hours: 99 -> 97, then the next hour opens at 92, through 95: filled at 92,
    # 20 x (92 / 100 - 1) = -160% (a CFD without protection keeps it), 60% beyond the margin
    hours = layout([[(100, 100, 100, 100)], [(99, 99, 97, 97), (92, 93, 89, 90)]])
    assert passage(DAY, hours) == (1, pytest.approx(-1.6), pytest.approx(0.6))
    # with protection the loss stops at the margin; the gap loss is still reported
    assert passage(DAY, hours, nbp=True) == (1, pytest.approx(-1.0), pytest.approx(0.6))


def test_first_passage_when_the_hours_never_reach_the_days_low():
    # a daily low printed off the finer feed (89; the hours' lowest is 96): the bar rule
    # liquidates at 95, the hours say the position lived to the close
    hours = layout([[(100, 100, 100, 100)], [(99, 99, 96, 97), (97, 97, 96, 96.5)]])
    to, rom, _ = passage([(100, 100, 100, 100), (99, 99, 89, 96.5)], hours)
    # not liquidated: return 20 x (96.5 / 100 - 1) = -70%
    assert (to, rom) == (0, pytest.approx(-0.7))
    assert passage([(100, 100, 100, 100), (99, 99, 89, 96.5)], NO_FINE)[0] == 1


def test_first_passage_with_one_finer_bar_per_bar_is_the_bar_rule_exactly():
    rng = np.random.default_rng(3)
    n = 400
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, n)))
    o = np.r_[100, c[:-1]] * np.exp(rng.normal(0, 0.01, n))
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.02, n)))
    lo = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.02, n)))
    args = (o, h, lo, c, np.arange(n - 10, dtype=np.int64), 10, 1,
            np.array([0.5, 0.9, 0.95, 0.98]), np.array([2.0, 10.0, 20.0, 50.0]), 0.0005,
            0.001, False, True)
    plain = first_passage_nb(*args, *NO_FINE)
    same = first_passage_nb(*args, o, h, lo, np.arange(n + 1, dtype=np.int64))
    assert (plain[0] > 0).sum() > 100
    for a, b in zip(plain, same, strict=True):
        assert np.array_equal(a, b)
    # a bar without finer bars (an empty span) keeps the bar rule too
    start = np.arange(n + 1, dtype=np.int64)
    start[201:] -= 1   # bar 200 has none
    keep = np.r_[0:200, 201:n]
    mixed = first_passage_nb(*args, o[keep], h[keep], lo[keep], start)
    for a, b in zip(plain, mixed, strict=True):
        assert np.array_equal(a, b)


# -- scenario --detail on a store

def hourly_store(root, rows) -> Store:
    """ZZZ/USDT hourly bars `rows` (open, high, low, close) from 2024-03-01 00:00 UTC, and the
    daily bars resampled from them."""
    index = pd.date_range("2024-03-01", periods=len(rows), freq="1h", tz="UTC")
    fine = pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=index)
    fine["volume"] = 1.0
    store = Store(root)
    store.write(fine, source="csv", symbol="ZZZ/USDT", timeframe="1h")
    daily = resample_sessions(fine, inst_mod.instrument("ZZZ/USDT"), "1d", "1h")
    store.write(daily, source="csv", symbol="ZZZ/USDT", timeframe="1d")
    return store


def gap_store(root) -> Store:
    """ZZZ/USDT hourly, four days: day 0 at 100; day 1 at 100 until 12:00, whose hour opens
    at 92 and falls to 90; days 2-3 at 90. Daily bars resampled from the hours."""
    rows = [(100, 100, 100, 100)] * 24 + [(100, 100, 99.5, 100)] * 12 + \
        [(92, 92, 90, 90)] + [(90, 90, 90, 90)] * 59
    return hourly_store(root, rows)


def test_scenario_detail_finds_the_gap_inside_the_day(tmp_path):
    from sitcli.scenario import run

    store = gap_store(tmp_path)
    plain = run(store, ["ZZZ/USDT"], [20.0], [1], "long", "perp-isolated", "historical")
    detail = run(store, ["ZZZ/USDT"], [20.0], [1], "long", "perp-isolated", "historical",
                 detail="1h")
    [p], [d] = plain["ZZZ/USDT"]["rows"], detail["ZZZ/USDT"]["rows"]
    # three starts (the closes of days 0-2, one bar each): only day 1 liquidates the long
    # from 100 (its liquidation price is above 92), on both rules
    assert p["p_liquidation_pct"] == d["p_liquidation_pct"] == pytest.approx(100 / 3)
    assert d["p_liquidation_pct_plain"] == p["p_liquidation_pct"]
    assert d["starts_changed"] == 0
    # the daily rule fills at the liquidation price: no gap; the hours fill at 92:
    # 20 x (1 - 92 / 100) - 1 = 60% of the margin beyond it
    assert p["worst_gap_loss_pct"] == 0.0
    assert d["worst_gap_loss_pct"] == pytest.approx(60.0)
    # every bar walked had hours: 3 starts x 1 bar
    assert (d["bars_walked"], d["bars_walked_with_detail"]) == (3, 3)
    assert detail["ZZZ/USDT"]["detail"] == {"timeframe": "1h", "fine_bars": 96,
                                            "bars_with_detail": 4,
                                            "fine_bars_outside_sessions": 0}


def test_cli_scenario_detail_json_table_and_bad_input(cli, tmp_path):
    gap_store(tmp_path)
    run = ("scenario", "--symbols", "ZZZ/USDT", "--leverage", "20", "--horizon", "1",
           "--venue", "perp-isolated", "--data-dir", tmp_path)
    out = json.loads(cli(*run, "--detail", "1h", "--format", "json", check_code=0).stdout)
    [row] = out["symbols"]["ZZZ/USDT"]["rows"]
    assert row["worst_gap_loss_pct"] == pytest.approx(60.0) and row["bars_walked"] == 3
    assert "1h bars walked in order" in out["detail"]
    table = cli(*run, "--detail", "1h", check_code=0).stdout
    assert "detail 1h: 4 of 4 bars have finer bars (the others keep the bar rule)" in table
    csv = cli(*run, "--detail", "1h", "--format", "csv", check_code=0).stdout
    assert csv.splitlines()[0].endswith("p_liquidation_pct_plain,starts_changed")
    proc = cli(*run, "--detail", "1h", "--method", "bootstrap", check_code=2)
    assert "--detail 1h" in proc.stderr and "--method historical" in proc.stderr
    proc = cli(*run, "--detail", "5m", check_code=3)
    assert "--detail 5m" in proc.stderr


# -- events study --detail

def study(fine):
    from sitcli.eventstudy import Window, study_bars

    daily = pd.DataFrame([(100, 100, 100, 100), (100, 104, 94, 100), (100, 100, 100, 100)],
                         columns=["open", "high", "low", "close"],
                         index=pd.date_range("2024-03-01", periods=3, freq="D", tz="UTC"))
    events = pd.DataFrame({"time": [daily.index[1]], "title": ["news"],
                           "category": ["earnings"], "status": ["confirmed"], "direction": [1]})
    return study_bars(daily, daily.index, events, Window(-1, 1), (20.0,), 0.03, fine)


def fine_lh(per_bar):
    o, h, lo, start = layout(per_bar)
    return lo, h, start


def test_event_study_detail_orders_the_gain_and_the_liquidation_inside_the_bar():
    # long at the event bar's open 100, 20x: liquidation at 95, gain 3% at 103. The event
    # bar reaches both (104, 94): the bar rule counts it liquidated
    plain = study(None)["liquidation"][0]
    assert (plain["liquidated_before_gain"], plain["gain_first"]) == (1, 0)
    # the hours reach 104 first: the gain came first
    flat = [(100, 100, 100, 100)]
    up_first = fine_lh([flat, [(100, 104, 99, 103), (103, 103, 94, 96)], flat])
    got = study(up_first)
    row = got["liquidation"][0]
    assert (row["liquidated_before_gain"], row["gain_first"]) == (0, 1)
    assert (row["liquidated_before_gain_bar_rule"], row["outcomes_changed"]) == (1, 1)
    [outcome] = got["events"][0]["outcomes"]
    assert (outcome["outcome"], outcome["outcome_bar_rule"], outcome["offset"]) == \
        ("gain", "liquidated", 0)
    # offsets 0 and 1 walked, both with hours
    assert got["detail"] == {"bars_walked": 2, "bars_walked_with_detail": 2}
    # the low first: the bar rule's answer
    down_first = fine_lh([flat, [(100, 100, 94, 96), (96, 104, 96, 100)], flat])
    row = study(down_first)["liquidation"][0]
    assert (row["liquidated_before_gain"], row["outcomes_changed"]) == (1, 0)
    # the event bar without hours keeps the rule, and the count says so
    none = fine_lh([flat, [], flat])
    got = study(none)
    assert got["liquidation"][0]["liquidated_before_gain"] == 1
    assert got["detail"] == {"bars_walked": 2, "bars_walked_with_detail": 1}


def test_cli_events_study_detail(tmp_path):
    from typer.testing import CliRunner

    from sitcli.cli import app

    store = gap_store(tmp_path)
    events = tmp_path / "events.csv"
    # news at 23:30 the day before: the long enters at day 1's open 100, liquidated at noon
    events.write_text("time,title,category,direction,status,asset_classes,symbols,reach,source\n"
                      "2024-03-01T23:30:00Z,made up,other,1,confirmed,crypto,ZZZ/USDT,symbols,"
                      "test\n")
    args = ["events", "study", "--symbols", "ZZZ/USDT", "--window=-1,1", "--events",
            str(events), "--leverages", "20", "--detail", "1h", "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(app, [*args, "--format", "json"], env={"COLUMNS": "200"})
    assert result.exception is None, result.output
    got = json.loads(result.stdout)["symbols"]["ZZZ/USDT"]
    assert got["detail"]["timeframe"] == "1h" and got["detail"]["bars_walked_with_detail"] == 2
    assert got["liquidation"][0]["liquidated_before_gain"] == 1
    assert store.read("ZZZ/USDT", "1h").shape[0] == got["detail"]["fine_bars"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert "detail 1h: ZZZ/USDT: covered 2 of 2 bars walked" in result.stdout


# -- funding stamps on stored finer bars, and the finer bar's time on a liquidation

def stamp_store(root) -> Store:
    """ZZZ/USDT hourly, three days: day 0 at 100; day 1 at 100 until 08:00, then down to
    a low of 91 at 12:00 and back to 97; day 2 at 97."""
    down = [(100, 100, 99, 99), (99, 99, 97, 97), (97, 97, 95, 95), (95, 95, 93, 93),
            (93, 93, 91, 92)]
    rows = [(100, 100, 100, 100)] * 32 + down + [(92, 97, 92, 97)] + [(97, 97, 97, 97)] * 34
    return hourly_store(root, rows)


def stamp_config(rate: str):
    from sitcli.backtest import RunConfig

    return RunConfig(symbols=["ZZZ/USDT"], strategy="buy_and_hold", leverage=10.0,
                     venue="perp-isolated", overrides={"funding_rate_8h": rate}, detail="1h")


def test_stored_hours_pay_the_8h_stamps_once_each(tmp_path):
    from sitcli.backtest import prepare_backtest
    from sitcli.events import load_events

    store = stamp_store(tmp_path)
    prep = prepare_backtest(stamp_config("0.001"), store, load_events(None))
    funding, fine_funding, start = prep.kernel_args[4], prep.kernel_args[23], \
        prep.kernel_args[22]
    # each day's 24 hours settle the day's three stamps (08:00, 16:00, 24:00), by the same
    # clock as the day itself: 3 x 0.1%
    per_day = [fine_funding[start[t, 0]:start[t + 1, 0], 0].sum() for t in range(3)]
    assert per_day == pytest.approx(funding[:, 0]) and funding[1, 0] == pytest.approx(0.003)
    # the hours that end at a stamp: 07:00-08:00 and 15:00-16:00 and 23:00-24:00
    paid = np.flatnonzero(fine_funding[start[1, 0]:start[2, 0], 0])
    assert paid.tolist() == [7, 15, 23]


def test_stored_funding_at_08_moves_the_liquidation_before_the_low(tmp_path):
    from sitcli.detail import run_detailed
    from sitcli.events import load_events

    store = stamp_store(tmp_path)
    # without funding the 10x long's liquidation price (about 90.4) stays below the low 91
    detailed, plain, _ = run_detailed(stamp_config("0"), store, load_events(None))
    assert len(detailed.liquidations) == len(plain.liquidations) == 0
    # 1% per stamp: the daily rule pays day 1's three stamps at its close (97) and the long
    # lives; with the hours, 08:00's stamp (10% of the margin) is paid at 08:00 and lifts
    # the liquidation price above 91, which 12:00's hour reaches
    detailed, plain, _ = run_detailed(stamp_config("0.01"), store, load_events(None))
    assert len(plain.liquidations) == 0
    frame = detailed.liquidations_frame()
    assert len(frame) == 1
    rec = frame.iloc[0]
    assert rec["time"] == pd.Timestamp("2024-03-02", tz="UTC")
    assert rec["fine_time"] == pd.Timestamp("2024-03-02 12:00", tz="UTC")
    assert 91 < rec["trigger_price"] < 93 and rec["extreme"] == 91
    # the day's funding is the 08:00 stamp only: the position was gone by 16:00
    [trade] = detailed.trades
    assert trade["funding"] == pytest.approx(trade["qty"] * 100 * 0.01)
    # and the plain record has no finer time
    assert "fine_time" not in plain.liquidations_frame().columns


def test_cli_liquidations_csv_and_json_carry_the_finer_time(cli, tmp_path):
    stamp_store(tmp_path / "data")
    out = tmp_path / "run"
    proc = cli("backtest", "buy_and_hold", "--symbols", "ZZZ/USDT", "--leverage", "10",
               "--venue", "perp-isolated", "--set", "funding_rate_8h=0.01", "--detail", "1h",
               "--out", out, "--format", "json", data_dir=tmp_path / "data", check_code=0)
    assert json.loads(proc.stdout)["detail"]["liquidations_detail"] == 1
    liqs = pd.read_csv(out / "liquidations.csv")
    assert liqs["fine_time"].tolist() == ["2024-03-02 12:00:00+00:00"]


def test_a_liquidation_without_a_finer_time_is_null_in_json():
    from sitcli.cli.render import _plain

    assert _plain({"fine_time": pd.NaT, "time": pd.Timestamp("2024-03-02", tz="UTC")}) == \
        {"fine_time": None, "time": "2024-03-02T00:00:00+00:00"}


def test_the_readme_real_data_detail_example_matches_a_fresh_run(cli, tmp_path):
    """The README's BTC-PERP block is not re-run by test_readme (it needs the real minutes):
    its figures are checked here when the shared data is present."""
    from pathlib import Path

    minutes = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "intraday" / \
        "ftx_btc-perp_20211231-20220201_1m.csv"
    if not minutes.is_file():
        pytest.skip(f"real intraday data not found: {minutes}")
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    cli("data", "import", minutes, "--symbol", "BTC/USDT", "--timeframe", "1m", check_code=0)
    cli("data", "resample", "--symbol", "BTC/USDT", "--from", "1m", "--timeframe", "1d",
        check_code=0)
    command = ("backtest examples/daily_swing.py --symbols BTC/USDT --start 2022-01-01 --end "
               "2022-01-31 --leverage 20 --param hold=1 --param stop=0.02 --param take=0.03 "
               "--detail 1m --compare-detail")
    assert " ".join(readme.split()).count(command.replace("--leverage 20 --param hold=1",
                                                         "\\ --leverage 20 --param hold=1")) == 1
    got = json.loads(cli(*command.split(), "--format", "json", check_code=0).stdout)["detail"]
    [row] = got["runs"]
    line = (f"detail 1m covered {got['held_bars_covered']} of {got['held_bars']} held bars; "
            f"{got['trades_changed']} trades changed (exit reason, price or bar) against the "
            f"plain rule; liquidations {got['liquidations']} -> {got['liquidations_detail']}")
    assert line in readme
    table_row = (f"│ BTC/USDT │    20.00 │ {row['trades']} -> {row['trades_detail']} │       "
                 f"{row['trades_changed']} │ {row['liquidations']} -> "
                 f"{row['liquidations_detail']}       │           "
                 f"{row['total_return_pct']:.2f} │        {row['total_return_pct_detail']:.2f} │")
    assert table_row in readme
