"""Option values coerced without pydantic (`sitcli.cli.coercion`) equal typer's own pydantic
route on every option of every command: the same value of the same type, or the same error."""

from __future__ import annotations

import subprocess
import sys
from enum import Enum
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitcli.cli import click_command
from sitcli.cli.coercion import PlainCoercion, _commands, _help_option, install, supported

pytestmark = pytest.mark.skipif(not supported(), reason="typer without the runtime-param slot")

NUMBERS = ["0", "1", "-2", "+3", "007", "1.", ".5", "1.5", "-0.25", "1e3", "2E-2", "1e400",
           "1_000", " 5", "5 ", "inf", "nan", "0x10", "1.5e", "", ".", "+", "abc", "٣"]
TEXT = ["", "NVDA", "NVDA,AMD", "a b", "é", "--x", "24/7", "leverage=5,20"]
PATHS = ["", ".", "out", "/tmp", "~/x", "a/../b", "/nonexistent/dir/file.csv", "-"]


def _parameters():
    """(command path, parameter) of every typer parameter of every command, --help too."""
    out = []
    for command in _commands(click_command()):
        for param in [*command.params, *_help_option(command)]:
            if hasattr(param, "type_descriptor"):
                out.append((command.name or "sitcli", param))
    return out


PARAMETERS = _parameters()


def _samples(param) -> list:
    annotation = param.type_descriptor.annotation
    values = [None, param.default, *NUMBERS, *TEXT, *PATHS, 5, 5.0, True, False, Path("x")]
    leaf = getattr(annotation, "__args__", (annotation,))[0]
    if isinstance(leaf, type) and issubclass(leaf, Enum):
        values += [*leaf, *(m.value for m in leaf), *(m.value.upper() for m in leaf)]
    if getattr(annotation, "__origin__", None) is list:
        values += [[], ("a", "b"), ["1", "x"], [Path("a")], ("",)]
    return values


def _outcome(coercion, value, param, ctx):
    try:
        got = coercion.coerce(value, param=param, ctx=ctx)
    except Exception as exc:   # the same error: its type and its message
        return ("error", type(exc).__name__, getattr(exc, "message", str(exc)))
    return ("value", type(got).__name__, repr(got),
            [type(x).__name__ for x in got] if isinstance(got, (list, tuple)) else None)


def _both(param, value):
    from typer._coercion import build_runtime_param

    ctx = param_ctx(param)
    typers = build_runtime_param(param.type_descriptor)
    mine = param.__dict__.get("_runtime_param")
    return _outcome(mine, value, param, ctx), _outcome(typers, value, param, ctx)


def param_ctx(param):
    return CONTEXTS[id(param)]


CONTEXTS = {id(p): c.context_class(c, **(c.context_settings or {}))
            for c in _commands(click_command()) for p in [*c.params, *_help_option(c)]}


def test_every_plain_option_is_installed():
    """Each command's options of sitcli's plain types coerce without pydantic; only an option
    with typer's extra number checks (min/max) keeps typer's route."""
    kept = [(name, p.name) for name, p in PARAMETERS
            if not isinstance(p.__dict__.get("_runtime_param"), PlainCoercion)]
    assert len(PARAMETERS) > 300
    assert kept == [("show", "tail")], kept   # `data show --tail` has a minimum (min=1)


def test_the_option_on_typers_route_keeps_its_bounds(tmp_path):
    """`data show --tail` is coerced by typer (it has a minimum): a value below it is still one
    error line naming the option, exit 2."""
    from cli_helpers import assert_one_line_error, run_in_process

    proc = run_in_process("data", "show", "NVDA", "--tail", "-1", data_dir=tmp_path)
    assert_one_line_error(proc, 2, "'--tail'", "greater than or equal to 0")


# the options coerced by sitcli (`data show --tail` keeps typer's route: see above)
PLAIN_PARAMETERS = [(n, p) for n, p in PARAMETERS
                    if isinstance(p.__dict__.get("_runtime_param"), PlainCoercion)]


@pytest.mark.parametrize("name, param", PLAIN_PARAMETERS,
                         ids=[f"{n}-{p.name}" for n, p in PLAIN_PARAMETERS])
def test_plain_coercion_equals_typers(name, param):
    """Hand-picked values: plain numbers and odd ones (underscores, spaces, hex, inf, a
    non-ASCII digit), empty strings, paths, enum members, values and other case, lists."""
    for value in _samples(param):
        mine, typers = _both(param, value)
        assert mine == typers, (name, param.name, value)


NUMBER_PARAMS = [(n, p) for n, p in PLAIN_PARAMETERS
                 if p.type_descriptor.annotation in (int, float)]


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=12), st.from_regex(r"[+-]?[0-9_.eE+-]{1,10}",
                                                         fullmatch=True)),
       pick=st.integers(0, 10_000))
def test_numbers_equal_typers_on_any_text(text, pick):
    """Any text given to an int or float option: the plain parse and pydantic's agree."""
    name, param = NUMBER_PARAMS[pick % len(NUMBER_PARAMS)]
    mine, typers = _both(param, text)
    assert mine == typers, (name, param.name, text)


def test_a_command_line_imports_no_pydantic():
    """Parsing a backtest command line with typical options needs no pydantic (its import
    was about 0.1 CPU-s of every command)."""
    code = ("import sys\n"
            "from sitcli.cli import click_command\n"
            "root = click_command()\n"
            "args = ['backtest', '--demo', '--symbols', 'NVDA,AMD', '--grid', 'leverage=5,20',"
            " '--set', 'fee=0.001', '--fill', 'close', '--cfd-hours', '24/7', '--cash', '5000',"
            " '--top', '3', '--out', 'somewhere', '--ruin-level', '0.02', '-q']\n"
            "ctx = root.make_context('sitcli', list(args))\n"
            "sub = root.get_command(ctx, 'backtest')\n"
            "sub_ctx = sub.make_context('backtest', args[1:], parent=ctx)\n"
            "print(sub_ctx.params['cash'], sub_ctx.params['fill'], sub_ctx.params['top'],"
            " sub_ctx.params['out'], 'pydantic' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["5000.0", "Fill.close", "3", "somewhere", "False"]


@pytest.mark.parametrize("flag, given, expected", [
    ("--cash", "5000", 5000.0), ("--top", "3", 3), ("--symbols", "NVDA", "NVDA"),
    ("--fill", "CLOSE", "close"), ("--out", "runs/x", Path("runs/x")),
    ("--grid", ("leverage=5,20", "hold=1"), ["leverage=5,20", "hold=1"]),
    ("--events", ("a.csv",), [Path("a.csv")]), ("--plot", False, False)])
def test_plain_values_take_the_plain_route(flag, given, expected):
    """What a command line gives is converted without typer's route (never built here)."""
    from sitcli.cli.coercion import plain_coercion

    command = click_command().commands["backtest"]
    param = next(p for p in command.params if flag in p.opts)
    coercion = plain_coercion(param)
    got = coercion.coerce(given, param=param, ctx=param_ctx(param))
    assert (got.value if isinstance(got, Enum) else got) == expected
    assert coercion.typer_route is None


def test_install_keeps_what_is_set():
    """A second install changes nothing (the command is built once per process)."""
    assert install(click_command()) == 0
