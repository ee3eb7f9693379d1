"""The news-catalyst calendar: load, validate, align to bars."""

from __future__ import annotations

import csv
from importlib.resources import files
from pathlib import Path

from sitcli.errors import BadInput

COLUMNS = ("time", "title", "category", "direction", "status", "asset_classes", "source")
STATUSES = ("rumor", "confirmed", "denied")


def builtin_path():
    return files("sitcli.datasets") / "events" / "catalysts.csv"


def load_events(extra: list[Path] | None = None, builtin: bool = True):
    """The built-in calendar plus the user's files, as a DataFrame sorted by time (UTC)."""
    import pandas as pd

    rows = []
    sources = ([("catalysts.csv", builtin_path().read_text(encoding="utf-8"))] if builtin else [])
    for path in extra or []:
        try:
            sources.append((str(path), Path(path).read_text(encoding="utf-8")))
        except OSError as exc:
            raise BadInput(f"--events {path}: cannot read ({exc.strerror}); check the path") from None
    for name, text in sources:
        rows.extend(_parse(name, text))
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def _parse(name: str, text: str) -> list[dict]:
    import pandas as pd

    reader = csv.DictReader(text.splitlines())
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise BadInput(f"{name}: missing column(s) {', '.join(missing)}; the header must be "
                       f"{','.join(COLUMNS)}")
    out = []
    for line, row in enumerate(reader, start=2):
        try:
            stamp = pd.Timestamp(row["time"])
        except (ValueError, TypeError):
            raise BadInput(f"{name} line {line}, column time: {row['time']!r} is not a date; "
                           "use ISO 8601 such as 2025-01-27T14:30:00Z") from None
        if stamp.tzinfo is None:
            stamp = stamp.tz_localize("UTC")
        try:
            direction = int(row["direction"])
        except (ValueError, TypeError):
            direction = 99
        if direction not in (-1, 0, 1):
            raise BadInput(f"{name} line {line}, column direction: {row['direction']!r}; "
                           "use 1 (up), -1 (down) or 0 (unknown)")
        if row["status"] not in STATUSES:
            raise BadInput(f"{name} line {line}, column status: {row['status']!r}; "
                           f"use one of {', '.join(STATUSES)}")
        if not (row["title"] or "").strip():
            raise BadInput(f"{name} line {line}, column title: empty; give the headline")
        out.append({**{c: row[c] for c in COLUMNS}, "time": stamp, "direction": direction})
    return out


def fill_bars(open_times, event_times):
    """For each event, the first bar that opens strictly after it (len(open_times) if none).

    A signal placed one bar earlier then fills at that open, so no bar trades on news
    published after its own open.
    """
    import numpy as np
    import pandas as pd

    opens = pd.DatetimeIndex(open_times).tz_convert("UTC").as_unit("ns").asi8
    events = pd.DatetimeIndex(event_times).tz_convert("UTC").as_unit("ns").asi8
    return np.searchsorted(opens, events, side="right")
