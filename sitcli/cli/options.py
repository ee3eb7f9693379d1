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


FormatOpt = Annotated[Format, typer.Option("--format", "-f", case_sensitive=False,
                                           help="Output: table for people, json or csv for scripts.")]
DataDirOpt = Annotated[Optional[Path], typer.Option(
    "--data-dir", envvar="SITCLI_DATA_DIR", show_envvar=True,
    help="Local data store (default: the platform's user data directory).")]
DemoOpt = Annotated[bool, typer.Option("--demo", help="Use the embedded synthetic demo data (offline).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or notes on stderr.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show a traceback on errors.")]
StartOpt = Annotated[Optional[str], typer.Option("--start", help="First date, YYYY-MM-DD (UTC).")]
EndOpt = Annotated[Optional[str], typer.Option("--end", help="Last date, YYYY-MM-DD (UTC).")]


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
