"""Issue 17, case 12: the CSV and events-file edge cases exit 2 with the file, line and rule,
and the store is left as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, run_sitcli
from robustness_helpers import run_main

from sitcli.data.store import Store

SHARED_NVDA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "equities" / \
    "daily" / "NVDA.csv"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_duplicate_close_column_is_refused_and_the_history_kept(tmp_path):
    good = write(tmp_path / "good.csv", "Date,Open,High,Low,Close,Volume\n"
                 + "".join(f"2024-01-{d:02d},10,11,9,10.5,100\n" for d in range(2, 30)))
    data = tmp_path / "data"
    assert run_main("data", "import", good, "--symbol", "NVDA", data_dir=data).code == 0
    before = Store(data).path("csv", "NVDA", "1d").read_bytes()
    dup = write(tmp_path / "dup.csv", "Date,Open,High,Low,Close,close,Volume\n"
                "2024-02-01,10,11,9,10.5,99,100\n2024-02-02,10,11,9,10.5,99,100\n")
    proc = run_sitcli("data", "import", dup, "--symbol", "NVDA", data_dir=data)
    assert_one_line_error(proc, 2, f"{dup} line 1: columns Close and close both give close",
                          "one column per field")
    assert Store(data).path("csv", "NVDA", "1d").read_bytes() == before


def test_mixed_epoch_seconds_and_milliseconds_are_refused(tmp_path):
    # 2024-01-02 in seconds, then 2024-01-03 in milliseconds
    mixed = write(tmp_path / "mixed.csv", "time,open,high,low,close\n"
                  "1704153600,10,11,9,10\n1704240000000,10,11,9,10\n")
    got = run_main("data", "import", mixed, "--symbol", "X", data_dir=tmp_path / "d")
    assert got.code == 2
    assert (f"{mixed} line 3: time '1704240000000' is epoch milliseconds but line 2 is epoch "
            "seconds (rule: one unit per file)") in got.stderr
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").rglob("*.parquet"))


def test_one_unit_of_epoch_is_read_by_its_magnitude(tmp_path):
    ms = write(tmp_path / "ms.csv", "time,open,high,low,close\n"
               "1704153600000,10,11,9,10\n1704240000000,10,11,9,10\n")
    got = run_main("data", "import", ms, "--symbol", "X", "-f", "json", data_dir=tmp_path / "d")
    assert got.code == 0, got.stderr
    assert '"first": "2024-01-02T00:00:00+00:00"' in got.stdout


def test_years_from_2262_on_are_refused_with_exit_2(tmp_path):
    late = write(tmp_path / "late.csv", "Date,Open,High,Low,Close\n2024-01-02,1,2,1,1.5\n"
                 "2300-01-03,1,2,1,1.5\n")
    got = run_main("data", "import", late, "--symbol", "X", data_dir=tmp_path / "d")
    assert got.code == 2
    assert (f"{late} line 3: Date '2300-01-03' is out of range (rule: times from 1900-01-01 "
            "to before 2200-01-01)") in got.stderr


def test_an_events_row_in_9999_is_bad_input(tmp_path):
    events = write(tmp_path / "events.csv",
                   "time,title,category,direction,status,asset_classes,symbols,reach,source\n"
                   "9999-01-01,Far future,launch,1,rumor,equity,NVDA,symbols,test\n")
    proc = run_sitcli("backtest", "--demo", "--symbols", "NVDA", "--events", events,
                      data_dir=tmp_path)
    assert_one_line_error(proc, 2, f"{events} line 2, column time: '9999-01-01' is out of range")


def test_the_real_nvda_history_survives_a_bad_import(tmp_path):


    if not SHARED_NVDA.is_file():
        pytest.skip(f"{SHARED_NVDA} is absent (shared data not mounted)")
    data = tmp_path / "data"
    assert run_main("data", "import", SHARED_NVDA, "--symbol", "NVDA", data_dir=data).code == 0
    assert len(Store(data).read("NVDA")) == 4023
    dup = write(tmp_path / "dup.csv", "Date,Close,High,Low,Open,Volume,Close\n"
                "2026-01-02,1,2,1,1,5,9\n2026-01-05,1,2,1,1,5,9\n")
    assert run_main("data", "import", dup, "--symbol", "NVDA", data_dir=data).code == 2
    assert len(Store(data).read("NVDA")) == 4023


def test_a_file_read_in_pieces_keeps_line_numbers_and_rules_across_pieces(tmp_path,
                                                                          monkeypatch):
    from sitcli.data.sources import csv as csv_mod
    from sitcli.data.sources.csv import read_csv_ohlcv
    from sitcli.errors import BadInput

    monkeypatch.setattr(csv_mod, "CHUNK_ROWS", 4)      # header + 3 rows, then 4 rows a piece
    days = [f"2024-01-{d:02d}" for d in range(1, 12)]
    rows = [f"{d},10,11,9,10.5,100" for d in days]
    good = write(tmp_path / "good.csv", "Date,Open,High,Low,Close,Volume\n" + "\n".join(rows)
                 + "\n")
    df = read_csv_ohlcv(good)
    assert len(df) == 11 and df.index[-1] == df.index[0] + (df.index[1] - df.index[0]) * 10
    # a bad cell on line 10 (the third piece) is reported at line 10
    bad = rows.copy()
    bad[8] = "2024-01-09,10,11,9,oops,100"
    path = write(tmp_path / "bad.csv", "Date,Open,High,Low,Close,Volume\n" + "\n".join(bad))
    with pytest.raises(BadInput, match=r"bad.csv line 10 \(2024-01-09\): Close 'oops' is not a "
                                       "number"):
        read_csv_ohlcv(path)
    # a time going back across the boundary of two pieces (lines 4 and 5)
    back = rows.copy()
    back[3] = "2023-12-31,10,11,9,10.5,100"
    path = write(tmp_path / "back.csv", "Date,Open,High,Low,Close,Volume\n" + "\n".join(back))
    with pytest.raises(BadInput, match=r"back.csv line 5 \(2023-12-31\): timestamp is earlier"):
        read_csv_ohlcv(path)
    # epoch seconds in the first piece, milliseconds in a later one
    epochs = [str(1704067200 + 86400 * i) for i in range(8)]
    epochs[6] += "000"
    path = write(tmp_path / "epoch.csv", "time,open,high,low,close\n"
                 + "".join(f"{e},10,11,9,10\n" for e in epochs))
    with pytest.raises(BadInput, match="line 8: time .* is epoch milliseconds but line 2 is "
                                       "epoch seconds"):
        read_csv_ohlcv(path)
