"""`sitcli events list|study` through the installed entry point: every output format, --events
files, filters, and bad input (exit 2, one `error:` line) or missing data (exit 3)."""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest
from cli_helpers import assert_one_line_error

from sitcli.events import COLUMNS, load_events

HEADER = ",".join(COLUMNS)
N_OFFSETS = 16   # the default window -5..10


@pytest.fixture
def my_events(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text(f"{HEADER}\n2024-06-14T22:00:00Z,My own catalyst,my-category,1,rumor,"
                    "equity;crypto,,asset_class,my notes\n", encoding="utf-8")
    return path


@pytest.fixture
def bad_events(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(f"{HEADER}\n2024-06-14,x,keynote,1,perhaps,equity,,asset_class,me\n", encoding="utf-8")
    return path


# --- events list -------------------------------------------------------------------------------

def test_list_table(cli_process):
    out = cli_process("events", "list", check_code=0)
    assert f"of {len(load_events())} events" in out.stdout
    assert "NVIDIA GTC 2024 keynote" in out.stdout and "2024-03-18 20:00" in out.stdout
    assert out.stderr == ""


def test_list_json_filters(cli):
    p = json.loads(cli("events", "list", "--since", "2025-01-01", "--category", "earnings",
                       "--format", "json", check_code=0).stdout)
    assert p["count"] == len(p["events"]) > 0 and p["calendar_rows"] >= 30
    assert p["filters"] == {"since": "2025-01-01", "category": "earnings", "asset_class": None}
    for e in p["events"]:
        assert set(e) == {*COLUMNS, "sectors"}
        assert e["category"] == "earnings" and e["time"] >= "2025-01-01"
        assert e["time"].endswith("Z") and e["direction"] in (-1, 0, 1)


def test_list_csv_round_trips_as_an_events_file(cli, tmp_path):
    out = cli("events", "list", "--format", "csv", check_code=0).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    # the built-in calendar has rows of reach sector: the optional sectors column is written
    assert list(rows[0]) == [*COLUMNS, "sectors"] and len(rows) == len(load_events())
    path = tmp_path / "copy.csv"
    path.write_text(out, encoding="utf-8")
    again = load_events([path], builtin=False)
    pd.testing.assert_frame_equal(again, load_events())


def test_list_with_events_file_and_asset_class(cli, my_events):
    p = json.loads(cli("events", "list", "--events", my_events, "--asset-class", "crypto",
                       "--category", "my-category", "-f", "json", check_code=0).stdout)
    assert [e["title"] for e in p["events"]] == ["My own catalyst"]
    assert p["files"][-1] == str(my_events)


def test_list_no_match_is_empty_not_an_error(cli):
    out = cli("events", "list", "--since", "2099-01-01", "-f", "json", check_code=0)
    assert json.loads(out.stdout)["count"] == 0 and "no events match" in out.stderr


def test_list_bad_events_file_exit_2(cli, bad_events, tmp_path):
    assert_one_line_error(cli("events", "list", "--events", bad_events), 2,
                          f"{bad_events} line 2, column status", "'perhaps'")
    assert_one_line_error(cli("events", "list", "--events", tmp_path / "absent.csv"), 2,
                          "cannot read")
    assert_one_line_error(cli("events", "list", "--category", "earning"), 2, "earnings")
    assert_one_line_error(cli("events", "list", "--since", "someday"), 2, "--since")


# --- events study ------------------------------------------------------------------------------

def test_study_demo_table(cli):
    out = cli("events", "study", "--demo", "--symbols", "NVDA,RENDER/USDT", "--window", "-5,10",
              check_code=0).stdout
    assert out.startswith("SYNTHETIC DEMO DATA")
    for text in ("Event study", "NVDA: cumulative return", "RENDER/USDT: cumulative return",
                 "Summary per symbol", "MAE median [%]", "MFE p90 [%]",
                 "liquidated before +3% at 10x", "liquidated before +3% at 50x"):
        assert text in out, text


def test_study_demo_json(cli):
    p = json.loads(cli("events", "study", "--demo", "--window=-5,10", "--format", "json",
                       check_code=0).stdout)
    a = p["assumptions"]
    assert a["window"] == [-5, 10] and a["leverages"] == [10, 20, 50] and a["gain_pct"] == 3
    assert set(p["symbols"]) == {"NVDA", "RENDER/USDT"}
    for sym, r in p["symbols"].items():
        assert r["synthetic"] is True and r["events_used"] > 5, sym
        assert [o["offset"] for o in r["offsets"]] == list(range(-5, 11))
        minus1 = r["offsets"][4]
        assert minus1["offset"] == -1 and minus1["mean_simple_pct"] == 0 == minus1["median_log_pct"]
        assert set(r["mae_pct"]) == {"mean", "median", "p10", "p90"} == set(r["mfe_pct"])
        shares = [x["liquidated_before_gain_share"] for x in r["liquidation"]]
        assert all(0 <= s <= 1 for s in shares) and shares == sorted(shares)
        assert [x["leverage"] for x in r["liquidation"]] == [10, 20, 50]
        assert len(r["events"]) == r["events_used"]
        e = r["events"][0]
        assert len(e["cum_simple_pct"]) == N_OFFSETS and e["cum_simple_pct"][4] == 0
        assert pd.Timestamp(e["bar_open"]) >= pd.Timestamp(e["time"])    # acted on at or after


def test_study_demo_csv(cli):
    out = cli("events", "study", "--demo", "-s", "NVDA,RENDER/USDT", "--category", "earnings",
              "-f", "csv", check_code=0)
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert list(rows[0]) == ["symbol", "offset", "events", "mean_simple_pct", "median_simple_pct",
                             "mean_log_pct", "median_log_pct"]
    assert len(rows) == 2 * N_OFFSETS
    assert {r["symbol"] for r in rows} == {"NVDA", "RENDER/USDT"}
    assert "synthetic" in out.stderr


def test_study_with_own_event(cli, my_events):
    """Friday 2024-06-14 22:00 UTC: NVDA acts at Monday's 13:30 UTC open, crypto at Saturday 00:00."""
    p = json.loads(cli("events", "study", "--demo", "--events", my_events, "--category",
                       "my-category", "--window=-1,2", "--leverages", "5,100", "--gain-pct", "1",
                       "-f", "json", check_code=0).stdout)
    nvda, render = p["symbols"]["NVDA"]["events"], p["symbols"]["RENDER/USDT"]["events"]
    assert [e["title"] for e in nvda] == ["My own catalyst"] == [e["title"] for e in render]
    assert pd.Timestamp(nvda[0]["bar_open"]) == pd.Timestamp("2024-06-17T13:30:00Z")
    assert pd.Timestamp(render[0]["bar_open"]) == pd.Timestamp("2024-06-15T00:00:00Z")
    assert [o["leverage"] for o in nvda[0]["outcomes"]] == [5, 100]
    assert nvda[0]["outcomes"][1]["liquidation_price"] == pytest.approx(0.99 * nvda[0]["entry"])


@pytest.mark.parametrize("window", ["5,10", "-5", "a,b", "0,0", "-3,-1"])
def test_study_bad_window_exit_2(cli, window):
    assert_one_line_error(cli("events", "study", "--demo", f"--window={window}"), 2, "--window")


def test_study_bad_input_exit_2(cli, bad_events):
    assert_one_line_error(cli("events", "study", "--demo", "--events", bad_events), 2,
                          "line 2, column status")
    assert_one_line_error(cli("events", "study"), 2, "--symbols")
    assert_one_line_error(cli("events", "study", "--demo", "--since", "2099-01-01"), 2,
                          "no events match")
    assert_one_line_error(cli("events", "study", "--demo", "-s", "NVDA", "--category",
                              "market-structure"), 2, "no events match")
    assert_one_line_error(cli("events", "study", "--demo", "-s", "NOPE/XYZ"), 2, "unknown symbol")
    assert_one_line_error(cli("events", "study", "--demo", "--leverages", "0"), 2, "--leverages")


def test_study_data_missing_exit_3(cli):
    assert_one_line_error(cli("events", "study", "--demo", "-s", "NVDA", "--window=-1,5000"), 3,
                          "inside the data")
    # stored data: a listed symbol with nothing in the (empty) data directory
    proc = cli("events", "study", "-s", "NVDA")
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
