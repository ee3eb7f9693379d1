"""`sitcli data import|list|show` through the installed entry point, every output format."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from sitcli.data.store import demo_root

GOOD = """Date,Open,High,Low,Close,Adj Close,Volume
2024-01-02,10.0,11.0,9.0,10.5,5.25,1000
2024-01-03,10.5,12.0,10.0,11.0,5.5,2000
2024-01-04,11.0,11.5,10.5,11.2,5.6,1500
"""
BAD_ROW = GOOD.replace("2024-01-03,10.5,12.0,10.0", "2024-01-03,10.5,9.5,10.0")

needs_demo = pytest.mark.skipif(not any(demo_root().glob("*/*/*.parquet")),
                                reason=f"no demo parquet files shipped yet in {demo_root()}")


@pytest.fixture
def good_csv(tmp_path):
    path = tmp_path / "nvda.csv"
    path.write_text(GOOD)
    return path


@pytest.fixture
def imported(cli, good_csv):
    cli("data", "import", good_csv, "--symbol", "NVDA", check_code=0)
    return cli


def test_import_table(cli_process, good_csv):
    out = cli_process("data", "import", good_csv, "--symbol", "NVDA", check_code=0)
    assert "imported NVDA" in out.stdout and "2024-01-04" in out.stdout
    assert (cli_process.data_dir / "csv" / "1d" / "NVDA.parquet").is_file()


def test_import_json_and_merge(cli, good_csv, tmp_path):
    cli("data", "import", good_csv, "--symbol", "NVDA", check_code=0)
    more = tmp_path / "more.csv"
    more.write_text("date,open,high,low,close,volume\n2024-01-04,20,21,19,20,1\n"
                    "2024-01-05,20,21,19,20.5,1\n")
    out = cli("data", "import", more, "-s", "NVDA", "--merge", "--format", "json", check_code=0)
    payload = json.loads(out.stdout)
    assert payload["imported"] == 2 and payload["rows"] == 4 and payload["mode"] == "merged"
    assert payload["first"] == "2024-01-02T00:00:00+00:00"
    assert payload["last"] == "2024-01-05T00:00:00+00:00"
    assert payload["path"].endswith("NVDA.parquet")


def test_import_csv_format_with_adjust(cli, good_csv):
    out = cli("data", "import", good_csv, "-s", "NVDA", "--adjust", "-f", "csv", check_code=0)
    row = next(csv.DictReader(io.StringIO(out.stdout)))
    assert row["rows"] == "3" and "scaled by Adj Close" in row["note"]


def test_bad_import_exits_2_and_leaves_store_unchanged(imported, tmp_path):
    stored = imported.data_dir / "csv" / "1d" / "NVDA.parquet"
    before = stored.read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD_ROW)
    for mode in ("--replace", "--merge"):
        out = imported("data", "import", bad, "--symbol", "NVDA", mode, check_code=2)
        assert out.stderr.strip().count("\n") == 0
        assert "bad.csv line 3 (2024-01-03): High 9.5 < Low 10 (rule high >= low)" in out.stderr
        assert "Traceback" not in out.stderr
    assert stored.read_bytes() == before
    # nothing but the file and its (hidden) lock: no temporary file left behind
    assert sorted(p.name for p in stored.parent.iterdir()) == [".NVDA.parquet.lock",
                                                               "NVDA.parquet"]


def test_import_usage_errors_exit_2(cli, good_csv, tmp_path):
    out = cli("data", "import", tmp_path / "missing.csv", "-s", "X", check_code=2)
    assert "no such file" in out.stderr
    out = cli("data", "import", good_csv, "-s", "X", "--timeframe", "1 day", check_code=2)
    assert "--timeframe '1 day'" in out.stderr


def test_list_formats(imported):
    table = imported("data", "list", check_code=0).stdout
    assert "NVDA" in table and "2024-01-02" in table and "csv" in table
    payload = json.loads(imported("data", "list", "--format", "json", check_code=0).stdout)
    assert payload["demo"] is False
    [entry] = payload["entries"]
    assert (entry["symbol"], entry["rows"], entry["synthetic"]) == ("NVDA", 3, False)
    assert entry["first"] == "2024-01-02T00:00:00+00:00"
    rows = list(csv.DictReader(io.StringIO(imported("data", "list", "-f", "csv",
                                                    check_code=0).stdout)))
    assert rows[0]["symbol"] == "NVDA" and rows[0]["timeframe"] == "1d"


def test_list_empty_store(cli):
    out = cli("data", "list", check_code=0)
    assert "no data in" in out.stderr and "sitcli data import" in out.stderr
    assert json.loads(cli("data", "list", "-f", "json", check_code=0).stdout)["entries"] == []


def test_show_formats(imported):
    out = imported("data", "show", "NVDA", "--tail", "2", check_code=0)
    assert "last 2 of 3 bars" in out.stdout and "2024-01-02" not in out.stdout
    assert "synthetic" not in out.stderr
    payload = json.loads(imported("data", "show", "NVDA", "-f", "json", check_code=0).stdout)
    assert {k: payload[k] for k in ("symbol", "timeframe", "source", "synthetic")} == {
        "symbol": "NVDA", "timeframe": "1d", "source": "csv", "synthetic": False}
    assert payload["rows"][0] == {"time": "2024-01-02T00:00:00+00:00", "open": 10.0,
                                  "high": 11.0, "low": 9.0, "close": 10.5, "volume": 1000.0}
    out = imported("data", "show", "NVDA", "-f", "csv", "--start", "2024-01-03",
                   "--end", "2024-01-03", check_code=0)
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["close"] for r in rows] == ["11"]


def test_show_errors(imported):
    out = imported("data", "show", "AMD", check_code=3)
    assert 'run "sitcli data import FILE --symbol AMD"' in out.stderr
    assert out.stderr.startswith("error: ") and out.stderr.count("\n") == 1
    out = imported("data", "show", "NVDA", "--start", "2024-02-01", "--end", "2024-01-01",
                   check_code=2)
    assert "after end" in out.stderr


@needs_demo
def test_demo_list_and_show_are_labelled(cli_process):
    cli = cli_process   # `data list` and `data show` through the installed entry point
    payload = json.loads(cli("data", "list", "--demo", "-f", "json", check_code=0).stdout)
    assert payload["demo"] is True and payload["entries"]
    assert all(e["synthetic"] and e["label"] == "synthetic demo data"
               for e in payload["entries"])
    assert "synthetic demo data" in cli("data", "list", "--demo", check_code=0).stdout
    symbol = payload["entries"][0]["symbol"]
    out = cli("data", "show", symbol, "--demo", check_code=0)
    assert "synthetic demo data, not market prices" in out.stderr
    assert "synthetic demo data" in out.stdout
    out = cli("data", "show", symbol, "--demo", "-f", "csv", check_code=0)
    assert "synthetic demo data, not market prices" in out.stderr
    assert out.stdout.startswith("time,open,high,low,close,volume")
    shown = json.loads(cli("data", "show", symbol, "--demo", "-f", "json", check_code=0).stdout)
    assert shown["synthetic"] is True and shown["source"] == "demo" and len(shown["rows"]) == 10


def test_help_ends_with_example(cli):
    from sitcli.cli.data import data_app

    for command in data_app.registered_commands:
        doc = command.callback.__doc__.strip().splitlines()
        assert doc[-1].strip().startswith(f"Example: sitcli data {command.name}"), command.name
    out = cli("data", "import", "--help", check_code=0)
    assert "Example: sitcli data import" in out.stdout


def test_cli_import_does_not_load_pandas():
    code = "import sys, sitcli.cli; print(sorted({'pandas', 'pyarrow'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
