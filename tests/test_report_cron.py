"""The cron example works as written: the demo line of examples/cron/crontab, run the way cron
runs it (/bin/sh, a bare PATH, HOME with the clone at ~/sitcli), writes the day's report and
keeps only the newest 30 days of reports."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CRONTAB = ROOT / "examples" / "cron" / "crontab"
SYSTEMD = ROOT / "examples" / "systemd"


def crontab_command(demo: bool) -> str:
    """The command of the crontab's (commented) demo line or of its live line."""
    for line in CRONTAB.read_text(encoding="utf-8").splitlines():
        entry = re.match(r"^#?\s*(\S+\s+){5}(\$HOME/.*)$", line)
        if entry and ("--demo" in line) == demo:
            return entry.group(2)
    raise AssertionError(f"no {'demo' if demo else 'live'} line in {CRONTAB}")


def test_crontab_demo_line_writes_the_report_and_keeps_30_days(tmp_path):
    home = tmp_path / "home"
    reports = home / "sitcli-reports"
    reports.mkdir(parents=True)
    (home / "sitcli").symlink_to(ROOT)
    # 34 older days already there (some with all three files), and a file that is not a report
    old = [f"2025-10-{d:02d}" for d in range(1, 32)] + ["2025-09-28", "2025-09-29", "2025-09-30"]
    for i, day in enumerate(old):
        for ext in ("json", "md", "html") if i % 2 else ("json",):
            (reports / f"{day}.{ext}").write_text("old")
    (reports / "notes.txt").write_text("mine")

    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
           "SITCLI_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run(["/bin/sh", "-c", crontab_command(demo=True)], env=env, cwd=home,
                          capture_output=True, text=True, timeout=300)
    log = (home / "sitcli-report.log").read_text(encoding="utf-8")
    assert proc.returncode == 0, log

    days = sorted({p.name[:10] for p in reports.iterdir() if p.name[:4].isdigit()})
    # the new day plus the 29 newest old ones: 2025-10-03 .. 2025-10-31 and 2025-12-31
    assert days == [f"2025-10-{d:02d}" for d in range(3, 32)] + ["2025-12-31"]
    assert (reports / "notes.txt").read_text() == "mine"
    doc = json.loads((reports / "2025-12-31.json").read_text(encoding="utf-8"))
    assert doc["status"] == "ok" and doc["synthetic_demo_data"]
    assert [s["symbol"] for s in doc["symbols"]] == ["NVDA", "AMD", "TSM", "^NDX", "RENDER/USDT"]
    assert (reports / "2025-12-31.md").read_text(encoding="utf-8").startswith(
        "# sitcli daily signal report: 2025-12-31")
    assert (reports / "2025-12-31.html").stat().st_size > 1000


def test_live_line_and_systemd_units_run_the_same_script():
    script = "sitcli/examples/cron/sitcli-daily-report.sh"
    assert crontab_command(demo=False).startswith(f"$HOME/{script}")
    assert os.access(ROOT / "examples" / "cron" / "sitcli-daily-report.sh", os.X_OK)
    service = (SYSTEMD / "sitcli-report.service").read_text(encoding="utf-8")
    assert f"ExecStart=%h/{script}\n" in service and "Type=oneshot" in service
    timer = (SYSTEMD / "sitcli-report.timer").read_text(encoding="utf-8")
    assert "OnCalendar=" in timer and "Persistent=true" in timer
    syntax = subprocess.run(["/bin/sh", "-n", str(ROOT / "examples" / "cron" /
                                                  "sitcli-daily-report.sh")],
                            capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
