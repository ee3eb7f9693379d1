"""Every error sitcli raises on purpose, each carrying its process exit code.

The CLI entry point (`sitcli.cli.main`) is the only place that turns these into exit codes:

    0  ok
    1  runtime failure (network, data source, internal error)
    2  bad usage or bad input
    3  missing or stale data
  130  interrupted
"""


class SitcliError(Exception):
    """Base class: a one-line message that says what is wrong and how to fix it."""

    exit_code = 1


class RuntimeFailure(SitcliError):
    exit_code = 1


class BadInput(SitcliError):
    exit_code = 2


class DataMissing(SitcliError):
    exit_code = 3


# --quiet silences warnings too (sitcli.cli.options.QuietOpt sets it)
QUIET = False


def warn(message: str) -> None:
    """A one-line warning on stderr: the run goes on, but the user should know."""
    if not QUIET:
        import sys

        print(f"warning: {message}", file=sys.stderr)
