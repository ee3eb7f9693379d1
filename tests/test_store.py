"""The Parquet store: validation rules, round trip, atomic writes, merge, lookup, metadata."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sitcli.data import store as store_mod
from sitcli.data.store import (
    OHLCV_COLUMNS,
    Store,
    default_data_dir,
    demo_store,
    validate_ohlcv,
)
from sitcli.errors import BadInput, DataMissing, RuntimeFailure


def bars(n: int = 5, start: str = "2024-01-01", freq: str = "D", base: float = 10.0,
         tz: str | None = "UTC") -> pd.DataFrame:
    idx = pd.date_range(start, periods=n, freq=freq, tz=tz, name="time")
    close = base + np.arange(n, dtype=float)
    return pd.DataFrame({"open": close - 0.5, "high": close + 1, "low": close - 1,
                         "close": close, "volume": np.full(n, 100.0)}, index=idx)


# ---------------------------------------------------------------- validation


def test_validate_returns_canonical_frame():
    df = bars(tz=None).astype({"volume": "int64"})
    df["extra"] = "x"
    out = validate_ohlcv(df, "t")
    assert list(out.columns) == list(OHLCV_COLUMNS)
    assert str(out.index.dtype) == "datetime64[ns, UTC]" and out.index.name == "time"
    assert all(out[c].dtype == np.float64 for c in OHLCV_COLUMNS)


def test_validate_converts_other_timezones_to_utc():
    df = bars(2, start="2024-01-01 00:00", tz="America/New_York")
    out = validate_ohlcv(df, "t")
    assert out.index[0] == pd.Timestamp("2024-01-01 05:00", tz="UTC")


def test_validate_keeps_funding_rate_and_zeroes_nan_volume():
    df = bars(3)
    df["funding_rate"] = [0.0001, np.nan, -0.0002]
    df.loc[df.index[1], "volume"] = np.nan
    out = validate_ohlcv(df, "t")
    assert out["volume"].tolist() == [100.0, 0.0, 100.0]
    assert out["funding_rate"].dtype == np.float64


def test_validate_tolerates_float_noise_and_clamps():
    df = bars(2)
    df.loc[df.index[0], "low"] = df["open"].iloc[0] * (1 + 1e-15)
    out = validate_ohlcv(df, "t")
    assert out["low"].iloc[0] <= min(out["open"].iloc[0], out["close"].iloc[0])


def _set(row, col, value):
    def mutate(df):
        df = df.copy()
        df[col] = df[col].astype(object) if isinstance(value, str) else df[col]
        df.loc[df.index[row], col] = value
        return df
    return mutate


def _reindex(times):
    def mutate(df):
        df = df.copy()
        df.index = pd.DatetimeIndex(times, tz="UTC", name="time")
        return df
    return mutate


REJECTIONS = {
    "empty": (lambda df: df.iloc[:0], ["no rows"]),
    "missing column": (lambda df: df.drop(columns=["high"]), ["missing column", "high"]),
    "non-numeric": (_set(2, "close", "abc"), ["row 3", "2024-01-03", "'abc' is not a number"]),
    "nan price": (_set(1, "open", np.nan), ["row 2", "open is empty"]),
    "infinite price": (_set(1, "high", np.inf), ["row 2", "high is infinite"]),
    "zero price": (_set(3, "low", 0.0), ["row 4", "rule prices > 0"]),
    "negative price": (_set(0, "close", -1.0), ["row 1", "rule prices > 0"]),
    "high < low": (_set(2, "high", 1.0), ["row 3", "rule high >= low"]),
    "low > min(open, close)": (_set(2, "low", 11.8), ["row 3", "rule low <= min(open, close)"]),
    "high < max(open, close)": (_set(1, "high", 10.9),
                                ["row 2", "rule high >= max(open, close)"]),
    "unsorted": (_reindex(["2024-01-01", "2024-01-03", "2024-01-02", "2024-01-04",
                           "2024-01-05"]), ["row 3", "2024-01-02", "times strictly increasing"]),
    "duplicate": (_reindex(["2024-01-01", "2024-01-02", "2024-01-02", "2024-01-04",
                            "2024-01-05"]), ["row 3", "duplicate timestamp"]),
    "negative volume": (_set(4, "volume", -5.0), ["row 5", "rule volume >= 0"]),
}


@pytest.mark.parametrize("rule", list(REJECTIONS))
def test_validate_rejects(rule):
    mutate, expected = REJECTIONS[rule]
    with pytest.raises(BadInput) as err:
        validate_ohlcv(mutate(bars()), "prices.csv")
    message = str(err.value)
    assert message.startswith("prices.csv")
    assert "\n" not in message
    for text in expected:
        assert text in message, message


def test_validate_uses_line_labels_and_file_column_names():
    df = _set(1, "high", 1.0)(bars())
    with pytest.raises(BadInput, match=r"f.csv line 9 \(2024-01-02\): High 1 < Low 10"):
        validate_ohlcv(df, "f.csv", lines=[8, 9, 10, 11, 12], names={"high": "High",
                                                                       "low": "Low"})


# ---------------------------------------------------------------- write / read


def test_round_trip_layout_and_metadata(tmp_path):
    s = Store(tmp_path)
    df = bars(4, freq="h")
    path = s.write(df, source="ccxt", symbol="RENDER/USDT:USDT", timeframe="1h", note="n")
    assert path == tmp_path / "ccxt" / "1h" / "RENDER%2FUSDT%3AUSDT.parquet"
    assert s.path("yahoo", "^NDX", "1d").name == "^NDX.parquet"
    schema = pq.read_schema(path)
    assert schema.field("time").type == pa.timestamp("ns", tz="UTC")
    meta = json.loads(schema.metadata[b"sitcli"])
    assert {k: meta[k] for k in ("source", "symbol", "timeframe", "synthetic", "note", "rows",
                                 "first", "last")} == {
        "source": "ccxt", "symbol": "RENDER/USDT:USDT", "timeframe": "1h",
        "synthetic": False, "note": "n", "rows": 4, "first": "2024-01-01T00:00:00+00:00",
        "last": "2024-01-01T03:00:00+00:00"}
    assert set(meta) == {"source", "symbol", "timeframe", "synthetic", "note", "rows", "first",
                         "last", "checksum", "meta_checksum"}
    out = s.read("RENDER/USDT:USDT", "1h")
    pd.testing.assert_frame_equal(out, validate_ohlcv(df, "x"), check_freq=False)
    assert out.attrs["sitcli"]["path"] == str(path)
    assert out.attrs["sitcli"]["source"] == "ccxt"


def test_invalid_write_touches_nothing(tmp_path):
    s = Store(tmp_path)
    with pytest.raises(BadInput):
        s.write(_set(0, "high", 1.0)(bars()), source="csv", symbol="X", timeframe="1d")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    s = Store(tmp_path)
    path = s.write(bars(), source="csv", symbol="NVDA", timeframe="1d")
    before = path.read_bytes()

    def broken_writer(table, where, **kwargs):
        where.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(store_mod.pq, "write_table", broken_writer)
    # an environment error: says what could not be written where (exit 1), not a bug
    with pytest.raises(RuntimeFailure, match=f"could not write {path}: disk full"):
        s.write(bars(9, base=50), source="csv", symbol="NVDA", timeframe="1d")
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [".NVDA.parquet.lock",
                                                            "NVDA.parquet"]


def test_merge_new_rows_win_sorted_and_deduplicated(tmp_path):
    s = Store(tmp_path)
    s.write(bars(5, start="2024-01-01"), source="csv", symbol="X", timeframe="1d")
    s.write(bars(4, start="2024-01-04", base=100), source="csv", symbol="X", timeframe="1d",
            merge=True)
    out = s.read("X")
    assert len(out) == 7 and out.index.is_monotonic_increasing and out.index.is_unique
    assert out.loc["2024-01-03", "close"].item() == 12.0    # old row kept
    assert out.loc["2024-01-04", "close"].item() == 100.0   # new row wins
    s.write(bars(2, start="2024-02-01"), source="csv", symbol="X", timeframe="1d")
    assert len(s.read("X")) == 2                             # replace is the default


def test_read_prefers_sources_in_documented_order(tmp_path):
    s = Store(tmp_path)
    for source, base in (("csv", 11.0), ("zzz", 12.0), ("yahoo", 13.0), ("demo", 14.0)):
        s.write(bars(base=base), source=source, symbol="NVDA", timeframe="1d")
    assert s.sources_for("NVDA", "1d") == ["yahoo", "csv", "demo", "zzz"]
    assert s.read("NVDA").attrs["sitcli"]["source"] == "yahoo"
    assert s.read("NVDA", source="csv")["close"].iloc[0] == 11.0
    assert s.last_close("NVDA") == 17.0


def test_read_missing_symbol_says_how_to_fix(tmp_path):
    s = Store(tmp_path)
    with pytest.raises(DataMissing) as err:
        s.read("NVDA")
    msg = str(err.value)
    assert f"no stored 1d bars for NVDA in {tmp_path}" in msg
    assert 'sitcli data import FILE --symbol NVDA' in msg and "--demo" in msg
    s.write(bars(freq="h"), source="csv", symbol="NVDA", timeframe="1h")
    with pytest.raises(DataMissing, match="stored timeframes: 1h"):
        s.read("NVDA", "1d")
    with pytest.raises(DataMissing, match="from source yahoo"):
        s.read("NVDA", "1h", source="yahoo")


def test_read_date_range_is_inclusive_utc(tmp_path):
    s = Store(tmp_path)
    s.write(bars(72, freq="h"), source="csv", symbol="X", timeframe="1h")
    out = s.read("X", "1h", start="2024-01-02", end="2024-01-02")
    assert len(out) == 24 and out.index[0] == pd.Timestamp("2024-01-02", tz="UTC")
    out = s.read("X", "1h", start=pd.Timestamp("2024-01-03 22:00"))
    assert len(out) == 2
    with pytest.raises(BadInput, match="after end"):
        s.read("X", "1h", start="2024-01-03", end="2024-01-01")
    with pytest.raises(BadInput, match="bad start"):
        s.read("X", "1h", start="yesterday-ish")
    with pytest.raises(DataMissing, match="stored range is 2024-01-01 to 2024-01-03"):
        s.read("X", "1h", start="2025-01-01")


def test_entries_from_footers(tmp_path):
    s = Store(tmp_path)
    s.write(bars(3), source="csv", symbol="B/USDT", timeframe="1d")
    s.write(bars(5, start="2023-06-01"), source="demo", symbol="A", timeframe="1d",
            synthetic=True)
    # a file from another writer, without our metadata: described from the layout
    plain = tmp_path / "other" / "1h" / "C%2FD.parquet"
    plain.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pandas(bars(2, freq="h").reset_index(), preserve_index=False),
                   plain)
    entries = s.entries()
    assert [(e["symbol"], e["source"], e["timeframe"], e["rows"], e["synthetic"])
            for e in entries] == [("A", "demo", "1d", 5, True), ("B/USDT", "csv", "1d", 3, False),
                                  ("C/D", "other", "1h", 2, False)]
    assert entries[0]["first"] == pd.Timestamp("2023-06-01", tz="UTC")
    assert entries[0]["last"] == pd.Timestamp("2023-06-05", tz="UTC")
    assert entries[2]["last"] == pd.Timestamp("2024-01-01 01:00", tz="UTC")
    assert Store(tmp_path / "nothing").entries() == []


@pytest.mark.parametrize("kwargs", [{"source": "../up"}, {"timeframe": "1 d"},
                                    {"symbol": " "}])
def test_bad_names_are_rejected(tmp_path, kwargs):
    args = {"source": "csv", "symbol": "X", "timeframe": "1d", **kwargs}
    with pytest.raises(BadInput):
        Store(tmp_path).write(bars(), **args)


def test_default_data_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("SITCLI_DATA_DIR", str(tmp_path / "env"))
    assert default_data_dir(tmp_path / "flag") == tmp_path / "flag"
    assert default_data_dir(None) == tmp_path / "env"
    monkeypatch.delenv("SITCLI_DATA_DIR")
    import platformdirs

    assert default_data_dir(None) == __import__("pathlib").Path(
        platformdirs.user_data_dir("sitcli"))


def test_demo_store_is_read_only_and_labelled(tmp_path, monkeypatch):
    Store(tmp_path).write(bars(), source="demo", symbol="NVDA", timeframe="1d", synthetic=True)
    monkeypatch.setattr(store_mod, "demo_root", lambda: tmp_path)
    demo = demo_store()
    assert demo.read_only and demo.root == tmp_path
    assert demo.read("NVDA").attrs["sitcli"]["synthetic"] is True
    with pytest.raises(RuntimeFailure, match="read-only"):
        demo.write(bars(), source="demo", symbol="Y", timeframe="1d")
    with pytest.raises(DataMissing, match="demo symbols at 1d: NVDA"):
        demo.read("AMD")


def test_shipped_demo_root_is_the_package_folder():
    from importlib.resources import files

    assert str(store_mod.demo_root()) == str(files("sitcli.datasets") / "demo")
