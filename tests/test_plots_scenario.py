"""sitcli.plots.scenario_plot: P(liquidation) heatmaps as PNG / self-contained HTML, on a
hand-made scenario result (offline, no scenario run)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys

import numpy as np
import pytest
from test_plots import assert_offline, strip_scripts

from sitcli import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LEVERAGES = [5.0, 20.0, 50.0]
HORIZONS = [5, 30]


def make_result(with_returns: bool = False) -> dict:
    rng = np.random.default_rng(3)
    out = {}
    for k, (symbol, venue) in enumerate([("NVDA", "ibkr-reg-t"), ("RENDER/USDT", "binance-usdm")]):
        rows = []
        for h in HORIZONS:
            for lev in LEVERAGES:
                p = min(100.0, 0.37 * lev * (h / 5) ** 0.5 * (1 + k))
                row = {"leverage": lev, "horizon": h, "starts": 400,
                       "p_liquidation_pct": p, "expected_return_on_margin_pct": 1.0,
                       "p99_loss_on_margin_pct": -100.0, "worst_gap_loss_pct": 3.0}
                if with_returns:
                    row["returns"] = list(np.clip(rng.normal(0.02 * lev, 0.05 * lev, 400), -1, None))
                rows.append(row)
        out[symbol] = {"rows": rows, "venue": venue, "bars": 500, "synthetic": False}
    return out


def read_png(path_or_bytes):
    import io

    import matplotlib.image as mpimg

    data = path_or_bytes if isinstance(path_or_bytes, bytes) else path_or_bytes.read_bytes()
    assert data.startswith(PNG_MAGIC)
    img = mpimg.imread(io.BytesIO(data), format="png")
    return img.shape[0], img.shape[1]


@pytest.mark.parametrize("with_returns", [False, True])
def test_scenario_png(tmp_path, with_returns):
    out = plots.scenario_plot(tmp_path / "sub" / "scen.png", make_result(with_returns),
                              "Scenario <test>")
    assert out == tmp_path / "sub" / "scen.png"
    h, w = read_png(out)
    assert w >= 1000 and h >= 500, (w, h)
    if with_returns:   # the histogram row makes the figure taller
        h0, _ = read_png(plots.scenario_plot(tmp_path / "plain.png", make_result(False), "x"))
        assert h > h0
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


def test_scenario_png_synthetic_title(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    seen = []
    orig = Figure.suptitle

    def spy(self, t, *a, **k):
        seen.append(t)
        return orig(self, t, *a, **k)

    monkeypatch.setattr(Figure, "suptitle", spy)
    plots.scenario_plot(tmp_path / "s.png", make_result(), "demo", synthetic=True)
    assert seen and "SYNTHETIC DEMO DATA" in seen[-1] and "demo" in seen[-1]


def test_scenario_html(tmp_path):
    result = make_result(with_returns=True)
    out = plots.scenario_plot(tmp_path / "scen.html", result, "Scenario <b>x</b>")
    raw = out.read_text(encoding="utf-8")
    assert_offline(raw)                                       # plotly.js inline, nothing fetched
    text = strip_scripts(raw)
    for symbol in result:
        assert symbol in text
        assert f'data-symbol="{symbol}" data-kind="heatmap"' in text
    p = result["NVDA"]["rows"][1]["p_liquidation_pct"]        # 20x, 5 bars
    assert f">{p:.1f}<" in text
    assert "<noscript><img src=\"data:image/png;base64," in text
    chart = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text).group(1)
    read_png(base64.b64decode(chart))
    assert "http" not in text.replace(chart, "").lower()     # base64 letters may spell it
    assert raw.count("<script") >= 2 and raw.count("plotly.js v") == 1   # the library once
    assert "Scenario &lt;b&gt;x&lt;/b&gt;" in text
    assert "SYNTHETIC" not in text
    synth = strip_scripts(plots.scenario_plot(tmp_path / "s.html", result, "t",
                                              synthetic=True).read_text())
    assert "SYNTHETIC DEMO DATA" in synth


@pytest.mark.parametrize("name", ["scen.svg", "scen.pdf", "scen", "scen.png.txt"])
def test_scenario_bad_extension(tmp_path, name):
    with pytest.raises(ValueError) as err:
        plots.scenario_plot(tmp_path / name, make_result(), "t")
    assert "\n" not in str(err.value)
    assert not (tmp_path / name).exists()


def test_scenario_missing_cells_and_empty(tmp_path):
    result = make_result()
    result["NVDA"]["rows"] = result["NVDA"]["rows"][:-1]      # one cell missing
    result["EMPTY"] = {"rows": [], "venue": "x"}
    text = strip_scripts(plots.scenario_plot(tmp_path / "m.html", result, "t").read_text())
    assert plots.DASH in text and "EMPTY" in text
    read_png(plots.scenario_plot(tmp_path / "e.png", {}, "nothing"))


def test_import_still_light():
    code = ("import sys, json, sitcli.plots; "
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = set(json.loads(out.stdout))
    assert not modules & {"matplotlib", "pandas", "numpy"}
