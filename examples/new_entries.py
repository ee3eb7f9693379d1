"""Print only the new entry signals of a sitcli daily report (for alerts, chat bots, order tickets).

    python examples/new_entries.py ~/sitcli-reports/2025-11-24.json
    python examples/new_entries.py ~/sitcli-reports          # the newest report in the folder

One line per symbol and strategy whose action is "enter long" or "enter short", on data that is
fresh (status "ok"): symbol, action, strategy, suggested notional at its leverage, the
liquidation price and its distance, and the reason. Prints nothing when there are none. Exit
code: 0 fine, 3 when the report marks a symbol stale or missing (its entries are left out), 2
when the file is not a version-1 report. Needs only the Python standard library.
"""

import json
import sys
from pathlib import Path

SCHEMA_VERSION = 1


def newest(folder: Path) -> Path:
    reports = sorted(folder.glob("[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9].json"))
    if not reports:
        sys.exit(f"no YYYY-MM-DD.json report in {folder}")
    return reports[-1]


def entries(report: dict) -> list[str]:
    lines = []
    for sym in report["symbols"]:
        if sym["status"] != "ok":
            continue
        for sig in sym["signals"]:
            if not sig["action"].startswith("enter "):
                continue
            size, liq = sig["size"], sig["liquidation"]
            where = ("no liquidation price" if liq["price"] is None else
                     f"liquidation {liq['price']:g} ({liq['distance_pct']:+.2f}%)")
            lines.append(f"{report['asof']} {sym['symbol']}: {sig['action']} ({sig['strategy']}), "
                         f"notional {size['notional']:,.0f} at {size['leverage']:g}x, {where}; "
                         f"{sig['reason']}")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: new_entries.py REPORT.json | REPORT_DIR", file=sys.stderr)
        return 2
    path = Path(argv[1])
    path = newest(path) if path.is_dir() else path
    report = json.loads(path.read_text(encoding="utf-8"))
    if report.get("schema_version") != SCHEMA_VERSION:
        print(f"{path}: schema_version {report.get('schema_version')!r}, this script reads "
              f"{SCHEMA_VERSION}", file=sys.stderr)
        return 2
    for line in entries(report):
        print(line)
    for problem in report["problems"]:
        print(f"skipped {problem}", file=sys.stderr)
    return 3 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
