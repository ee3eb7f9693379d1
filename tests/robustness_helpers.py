"""Running `sitcli.cli.main` in this process (the entry point's own error layer, without the
start-up cost of a subprocess), for tests that try many inputs."""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import sys
from dataclasses import dataclass


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


def run_main(*args, data_dir=None) -> Outcome:
    """`sitcli ARGS` through sitcli.cli.main: exit code, stdout and stderr."""
    from sitcli.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv, env = sys.argv, os.environ.copy()
    sys.argv = ["sitcli", *map(str, args)]
    os.environ.pop("SITCLI_DEBUG", None)
    os.environ["COLUMNS"] = "200"
    if data_dir is not None:
        os.environ["SITCLI_DATA_DIR"] = str(data_dir)
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = argv
        os.environ.clear()
        os.environ.update(env)
    return Outcome(code, out.getvalue(), err.getvalue())


_NON_FINITE = re.compile(r"(?<![A-Za-z_])(nan|NaN|inf|Infinity|-inf)(?![A-Za-z_])")


def non_finite_numbers(text: str) -> list[str]:
    """NaN or infinite numbers printed as numbers (not inside words such as 'financing')."""
    return _NON_FINITE.findall(text)


def is_finite_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False
