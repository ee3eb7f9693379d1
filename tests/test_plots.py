"""sitcli.plots: the equity/drawdown PNG and the self-contained HTML report, on hand-made frames
(offline, no backtest run)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sitcli import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TITLE = "Catalyst long <demo> & friends"


def make_equity(n_runs: int = 3, bars: int = 120, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-01", periods=bars, freq="D", tz="UTC")
    labels = ["NVDA", "RENDER/USDT", "NVDA lev=20 hold=3", *[f"AMD lev={k}" for k in range(n_runs)]]
    cols = {}
    for j in range(n_runs):
        steps = rng.normal(0.002 * (j + 1), 0.03, bars)
        cols[labels[j]] = 10_000 * np.exp(np.cumsum(steps))
    eq = pd.DataFrame(cols, index=index)
    if n_runs >= 2:   # RENDER/USDT: liquidated on day 60, flat at the remainder afterwards
        eq.iloc[60:, 1] = eq.iloc[59, 1] * 0.05
    if n_runs >= 3:   # a run with NaN gaps (e.g. no weekend bars)
        eq.iloc[10:14, 2] = np.nan
        eq.iloc[80:83, 2] = np.nan
    return eq


def make_liquidations(eq: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "time": [eq.index[60], eq.index[90]],
        "label": ["RENDER/USDT", "NVDA lev=20 hold=3"],
        "kind": ["liquidation", "close-out"],
        "fill_price": [2.345, 131.5],
    })


def empty_liquidations() -> pd.DataFrame:
    return pd.DataFrame({"time": pd.Series([], dtype="datetime64[ns, UTC]"),
                         "label": pd.Series([], dtype=object), "kind": pd.Series([], dtype=object),
                         "fill_price": pd.Series([], dtype=float)})


def make_trades(eq: pd.DataFrame, n: int) -> pd.DataFrame:
    labels = list(eq.columns)
    return pd.DataFrame({
        "symbol": [labels[i % len(labels)] for i in range(n)],
        "entry_time": [eq.index[i % len(eq)] for i in range(n)],
        "exit_time": [eq.index[(i + 1) % len(eq)] for i in range(n)],
        "side": ["long" if i % 2 else "short" for i in range(n)],
        "pnl": [float(i) - 3.5 for i in range(n)],
        "exit_reason": ["signal"] * n,
    })


def make_stats(eq: pd.DataFrame) -> list[dict]:
    return [{"run": label, "total_return_pct": 12.3456, "sharpe": 0.123456, "trades": 7,
             "profit_factor": float("nan"), "cagr_pct": None} for label in eq.columns]


def assert_png(path, width=1800, height=1050):
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    import matplotlib.image as mpimg

    img = mpimg.imread(path)
    h, w = img.shape[:2]
    assert abs(w - width) <= 20 and abs(h - height) <= 20, (w, h)
    return img


# ---------------------------------------------------------------------------------------- PNG


def test_equity_png_with_liquidation_closeout_and_gaps(tmp_path):
    eq = make_equity()
    out = plots.equity_png(tmp_path / "sub" / "equity.png", eq, make_liquidations(eq), "Demo run")
    assert out == tmp_path / "sub" / "equity.png"
    img = assert_png(out)
    assert img[..., :3].std() > 0.05            # not a blank canvas
    assert [p.name for p in out.parent.iterdir()] == ["equity.png"]   # no temp file left behind


def test_equity_png_empty_liquidations_and_synthetic(tmp_path):
    eq = make_equity(n_runs=2)
    out = plots.equity_png(tmp_path / "e.png", eq, empty_liquidations(), "Demo", synthetic=True)
    assert_png(out)


def test_equity_png_overwrites_atomically(tmp_path):
    target = tmp_path / "equity.png"
    target.write_bytes(b"old")
    eq = make_equity(n_runs=1)
    plots.equity_png(target, eq, pd.DataFrame(), "One run")
    assert_png(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["equity.png"]


def test_equity_png_title_says_synthetic_and_top_12(tmp_path, monkeypatch):
    titles = []
    from matplotlib.figure import Figure

    real = Figure.suptitle

    def spy(self, text, *args, **kwargs):
        titles.append(text)
        return real(self, text, *args, **kwargs)

    monkeypatch.setattr(Figure, "suptitle", spy)
    eq = make_equity(n_runs=15)
    plots.equity_png(tmp_path / "many.png", eq, make_liquidations(eq), "Sweep", synthetic=True)
    assert len(titles) == 1
    assert "top 12 of 15" in titles[0]
    assert "SYNTHETIC DEMO DATA" in titles[0]
    assert_png(tmp_path / "many.png")

    titles.clear()
    plots.equity_png(tmp_path / "few.png", make_equity(n_runs=3), empty_liquidations(), "Few")
    assert "top 12" not in titles[0] and "SYNTHETIC" not in titles[0]


def test_equity_png_draws_the_12_best_runs(tmp_path, monkeypatch):
    labels = []
    from matplotlib.axes import Axes

    real = Axes.plot

    def spy(self, *args, **kwargs):
        if "label" in kwargs:
            labels.append(kwargs["label"])
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Axes, "plot", spy)
    index = pd.date_range("2024-01-01", periods=5, freq="D", tz="UTC")
    eq = pd.DataFrame({f"run{k}": np.linspace(1000, 1000 + 100 * k, 5) for k in range(20)},
                      index=index)
    eq.iloc[-1, 19] = np.nan     # its last valid value (2425) counts as its final equity
    plots.equity_png(tmp_path / "p.png", eq, pd.DataFrame(), "Top")
    drawn = [lab.split()[0] for lab in labels]
    assert drawn == [f"run{k}" for k in (18, 17, 16, 15, 19, 14, 13, 12, 11, 10, 9, 8)]


def test_equity_png_linear_when_not_positive(tmp_path):
    # equity hits zero (account wiped out): the log scale is impossible, linear is used
    index = pd.date_range("2024-01-01", periods=4, freq="h", tz="UTC")
    eq = pd.DataFrame({"X": [100.0, 50.0, 0.0, 0.0]}, index=index)
    liq = pd.DataFrame({"time": [index[2]], "label": ["X"], "kind": ["liquidation"],
                        "fill_price": [1.0]})
    assert_png(plots.equity_png(tmp_path / "z.png", eq, liq, "Wipe-out"))


def test_equity_png_without_data(tmp_path):
    empty = pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC"))
    assert_png(plots.equity_png(tmp_path / "empty.png", empty, pd.DataFrame(), "Nothing"))
    index = pd.date_range("2024-01-01", periods=3, freq="D", tz="UTC")
    all_nan = pd.DataFrame({"a": [np.nan] * 3}, index=index)
    assert_png(plots.equity_png(tmp_path / "nan.png", all_nan, None, "All NaN"))


def test_log_scale_choice():
    from matplotlib.figure import Figure

    seen = []
    real = Figure.savefig

    def spy(self, *args, **kwargs):
        seen.append(self.axes[0].get_yscale())
        return real(self, *args, **kwargs)

    index = pd.date_range("2024-01-01", periods=3, freq="D", tz="UTC")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Figure, "savefig", spy)
        plots._render_png(pd.DataFrame({"a": [100.0, 500.0, 2000.0]}, index=index), None, "t", False)
        plots._render_png(pd.DataFrame({"a": [100.0, 500.0, 900.0]}, index=index), None, "t", False)
        plots._render_png(pd.DataFrame({"a": [0.0, 500.0, 2000.0]}, index=index), None, "t", False)
    assert seen == ["log", "linear", "linear"]


# --------------------------------------------------------------------------------------- HTML


def build_report(tmp_path, *, synthetic=False, n_trades=20, n_runs=3, liquidations=None):
    eq = make_equity(n_runs=n_runs)
    liq = make_liquidations(eq) if liquidations is None else liquidations
    assumptions = {
        "strategy": "catalyst_long",
        "params": {"hold": 3, "stop_pct": 0.05},
        "data": [{"symbol": "NVDA", "source": "demo", "first": eq.index[0], "last": eq.index[-1],
                  "bars": len(eq), "synthetic": True}],
        "venues": {"NVDA": {"venue": "cfd-retail", "leverage": 5.0, "tiers": [[0, 0.5], [1e6, 1]]}},
        "note": '<b>"quoted"</b> & {"json": [1, 2]}',
        "seed": None,
    }
    path = plots.report_html(tmp_path / "report.html", title=TITLE, assumptions=assumptions,
                             stats=make_stats(eq), equity=eq, trades=make_trades(eq, n_trades),
                             liquidations=liq, synthetic=synthetic)
    return path, eq, liq


def test_report_html_contents(tmp_path):
    path, eq, liq = build_report(tmp_path)
    assert path == tmp_path / "report.html"
    raw = path.read_text(encoding="utf-8")
    assert_offline(raw)
    text = strip_scripts(raw)
    assert text.startswith("<!DOCTYPE html>")
    assert "Catalyst long &lt;demo&gt; &amp; friends" in text        # title, escaped
    assert TITLE not in text
    for label in eq.columns:
        assert f"<th>{label}</th>" in text                             # each stats row label
    for t in liq["time"]:
        assert t.strftime("%Y-%m-%d %H:%M") in text                    # each liquidation time
    assert "close-out" in text and "liquidation" in text
    assert "<noscript><img src=\"data:image/png;base64," in text        # without scripts
    assert "SYNTHETIC DEMO DATA" not in text
    # numbers: 2-4 decimals, NaN/None as a dash, integers as integers
    assert ">12.35<" in text and ">0.1235<" in text and ">7<" in text
    stats_html = text.split("<h2>Statistics</h2>", 1)[1].split("<h2>", 1)[0]
    assert stats_html.count(">\u2013<") == 2 * len(eq.columns)           # NaN and None cells
    assert "nan" not in stats_html.lower() and "None" not in stats_html
    # nested assumptions readable and escaped
    assert "&lt;b&gt;&quot;quoted&quot;&lt;/b&gt; &amp; {&quot;json&quot;: [1, 2]}" in text
    assert "<b>" not in text
    assert "cfd-retail" in text and "catalyst_long" in text
    assert "showing" not in text                                       # 20 trades: all shown
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def strip_scripts(text: str) -> str:
    """The page without its inline scripts' bodies: the markup sitcli wrote."""
    import re

    return re.sub(r"(<script[^>]*>).*?(</script>)", r"\1\2", text, flags=re.S)


