"""Turning results into table, JSON or CSV. Data goes to stdout, notes to stderr."""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sitcli.cli.options import Format


def _plain(value: Any) -> Any:
    """JSON-safe value: NaN and infinities become null, numpy scalars become Python ones."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if type(value).__name__ == "NaTType":   # a missing time (pandas' NaT), without pandas
        return None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def print_json(payload: Any) -> None:
    json.dump(_plain(payload), sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")


def print_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> None:
    columns = list(columns or (rows[0].keys() if rows else []))
    writer = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in columns})


def _cell(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def fmt_number(value: Any, digits: int = 4) -> str:
    value = _plain(value)
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None,
                title: str | None = None, digits: int = 4, styles: Iterable[str | None] = ()) -> None:
    from rich.console import Console
    from rich.table import Table

    columns = list(columns or (rows[0].keys() if rows else []))
    table = Table(title=title, title_justify="left")
    for col in columns:
        sample = next((row.get(col) for row in rows if row.get(col) is not None), None)
        text = isinstance(sample, str) or col in ("symbol", "stat", "key", "value")
        table.add_column(col, justify="left" if text else "right")
    row_styles = list(styles)
    for i, row in enumerate(rows):
        style = row_styles[i] if i < len(row_styles) else None
        table.add_row(*[fmt_number(row.get(c), digits) for c in columns], style=style)
    console = Console()
    if not console.is_terminal:
        console = Console(width=140)   # pipes and files get the whole table, unwrapped
    console.print(table)


def print_pairs(pairs: Mapping[str, Any], title: str | None = None) -> None:
    print_table([{"key": k, "value": v} for k, v in pairs.items()], ["key", "value"], title=title)


def note(message: str, quiet: bool = False) -> None:
    if not quiet:
        print(message, file=sys.stderr)


def note_compiling(quiet: bool = False) -> None:
    """On a terminal, say why the first run after an install pauses."""
    from sitcli.engine import kernels_cached

    if not quiet and sys.stderr.isatty() and not kernels_cached():
        note("compiling sitcli's kernels, first run only (about a minute)...")


def emit(fmt: Format, payload: Mapping[str, Any], rows: Sequence[Mapping[str, Any]],
         columns: Sequence[str] | None = None, title: str | None = None) -> None:
    """One result: JSON gets the whole payload, CSV the rows, table the rows under a title."""
    if fmt == Format.json:
        print_json(payload)
    elif fmt == Format.csv:
        print_csv(rows, columns)
    else:
        print_table(rows, columns, title=title)
