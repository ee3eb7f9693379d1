"""The interactive pages of `backtest --plot` and `scenario --plot` in a real browser (Debian's
headless chromium over the DevTools protocol, as tests/test_report_html.py drives it): they
fetch nothing, log no console error, hold the chart's traces with the run's own numbers, and
hovering a trade shows the catalyst that triggered it (the same text as trades.csv)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from cli_helpers import run_in_process
from test_report_html import CHROMIUM, browser, open_page  # noqa: F401 - the fixture

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                "(.ci/run installs it: apt-get install chromium)")
SYMBOLS = ("NVDA", "RENDER/USDT")
GRAPH = "document.getElementById('{}')"


@pytest.fixture(scope="module")
def backtest_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bt") / "run"
    proc = run_in_process("backtest", "catalyst_momentum", "--demo", "--symbols",
                          ",".join(SYMBOLS), "--leverage", "5", "--out", out, "--plot",
                          "--format", "json", data_dir=out.parent / "data")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def scenario_run(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sc")
    proc = run_in_process("scenario", "--demo", "--symbols", ",".join(SYMBOLS), "--leverage",
                          "5,20", "--horizon", "1,5", "--plot", out / "heat.png", "--format",
                          "json", data_dir=out / "data")
    assert proc.returncode == 0, proc.stderr
    return out, json.loads(proc.stdout)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def assert_clean(page) -> None:
    assert [u for u in page.requests() if not u.startswith(("file:", "data:"))] == []
    assert page.errors() == []


def hover_text(page, div: str, curve: int, point: int) -> str:
    """Hover one point with plotly's own hover call; the hover label's text as drawn."""
    page.evaluate(f"Plotly.Fx.hover({GRAPH.format(div)}, [{{curveNumber: {curve}, "
                  f"pointNumber: {point}}}])")
    return page.evaluate(f"{GRAPH.format(div)}.querySelector('.hoverlayer').textContent")


def test_backtest_page_traces_and_catalyst_on_hover(browser, backtest_dir):  # noqa: F811
    trades = read_csv(backtest_dir / "trades.csv")
    liquidations = read_csv(backtest_dir / "liquidations.csv")
    assert (backtest_dir / "equity.png").read_bytes().startswith(b"\x89PNG")   # the PNG stays
    named = [t for t in trades if t["catalyst"]]
    assert named and len(named) == len(trades)   # catalyst_momentum names every entry's news
    with open_page(browser, (backtest_dir / "report.html").as_uri()) as page:
        assert_clean(page)
        traces = page.evaluate(f"{GRAPH.format('equity-chart')}.data.map(t => ({{meta: t.meta, "
                               "n: t.x.length, custom: t.customdata || null, "
                               "hover: t.hovertemplate}))")
        kinds = [(t["meta"][0], t["meta"][1]) for t in traces]
        for symbol in SYMBOLS:
            assert ("equity", symbol) in kinds and ("drawdown", symbol) in kinds
            equity = next(t for t in traces if t["meta"] == ["equity", symbol])
            assert equity["n"] > 500                               # the whole run, every bar
            marks = next(t for t in traces if t["meta"] == ["trades", symbol])
            mine = [t for t in trades if t["symbol"] == symbol]
            assert marks["n"] == len(mine)
            assert [c[6] for c in marks["custom"]] == [t["catalyst"] for t in mine]
            assert [c[0] for c in marks["custom"]] == [t["side"] for t in mine]
            assert "catalyst: %{customdata[6]}" in marks["hover"]
        liq_points = sum(t["n"] for t in traces if t["meta"][0] == "liquidations")
        assert liq_points == len(liquidations) > 0                  # 5x NVDA is closed out

        curve = next(i for i, t in enumerate(traces) if t["meta"] == ["trades", "NVDA"])
        text = hover_text(page, "equity-chart", curve, 0)
        first = next(t for t in trades if t["symbol"] == "NVDA")
        assert f"catalyst: {first['catalyst']}" in text
        assert first["side"] in text and "PnL $" in text

        heads = page.evaluate("[...document.querySelectorAll('table')].map(t => "
                              "[...t.querySelectorAll('thead th')].map(h => h.textContent))")
        assert heads[0][:3] == ["Run", "Symbol", "Leverage"]                 # human headers
        assert {"Total return [%]", "Max drawdown [%]", "Liquidations / close-outs"} <= set(heads[0])
        assert not [h for h in heads[0] if "_" in h]                        # no raw keys
        trades_head = next(h for h in heads if "Entry (UTC)" in h)          # the trades table
        assert trades_head[:4] == ["Symbol", "Entry (UTC)", "Exit (UTC)", "Side"]
        assert trades_head[-2:] == ["Exit", "Catalyst"] and "Fees [$]" in trades_head
        liq_head = next(h for h in heads if "Fill price" in h)
        assert "Catalyst" not in liq_head and "Gap loss [$]" in liq_head
        sections = page.evaluate("[...document.querySelectorAll('h2')].map(h => h.textContent)")
        assert "Aggregate" in sections


def test_scenario_page_heatmap_values_on_hover(browser, scenario_run):  # noqa: F811
    out, payload = scenario_run
    assert (out / "heat.png").read_bytes().startswith(b"\x89PNG")
    with open_page(browser, (out / "heat.html").as_uri()) as page:
        assert_clean(page)
        for k, symbol in enumerate(SYMBOLS):
            div = f"scenario-{k}-heatmap"
            data = page.evaluate(f"{GRAPH.format(div)}.data.map(t => ({{type: t.type, x: t.x, "
                                 "y: t.y, z: t.z}))")
            assert [t["type"] for t in data] == ["heatmap"]
            rows = payload["symbols"][symbol]["rows"]
            assert data[0]["x"] == ["5x", "20x"] and data[0]["y"] == ["1", "5"]
            for r in rows:
                i = data[0]["y"].index(str(r["horizon"]))
                j = data[0]["x"].index(f"{r['leverage']:g}x")
                assert data[0]["z"][i][j] == pytest.approx(r["p_liquidation_pct"], abs=1e-9)
            # hover the 20x, 5-bar cell: on category axes a value is the category's position
            page.evaluate(f"{GRAPH.format(div)}.scrollIntoView()")
            page.evaluate(f"Plotly.Fx.hover({GRAPH.format(div)}, {{xval: 1, yval: 1}})")
            text = page.evaluate(f"{GRAPH.format(div)}.querySelector('.hoverlayer').textContent")
            cell = next(r for r in rows if r["leverage"] == 20 and r["horizon"] == 5)
            assert f"P(liquidation) {cell['p_liquidation_pct']:.1f}%" in text
            assert "leverage 20x" in text and "horizon 5 bars" in text
