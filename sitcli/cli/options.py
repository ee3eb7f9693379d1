"""Options shared by every command, declared once."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


# The choices of the commands' options: typer checks them (one-line error, exit 2) and a config
# file's value is checked against the same list. Commands pass `.value` on, plain strings.

class Side(str, Enum):
    long = "long"
    short = "short"


class Fill(str, Enum):
    open = "open"
    close = "close"


class Account(str, Enum):
    isolated = "isolated"
    shared = "shared"


class CfdHours(str, Enum):
    session = "session"
    always = "24/7"


class StatsLevel(str, Enum):
    basic = "basic"
    full = "full"


class Executor(str, Enum):
    local = "local"
    dask = "dask"


class ScenarioMethod(str, Enum):
    historical = "historical"
    bootstrap = "bootstrap"
    jump_diffusion = "jump-diffusion"


class OnRuin(str, Enum):
    stop = "stop"
    topup = "topup"


class ResampleMethod(str, Enum):
    iid = "iid"
    block = "block"


def value(choice):
    """The plain string of a choice (None and strings pass through)."""
    return choice.value if isinstance(choice, Enum) else choice


class AssetClass(str, Enum):
    equity = "equity"
    index = "index"
    crypto = "crypto"
    synthetic = "synthetic"


FormatOpt = Annotated[Format, typer.Option("--format", "-f", case_sensitive=False,
                                           help="Output: table for people, json or csv for scripts.")]
DataDirOpt = Annotated[Optional[Path], typer.Option(
    "--data-dir", envvar="SITCLI_DATA_DIR", show_envvar=True,
    help="Local data store (default: the platform's user data directory).")]
DemoOpt = Annotated[bool, typer.Option("--demo", help="Use the embedded synthetic demo data (offline).")]
def _quiet(value: bool) -> bool:
    from sitcli import errors

    errors.QUIET = bool(value)
    return value


QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", callback=_quiet,
                                        help="No progress or notes on stderr.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show a traceback on errors.")]
SaveOpt = Annotated[bool, typer.Option(
    "--save", help="Keep the run in the history (a folder under the data directory's runs/), "
                   "with its manifest; see `sitcli runs`.")]
StartOpt = Annotated[Optional[str], typer.Option("--start", help="First date, YYYY-MM-DD (UTC).")]
EndOpt = Annotated[Optional[str], typer.Option("--end", help="Last date, YYYY-MM-DD (UTC).")]


def usage_message(message: str) -> str:
    """typer's message on one line; a bad choice ("Invalid value for '--fill': Value error, 'x'
    is not one of 'open', 'close'.") in sitcli's own shape: "--fill 'x': use open or close"."""
    import re

    message = " ".join(message.split())
    found = re.match(r"Invalid value for '(--[\w-]+)'.*?'(.*)' is not one of (.*?)\.?$", message)
    if found is None:
        return message
    flag, given, listed = found.groups()
    choices = [c.strip().strip("'") for c in listed.split(",")]
    allowed = choices[0] if len(choices) == 1 else f"{', '.join(choices[:-1])} or {choices[-1]}"
    return f"{flag} '{given}': use {allowed}"


def parse_pairs(pairs: list[str] | None, flag: str, example: str) -> dict[str, str]:
    """Repeatable KEY=VALUE options (--set, --param) into a dict."""
    from sitcli.errors import BadInput

    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise BadInput(f"{flag} {pair!r}: expected KEY=VALUE, e.g. {flag} {example}")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def check_demo_or_data_dir(demo: bool, data_dir) -> None:
    """--demo reads the embedded data, --data-dir names your store: both on the command line
    is a contradiction (SITCLI_DATA_DIR in the environment is not)."""
    from sitcli.errors import BadInput

    if not demo or data_dir is None:
        return
    source = _parameter_source("data_dir")
    if source is None or source.name == "COMMANDLINE":
        raise BadInput(f"--demo reads the embedded demo data and --data-dir {data_dir} names "
                       "your store; pass one of them")


def _parameter_source(name: str):
    """Where the running command's option came from (COMMANDLINE, ENVIRONMENT, DEFAULT)."""
    try:   # typer >= 0.20 carries its own copy of click
        from typer._click.globals import get_current_context
    except ImportError:
        from click import get_current_context
    ctx = get_current_context(silent=True)
    return ctx.get_parameter_source(name) if ctx is not None else None
