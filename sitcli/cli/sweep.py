"""`sitcli sweep STRATEGY`: large parameter grids on every core or a Dask cluster."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    pass
