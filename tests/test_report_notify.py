"""`report daily --notify URL`: a short message through apprise to a local HTTP receiver on
127.0.0.1 (json:// and form://), nothing sent on a quiet day, and a failing receiver (HTTP 500,
a closed port) that is one warning line and changes neither the report files nor the exit
code. Without apprise the flag says how to install it (exit 2)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import urllib.parse
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, run_in_process, run_sitcli

pytest.importorskip("apprise", reason="apprise is the notify extra: pip install -e '.[dev]'")

ASOF_SIGNALS = "2025-11-24"     # the demo's NVDA and AMD signal "enter short" at that close
ASOF_QUIET = "2025-10-30"       # no order and no open position anywhere
SYMBOLS = "NVDA,AMD,TSM"


class Receiver:
    """An HTTP server on 127.0.0.1 that records each POST and answers with `status`."""

    def __init__(self, status: int = 200):
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append((self.path, self.headers.get("Content-Type", ""), body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def report(tmp_path: Path, *args, asof: str = ASOF_SIGNALS, out: str = "r", process=False):
    """`report daily` in this process, or through the entry point in a subprocess."""
    args = ("report", "daily", "--demo", "--symbols", SYMBOLS, "--asof", asof,
            "--out", tmp_path / out, *args)
    if process:
        return run_sitcli(*args, data_dir=tmp_path / "data", timeout=300)
    return run_in_process(*args, data_dir=tmp_path / "data")


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_json_receiver_gets_the_entry_signals(tmp_path):
    with Receiver() as rx:
        proc = report(tmp_path, "--notify", f"json://127.0.0.1:{rx.port}/hook")
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr
    (path, kind, body), = rx.received
    assert path == "/hook" and kind.startswith("application/json")
    sent = json.loads(body)
    data = json.loads((tmp_path / "r" / f"{ASOF_SIGNALS}.json").read_text())
    entries = [(s["symbol"], g["action"], g["liquidation"]["price"]) for s in data["symbols"]
               for g in s["signals"] if g["action"].startswith("enter")]
    assert [e[0] for e in entries] == ["NVDA", "AMD"]
    assert sent["title"] == (f"sitcli daily report {ASOF_SIGNALS}: 2 entry signals "
                             "(SYNTHETIC DEMO DATA)")
    for symbol, action, liq in entries:
        assert f"- {symbol} catalyst_momentum: {action} at" in sent["message"]
        assert f"liquidation {liq:g}" in sent["message"]
    assert "TSM" not in sent["message"]                # a hold is not news
    assert str(tmp_path / "r" / f"{ASOF_SIGNALS}.html") in sent["message"]


def test_form_receiver_and_stale_data(tmp_path):
    with Receiver() as rx:
        proc = report(tmp_path, "--notify", f"form://127.0.0.1:{rx.port}/", "--max-age", "1h",
                      "--format", "json")
    assert proc.returncode == 3                         # stale data: the report's own exit code
    (_, kind, body), = rx.received
    assert kind.startswith("application/x-www-form-urlencoded")
    form = urllib.parse.parse_qs(body.decode())
    assert "3 data problems" in form["title"][0]
    for symbol in SYMBOLS.split(","):
        assert f"- {symbol}: stale: last bar closed" in form["message"][0]


def test_quiet_day_sends_nothing(tmp_path):
    with Receiver() as rx:
        proc = report(tmp_path, "--notify", f"json://127.0.0.1:{rx.port}/", asof=ASOF_QUIET)
    assert proc.returncode == 0, proc.stderr
    assert rx.received == []
    assert "nothing to notify" in proc.stderr


@pytest.mark.parametrize("failure", ["http 500", "closed port"])
def test_failing_receiver_changes_neither_files_nor_exit_code(tmp_path, failure):
    for stale in ((), ("--max-age", "1h")):
        base = report(tmp_path, *stale, out="base")
        if failure == "http 500":
            with Receiver(500) as rx:
                proc = report(tmp_path, *stale, "--notify", f"json://127.0.0.1:{rx.port}/")
            assert len(rx.received) == 1                 # it was tried, and refused
        else:
            proc = report(tmp_path, *stale, "--notify", f"json://127.0.0.1:{closed_port()}/")
        assert proc.returncode == base.returncode == (3 if stale else 0)
        assert files(tmp_path / "r") == files(tmp_path / "base")
        warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
        assert len(warnings) == 1 and "notification to json://127.0.0.1:" in warnings[0]
        assert "failed" in warnings[0] and "Traceback" not in proc.stderr


def test_bad_url_is_refused_before_anything_is_written(tmp_path):
    proc = report(tmp_path, "--notify", "not-a-service")
    assert_one_line_error(proc, 2, "--notify 'not-a-service'", "json://")
    assert not (tmp_path / "r").exists()


def test_without_apprise_the_flag_says_how_to_install_it(tmp_path, monkeypatch):
    # an apprise package earlier on the path that fails to import, as a missing one does
    shadow = tmp_path / "shadow" / "apprise"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named apprise')\n")
    monkeypatch.setenv("PYTHONPATH", str(shadow.parent))   # read by a fresh interpreter
    proc = report(tmp_path, "--notify", "json://127.0.0.1:9/", process=True)
    assert_one_line_error(proc, 2, "--notify needs the apprise package",
                          "pip install 'sitcli[notify]'")
    assert not (tmp_path / "r").exists()
