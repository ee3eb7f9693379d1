"""`data import --tz ZONE`: naive times read as that zone's wall clock, stored in UTC; `data
verify` on intraday stock bars (pre- and after-hours counted, local times stored as UTC
flagged); the real Interactive Brokers AMD 5-minute file (naive New York time)."""

import json
from pathlib import Path

import pandas as pd
import pytest

from sitcli.data.sources.csv import read_csv_ohlcv
from sitcli.errors import BadInput

INTRADAY = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "intraday"
AMD = INTRADAY / "AMD_5min_2025-05-12_2026-03-12_ibkr.csv"

NAIVE_NY = """datetime,open,high,low,close,volume
2025-03-07 15:55:00,10,11,9,10,1
2025-03-10 09:30:00,10,11,9,10,1
2025-11-03 09:30:00,10,11,9,10,1
2025-11-03T15:00:00Z,10,11,9,10,1
"""


def test_naive_times_in_a_zone_become_utc_across_daylight_saving(tmp_path):
    path = tmp_path / "ny.csv"
    path.write_text(NAIVE_NY)
    got = read_csv_ohlcv(path, tz="America/New_York").index
    # New York is UTC-5 in winter (EST) and UTC-4 from 2025-03-09 to 2025-11-02 (EDT):
    # 15:55 EST = 20:55 UTC; 09:30 EDT = 13:30 UTC; 09:30 EST again = 14:30 UTC; a time
    # with its offset keeps it
    assert list(got.strftime("%Y-%m-%d %H:%M")) == [
        "2025-03-07 20:55", "2025-03-10 13:30", "2025-11-03 14:30", "2025-11-03 15:00"]
    # without --tz naive times are UTC
    plain = read_csv_ohlcv(path).index
    assert plain[0] == pd.Timestamp("2025-03-07 15:55", tz="UTC")


def test_dates_alone_stay_dates_with_a_zone(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("date,open,high,low,close\n2025-03-07,1,1,1,1\n2025-03-10,1,1,1,1\n")
    got = read_csv_ohlcv(path, tz="Asia/Tokyo").index
    assert list(got) == list(pd.DatetimeIndex(["2025-03-07", "2025-03-10"], tz="UTC"))


def test_a_skipped_wall_clock_time_and_a_bad_zone_are_refused(tmp_path):
    path = tmp_path / "skip.csv"
    # 02:30 on 2025-03-09 does not exist in New York (02:00 -> 03:00)
    path.write_text("datetime,open,high,low,close\n2025-03-09 01:30:00,1,1,1,1\n"
                    "2025-03-09 02:30:00,1,1,1,1\n")
    with pytest.raises(BadInput, match=r"line 3: datetime '2025-03-09 02:30:00' is not a single "
                                       r"time in America/New_York"):
        read_csv_ohlcv(path, tz="America/New_York")
    with pytest.raises(BadInput, match=r"--tz 'Mars/Olympus': not a time zone"):
        read_csv_ohlcv(path, tz="Mars/Olympus")


def test_cli_import_tz_then_verify(cli, cli_process, tmp_path):
    path = tmp_path / "amd.csv"
    # one regular session of 5-minute bars (09:30-15:55 New York) plus two pre-market bars
    times = pd.date_range("2025-06-02 09:30", "2025-06-02 15:55", freq="5min")
    times = pd.DatetimeIndex(["2025-06-02 08:00", "2025-06-02 08:05"]).append(times)
    frame = pd.DataFrame({"open": 100.0, "high": 101.0, "low": 99.0, "close": 100.0,
                          "volume": 1.0}, index=times.rename("datetime"))
    frame.to_csv(path)
    proc = cli("data", "import", path, "--symbol", "AMD", "--timeframe", "5m", "--tz",
               "America/New_York", "--format", "json", check_code=0)
    got = json.loads(proc.stdout)
    assert got["first"].startswith("2025-06-02T12:00:00")   # 08:00 EDT
    assert "naive times read as America/New_York" in got["note"]
    proc = cli_process("data", "verify", "AMD", "--timeframe", "5m", "--format", "json",
                       check_code=0)
    [row] = json.loads(proc.stdout)["symbols"]
    assert (row["outside_sessions"], row["wrong_zone"], row["problems"]) == (2, False, 0)
    text = cli("data", "verify", "AMD", "--timeframe", "5m", check_code=0).stdout
    assert "2 pre- or after-hours bars (kept" in text
    # the same file without --tz: New York times stored as UTC, 09:30 UTC is before the
    # 13:30 UTC open: most bars lie outside the session, and verify says why
    cli("data", "import", path, "--symbol", "AMD", "--timeframe", "5m", check_code=0)
    proc = cli("data", "verify", "AMD", "--timeframe", "5m", check_code=1)
    assert "start outside the regular sessions: local times stored as UTC? re-import with " \
           "--tz" in proc.stdout
    proc = cli("data", "import", path, "--symbol", "AMD", "--tz", "EST5EDTX", check_code=2)
    assert proc.stderr.startswith("error: --tz 'EST5EDTX': not a time zone")
    assert "Traceback" not in proc.stderr


def test_real_amd_five_minutes_import_tz_verify_and_resample(cli):
    if not AMD.is_file():
        pytest.skip(f"real intraday data not found: {AMD}")
    cli("data", "import", AMD, "--symbol", "AMD", "--timeframe", "5m", "--tz",
        "America/New_York", check_code=0)
    [row] = json.loads(cli("data", "verify", "AMD", "--timeframe", "5m", "--format", "json",
                           check_code=0).stdout)["symbols"]
    # PROVENANCE: 16,550 bars, mixed session coverage (pre-market and after-hours on some
    # days); no duplicates or OHLC violations; no session missing
    assert row["bars"] == 16550 and row["problems"] == 0 and row["gaps"] == 0
    assert 0 < row["outside_sessions"] < row["bars"] / 10
    made = json.loads(cli("data", "resample", "--symbol", "AMD", "--from", "5m", "--format",
                          "json", check_code=0).stdout)
    assert made["bars"] == 210
    show = json.loads(cli("data", "show", "AMD", "--tail", "200", "--format", "json",
                          check_code=0).stdout)
    rows = show["rows"]
    deal = [r for r in rows if str(r["time"]).startswith("2025-10-06")]
    # the OpenAI deal day's regular session: open 226.46 at 09:30 New York (13:30 UTC)
    assert deal and deal[0]["open"] == pytest.approx(226.46) and \
        deal[0]["close"] == pytest.approx(203.64)
