"""`sitcli report daily`: the machine contract (schema, exit codes, files named by day,
atomic replacement), reproducibility from --asof, and the numbers it derives, worked by hand."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, run_in_process, run_sitcli

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "datasets" / "report.schema.json"
SNAPSHOT = Path(__file__).parent / "snapshots" / "report_demo_2025-11-24.md"
DEMO_ARGS = ("report", "daily", "--demo", "--symbols", "NVDA,TSM,RENDER/USDT",
             "--strategy", "catalyst_momentum", "--strategy", "buy_and_hold", "--asof", "2025-11-24")
FAR_FUTURE = "2030-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    proc = run_sitcli(*DEMO_ARGS, "--out", out, data_dir=tmp_path_factory.mktemp("empty"))
    return proc, out


def validator():
    import jsonschema

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_writes_the_three_files_named_by_the_asof_day(demo_run):
    proc, out = demo_run
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert sorted(p.name for p in out.iterdir()) == ["2025-11-24.html", "2025-11-24.json",
                                                      "2025-11-24.md"]


def test_json_validates_against_the_schema(demo_run):
    _, out = demo_run
    doc = json.loads((out / "2025-11-24.json").read_text(encoding="utf-8"))
    v = validator()
    v.validate(doc)
    assert doc["schema_version"] == 1 and doc["asof"] == "2025-11-24"
    assert [s["symbol"] for s in doc["symbols"]] == ["NVDA", "TSM", "RENDER/USDT"]
    assert all(len(s["signals"]) == 2 for s in doc["symbols"])
    # the schema is not vacuous: an unknown action or a missing field is refused
    doc["symbols"][0]["signals"][0]["action"] = "buy"
    assert not v.is_valid(doc)
    doc["symbols"][0]["signals"][0]["action"] = "hold"
    del doc["symbols"][1]["last_bar"]
    assert not v.is_valid(doc)


def test_markdown_matches_the_reviewed_snapshot(demo_run):
    _, out = demo_run
    assert (out / "2025-11-24.md").read_text(encoding="utf-8") == SNAPSHOT.read_text(encoding="utf-8")


def test_same_asof_again_replaces_the_files_with_identical_bytes(demo_run, tmp_path):
    _, out = demo_run
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    proc = run_in_process(*DEMO_ARGS, "--out", out, data_dir=tmp_path)
    assert proc.returncode == 0, proc.stderr
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before   # same names (no temporary files left), same bytes
    # and the wall-clock time of the run is on stderr only
    assert "generated" in proc.stderr


def test_out_dash_prints_one_format_to_stdout(tmp_path):
    proc = run_in_process(*DEMO_ARGS, "--format", "md", "--out", "-", data_dir=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == SNAPSHOT.read_text(encoding="utf-8")
    assert list(tmp_path.iterdir()) == []


def test_stale_and_missing_data_exit_3_with_the_report_written_and_marked(tmp_path):
    # NVDA's 2025-12-31 bar closes at 21:00 UTC (16:00 New York): 3 hours before the end of
    # the day, more than --max-age 2h. RENDER's daily bar closes at midnight: 0 hours.
    # FIL/USDT is not in the demo data at all.
    proc = run_in_process("report", "daily", "--demo", "--symbols",
                          "NVDA,RENDER/USDT,FIL/USDT", "--asof", "2025-12-31", "--max-age", "2h",
                          "--out", tmp_path / "r", data_dir=tmp_path)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    wrote, error = proc.stderr.strip().splitlines()   # the files written, then why exit 3
    assert wrote.startswith("wrote ") and "2025-12-31.json" in wrote
    assert error.startswith("error: report written with problems: NVDA stale; FIL/USDT missing")
    doc = json.loads((tmp_path / "r" / "2025-12-31.json").read_text(encoding="utf-8"))
    validator().validate(doc)
    by = {s["symbol"]: s for s in doc["symbols"]}
    assert (doc["status"], doc["exit_code"]) == ("problems", 3)
    assert by["NVDA"]["status"] == "stale" and by["NVDA"]["age_hours"] == 3.0
    assert by["NVDA"]["max_age_hours"] == 2.0
    assert by["NVDA"]["signals"][0]["reason"].startswith("ON STALE DATA")
    assert by["RENDER/USDT"]["status"] == "ok" and by["RENDER/USDT"]["age_hours"] == 0.0
    assert by["FIL/USDT"]["status"] == "missing" and by["FIL/USDT"]["last_bar"] is None
    assert len(doc["problems"]) == 2
    md = (tmp_path / "r" / "2025-12-31.md").read_text(encoding="utf-8")
    assert "**Status: PROBLEMS** (exit code 3)" in md
    assert "| NVDA | 140.00 (2025-12-31) | STALE, 3 h old |" in md
    assert "| FIL/USDT | - | MISSING |" in md
    html = (tmp_path / "r" / "2025-12-31.html").read_text(encoding="utf-8")
    assert 'data-symbol="FIL/USDT" data-status="missing"' in html


@pytest.mark.parametrize("args, fragment", [
    (("--demo",), "--out DIR is required"),
    (("--demo", "--out", "-", "--format", "json,md"), "exactly one --format"),
    (("--demo", "--out", "X", "--format", "pdf"), "--format pdf"),
    (("--demo", "--pull", "--out", "X"), "read-only"),
    (("--out", "X"), "--symbols"),
], ids=["no-out", "stdout-two-formats", "bad-format", "pull-demo", "no-symbols"])
def test_bad_usage_exits_2_with_one_line(args, fragment, tmp_path):
    proc = run_in_process("report", "daily", *args, data_dir=tmp_path)
    assert_one_line_error(proc, 2, fragment)
    assert not (Path.cwd() / "X").exists()


def test_new_entries_example_prints_only_fresh_entry_signals(demo_run):
    _, out = demo_run
    doc = json.loads((out / "2025-11-24.json").read_text(encoding="utf-8"))
    expected = [(s["symbol"], sig["action"]) for s in doc["symbols"] for sig in s["signals"]
                if sig["action"].startswith("enter ")]
    assert expected, "the fixed day has entries to print"
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "new_entries.py"), str(out)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [(line.split()[1].rstrip(":"), " ".join(line.split()[2:4])) for line in lines] == expected


# -- in-process: the derived numbers, worked by hand


def test_size_and_cfd_closeout_liquidation_by_hand():
    from sitcli import instruments
    from sitcli.report import _liquidation, _size

    venue = instruments.venue("cfd-retail", "equity")   # fee 0, close-out at 50%, cap 5x
    size = _size(1000.0, 5.0, 5.0, venue, 100.0)
    assert size == {"leverage": 5.0, "margin": 1000.0, "notional": 5000.0, "qty": 50.0, "note": None}
    # close-out when equity M + q(P - E) = 0.5 x q x E / 5: 1000 + 50(P - 100) = 500 -> P = 90
    liq = _liquidation("long", 100.0, size, venue, close=100.0, std=0.02, basis="test")
    assert liq["price"] == pytest.approx(90.0)
    assert liq["distance_pct"] == pytest.approx(-10.0)
    assert liq["distance_daily_std"] == pytest.approx(abs(math.log(0.9)) / 0.02, rel=1e-5)   # 5.268


def test_perp_size_is_cut_to_the_bracket_and_liquidation_uses_the_tier():
    from sitcli.report import _liquidation, _size
    from sitcli.tiers import venue_for

    venue = venue_for("RENDER/USDT", "perp-isolated", when="2024-11-01")
    # RENDER's 2024-10-24 brackets allow 20x up to the 160,000 floor of the 10x bracket:
    # 30,000 x 20 is cut
    big = _size(30_000.0, 20.0, 20.0, venue, 100.0)
    assert (big["notional"], big["margin"]) == (pytest.approx(160_000.0), pytest.approx(8_000.0))
    assert "cut to 160,000" in big["note"] and "RENDER/USDT:USDT binance 2024-10-24" in big["note"]
    # 1,000 at 20x: margin 1000 / (1 + 20 x 0.0005) = 990.10 (the fee on top), qty = margin x
    # 20 / 100 = 198.02, notional 19,802 in bracket 3 (from 16,000: rate 2%, amount 105):
    # LP = (M + c - qE) / (q·m - q) = (990.10 + 105 - 19802) / (198.02 x (0.02 - 1)) = 96.398
    size = _size(1000.0, 20.0, 20.0, venue, 100.0)
    liq = _liquidation("long", 100.0, size, venue, close=100.0, std=None, basis="test")
    margin = 1000 / 1.01
    qty = margin * 20 / 100
    assert liq["price"] == pytest.approx((margin + 105 - qty * 100) / (qty * (0.02 - 1)), rel=1e-6)
    assert liq["distance_daily_std"] is None


def test_leverage_above_the_venue_cap_is_capped_and_said():
    from sitcli import instruments
    from sitcli.report import _size

    venue = instruments.venue("cfd-retail", "crypto")   # ESMA: 2x for crypto CFDs
    size = _size(1000.0, 2.0, 10.0, venue, 50.0)
    assert (size["leverage"], size["notional"]) == (2.0, 2000.0)
    assert "capped" in size["note"]


def test_default_max_age_by_timeframe_and_calendar():
    import pandas as pd

    from sitcli.report import default_max_age

    assert default_max_age("1d", True) == pd.Timedelta("2D")
    assert default_max_age("1d", False) == pd.Timedelta("5D")   # + a weekend and a holiday
    assert default_max_age("1h", True) == pd.Timedelta("2h")


def _build(asof, now=FAR_FUTURE, symbols=("NVDA", "RENDER/USDT")):
    from sitcli.data.store import demo_store
    from sitcli.events import load_events
    from sitcli.report import ReportConfig, build_report

    cfg = ReportConfig(strategies=["catalyst_momentum"], symbols=list(symbols), asof=asof)
    return {s["symbol"]: s for s in build_report(cfg, demo_store(), load_events(),
                                                 now=now).data["symbols"]}


def test_asof_uses_only_bars_closed_and_news_known_by_then():
    rumor = "Report: Meta in talks to spend billions on Google TPUs from 2027"   # 2025-11-24 21:00
    friday = _build("2025-11-21")
    assert friday["NVDA"]["last_bar"]["time"] == "2025-11-21T00:00:00Z"
    assert rumor not in json.dumps(friday)
    monday = _build("2025-11-24")
    assert monday["NVDA"]["catalysts"]["recent"][0]["title"] == rumor
    assert monday["NVDA"]["signals"][0]["action"] == "enter short"   # the rumor points down
    # without --asof at 18:00 UTC on the Monday: NVDA's Monday session (closing 21:00) and
    # RENDER's Monday bar (closing at midnight) are unfinished and left out
    live = _build(None, now="2025-11-24T18:00:00Z")
    assert live["NVDA"]["last_bar"]["time"] == "2025-11-21T00:00:00Z"
    assert live["RENDER/USDT"]["last_bar"]["time"] == "2025-11-23T00:00:00Z"
    assert rumor not in json.dumps(live)


def test_upcoming_lists_only_scheduled_catalysts():
    upcoming = _build("2025-11-10", symbols=("NVDA",))["NVDA"]["catalysts"]["upcoming"]
    # in the next 30 days the calendar holds NVIDIA's results (earnings, announced ahead),
    # Gemini 3 (a launch) and the Meta/TPU rumor: only the results may be known in advance
    assert [(e["time"], e["category"]) for e in upcoming] == [("2025-11-19 21:20 UTC", "earnings")]


def test_a_failed_pull_is_recorded_and_fresh_data_still_reports():
    from sitcli.data.pull import PullReport
    from sitcli.data.store import demo_store
    from sitcli.events import load_events
    from sitcli.report import ReportConfig, build_report

    cfg = ReportConfig(strategies=["catalyst_momentum"], symbols=["NVDA"], asof="2025-11-24",
                       pull=[PullReport("NVDA", "yahoo", ok=False, message="HTTP 503 after 5 tries")])
    doc = build_report(cfg, demo_store(), load_events(), now=FAR_FUTURE).data
    validator().validate(doc)
    assert doc["symbols"][0]["pull"] == {"ok": False, "new_bars": 0,
                                         "message": "HTTP 503 after 5 tries"}
    # the stored bars are fresh enough: exit 0, but every format says the pull failed
    assert (doc["status"], doc["exit_code"]) == ("warnings", 0)
    assert doc["warnings"] == ["NVDA: pull failed (HTTP 503 after 5 tries); reported from the "
                               "stored bars, which are still within --max-age"]
    from sitcli.report import Report, to_html, to_markdown

    report = Report(doc, {})
    assert "**Status: WARNINGS** (exit code 0)" in to_markdown(report)
    assert "<b>Status: WARNINGS</b> (exit code 0)" in to_html(report)
    assert "NVDA: pull failed (HTTP 503 after 5 tries)" in to_html(report)


def test_each_stored_file_is_parsed_once_and_the_report_is_the_same(monkeypatch):
    """A symbol's bars are read for its section and again by its backtest: the report parses
    each file once (`report._parsing_once`) and gives what reading every time gave."""
    from sitcli import report
    from sitcli.data.store import Store

    parsed = []
    read_file = Store._read_file

    def counted(self, path):
        parsed.append(path)
        return read_file(self, path)

    monkeypatch.setattr(Store, "_read_file", counted)
    once = _build("2025-06-30", symbols=("NVDA", "AMD", "RENDER/USDT"))
    assert sorted(parsed) == sorted(set(parsed)) and len(parsed) == 3
    parsed.clear()
    monkeypatch.setattr(report, "_parsing_once", lambda store: store)
    every_time = _build("2025-06-30", symbols=("NVDA", "AMD", "RENDER/USDT"))
    assert len(parsed) == 6
    assert json.dumps(once, sort_keys=True, default=str) == \
        json.dumps(every_time, sort_keys=True, default=str)
