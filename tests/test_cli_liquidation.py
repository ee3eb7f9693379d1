"""`sitcli liquidation` through the installed entry point: every output format, venues, demo
entry prices, and bad input (exit 2, one `error:` line, no traceback unless --debug)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from cli_helpers import assert_one_line_error

BASE = ("liquidation", "--leverage", "50", "--side", "long", "--entry", "100", "--qty", "1")
DEFAULT_MOVES = [-5.0, -3.0, -2.0, -1.0, 1.0, 2.0, 3.0, 5.0]
MOVE_KEYS = {"move_pct", "price", "return_on_margin_pct", "liquidated"}
TOP_KEYS = {"liquidation_price", "bankruptcy_price", "adverse_move_pct", "moves", "assumptions"}


def run_json(cli, *args) -> dict:
    out = cli(*args, "--format", "json", check_code=0)
    return json.loads(out.stdout)


def run_csv(cli, *args) -> list[dict]:
    out = cli(*args, "--format", "csv", check_code=0)
    return list(csv.DictReader(io.StringIO(out.stdout)))


def table_rows(stdout: str) -> list[list[str]]:
    """Cells of every body row of the rich tables in `stdout`."""
    return [[c.strip() for c in line.strip().strip("│").split("│")]
            for line in stdout.splitlines() if line.startswith("│")]


def moves_by_pct(payload: dict) -> dict[float, dict]:
    return {m["move_pct"]: m for m in payload["moves"]}


# --- the reference position: 50x long at 100, no maintenance -------------------------------

def test_long_50x_json(cli):
    p = run_json(cli, *BASE)
    assert TOP_KEYS <= p.keys()
    assert p["liquidation_price"] == pytest.approx(98.0)
    assert p["bankruptcy_price"] == pytest.approx(98.0)
    assert p["adverse_move_pct"] == pytest.approx(-2.0)
    assert p["side"] == "long" and p["qty"] == 1 and p["margin"] == pytest.approx(2.0)
    assert [m["move_pct"] for m in p["moves"]] == DEFAULT_MOVES
    for m in p["moves"]:
        assert set(m) == MOVE_KEYS
        assert m["price"] == pytest.approx(100 * (1 + m["move_pct"] / 100))
        assert m["liquidated"] is (m["move_pct"] <= -2)
    moves = moves_by_pct(p)
    assert moves[3.0]["return_on_margin_pct"] == pytest.approx(150.0)
    assert moves[-1.0]["return_on_margin_pct"] == pytest.approx(-50.0)
    assert moves[-2.0]["return_on_margin_pct"] == pytest.approx(-100.0)
    assert moves[-5.0]["return_on_margin_pct"] == pytest.approx(-100.0)  # capped at the margin
    a = p["assumptions"]
    assert a["maintenance_rate"] == 0 and a["fee_per_side"] == 0 and a["venue"] is None
    assert a["entry_source"] == "--entry" and a["rule"]


def test_long_50x_csv(cli):
    rows = run_csv(cli, *BASE)
    assert list(rows[0]) == ["move_pct", "price", "return_on_margin_pct", "liquidated"]
    assert [float(r["move_pct"]) for r in rows] == DEFAULT_MOVES
    by_move = {float(r["move_pct"]): r for r in rows}
    assert float(by_move[3.0]["return_on_margin_pct"]) == pytest.approx(150.0)
    assert float(by_move[3.0]["price"]) == pytest.approx(103.0)
    assert by_move[3.0]["liquidated"] == "False"
    assert by_move[-2.0]["liquidated"] == "True"
    assert float(by_move[-2.0]["return_on_margin_pct"]) == pytest.approx(-100.0)
    assert by_move[-1.0]["liquidated"] == "False"


def test_long_50x_table(cli):
    out = cli(*BASE, check_code=0)
    assert "Liquidation" in out.stdout and "Return on margin per move" in out.stdout
    pairs = {r[0]: r[1] for r in table_rows(out.stdout) if len(r) == 2}
    assert pairs["liquidation price"] == "98"
    assert pairs["bankruptcy price"] == "98"
    assert pairs["adverse move to liquidation"] == "-2.0000%"
    assert pairs["position"].startswith("long 1 @ 100, 50x")
    moves = {float(r[0]): r for r in table_rows(out.stdout) if len(r) == 4}
    assert sorted(moves) == DEFAULT_MOVES
    assert moves[3.0][1:] == ["103.0000", "150.0000", ""]
    assert moves[-2.0][1:] == ["98.0000", "-100.0000", "LIQUIDATED"]
    assert moves[-1.0][3] == ""
    assert out.stdout.count("LIQUIDATED") == 3


# --- maintenance, side, venue, fees, size --------------------------------------------------

def test_mmr_moves_liquidation_closer(cli):
    args = (*BASE, "--mmr", "0.005", "--moves", "-1.6,-1.5,3")
    p = run_json(cli, *args)
    assert p["liquidation_price"] == pytest.approx(98 / 0.995)          # 98.4925
    assert p["liquidation_price"] == pytest.approx(98.4925, abs=1e-4)
    assert p["adverse_move_pct"] == pytest.approx(-1.5075, abs=1e-4)
    assert p["bankruptcy_price"] == pytest.approx(98.0)
    assert p["assumptions"]["maintenance_rate"] == 0.005
    moves = moves_by_pct(p)
    assert moves[-1.6]["liquidated"] and not moves[-1.5]["liquidated"]
    assert moves[-1.5]["return_on_margin_pct"] == pytest.approx(-75.0)
    pairs = {r[0]: r[1] for r in table_rows(cli(*args, check_code=0).stdout) if len(r) == 2}
    assert pairs["liquidation price"] == "98.4925"
    assert pairs["adverse move to liquidation"] == "-1.5075%"
    assert pairs["maintenance"].startswith("rate 0.005, amount 0")
    rows = {float(r["move_pct"]): r["liquidated"] for r in run_csv(cli, *args)}
    assert rows == {-1.6: "True", -1.5: "False", 3.0: "False"}


def test_short(cli):
    args = ("liquidation", "--leverage", "50", "--side", "short", "--entry", "100", "--qty", "1")
    p = run_json(cli, *args)
    assert p["side"] == "short"
    assert p["liquidation_price"] == pytest.approx(102.0)
    assert p["bankruptcy_price"] == pytest.approx(102.0)
    assert p["adverse_move_pct"] == pytest.approx(2.0)
    for m in p["moves"]:
        assert m["liquidated"] is (m["move_pct"] >= 2)
    assert moves_by_pct(p)[-3.0]["return_on_margin_pct"] == pytest.approx(150.0)
    assert moves_by_pct(p)[1.0]["return_on_margin_pct"] == pytest.approx(-50.0)
    out = cli(*args, check_code=0)
    assert "short 1 @ 100, 50x" in out.stdout
    pairs = {r[0]: r[1] for r in table_rows(out.stdout) if len(r) == 2}
    assert pairs["liquidation price"] == "102" and pairs["adverse move to liquidation"] == "+2.0000%"
    assert out.stdout.count("LIQUIDATED") == 3


def test_venue_perp_isolated_uses_tier_one(cli):
    p = run_json(cli, *BASE, "--venue", "perp-isolated")
    a = p["assumptions"]
    assert a["venue"] == "perp-isolated" and a["margin_mode"] == "isolated"
    assert a["maintenance_rate"] == pytest.approx(0.004)    # tier 1 at a notional of 100
    assert a["maintenance_amount"] == 0
    assert a["fee_per_side"] == pytest.approx(0.0005) and a["liquidation_fee"] == "the margin left"
    # the entry fee (0.05 on 100 notional) is paid from the wallet on top of the 2.0 margin,
    # as the backtest opens it: LP = (2 - 100) / (0.004 - 1) = 98 / 0.996
    assert p["liquidation_price"] == pytest.approx((100 - 2) / (1 - 0.004))
    assert p["bankruptcy_price"] == pytest.approx(98.0)
    # a liquidation closes at the bankruptcy price: the 2.0 margin and the 0.05 fee are lost
    assert moves_by_pct(p)[-5.0]["return_on_margin_pct"] == pytest.approx(-102.5)
    out = cli(*BASE, "--venue", "perp-isolated", check_code=0)
    pairs = {r[0]: r[1] for r in table_rows(out.stdout) if len(r) == 2}
    assert pairs["venue"] == "perp-isolated" and pairs["maintenance"].startswith("rate 0.004, amount 0")


def test_venue_perp_isolated_second_tier(cli):
    """Notional 100,000 sits in BTC tier 2: rate 0.005, amount 50000 x 0.001 = 50, cap 100x."""
    p = run_json(cli, "liquidation", "-l", "100", "--entry", "100", "--qty", "1000",
                 "--venue", "perp-isolated")
    a = p["assumptions"]
    assert a["maintenance_rate"] == pytest.approx(0.005)
    assert a["maintenance_amount"] == pytest.approx(50.0)
    # margin 100,000 / 100 = 1,000 (the fee is paid from the wallet):
    # LP = (1000 + 50 - 100000) / (1000 * (0.005 - 1)) = 98950 / 995
    assert p["liquidation_price"] == pytest.approx((100_000 - 1000 - 50) / (1000 * 0.995))
    proc = cli("liquidation", "-l", "125", "--entry", "100", "--qty", "1000",
               "--venue", "perp-isolated")
    assert_one_line_error(proc, 2, "100x", "--allow-above-cap")


def test_margin_and_qty(cli):
    p = run_json(cli, "liquidation", "-l", "10", "--entry", "100", "--margin", "50")
    assert p["qty"] == pytest.approx(5.0) and p["notional"] == pytest.approx(500.0)
    assert p["margin"] == pytest.approx(50.0) and p["liquidation_price"] == pytest.approx(90.0)
    q = run_json(cli, "liquidation", "-l", "10", "--entry", "100", "--qty", "3")
    assert q["qty"] == pytest.approx(3.0) and q["notional"] == pytest.approx(300.0)
    assert q["margin"] == pytest.approx(30.0) and q["liquidation_price"] == pytest.approx(90.0)
    # return on margin does not depend on the size
    assert [m["return_on_margin_pct"] for m in p["moves"]] == pytest.approx(
        [m["return_on_margin_pct"] for m in q["moves"]])
    assert moves_by_pct(q)[1.0]["return_on_margin_pct"] == pytest.approx(10.0)
    # extra wallet balance behind a 10x position pushes the liquidation price away
    both = run_json(cli, "liquidation", "-l", "10", "--entry", "100", "--qty", "2",
                    "--margin", "50")
    assert both["margin"] == pytest.approx(50.0) and both["liquidation_price"] == pytest.approx(75.0)


def test_fee(cli):
    args = ("liquidation", "-l", "10", "--entry", "100", "--fee", "0.001", "--qty", "1")
    p = run_json(cli, *args)
    assert p["assumptions"]["fee_per_side"] == 0.001
    # the 0.1 entry fee is paid on top of the 10 margin, so the liquidation price stays 90
    assert p["liquidation_price"] == pytest.approx(90.0)
    assert p["bankruptcy_price"] == pytest.approx(90.0)
    moves = moves_by_pct(p)
    # +1%: 1.0 gain - 0.1 entry fee - 0.101 exit fee on a 10 margin
    assert moves[1.0]["return_on_margin_pct"] == pytest.approx(7.99)
    assert moves[-5.0]["return_on_margin_pct"] == pytest.approx(-51.95)
    rows = {float(r["move_pct"]): float(r["return_on_margin_pct"]) for r in run_csv(cli, *args)}
    assert rows[1.0] == pytest.approx(7.99)
    pairs = {r[0]: r[1] for r in table_rows(cli(*args, check_code=0).stdout) if len(r) == 2}
    assert pairs["fee per side"] == "0.001" and pairs["liquidation price"] == "90"


def test_allow_above_cap(cli):
    p = run_json(cli, "liquidation", "--venue", "cfd-retail", "--leverage", "50", "--entry",
                 "100", "--allow-above-cap", "--qty", "1")
    assert p["leverage"] == 50 and p["assumptions"]["venue"] == "cfd-retail"
    assert p["assumptions"]["margin_mode"] == "account"
    # ESMA close-out at 50% of the 2.0 initial margin
    assert p["liquidation_price"] == pytest.approx(99.0)
    assert p["bankruptcy_price"] == pytest.approx(98.0)


# --- entry from the demo data --------------------------------------------------------------

@pytest.fixture(scope="module")
def nvda_last_close() -> float:
    from sitcli.data.store import demo_store

    bars = demo_store().read("NVDA")
    assert bars.attrs["sitcli"]["synthetic"]
    return float(bars["close"].iloc[-1])


def test_symbol_demo_json(cli, nvda_last_close):
    p = run_json(cli, "liquidation", "-l", "5", "--symbol", "NVDA", "--demo")
    assert p["entry"] == pytest.approx(nvda_last_close)
    assert p["assumptions"]["venue"] == "cfd-retail"      # NVDA's venue from instruments.toml
    assert "synthetic demo data" in p["assumptions"]["entry_source"]
    assert p["liquidation_price"] == pytest.approx(0.9 * nvda_last_close)   # 5x, close-out 50%


def test_symbol_demo_table(cli, nvda_last_close):
    out = cli("liquidation", "-l", "5", "--symbol", "NVDA", "--demo", check_code=0)
    assert f"@ {nvda_last_close:g}" in out.stdout
    assert "synthetic demo data" in out.stdout + out.stderr


def test_symbol_demo_csv_says_synthetic(cli, nvda_last_close):
    out = cli("liquidation", "-l", "5", "--symbol", "NVDA", "--demo", "--format", "csv",
              check_code=0)
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert float(rows[0]["price"]) == pytest.approx(nvda_last_close * 0.95)
    assert "synthetic" in (out.stdout + out.stderr).lower()


def test_symbol_without_stored_data_exits_3(cli):
    proc = cli("liquidation", "-l", "5", "--symbol", "NVDA")   # empty SITCLI_DATA_DIR
    assert_one_line_error(proc, 3, "NVDA", "--demo")


# --- bad input -----------------------------------------------------------------------------

BAD = {
    "leverage 0": (("--leverage", "0", "--entry", "100"), "leverage 0"),
    "leverage negative": (("--leverage", "-5", "--entry", "100"), "leverage -5"),
    "above venue cap": (("--venue", "cfd-retail", "--leverage", "50", "--entry", "100"),
                        "--allow-above-cap"),
    "unknown venue": (("--venue", "nope", "--leverage", "5", "--entry", "100"), "nope"),
    "entry 0": (("--leverage", "5", "--entry", "0"), "--entry 0"),
    "entry negative": (("--leverage", "5", "--entry", "-3"), "--entry -3"),
    "liquidates on entry": (("--mmr", "0.03", "--leverage", "50", "--entry", "100"), "--mmr"),
    "short liquidates on entry": (("--mmr", "0.03", "--leverage", "50", "--entry", "100",
                                   "--side", "short"), "on entry"),
    "neither entry nor symbol": (("--leverage", "5"), "--entry"),
    "both entry and symbol": (("--leverage", "5", "--entry", "100", "--symbol", "NVDA",
                               "--demo"), "--symbol"),
    "moves not numbers": (("--leverage", "5", "--entry", "100", "--moves", "a,b"), "--moves"),
    "moves empty": (("--leverage", "5", "--entry", "100", "--moves", ","), "--moves"),
    "move below -100%": (("--leverage", "5", "--entry", "100", "--moves", "-150"), "--moves"),
    "bad side": (("--leverage", "5", "--entry", "100", "--side", "up"), "--side"),
    "mmr 1": (("--leverage", "5", "--entry", "100", "--mmr", "1"), "--mmr"),
    "fee too big": (("--leverage", "5", "--entry", "100", "--fee", "0.2"), "--fee"),
    "qty 0": (("--leverage", "5", "--entry", "100", "--qty", "0"), "--qty 0"),
    "margin 0": (("--leverage", "5", "--entry", "100", "--margin", "0"), "margin"),
}


@pytest.mark.parametrize("args, fragment", list(BAD.values()), ids=list(BAD))
def test_bad_input_exits_2_with_one_line(cli, args, fragment):
    # --format json: a script reading stdout must get nothing, the message goes to stderr
    proc = cli("liquidation", *args, "--format", "json")
    assert_one_line_error(proc, 2, fragment)


@pytest.mark.parametrize("args", [("--leverage", "5", "--entry", "abc"),
                                  ("--entry", "100"),
                                  ("--leverage", "5", "--entry", "100", "--format", "xml")],
                         ids=["entry not a number", "leverage missing", "unknown format"])
def test_usage_errors_exit_2_without_traceback(cli, args):
    # typer's own checks (types, required options, choices) speak in one line too
    proc = cli("liquidation", *args)
    assert_one_line_error(proc, 2, "(see sitcli liquidation --help)")


def test_infinite_entry_is_bad_input(cli):
    assert_one_line_error(cli("liquidation", "-l", "5", "--entry", "inf"), 2, "entry")


@pytest.mark.parametrize("where", ["after", "before"])
def test_debug_shows_traceback(cli, where):
    args = ("liquidation", "--leverage", "0", "--entry", "100")
    argv = (*args, "--debug") if where == "after" else ("--debug", *args)
    proc = cli(*argv)
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr
    assert "BadInput: --leverage 0 is out of range" in proc.stderr


def test_debug_keeps_exit_code(cli):
    proc = cli("liquidation", "--leverage", "0", "--entry", "100", "--debug")
    assert proc.returncode == 2