def assert_offline(text: str) -> None:
    """The page loads nothing: scripts are inline (plotly.js itself), no link, no import,
    no src or href pointing at a network address."""
    import re

    assert re.findall(r"<script[^>]*\bsrc=", text) == []
    assert text.count("<script") >= 1                                   # the chart is there
    # the markup outside the scripts (plotly.js quotes URLs in its own strings; the browser
    # test checks that nothing is fetched)
    markup = strip_scripts(text)
    assert "<link" not in markup and "@import" not in markup
    assert "http://" not in markup and "https://" not in markup


def test_report_html_embedded_png_is_valid(tmp_path):
    import base64
    import re

    path, _, _ = build_report(tmp_path)
    data = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"',
                     strip_scripts(path.read_text())).group(1)
    png = base64.b64decode(data)
    assert png.startswith(PNG_MAGIC)
    (tmp_path / "embedded.png").write_bytes(png)
    assert_png(tmp_path / "embedded.png")


def test_report_html_synthetic_banner(tmp_path):
    path, _, _ = build_report(tmp_path, synthetic=True)
    text = path.read_text(encoding="utf-8")
    assert '<div class="banner">SYNTHETIC DEMO DATA' in text
    assert "<title>[SYNTHETIC DEMO DATA]" in text


def test_report_html_many_trades_and_empty_liquidations(tmp_path):
    path, _, _ = build_report(tmp_path, n_trades=1234, liquidations=empty_liquidations())
    text = strip_scripts(path.read_text(encoding="utf-8"))
    assert "showing 500 of 1234" in text
    body = text.split("<h2>Trades (1234)</h2>", 1)[1].split("<h2>", 1)[0]
    assert body.count("<tr>") == 501                                   # header + 500 rows
    assert "No liquidations or close-outs." in text


