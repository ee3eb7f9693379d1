"""Issue 17, case 1 (and 12): every numeric input has a declared domain, checked in one place
(sitcli.domains); a value outside it is exit 2 naming the field, the value and the range."""

from __future__ import annotations

import math
import textwrap

import pytest
from cli_helpers import assert_one_line_error, run_sitcli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from robustness_helpers import non_finite_numbers, run_main

from sitcli.domains import VENUE, Domain, check
from sitcli.errors import BadInput

# ---------------------------------------------------------------- the domains themselves


def test_domain_membership_by_hand():
    fee = VENUE["fee"]                    # [0, 0.1]
    assert fee.contains(0.0) and fee.contains(0.1) and fee.contains(0.0005)
    assert not fee.contains(-1e-12) and not fee.contains(0.1000001)
    assert not fee.contains(math.nan) and not fee.contains(math.inf)
    stop = Domain(lo=0.0, hi=100.0, lo_open=True, nan_off=True)
    assert stop.contains(math.nan)        # nan means "off" for stops
    assert not stop.contains(0.0) and stop.contains(1e-9)
    hold = Domain(lo=0, hi=1e9, integer=True)
    assert hold.contains(3) and not hold.contains(2.5) and not hold.contains(-1)


def test_domain_messages_name_field_value_and_range():
    with pytest.raises(BadInput, match=r"^--set fee=-0\.5 is out of range: expected a finite "
                                       r"number in \[0, 0\.1\]$"):
        check("--set fee", -0.5, VENUE["fee"])
    with pytest.raises(BadInput, match=r"^--cash inf is out of range: expected a finite number "
                                       r"in \(0, 1e\+15\]$"):
        check("--cash", math.inf, Domain(lo=0.0, hi=1e15, lo_open=True), sep=" ")


# ---------------------------------------------------------------- the cases of the issue

DEMO = ("backtest", "--demo", "--symbols", "NVDA")


@pytest.mark.parametrize("args, fragment", [
    ((*DEMO, "--param", "stop=-0.5"), "stop=-0.5 is out of range: expected a finite number in "
                                      "(0, 100] (or nan = off)"),
    ((*DEMO, "--set", "half_spread=-0.05"), "--set half_spread=-0.05 is out of range"),
    ((*DEMO, "--set", "fee=nan"), "--set fee=nan is out of range: expected a finite number in "
                                  "[0, 0.1]"),
    ((*DEMO, "--set", "max_leverage=nan", "--leverage", "1000"), "--set max_leverage=nan"),
    ((*DEMO, "--cash", "inf"), "--cash inf is out of range"),
    ((*DEMO, "--set", "closeout_level=-1"), "--set closeout_level=-1 is out of range: expected "
                                            "a finite number in [0, 1]"),
    ((*DEMO, "--param", "take=-0.1"), "take=-0.1 is out of range"),
    ((*DEMO, "--param", "hold=-3"), "hold=-3 is out of range: expected an integer in [0, 1e+09]"),
    ((*DEMO, "--size", "inf"), "--size inf is out of range: expected a finite number in (0, 1]"),
    ((*DEMO, "--grid", "stop=0.02,-1"), "stop=-1 is out of range"),
    (("liquidation", "--leverage", "10", "--entry", "100", "--venue", "cfd-retail", "--set",
      "fee=-0.5"), "--set fee=-0.5 is out of range"),
    (("report", "daily", "--demo", "--out", "-", "-f", "json", "--risk-budget", "nan"),
     "--risk-budget nan is out of range"),
    (("report", "daily", "--demo", "--out", "-", "-f", "json", "--lookback-days", "-5"),
     "--lookback-days -5 is out of range"),
])
def test_out_of_range_values_exit_2_naming_field_value_and_range(args, fragment):
    got = run_main(*args)
    assert got.code == 2, (got.code, got.stderr)
    assert fragment in got.stderr
    assert got.stdout == "" and "internal error" not in got.stderr


