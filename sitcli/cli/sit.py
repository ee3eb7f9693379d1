"""`sitcli sit build|curve|index|hedge`: the synthetic SIT index, its futures and the hedge experiment."""

from __future__ import annotations

import typer

sit_app = typer.Typer(help="The synthetic Standard Inference Token: index, futures curve, hedge experiment.",
                      no_args_is_help=True, rich_markup_mode=None)


def register(app: typer.Typer) -> None:
    app.add_typer(sit_app, name="sit")
