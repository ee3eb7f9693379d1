"""`sitcli report daily`: the scheduled signal report."""

from __future__ import annotations

import typer

report_app = typer.Typer(help="Scheduled signal reports (JSON, Markdown, HTML).",
                         no_args_is_help=True, rich_markup_mode=None)


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
