"""The `sitcli` command line: typer apps, one module per command group.

Commands parse, call one domain function and render. Heavy libraries (pandas, numba,
vectorbt, yfinance, ccxt) are imported inside command bodies so `sitcli --help` stays instant.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback

import typer

from sitcli import __version__
from sitcli.errors import SitcliError

HELP = """Backtest AI-compute news through leveraged CFDs and perpetuals.

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or input, 3 missing or stale data,
130 interrupted. Add --debug to any command for a traceback.
"""

app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False, rich_markup_mode=None)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sitcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
) -> None:
    """Backtest AI-compute news through leveraged CFDs and perpetuals."""


def _register() -> None:
    from sitcli.cli import (
        backtest,
        data,
        events,
        liquidation,
        montecarlo,
        report,
        scenario,
        sit,
        strategies,
        sweep,
    )

    for module in (data, liquidation, backtest, sweep, montecarlo, scenario, strategies, events, sit,
                   report):
        module.register(app)


_register()


# OSErrors that come from the machine (disk, permissions, paths), not from sitcli's code.
ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT,
                      errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.EEXIST,
                      errno.EIO, errno.EMFILE, errno.ENFILE, errno.EFBIG, errno.ETXTBSY}


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("SITCLI_DEBUG", "") not in ("", "0")


def main() -> None:
    """Console entry point: runs the app and maps exceptions to exit codes (one place)."""
    argv = sys.argv[1:]
    try:
        app(args=argv, prog_name="sitcli", standalone_mode=True)
    except SitcliError as exc:
        if _debug_requested(argv):
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except OSError as exc:
        if _debug_requested(argv):
            traceback.print_exc()
        if exc.errno in ENVIRONMENT_ERRNOS:
            # the disk or the permissions, not a bug: say what and where (exit 1)
            where = exc.filename if exc.filename is not None else "a file"
            print(f"error: could not access {where}: {exc.strerror or exc}", file=sys.stderr)
            sys.exit(1)
        _internal(exc, argv)
    except Exception as exc:  # a bug: keep the message one line unless --debug
        _internal(exc, argv)


def _internal(exc: BaseException, argv: list[str]) -> None:
    if _debug_requested(argv):
        traceback.print_exc()
        sys.exit(1)
    print(f"error: internal error {type(exc).__name__}: {exc} (rerun with --debug "
          "for the traceback)", file=sys.stderr)
    sys.exit(1)
