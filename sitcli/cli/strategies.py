"""`sitcli strategies list|show`: the built-in and the user's strategies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sitcli.cli.options import DebugOpt, Format, FormatOpt

strategies_app = typer.Typer(help="Built-in and user strategies: their parameters and docs.",
                             no_args_is_help=True)


@strategies_app.command("list")
def list_strategies(
    dirs: Annotated[Optional[list[Path]], typer.Option(
        "--dir", help="Also list the strategy files in this directory (repeatable); they are "
                      "read, not run.")] = None,
    fmt: FormatOpt = Format.table,
    debug: DebugOpt = False,
) -> None:
    """The built-in strategies, and the strategy files in directories you name with --dir.

    User files are never picked up from the working directory: run one by its path
    (sitcli backtest --strategy ./my_strategy.py).

    Example: sitcli strategies list --dir ~/my-strategies
    """
    from sitcli.cli.render import emit
    from sitcli.strategy import available, file_summary, load_strategy

    rows = []
    for name, source in available(dirs).items():
        summary = load_strategy(name).summary() if source == "built-in" else file_summary(source)
        rows.append({"name": name, "source": source, "summary": summary})
    emit(fmt, {"strategies": rows}, rows, ["name", "source", "summary"], title="Strategies")


@strategies_app.command("show")
def show_strategy(
    name: Annotated[str, typer.Argument(help="Strategy name or path to a .py file.")],
    fmt: FormatOpt = Format.table,
    debug: DebugOpt = False,
) -> None:
    """A strategy's documentation and parameters (with the engine's stop, take and hold).

    Example: sitcli strategies show catalyst_momentum
    """
    import inspect
    import sys

    from sitcli.cli.render import emit
    from sitcli.strategy import load_strategy

    cls = load_strategy(name)
    doc = inspect.cleandoc(cls.__doc__ or sys.modules[cls.__module__].__doc__ or "")
    rows = [{"param": key, "default": p.default, "type": type(p.default).__name__, "doc": p.doc}
            for key, p in cls.all_params().items()]
    payload = {"name": cls.name, "source": getattr(cls, "origin", name), "doc": doc,
               "inputs": list(cls.inputs), "params": rows}
    if fmt == Format.table:
        typer.echo(f"{cls.name} ({payload['source']})\n\n{doc}\n")
    emit(fmt, payload, rows, ["param", "default", "type", "doc"], title="Parameters")


def register(app: typer.Typer) -> None:
    app.add_typer(strategies_app, name="strategies")