def test_report_html_top_12(tmp_path, monkeypatch):
    titles = []
    from matplotlib.figure import Figure

    real = Figure.suptitle
    monkeypatch.setattr(Figure, "suptitle",
                        lambda self, t, *a, **k: (titles.append(t), real(self, t, *a, **k))[1])
    path, eq, _ = build_report(tmp_path, n_runs=14)
    assert "top 12 of 14" in titles[0]
    text = strip_scripts(path.read_text(encoding="utf-8"))
    for label in eq.columns:                                           # the stats keep every run
        assert f"<th>{label}</th>" in text


def test_format_values():
    assert plots._fmt(float("nan")) == "\u2013"
    assert plots._fmt(None) == "\u2013"
    assert plots._fmt(pd.NaT) == "\u2013"
    assert plots._fmt(np.int64(12345)) == "12,345"
    assert plots._fmt(1234.5678) == "1,234.57"
    assert plots._fmt(-0.000123456) == "-0.0001"
    assert plots._fmt(math.inf) == "\u221e"
    assert plots._fmt(True) == "yes" and plots._fmt(np.bool_(False)) == "no"
    assert plots._fmt(pd.Timestamp("2024-03-05 14:30", tz="America/New_York")) == \
        "2024-03-05 19:30 UTC"


# ------------------------------------------------------------------------------------- import


def test_import_is_light():
    code = ("import json, sys; import sitcli.plots; "
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=True)
    modules = set(json.loads(proc.stdout))
    assert "sitcli" in modules
    assert not modules & {"matplotlib", "pandas", "numpy"}, modules & {"matplotlib", "pandas", "numpy"}
