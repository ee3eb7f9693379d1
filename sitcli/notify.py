"""Notifications for scheduled reports: `report daily --notify URL` (repeatable).

A short message goes out when the report has something to act on: new entry signals (enter
long / enter short at the last close) or data that is stale, missing or could not be read.
A quiet day sends nothing. The URLs are apprise's (https://github.com/caronc/apprise): e-mail
(mailto://), Slack, Telegram, Discord, ntfy, or any webhook (json://, form://); apprise is the
optional extra `pip install 'sitcli[notify]'`.

A notification never changes the report: the files are written first, and a failed send is
one `warning:` line on stderr; the exit code stays the report's.
"""

from __future__ import annotations

import sys

from sitcli.errors import BadInput

ENTRY_ACTIONS = ("enter long", "enter short")
INSTALL_HINT = "pip install 'sitcli[notify]' (or pip install apprise)"


def _apprise():
    try:
        import apprise
    except ImportError:
        raise BadInput(f"--notify needs the apprise package, which is not installed; "
                       f"{INSTALL_HINT}") from None
    return apprise


def check_urls(urls: list[str]) -> None:
    """Refuse (exit 2, before any report is built) a URL apprise cannot send to."""
    apprise = _apprise()
    for url in urls:
        if apprise.Apprise.instantiate(url) is None:
            raise BadInput(f"--notify {url!r}: not a notification URL apprise knows; use e.g. "
                           "json://host:port/path, form://host/path, mailto://user:pass@host, "
                           "slack://... or tgram://... (see apprise's list of services)")


def message(data: dict, where: list[str] | None = None) -> tuple[str, str] | None:
    """(title, body) of the notification for a report's JSON document, or None when there is
    nothing to tell (no entry signal, every symbol's data fresh)."""
    entries = [(s, g) for s in data["symbols"] for g in s["signals"]
               if g["action"] in ENTRY_ACTIONS]
    problems = [s for s in data["symbols"] if s["status"] != "ok"]
    if not entries and not problems:
        return None
    label = f" ({data['synthetic_label']})" if data.get("synthetic_demo_data") else ""
    counts = []
    if entries:
        counts.append(f"{len(entries)} entry signal{'s' if len(entries) != 1 else ''}")
    if problems:
        counts.append(f"{len(problems)} data problem{'s' if len(problems) != 1 else ''}")
    title = f"sitcli daily report {data['asof']}: {', '.join(counts)}{label}"
    lines = []
    if entries:
        lines.append("Entry signals (orders at the last close, filled at the next open):")
        for s, g in entries:
            liq = g["liquidation"]
            close = (s.get("last_bar") or {}).get("close")
            at = f" at {close:g}" if close is not None else ""
            level = (f"; liquidation {liq['price']:g} ({liq['distance_pct']:+.1f}%)"
                     if liq and liq.get("price") is not None else "")
            lines.append(f"- {s['symbol']} {g['strategy']}: {g['action']}{at}, "
                         f"{g['size']['leverage']:g}x{level}")
    if problems:
        lines.append("Data problems:")
        lines += [f"- {s['symbol']}: {s['status']}: {s['problem']}" for s in problems]
    if where:
        lines.append("Report: " + ", ".join(where))
    return title, "\n".join(lines)


def send(urls: list[str], title: str, body: str) -> list[str]:
    """Send to each URL; returns one line per URL that failed (also printed on stderr as a
    warning). Never raises for a failed send."""
    import logging

    apprise = _apprise()
    failed = []
    for url in urls:
        sender = apprise.Apprise()
        sender.add(url)
        # passwords and tokens masked, apprise's defaults after the ? left out
        shown = (sender.urls(privacy=True) or [url])[0].split("?")[0]
        try:
            with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as log:
                ok = sender.notify(body=body, title=title)
            reasons = [line.strip() for line in log.getvalue().splitlines() if line.strip()]
        except Exception as exc:   # noqa: BLE001 - a notification must never sink the report
            ok, reasons = False, [f"{type(exc).__name__}: {exc}"]
        if not ok:
            reason = reasons[-1] if reasons else "the service did not accept it"
            line = f"warning: notification to {shown} failed: {reason}"
            print(" ".join(line.split()), file=sys.stderr)
            failed.append(line)
    return failed