def test_installed_entry_point_refuses_a_negative_fee(tmp_path):
    proc = run_sitcli(*DEMO, "--set", "fee=-0.5", data_dir=tmp_path)
    assert_one_line_error(proc, 2, "--set fee=-0.5 is out of range", "[0, 0.1]")


def test_a_strategy_param_domain_is_declared_with_the_param(tmp_path):
    path = tmp_path / "ranged.py"
    path.write_text(textwrap.dedent('''
        import numpy as np
        from sitcli.domains import Domain
        from sitcli.strategy import Param, Strategy

        class Ranged(Strategy):
            """Never trades; declares a lookback of at least 2 bars."""
            name = "ranged"
            params = {"lookback": Param(20, "bars", domain=Domain(lo=2, hi=500, integer=True))}

            def signals(self, bars, events, params, context):
                return np.zeros(len(bars), np.int8), np.zeros(len(bars), bool)
        '''))
    ok = run_main(*DEMO, "--strategy", path, "--param", "lookback=2", "-f", "json")
    assert ok.code == 0, ok.stderr
    bad = run_main(*DEMO, "--strategy", path, "--param", "lookback=1")
    assert bad.code == 2
    assert "lookback=1 is out of range: expected an integer in [2, 500]" in bad.stderr


def test_a_strategy_whose_own_default_is_out_of_its_domain_is_refused(tmp_path):
    path = tmp_path / "bad_default.py"
    path.write_text(textwrap.dedent('''
        import numpy as np
        from sitcli.domains import Domain
        from sitcli.strategy import Param, Strategy

        class BadDefault(Strategy):
            name = "bad_default"
            params = {"k": Param(-1.0, "threshold", domain=Domain(lo=0.0))}

            def signals(self, bars, events, params, context):
                return np.zeros(len(bars), np.int8), np.zeros(len(bars), bool)
        '''))
    got = run_main(*DEMO, "--strategy", path)
    assert got.code == 2
    assert "default of parameter k=-1.0 is out of range: expected a finite number >= 0" in got.stderr


# ---------------------------------------------------------------- random values, every field

NUMERIC_FIELDS = (
    [("--set", f"{name}=") for name in VENUE]
    + [("--param", "stop="), ("--param", "take="), ("--param", "hold="),
       ("--cash", ""), ("--size", ""), ("--leverage", "")]
)
NASTY = st.one_of(
    st.sampled_from(["nan", "-nan", "inf", "-inf", "1e308", "-1e308", "0", "-0", "-1", "1e-320",
                     "3", "0.5", "2"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-10**12, max_value=10**12).map(str),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(NUMERIC_FIELDS), value=NASTY)
def test_any_value_in_any_numeric_field_exits_0_or_2_with_finite_output(field, value):
    """60 hypothesis examples over 17 numeric fields, each a demo backtest through `main` in
    this process (about 25 s on a loaded machine): fewer would try each field on only a
    couple of nasty values."""
    flag, prefix = field
    got = run_main(*DEMO, "--start", "2025-01-01", flag, prefix + value, "-f", "json")
    assert got.code in (0, 2), (flag, prefix + value, got.code, got.stderr)
    assert "internal error" not in got.stderr
    assert not non_finite_numbers(got.stdout), (flag, prefix + value)
    if got.code == 2:
        assert got.stderr.startswith("error: ") and got.stdout == ""


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(["--entry", "--qty", "--margin", "--mmr", "--fee", "--leverage"]),
       value=NASTY)
def test_liquidation_calculator_any_value_exits_0_or_2_with_finite_output(field, value):
    args = {"--leverage": "10", "--entry": "100"}
    args[field] = value
    flat = [x for kv in args.items() for x in kv]
    got = run_main("liquidation", *flat, "-f", "json")
    assert got.code in (0, 2), (field, value, got.code, got.stderr)
    assert "internal error" not in got.stderr
    assert not non_finite_numbers(got.stdout), (field, value)
