"""CSV formats accepted by `sitcli data import`, and how bad files are reported."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sitcli.data.sources.csv import read_csv_ohlcv
from sitcli.errors import BadInput

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(),
                                  reason=f"real price files not found at {SHARED_DATA}")

YAHOO = """Date,Open,High,Low,Close,Adj Close,Volume
2024-01-02,10.0,11.0,9.0,10.5,5.25,1000
2024-01-03,10.5,12.0,10.0,11.0,5.5,2000
2024-01-04,11.0,11.5,10.5,11.2,5.6,1500
"""

MULTI_HEADER = """Price,Adj Close,Close,High,Low,Open,Volume
Ticker,^NDX,^NDX,^NDX,^NDX,^NDX,^NDX
Date,,,,,,
1985-10-01,112.14,112.14,112.16,110.565,110.62,153160000
1985-10-02,110.824,110.824,112.54,110.78,112.54,164640000
"""


def write(tmp_path: Path, text: str, name: str = "prices.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_yahoo_adj_close_is_ignored_and_noted(tmp_path):
    df = read_csv_ohlcv(write(tmp_path, YAHOO))
    assert df["close"].tolist() == [10.5, 11.0, 11.2]
    assert df.index[0] == pd.Timestamp("2024-01-02", tz="UTC")
    assert str(df.index.dtype) == "datetime64[ns, UTC]"
    note = df.attrs["note"]
    assert "Adj Close differs from Close on 3 rows and was ignored" in note
    assert "--adjust" in note


def test_yahoo_adjust_scales_ohlc(tmp_path):
    df = read_csv_ohlcv(write(tmp_path, YAHOO), adjust=True)
    assert df["close"].tolist() == [5.25, 5.5, 5.6]
    assert df["open"].iloc[0] == pytest.approx(5.0)
    assert df["high"].iloc[1] == pytest.approx(6.0)
    assert df["volume"].tolist() == [1000, 2000, 1500]
    assert "scaled by Adj Close / Close" in df.attrs["note"]


def test_adjust_without_adj_close_is_an_error(tmp_path):
    path = write(tmp_path, "date,open,high,low,close\n2024-01-01,1,2,0.5,1.5\n")
    with pytest.raises(BadInput, match="--adjust needs an Adj Close column"):
        read_csv_ohlcv(path, adjust=True)


def test_yfinance_multi_header(tmp_path):
    df = read_csv_ohlcv(write(tmp_path, MULTI_HEADER))
    assert len(df) == 2 and df["open"].iloc[0] == 110.62
    assert "ignored" not in df.attrs["note"]   # Adj Close == Close for an index


def test_multi_header_errors_count_the_header_lines(tmp_path):
    text = MULTI_HEADER.replace("1985-10-02,110.824,110.824,112.54",
                                "1985-10-02,110.824,110.824,100.0")
    with pytest.raises(BadInput, match=r"line 5 \(1985-10-02\): High 100"):
        read_csv_ohlcv(write(tmp_path, text))


@needs_shared
def test_real_ndx_multi_header_file():
    df = read_csv_ohlcv(SHARED_DATA / "equities" / "daily" / "NDX.csv")
    assert len(df) == 10181
    assert df.index[0] == pd.Timestamp("1985-10-01", tz="UTC")
    assert df.index[-1] == pd.Timestamp("2026-02-27", tz="UTC")
    assert df["close"].iloc[0] == pytest.approx(112.13999938964844)


@needs_shared
@pytest.mark.parametrize("name", ["equities/daily/NVDA.csv", "equities/daily/TSM.csv",
                                  "equities/daily/NVDA_1999-2024_yahoo_close_adjclose.csv",
                                  "crypto/daily/RENDER-USDT.csv", "crypto/daily/BTC-USD.csv",
                                  "crypto/hourly/TAO-USDT.csv"])
def test_real_files_import(name):
    df = read_csv_ohlcv(SHARED_DATA / name)
    assert len(df) > 40 and df.index.is_monotonic_increasing


def test_generic_names_any_case_and_order(tmp_path):
    text = "TimeStamp,C,V,O,H,L\n2024-01-01T00:00:00Z,1.5,10,1.0,2.0,0.5\n"
    df = read_csv_ohlcv(write(tmp_path, text))
    assert df.iloc[0].to_dict() == {"open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5,
                                    "volume": 10.0}


def test_missing_volume_becomes_zero_with_note(tmp_path):
    df = read_csv_ohlcv(write(tmp_path, "date,open,high,low,price\n2024-01-01,1,2,0.5,1.5\n"))
    assert df["volume"].tolist() == [0.0]
    assert "no volume column" in df.attrs["note"]


@pytest.mark.parametrize("stamp", ["1704067200", "1704067200000", "20240101"])
def test_epoch_seconds_milliseconds_and_compact_dates(tmp_path, stamp):
    text = f"time,open,high,low,close,volume\n{stamp},1,2,0.5,1.5,3\n"
    df = read_csv_ohlcv(write(tmp_path, text))
    assert df.index[0] == pd.Timestamp("2024-01-01", tz="UTC")


def test_iso_with_timezone_and_naive_as_utc(tmp_path):
    text = ("datetime,open,high,low,close,volume\n"
            "2024-01-01T00:00:00-05:00,1,2,0.5,1.5,3\n"
            "2024-01-01 06:00:00,1,2,0.5,1.5,3\n"
            "2024-01-01T07:00:00+00:00,1,2,0.5,1.5,3\n")
    df = read_csv_ohlcv(write(tmp_path, text))
    assert [t.hour for t in df.index] == [5, 6, 7]


def test_funding_rate_column_is_kept(tmp_path):
    text = "date,open,high,low,close,volume,funding_rate\n2024-01-01,1,2,0.5,1.5,3,0.0001\n"
    assert read_csv_ohlcv(write(tmp_path, text))["funding_rate"].iloc[0] == 0.0001


BAD = {
    "empty file": ("", ["prices.csv: empty file"]),
    "header only": ("date,open,high,low,close,volume\n", ["no rows below the header"]),
    "missing column": ("Date,Open,Low,Close\n2024-01-01,1,0.5,1.5\n",
                       ["line 1: missing column high", "found Date, Open, Low, Close"]),
    "non-numeric": ("Date,Open,High,Low,Close,Volume\n2024-01-01,1,2,0.5,1.5,3\n"
                    "2024-01-02,1,two,0.5,1.5,3\n",
                    ["line 3 (2024-01-02): High 'two' is not a number"]),
    "empty price": ("date,open,high,low,close\n2024-01-01,1,2,,1.5\n",
                    ["line 2", "low is empty"]),
    "unsorted": ("date,open,high,low,close\n2024-01-02,1,2,0.5,1.5\n2024-01-01,1,2,0.5,1.5\n",
                 ["line 3 (2024-01-01)", "earlier than the row before", "sort"]),
    "duplicate": ("date,open,high,low,close\n2024-01-01,1,2,0.5,1.5\n2024-01-01,1,2,0.5,1.5\n",
                  ["line 3", "duplicate timestamp"]),
    "high < low": ("date,open,high,low,close\n2024-01-01,10,9.5,10.0,10\n",
                   ["line 2", "high 9.5 < low 10 (rule high >= low)"]),
    "non-positive": ("date,open,high,low,close\n2024-01-01,1,2,0.5,1.5\n"
                     "2024-01-02,0,2,0.5,1.5\n", ["line 3", "open 0 is not positive"]),
    "bad date": ("date,open,high,low,close\n01/02/2024,1,2,0.5,1.5\n",
                 ["line 2", "date '01/02/2024' is not a time", "ISO"]),
    "empty date": ("date,open,high,low,close\n,1,2,0.5,1.5\n", ["line 2", "date is empty"]),
    "ragged row": ("date,open,high,low,close\n2024-01-01,1,2,0.5,1.5,9,9\n",
                   ["not a well-formed CSV"]),
    "blank lines keep line numbers": ("date,open,high,low,close\n\n2024-01-01,1,2,0.5,1.5\n\n"
                                      "2024-01-02,1,2,-1,1.5\n", ["line 5", "low -1"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_files_name_file_line_and_column(tmp_path, case):
    text, expected = BAD[case]
    with pytest.raises(BadInput) as err:
        read_csv_ohlcv(write(tmp_path, text))
    message = str(err.value)
    assert message.startswith(str(tmp_path / "prices.csv")) and "\n" not in message
    for part in expected:
        assert part in message, message


def test_missing_file(tmp_path):
    with pytest.raises(BadInput, match="no such file"):
        read_csv_ohlcv(tmp_path / "nope.csv")
