"""`sitcli backtest` through the installed entry point: demo runs in every format, the files of
--out and their bookkeeping, venue/leverage/parameter options, stored data, and bad input.

The full demo in JSON and the exit-3 path run the entry point in a subprocess; the other runs
call its `main` in this process (the same exit codes and output without a subprocess's
start-up), and the successful runs are module-scoped fixtures shared by several tests."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, run_in_process, run_sitcli

SITCLI = Path(sys.executable).parent / "sitcli"
TIMEOUT = 900   # generous: the first run compiles the kernels, and CI machines are slow
DEMO_SYMBOLS = ["NVDA", "AMD", "TSM", "^NDX", "RENDER/USDT", "SIT"]
DEMO_VENUES = {"NVDA": ("cfd-retail", 5.0), "AMD": ("cfd-retail", 5.0),
               "TSM": ("cfd-retail", 5.0), "^NDX": ("cfd-retail", 5.0),
               "RENDER/USDT": ("perp-isolated", 20.0), "SIT": ("futures-exchange", 10.0)}
REQUIRED_STATS = {"total_return_pct", "cagr_pct", "sharpe", "sortino", "max_drawdown_pct",
                  "win_rate_pct", "profit_factor", "trades", "liquidations", "fees",
                  "financing", "funding"}
OUT_FILES = ("trades.csv", "equity.csv", "liquidations.csv", "summary.json")
COST_COLUMNS = ("fees", "spread", "slippage", "financing", "funding", "liq_fee")


def sitcli(*args, data_dir: Path, process: bool = False) -> subprocess.CompletedProcess:
    if process:
        return run_sitcli(*args, data_dir=data_dir, timeout=TIMEOUT)
    return run_in_process(*args, data_dir=data_dir)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, (
        f"{' '.join(proc.args)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}"
        f"\n--- stderr\n{proc.stderr[-3000:]}")
    assert "Traceback" not in proc.stderr
    return proc


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def table_rows(stdout: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip().strip("│").split("│")]
            for line in stdout.splitlines() if line.startswith("│")]


def table_headers(stdout: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip().strip("┃").split("┃")]
            for line in stdout.splitlines() if line.startswith("┃")]


def check_out_dir(out: Path, stats: dict, cash: float) -> dict:
    """The four files exist and agree with each other and with the stats. Returns them."""
    for name in OUT_FILES:
        assert (out / name).is_file(), f"--out did not write {name}"
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stats"] == stats
    trades, equity = read_rows(out / "trades.csv"), read_rows(out / "equity.csv")
    liqs = read_rows(out / "liquidations.csv") if (out / "liquidations.csv").stat().st_size else []
    assert equity, "equity.csv has no rows"
    assert list(equity[0])[1:] == list(stats), "equity.csv columns are not the symbols"
    for symbol in stats:   # each account is drawn over its own span, with no gap inside it
        filled = [i for i, row in enumerate(equity) if row[symbol] != ""]
        assert filled and filled == list(range(filled[0], filled[-1] + 1)), symbol
    for row in trades:   # every trade's net pnl is its gross pnl less the itemised costs
        net = (float(row["pnl_gross"]) - sum(float(row[c]) for c in COST_COLUMNS)
               + float(row["protection"]))
        assert float(row["pnl"]) == pytest.approx(net, rel=1e-9, abs=1e-9 * cash), row
    for symbol, s in stats.items():
        mine = [t for t in trades if t["symbol"] == symbol]
        final = s["final_equity"]
        tol = {"rel": 1e-9, "abs": 1e-9 * cash}   # abs for an account wiped out to ~0
        assert final == pytest.approx(cash + sum(float(t["pnl"]) for t in mine), **tol), symbol
        last = [row[symbol] for row in equity if row[symbol] != ""][-1]
        assert float(last) == pytest.approx(final, rel=1e-12, abs=1e-12 * cash)
        assert s["total_return_pct"] == pytest.approx(100 * (final / cash - 1), **tol)
        assert s["trades"] == len(mine)
        assert s["liquidations"] == sum(q["symbol"] == symbol for q in liqs)
        for key, column in (("fees", "fees"), ("financing", "financing"), ("funding", "funding")):
            assert s[key] == pytest.approx(sum(float(t[column]) for t in mine), **tol), key
    return {"summary": summary, "trades": trades, "equity": equity, "liquidations": liqs}


# --- the full demo, in each format ---------------------------------------------------------

@pytest.fixture(scope="module")
def demo_json(tmp_path_factory):
    base = tmp_path_factory.mktemp("demo_json")
    proc = ok(sitcli("backtest", "--demo", "--format", "json", "--out", base / "out",
                     data_dir=base / "data", process=True))
    return proc, json.loads(proc.stdout), base / "out"


@pytest.fixture(scope="module")
def demo_table(tmp_path_factory):
    base = tmp_path_factory.mktemp("demo_table")
    return ok(sitcli("backtest", "--demo", data_dir=base / "data"))


@pytest.fixture(scope="module")
def demo_csv(tmp_path_factory):
    base = tmp_path_factory.mktemp("demo_csv")
    return ok(sitcli("backtest", "--demo", "--format", "csv", data_dir=base / "data"))


def test_demo_json_stats_and_assumptions(demo_json):
    _, payload, _ = demo_json
    assert {"assumptions", "stats", "liquidations"} <= payload.keys()
    a = payload["assumptions"]
    assert a["synthetic_demo_data"] is True
    assert [d["symbol"] for d in a["data"]] == DEMO_SYMBOLS
    assert all(d["synthetic"] and d["source"] == "demo" for d in a["data"])
    assert a["strategy"] == "catalyst_momentum" and a["initial_cash_per_account"] == 10_000
    assert {s: (v["name"], v["leverage"]) for s, v in a["venues"].items()} == DEMO_VENUES
    assert "fill" in a and "intrabar" in a
    assert list(payload["stats"]) == DEMO_SYMBOLS
    for symbol, s in payload["stats"].items():
        assert REQUIRED_STATS <= s.keys(), f"{symbol} misses {REQUIRED_STATS - s.keys()}"
        assert isinstance(s["trades"], int) and isinstance(s["liquidations"], int)
        assert s["trades"] > 0, f"no demo trades for {symbol}"
        assert s["max_drawdown_pct"] <= 0 and s["final_equity"] >= 0
        assert s["fees"] >= 0 and s["liquidations"] <= s["trades"]
    assert len(payload["liquidations"]) == sum(s["liquidations"] for s in payload["stats"].values())


def test_demo_out_files_consistent(demo_json):
    proc, payload, out = demo_json
    cash = payload["assumptions"]["initial_cash_per_account"]
    files = check_out_dir(out, payload["stats"], cash)
    assert files["summary"]["assumptions"] == payload["assumptions"]
    assert len(files["liquidations"]) == len(payload["liquidations"])
    assert "summary.json" in proc.stderr      # the note about what --out wrote


def test_demo_table(demo_table, demo_json):
    out = demo_table.stdout
    assert "SYNTHETIC DEMO DATA" in out
    assert "Backtest: catalyst_momentum" in out
    header = next(h for h in table_headers(out) if h[0] == "stat")
    assert header[1:] == [*DEMO_SYMBOLS, "ALL"]      # ALL: the sum of the six accounts
    stats = demo_json[1]["stats"]
    rows = {r[0]: r[1:] for r in table_rows(out) if len(r) == len(header)}
    assert [int(v.replace(",", "")) for v in rows["Trades"]] == [
        *(stats[s]["trades"] for s in DEMO_SYMBOLS), sum(stats[s]["trades"] for s in DEMO_SYMBOLS)]
    final = [float(v.replace(",", "")) for v in rows["Final equity [$]"]]
    expected = [stats[s]["final_equity"] for s in DEMO_SYMBOLS]
    assert final == pytest.approx([*expected, sum(expected)], abs=0.006 * len(expected))
    for title in ("Total return [%]", "CAGR [%]", "Sharpe", "Sortino", "Max drawdown [%]",
                  "Win rate [%]", "Profit factor", "Liquidations / close-outs",
                  "Fees paid [$]", "Financing paid [$]", "Funding paid [$]"):
        assert title in rows, f"{title} row missing from the table"


def test_demo_csv(demo_csv, demo_json):
    rows = list(csv.DictReader(demo_csv.stdout.splitlines()))
    assert REQUIRED_STATS | {"symbol"} <= set(rows[0])
    assert [r["symbol"] for r in rows] == DEMO_SYMBOLS
    stats = demo_json[1]["stats"]
    for row in rows:
        for key, value in stats[row["symbol"]].items():
            if isinstance(value, str):          # symbol, span dates (ISO text in both)
                assert row[key] == value, key
            elif isinstance(value, bool):
                assert row[key] == str(value), key
            elif value is None:
                assert row[key] == ""
            else:
                assert float(row[key]) == pytest.approx(value, rel=1e-8, abs=1e-8), key


def test_demo_csv_says_synthetic(demo_csv):
    # CSV stays machine-readable: the label goes to stderr
    assert "synthetic demo data" in demo_csv.stderr.lower()
    assert "synthetic" not in demo_csv.stdout.lower()


# --- options ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_symbols(tmp_path_factory):
    base = tmp_path_factory.mktemp("two_symbols")
    proc = ok(sitcli("backtest", "--demo", "--symbols", "NVDA,RENDER/USDT", "--param",
                     "hold=3", "--leverage", "2", "--format", "json", "--out",
                     base / "out", data_dir=base / "data"))
    return json.loads(proc.stdout), base / "out"


def test_symbols_param_leverage(two_symbols):
    payload, out = two_symbols
    a = payload["assumptions"]
    assert list(payload["stats"]) == ["NVDA", "RENDER/USDT"]
    assert {s: v["leverage"] for s, v in a["venues"].items()} == {"NVDA": 2.0, "RENDER/USDT": 2.0}
    assert "hold=3" in a["params"]
    files = check_out_dir(out, payload["stats"], a["initial_cash_per_account"])
    trades = files["trades"]
    assert trades and {t["symbol"] for t in trades} == {"NVDA", "RENDER/USDT"}
    assert all(float(t["leverage"]) == 2.0 for t in trades)

    from sitcli.data.store import demo_store

    store = demo_store()
    for symbol in ("NVDA", "RENDER/USDT"):   # no trade holds more than 3 of its own bars
        index = store.read(symbol).index.strftime("%Y-%m-%d").tolist()
        for t in (t for t in trades if t["symbol"] == symbol):
            held = index.index(t["exit_time"][:10]) - index.index(t["entry_time"][:10]) + 1
            assert held <= 3, t


@pytest.fixture(scope="module")
def perp_50x(tmp_path_factory):
    base = tmp_path_factory.mktemp("perp_50x")
    proc = ok(sitcli("backtest", "--demo", "--venue", "perp-isolated", "--leverage", "50",
                     "--symbols", "RENDER/USDT", "--format", "json", "--out", base / "out",
                     data_dir=base / "data"))
    return json.loads(proc.stdout), base / "out"


def test_perp_isolated_50x_liquidates(perp_50x):
    payload, out = perp_50x
    v = payload["assumptions"]["venues"]["RENDER/USDT"]
    assert v["name"] == "perp-isolated" and v["leverage"] == 50 and v["margin_mode"] == "isolated"
    s = payload["stats"]["RENDER/USDT"]
    assert s["liquidations"] > 0
    assert payload["liquidations"] and {q["kind"] for q in payload["liquidations"]} == {"liquidation"}
    assert s["final_equity"] >= 0      # isolated margin: never below zero
    files = check_out_dir(out, payload["stats"], payload["assumptions"]["initial_cash_per_account"])
    for t in files["trades"]:   # an isolated position loses at most its margin and its costs
        paid = float(t["fees"]) + max(0.0, float(t["funding"]) + float(t["financing"]))
        assert float(t["pnl"]) >= -(float(t["margin"]) + paid) * (1 + 1e-9), t


def test_perp_50x_long_liquidations_fill_below_entry(perp_50x):
    _, out = perp_50x
    liquidated = [t for t in read_rows(out / "trades.csv") if t["exit_reason"] == "liquidation"]
    assert liquidated
    bad = [(t["entry_time"][:10], t["entry_price"], t["exit_price"]) for t in liquidated
           if t["side"] == "long" and not float(t["exit_price"]) < float(t["entry_price"])]
    assert not bad, f"longs liquidated at or above their entry price: {bad}"
    # 50x is allowed only in the alt ladder's first bracket (notional < 100,000): the engine
    # caps every position there instead of opening 500,000 that the exchange would refuse
    for t in read_rows(out / "trades.csv"):
        assert float(t["qty"]) * float(t["entry_price"]) < 100_000, t


# --- stored data ---------------------------------------------------------------------------

def _write_bars_csv(path: Path) -> int:
    """One year of weekday bars of a made-up equity XYZ."""
    import datetime as dt

    lines, day, i = ["date,open,high,low,close,volume"], dt.date(2024, 1, 2), 0
    while day <= dt.date(2024, 12, 31):
        if day.weekday() < 5:
            close = 100 + 10 * math.sin(i / 7) + 0.05 * i
            lines.append(f"{day},{close - 0.4:.2f},{close + 1.2:.2f},{close - 1.3:.2f},"
                         f"{close:.2f},{100_000 + i}")
            i += 1
        day += dt.timedelta(days=1)
    path.write_text("\n".join(lines) + "\n")
    return i


def test_stored_data_backtest(cli, tmp_path):
    data_dir, out = tmp_path / "store", tmp_path / "out"
    n = _write_bars_csv(tmp_path / "xyz.csv")
    cli("data", "import", tmp_path / "xyz.csv", "--symbol", "XYZ", "--data-dir", data_dir,
        check_code=0)
    # --data-dir wins over SITCLI_DATA_DIR (the fixture points that at an empty directory)
    proc = cli("backtest", "--symbols", "XYZ", "--data-dir", data_dir, "--out", out, "--quiet",
               check_code=0, timeout=TIMEOUT)
    assert "SYNTHETIC" not in proc.stdout.upper()
    assert "XYZ" in proc.stdout and "(" + str(n) + " bars, csv)" in proc.stdout
    assert proc.stderr == ""                 # --quiet: not even the note about --out
    summary = json.loads((out / "summary.json").read_text())
    a = summary["assumptions"]
    assert a["synthetic_demo_data"] is False
    assert a["data"] == [{"symbol": "XYZ", "source": "csv", "first": "2024-01-02T00:00:00+00:00",
                          "last": "2024-12-31T00:00:00+00:00", "bars": n, "synthetic": False}]
    assert a["venues"]["XYZ"]["name"] == "cfd-retail"    # an unlisted symbol trades as an equity
    files = check_out_dir(out, summary["stats"], a["initial_cash_per_account"])
    assert files["trades"], "no catalyst trade in a year of bars"


# --- bad input and missing data -----------------------------------------------------------

BAD = {
    "leverage 0": (("--demo", "--leverage", "0"), "leverage 0"),
    "leverage above the equity cap": (("--demo", "--symbols", "NVDA", "--leverage", "50"),
                                      "--allow-above-cap"),
    "unknown venue": (("--demo", "--venue", "nope"), "nope"),
    "unknown strategy": (("no_such_strategy", "--demo"), "no_such_strategy"),
    "unknown param": (("--demo", "--param", "nope=1"), "nope"),
    "param of the wrong type": (("--demo", "--param", "hold=x"), "hold"),
    "param without =": (("--demo", "--param", "hold"), "KEY=VALUE"),
    "start after end": (("--demo", "--start", "2025-01-01", "--end", "2024-01-01"), "--start"),
    "start not a date": (("--demo", "--start", "notadate"), "notadate"),
    "unknown fill": (("--demo", "--fill", "middle"), "--fill"),
    "cash 0": (("--demo", "--cash", "0"), "--cash"),
    "neither symbols nor demo": ((), "--demo"),
    "unknown symbol": (("--demo", "--symbols", "ZZZ"), "unknown symbol 'ZZZ'"),
}


@pytest.mark.parametrize("args, fragment", list(BAD.values()), ids=list(BAD))
def test_bad_input_exits_2(cli, args, fragment):
    assert_one_line_error(cli("backtest", *args, "--format", "json"), 2, fragment)


def test_missing_symbol_exits_3_with_hint(cli_process, tmp_path):
    # a listed symbol (AMD) that is not stored is missing data, not a bad symbol
    empty = tmp_path / "empty"
    empty.mkdir()
    line = assert_one_line_error(cli_process("backtest", "--symbols", "AMD", "--data-dir",
                                             empty), 3, "AMD", str(empty))
    assert "sitcli data import" in line and "--demo" in line


def test_missing_default_data_exits_3(cli):
    # SITCLI_DATA_DIR points at an empty directory: NVDA is not stored there
    assert_one_line_error(cli("backtest", "--symbols", "NVDA", "--format", "json"), 3, "NVDA")


def test_range_without_bars_exits_3(cli):
    assert_one_line_error(cli("backtest", "--demo", "--start", "2030-01-01"), 3, "2030")


def test_out_is_a_file_is_bad_input(cli, tmp_path):
    target = tmp_path / "not_a_dir"
    target.write_text("x")
    assert_one_line_error(cli("backtest", "--demo", "--symbols", "NVDA", "--out", target,
                              timeout=TIMEOUT), 2, "--out")


def test_default_leverage_respects_asset_class_cap(cli):
    proc = cli("backtest", "--demo", "--venue", "cfd-retail", "--symbols", "RENDER/USDT",
               "--format", "json", timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["assumptions"]["venues"]["RENDER/USDT"]["leverage"] <= 2


# --- grids, shared accounts, plots (issue: news-catalyst strategies) -----------------------

@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("grid")
    proc = ok(sitcli("backtest", "catalyst_momentum", "--demo", "--symbols", "NVDA,RENDER/USDT",
                     "--venue", "cfd-offshore", "--grid", "leverage=5,20,50", "--grid",
                     "hold=1,3", "--rank-by", "total_return_pct", "--format", "json", "--out",
                     base / "out", "--plot", data_dir=base / "data"))
    return json.loads(proc.stdout), base / "out"


def test_grid_json_ranks_every_combination(grid_run):
    payload, out = grid_run
    stats = payload["stats"]
    assert len(stats) == 2 * 3 * 2
    assert payload["assumptions"]["grid"]["leverage"].count(50.0) == 2
    ranking = payload["ranking"]
    assert sorted(ranking) == sorted(stats)
    returns = [stats[label]["total_return_pct"] for label in ranking]
    assert returns == sorted(returns, reverse=True)
    assert len(payload["aggregate"]) == 6                   # one per combination
    # the same entry at more leverage is liquidated at least as often: a trade liquidated at
    # leverage L was also liquidated (or closed out) at every higher leverage
    out_trades = read_rows(out / "trades.csv")
    by_entry = {}
    for t in out_trades:
        key = (t["symbol"], t["hold"], t["entry_time"])
        by_entry.setdefault(key, {})[float(t["leverage"])] = t["exit_reason"]
    checked = 0
    for reasons in by_entry.values():
        levs = sorted(reasons)
        for low, high in zip(levs, levs[1:], strict=False):
            if reasons[low] in ("liquidation", "close-out"):
                assert reasons[high] in ("liquidation", "close-out"), reasons
                checked += 1
    assert checked > 0


def test_grid_rows_carry_parameters_spans_and_ruin(grid_run):
    """Issue 12 (7, 8, 11): each grid parameter is its own field, every row states its span,
    and wiped-out accounts are marked."""
    payload, _ = grid_run
    for label, s in payload["stats"].items():
        symbol, lev, hold = label.split(" ")
        assert (s["symbol"], f"leverage={s['leverage']}", f"hold={s['hold']}") == (symbol, lev, hold)
        assert s["span_first"] < s["span_last"] and s["span_bars"] > 0
        assert s["ruined"] == (s["final_equity"] < 10)       # under 1/1000 of the 10,000 cash
    for row in payload["aggregate"]:
        assert row["label"] == f"leverage={row['leverage']} hold={row['hold']}"
    assert any(s["ruined"] for s in payload["stats"].values())


def test_grid_csv_ranks_ruined_runs_last_with_unique_headers(cli):
    # NVDA and AMD: since catalysts reach only the symbols they name (issue 12.9), this pair
    # has a ruined run with a better Sharpe than a surviving one
    proc = cli("backtest", "--demo", "--symbols", "NVDA,AMD", "--venue", "cfd-offshore",
               "--grid", "leverage=2,50,200", "--rank-by", "sharpe", "--format", "csv",
               check_code=0, timeout=TIMEOUT)
    header = proc.stdout.splitlines()[0].split(",")
    assert len(header) == len(set(header)) and "leverage" in header and "ruined" in header
    rows = list(csv.DictReader(proc.stdout.splitlines()))
    ruined = [r["ruined"] == "True" for r in rows]
    assert any(ruined) and not all(ruined)
    assert ruined == sorted(ruined)                  # every ruined run below every survivor
    # a ruined run may have the better Sharpe, and still ranks below
    best_ruined = max(float(r["sharpe"]) for r in rows if r["ruined"] == "True")
    worst_kept = min(float(r["sharpe"]) for r in rows if r["ruined"] == "False")
    assert best_ruined > worst_kept


def test_grid_out_files_and_plots(grid_run):
    payload, out = grid_run
    trades = read_rows(out / "trades.csv")
    assert {"symbol", "hold", "leverage"} <= set(trades[0])
    for label, s in payload["stats"].items():
        symbol, lev, hold = label.split(" ")
        mine = [t for t in trades if t["symbol"] == symbol and f"leverage={float(t['leverage'])}"
                == lev and f"hold={t['hold']}" == hold]
        assert len(mine) == s["trades"]
        assert s["final_equity"] == pytest.approx(
            10_000 + sum(float(t["pnl"]) for t in mine), rel=1e-9, abs=1e-6)
    png = (out / "equity.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    from test_plots import assert_offline, strip_scripts

    raw = (out / "report.html").read_text()
    assert_offline(raw)                       # plotly.js inline: nothing to fetch
    html = strip_scripts(raw)
    assert "<noscript><img src=\"data:image/png;base64," in html
    assert "NVDA leverage=50.0 hold=3" in html
    assert "<h2>Aggregate</h2>" in html and "Catalyst" in html


def test_grid_table_prints_the_ranking(cli):
    proc = cli("backtest", "--demo", "--symbols", "AMD", "--grid", "leverage=1,3",
               "--rank-by", "liquidations", check_code=0, timeout=TIMEOUT)
    assert "Top 2 of 2 runs by Liquidations / close-outs" in proc.stdout
    assert "Combinations over all symbols" in proc.stdout


def test_shared_account_json(cli):
    proc = cli("backtest", "--demo", "--symbols", "NVDA,AMD", "--account", "shared",
               "--format", "json", check_code=0, timeout=TIMEOUT)
    payload = json.loads(proc.stdout)
    assert payload["assumptions"]["account"] == "one shared account for all symbols"
    (aggregate,) = payload["aggregate"]
    trades = sum(s["trades"] for s in payload["stats"].values())
    assert aggregate["trades"] == trades and aggregate["sharpe"] is not None


GRID_BAD = {
    "grid key not a parameter": (("--grid", "nope=1,2"), "nope"),
    "empty grid": (("--grid", "hold="), "at least one value"),
    "grid without =": (("--grid", "hold"), "KEY=V1,V2"),
    "bad rank metric": (("--rank-by", "luck"), "--rank-by"),
    "unknown account": (("--account", "joint"), "--account"),
}


@pytest.mark.parametrize("args, fragment", list(GRID_BAD.values()), ids=list(GRID_BAD))
def test_grid_bad_input_exits_2(cli, args, fragment, tmp_path):
    proc = cli("backtest", "--demo", "--symbols", "NVDA", *args, "--out", tmp_path / "o")
    assert_one_line_error(proc, 2, fragment)
    assert not (tmp_path / "o").exists()                    # nothing written


def test_plot_needs_out(cli):
    assert_one_line_error(cli("backtest", "--demo", "--plot"), 2, "--out")


def test_bad_events_file_exits_2(cli, tmp_path):
    bad = tmp_path / "mine.csv"
    bad.write_text("time,title,category,direction,status,asset_classes,symbols,reach,source\n"
                   "2024-05-01T00:00:00Z,x,test,1,maybe,equity,NVDA,symbols,me\n")
    proc = cli("backtest", "--demo", "--symbols", "NVDA", "--events", bad)
    assert_one_line_error(proc, 2, "mine.csv", "line 2", "status")


def test_a_large_grid_points_to_sweep():
    """In-process through typer's runner (the entry point's subprocess path is covered by the
    tests above): 1 symbol x 3 x 700 = 2,100 runs > SWEEP_HINT_RUNS (2,000); 100 stay quiet.

    Slow (about 20 s on a loaded machine) because the hint needs more than 2,000 runs, and the
    backtest's payload computes each run's statistics in pandas twice (per run and per
    combination) plus the grid's PBO: sitcli's cost, not the test's."""
    from typer.testing import CliRunner

    from sitcli.cli import app

    stops = ",".join(f"{0.001 * k:.3f}" for k in range(1, 701))
    runner = CliRunner()
    big = runner.invoke(app, ["backtest", "--demo", "--symbols", "TSM", "--grid", "hold=1,2,3",
                              "--grid", f"stop={stops}", "--format", "json"])
    assert big.exit_code == 0, big.stderr
    assert "2,100 runs" in big.stderr and "sitcli sweep" in big.stderr
    assert len(json.loads(big.stdout)["stats"]) == 2100
    small = runner.invoke(app, ["backtest", "--demo", "--symbols", "TSM", "--grid", "hold=1,2,3,4",
                                "--grid", "stop=" + ",".join(stops.split(",")[:25]),
                                "--format", "json"])
    assert small.exit_code == 0, small.stderr
    assert "sitcli sweep" not in small.stderr
