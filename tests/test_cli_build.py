"""A command line builds only the command it names (`sitcli.cli.click_command`): that command
is the same as in the whole app, and the other commands' modules are not imported."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer

from sitcli.cli import COMMANDS, _named_command, app, click_command, make_app


def _helps(command, path=()):
    """{command path: its --help text} of a command and every subcommand below it."""
    ctx = command.context_class(command, info_name=" ".join(("sitcli", *path)))
    out = {path: command.get_help(ctx)}
    for name, sub in (getattr(command, "commands", None) or {}).items():
        out.update(_helps(sub, (*path, name)))
    return out


def test_commands_are_the_apps():
    assert sorted(typer.main.get_command(app).commands) == sorted(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_one_command_is_built_as_in_the_whole_app(name):
    """Its help, every subcommand's help and its parameters are those of the whole app."""
    whole = typer.main.get_command(app).commands[name]
    alone = typer.main.get_command(make_app((name,)))
    assert list(alone.commands) == [name]
    assert _helps(alone.commands[name], (name,)) == _helps(whole, (name,))
    assert [(p.name, p.opts, p.default) for p in alone.commands[name].params] == \
        [(p.name, p.opts, p.default) for p in whole.params]


@pytest.mark.parametrize("argv, name", [
    (["backtest", "--demo"], "backtest"), (["--debug", "report", "daily"], "report"),
    (["--version"], None), ([], None), (["bakctest"], "bakctest")])
def test_the_named_command(argv, name):
    assert _named_command(argv) == name


def test_an_unknown_name_builds_every_command():
    """A typo gets click's suggestion from the whole app."""
    assert sorted(click_command("bakctest").commands) == sorted(COMMANDS)


PROBE = """
import json, sys
from sitcli.cli import click_command
root = click_command("backtest")
ctx = root.make_context("sitcli", ["backtest", "--demo"])
print(json.dumps({"commands": list(root.commands),
                  "modules": sorted(m for m in sys.modules if m.startswith("sitcli.cli."))}))
"""


def test_a_command_line_imports_only_its_command():
    out = json.loads(subprocess.run([sys.executable, "-c", PROBE], capture_output=True,
                                    text=True, check=True).stdout)
    assert out["commands"] == ["backtest"]
    others = {f"sitcli.cli.{name}" for name in COMMANDS} - {"sitcli.cli.backtest"}
    assert not others & set(out["modules"]), out["modules"]
