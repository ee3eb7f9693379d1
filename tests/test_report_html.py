"""The HTML report in a real browser: Debian's headless chromium, driven over the DevTools
protocol, renders the table and one chart per symbol, fetches nothing from the network and
logs no console error. Checked from the DOM and from a screenshot's pixels."""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from cli_helpers import run_sitcli

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists()
                                        else None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                "(.ci/run installs it: apt-get install chromium)")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", "--window-size=1400,1000", "--hide-scrollbars")
SYMBOLS = ("NVDA", "TSM", "RENDER/USDT")
PRICE_RGB = (0x1F, 0x77, 0xB4)   # sitcli.report.PRICE_COLOR
LIQ_RGB = (0xD6, 0x27, 0x28)     # sitcli.report.LIQ_COLOR


class Page:
    """One chromium tab over the DevTools protocol: commands, and the events seen so far."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=30))
            if msg.get("id") == self.next_id:
                assert "error" not in msg, msg
                return msg["result"]
            self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            self.events.append(json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic()))))

    def evaluate(self, expression: str):
        return self.send("Runtime.evaluate", expression=expression,
                         returnByValue=True)["result"].get("value")

    def errors(self) -> list[str]:
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                out.append(p["exceptionDetails"].get("text", "exception"))
            elif m == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(p["entry"]["text"])
        return out

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events
                if e.get("method") == "Network.requestWillBeSent"]


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("html")
    proc = run_sitcli("report", "daily", "--demo", "--symbols", ",".join(SYMBOLS), "--asof",
                      "2025-11-24", "--format", "html", "--out", out, data_dir=out / "data")
    assert proc.returncode == 0, proc.stderr
    return out / "2025-11-24.html"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    profile = tmp_path_factory.mktemp("chromium-profile")   # a fresh profile each run
    proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            assert proc.poll() is None, "chromium exited at start-up"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.1)
        port = int(port_file.read_text().splitlines()[0])
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def open_page(browser: str, url: str):
    from websockets.sync.client import connect

    with urllib.request.urlopen(f"{browser}/json/list", timeout=10) as resp:   # 127.0.0.1 only
        tab = next(t for t in json.load(resp) if t["type"] == "page")
    with connect(tab["webSocketDebuggerUrl"], max_size=None, open_timeout=20) as ws:
        page = Page(ws)
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.send(f"{domain}.enable")
        page.send("Page.navigate", url=url)
        page.wait_for("Page.loadEventFired")
        yield page


def test_chromium_renders_the_table_and_one_chart_per_symbol(browser, report_html):
    with open_page(browser, report_html.as_uri()) as page:
        check_page(page)


def check_page(page: Page) -> None:
    from PIL import Image

    rows = page.evaluate("[...document.querySelectorAll('#signals tbody tr')]"
                         ".map(r => r.dataset.symbol)")
    charts = page.evaluate("[...document.querySelectorAll('svg.chart')].map(s => [s.dataset.symbol, "
                           "s.getBoundingClientRect().width, s.getBoundingClientRect().height, "
                           "s.querySelector('polyline').getAttribute('points').split(' ').length])")
    title = page.evaluate("document.title")
    assert rows == list(SYMBOLS)
    assert [c[0] for c in charts] == list(SYMBOLS)
    for _, width, height, points in charts:
        assert width > 300 and height > 100 and points == 90   # CHART_BARS closes drawn
    assert "SYNTHETIC DEMO DATA" in title

    # nothing beyond the file itself: the page is self-contained
    assert [u for u in page.requests() if not u.startswith(("file:", "data:"))] == []
    assert page.errors() == []
    # and the listener does see an error when there is one
    page.evaluate("console.error('probe from the test')")
    page.send("Runtime.evaluate", expression="1")   # flush the event
    assert any("probe from the test" in e for e in page.errors())

    size = page.send("Page.getLayoutMetrics")["cssContentSize"]
    shot = page.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                     clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                           "scale": 1})
    image = Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB")
    assert image.height > 3 * 220   # the page is longer than three charts

    def near(rgb, target):
        return sum(abs(a - b) for a, b in zip(rgb, target, strict=True)) < 40

    colors = image.getcolors(maxcolors=1 << 24)
    assert len(colors) > 50, "a blank or single-colour screenshot"
    price = sum(n for n, rgb in colors if near(rgb, PRICE_RGB))
    liquidation = sum(n for n, rgb in colors if near(rgb, LIQ_RGB))
    # three 2-px price lines about 650 px long, and dashed liquidation lines with their labels
    assert price > 3 * 650, price
    assert liquidation > 3 * 150, liquidation
