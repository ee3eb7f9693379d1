"""Placeholder until the command group lands."""

import typer


def register(app: typer.Typer) -> None:
    pass
