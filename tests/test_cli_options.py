"""The run options `backtest`, `sweep` and `montecarlo` share are declared once and stay in step;
choices are typed (str-Enums) and a bad one is one `error:` line."""

from __future__ import annotations

import dataclasses

import pytest
import typer
from cli_helpers import assert_one_line_error

from sitcli.cli import app
from sitcli.cli.run_options import RunOptions

# options only backtest has: they write or read full curves and trade lists
BACKTEST_ONLY = {"--out", "--plot", "--stats", "--compare-detail"}
# backtest options with no meaning for a Monte Carlo of trades
NOT_MONTECARLO = {"--out", "--plot", "--stats", "--compare-detail", "--save", "--rank-by",
                  "--top", "--oos", "--oos-start", "--walk-forward", "--wf-train", "--wf-test",
                  "--wf-anchored",
                  # its own --on-ruin / --ruin-level: they act on each simulated path
                  "--on-ruin", "--ruin-level"}


def _params(name: str) -> dict[str, object]:
    command = typer.main.get_command(app).commands[name]
    return {(p.opts[0] if p.opts[0].startswith("-") else p.name): p for p in command.params}


def _same(a, b) -> bool:
    """The same option: names, flags, default, help."""
    return (a.name, tuple(a.opts), a.default, getattr(a, "help", None)) == \
        (b.name, tuple(b.opts), b.default, getattr(b, "help", None))


@pytest.mark.parametrize("command, left_out", [("sweep", BACKTEST_ONLY),
                                               ("montecarlo", NOT_MONTECARLO)])
def test_run_options_are_backtests(command, left_out):
    backtest, other = _params("backtest"), _params(command)
    shared = [k for k in backtest if k not in left_out]
    missing = [k for k in shared if k not in other]
    assert not missing, f"{command} lacks backtest's {missing}"
    differ = [k for k in shared if not _same(backtest[k], other[k])]
    assert not differ, f"{command} declares {differ} differently from backtest"


def test_run_options_fields_are_backtest_parameters():
    names = {p.name for p in _params("backtest").values()}
    assert {f.name for f in dataclasses.fields(RunOptions)} <= names


@pytest.mark.parametrize("args, fragments", [
    (("backtest", "--demo", "--fill", "midday"), ["--fill 'midday': use open or close"]),
    (("backtest", "--demo", "--account", "joint"), ["--account 'joint': use isolated or shared"]),
    (("backtest", "--demo", "--cfd-hours", "never"), ["--cfd-hours 'never': use session or 24/7"]),
    (("backtest", "--demo", "--stats", "most"), ["--stats 'most': use basic or full"]),
    (("sweep", "--demo", "--executor", "gpu"), ["--executor 'gpu': use local or dask"]),
    (("scenario", "--demo", "--method", "magic"),
     ["--method 'magic': use historical, bootstrap or jump-diffusion"]),
    (("scenario", "--demo", "--side", "up"), ["--side 'up': use long or short"]),
    (("liquidation", "-l", "5", "--entry", "1", "--side", "up"), ["--side 'up': use long or short"]),
    (("montecarlo", "--demo", "--method", "x"), ["--method 'x': use iid or block"]),
    (("data", "import", "x.csv", "--symbol", "X", "--asset-class", "bond"),
     ["--asset-class 'bond': use equity, index, crypto or synthetic"]),
    (("backtest", "--demo", "--nope"), ["No such option: --nope"]),
])
def test_bad_choice_is_one_line_exit_2(cli, args, fragments):
    assert_one_line_error(cli(*args), 2, *fragments)


def test_choices_accept_any_case_and_pass_plain_strings(cli):
    import json

    out = cli("backtest", "--demo", "--symbols", "NVDA", "--fill", "CLOSE", "--cfd-hours", "24/7",
              "--format", "json", check_code=0)
    assumptions = json.loads(out.stdout)["assumptions"]
    # the Enum's value, never its repr ("Fill.close")
    assert "Fill." not in out.stdout and "CfdHours." not in out.stdout
    assert "close" in assumptions["fill"]
