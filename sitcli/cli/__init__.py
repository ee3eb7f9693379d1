"""The `sitcli` command line: typer apps, one module per command group.

Commands parse, call one domain function and render. Heavy libraries (pandas, numba,
vectorbt, yfinance, ccxt) are imported inside command bodies so `sitcli --help` stays instant.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from sitcli import __version__
from sitcli.errors import SitcliError

HELP = """Backtest AI-compute news through leveraged CFDs and perpetuals.

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or input, 3 missing or stale data,
130 interrupted. Add --debug to any command for a traceback.
"""

# the top-level commands, each registered by its module sitcli/cli/<name>.py, in --help's order
COMMANDS = ("data", "liquidation", "backtest", "sweep", "montecarlo", "scenario", "strategies",
            "events", "sit", "report", "runs")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sitcli {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    config: Annotated[Optional[Path], typer.Option(
        "--config", help="TOML file of options, venue presets and instruments (repeatable, "
                         "also after the command; flags win; $SITCLI_CONFIG or the user "
                         "config directory's config.toml is read first).")] = None,
) -> None:
    """Backtest AI-compute news through leveraged CFDs and perpetuals."""


def make_app(names: tuple[str, ...] = COMMANDS) -> typer.Typer:
    """The typer app with the root options and the commands `names` (all by default)."""
    import importlib

    made = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False,
                       pretty_exceptions_enable=False, rich_markup_mode=None)
    made.callback()(_root)
    for name in names:
        importlib.import_module(f"sitcli.cli.{name}").register(made)
    return made


def __getattr__(name: str):
    """`app`, every command registered, made on first use: a command line builds only the
    command it names (`click_command`)."""
    if name == "app":
        if "app" not in globals():
            globals()["app"] = make_app()
        return globals()["app"]
    raise AttributeError(f"module 'sitcli.cli' has no attribute {name!r}")


# OSErrors that come from the machine (disk, permissions, paths), not from sitcli's code.
ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT,
                      errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.EEXIST,
                      errno.EIO, errno.EMFILE, errno.ENFILE, errno.EFBIG, errno.ETXTBSY}


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("SITCLI_DEBUG", "") not in ("", "0")


# how long a command runs before Python's cyclic garbage collector is back on (wall seconds)
GC_PAUSE_SECONDS = 3.0


@contextmanager
def collector_paused(seconds: float = GC_PAUSE_SECONDS):
    """Python's cyclic garbage collector off while a command starts, back on after `seconds`
    or when the command ends, whichever is first; off again for the interpreter's exit.

    Start-up imports numpy, pandas, pyarrow and numba: hundreds of thousands of objects that
    live to the end, which the collector walked again and again on the way in (0.15-0.2 CPU-s
    of a warm backtest) and again in the collections of the interpreter's shutdown (more).
    A long command gets the collector back after `seconds`, with what exists by then frozen
    (`gc.freeze`: kept, never walked again), so what it frees is freed as before; a forked
    child (a process pool) starts with it on. At exit everything is frozen (an atexit hook):
    the shutdown's collections find nothing to walk, and the process ends as it would.
    """
    import atexit
    import gc
    import threading

    if not gc.isenabled():
        yield
        return
    if not _EXIT_HOOK:
        atexit.register(gc.freeze)
        _EXIT_HOOK.append(True)

    def resume():
        gc.freeze()
        gc.enable()

    gc.disable()
    timer = threading.Timer(seconds, resume)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join()
        # what the command made becomes old, as if it had survived collections: the next
        # collection (a caller that goes on, e.g. a test) does not walk it all at once
        gc.freeze()
        gc.unfreeze()
        gc.enable()


_EXIT_HOOK: list = []


def _collector_on_in_child() -> None:
    import gc

    gc.enable()


os.register_at_fork(after_in_child=_collector_on_in_child)


def main() -> None:
    """Console entry point: runs the app and maps exceptions to exit codes (one place)."""
    with collector_paused():
        _main()


def _main() -> None:
    argv = sys.argv[1:]
    try:
        from sitcli import runs

        runs.ARGV[:] = argv
        argv, default_map = _configured(argv)
        _run_app(argv, default_map)
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


def _run_app(argv: list[str], default_map: dict | None) -> None:
    """Run the command; a bad flag or value is one `error:` line (exit 2) like every other."""
    try:   # typer >= 0.20 carries its own copy of click
        from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
    except ImportError:
        from click.exceptions import ClickException, NoArgsIsHelpError, UsageError
    from typer.exceptions import Abort

    try:
        code = click_command(_named_command(argv)).main(
            args=argv, prog_name="sitcli", standalone_mode=False, default_map=default_map)
    except NoArgsIsHelpError as exc:   # `sitcli` alone: the help
        exc.show()
        sys.exit(exc.exit_code)
    except UsageError as exc:
        from sitcli.cli.options import usage_message

        message = usage_message(exc.format_message())
        command = exc.ctx.command_path if exc.ctx is not None else "sitcli"
        print(f"error: {message} (see {command} --help)", file=sys.stderr)
        sys.exit(2)
    except ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except Abort:
        print("Aborted!", file=sys.stderr)
        sys.exit(1)
    if isinstance(code, int) and code:
        sys.exit(code)


_BUILT: dict[str | None, object] = {}


def click_command(name: str | None = None):
    """The click command of the app, built once per process, its plain options coerced without
    pydantic (`sitcli.cli.coercion`). With `name`, one of COMMANDS, only that command under
    the root (typer builds every command it is given, ~0.07 CPU-s for all of them, and each
    command's module is imported), unless every command is built already."""
    key = name if name in COMMANDS and None not in _BUILT else None
    if key not in _BUILT:
        from sitcli.cli import coercion

        built = typer.main.get_command(__getattr__("app") if key is None else make_app((key,)))
        coercion.install(built)
        _BUILT[key] = built
    return _BUILT[key]


def _named_command(argv: list[str]) -> str | None:
    """The command a command line names: its first word that is not an option (the root's
    options are flags; --config and its value are taken out before)."""
    return next((word for word in argv if not word.startswith("-")), None)


def _configured(argv: list[str]) -> tuple[list[str], dict | None]:
    """The command line without --config, and the options the config files give (the user's
    file first, then each --config): click's default_map, which flags override."""
    from sitcli import config

    argv, files = config.split_argv(argv)
    user = config.user_file()
    files = ([user] if user is not None else []) + files
    if not files:
        return argv, None
    loaded = config.load(files, click_command())
    config.activate(loaded)
    return argv, loaded.default_map


def _internal(exc: BaseException, argv: list[str]) -> None:
    if _debug_requested(argv):
        traceback.print_exc()
        sys.exit(1)
    print(f"error: internal error {type(exc).__name__}: {exc} (rerun with --debug "
          "for the traceback)", file=sys.stderr)
    sys.exit(1)
