"""`sitcli strategies list|show`: the built-in and the user's strategies."""

from __future__ import annotations

from typing import Annotated

import typer

from sitcli.cli.options import DebugOpt, Format, FormatOpt

strategies_app = typer.Typer(help="Built-in and user strategies: their parameters and docs.",
                             no_args_is_help=True)


@strategies_app.command("list")
def list_strategies(fmt: FormatOpt = Format.table, debug: DebugOpt = False) -> None:
    """Every strategy sitcli can run: built-in ones and files in ./strategies/.

    Example: sitcli strategies list
    """
    from sitcli.cli.render import emit
    from sitcli.strategy import available, load_strategy

    rows = []
    for name, source in available().items():
        cls = load_strategy(source if source != "built-in" else name)
        rows.append({"name": name, "source": source, "summary": cls.summary()})
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
