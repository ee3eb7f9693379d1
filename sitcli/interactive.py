"""Interactive charts with plotly for the HTML pages of `backtest --plot` and `scenario --plot`.

Each chart is a `<div>` plus plotly.js embedded inline once per page (no CDN, nothing fetched:
the page works offline). plotly is imported here only, and this module only when a page is
written, so the default `backtest` path never loads it.

Hover text carries what a reader asks of a point: equity and drawdown at a time; for a trade
its side, prices, exit and the catalyst that triggered it (`Result.trades_frame`'s `catalyst`);
for a liquidation its kind and fill; for a scenario cell its leverage, horizon and
P(liquidation).
"""

from __future__ import annotations

import math

# line colours without red and orange, which mark liquidations and close-outs (as the PNG)
COLORS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#17becf", "#aec7e8", "#98df8a", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
          "#dbdb8d", "#9edae5")
KIND_COLORS = {"liquidation": "#d62728", "close-out": "#ff7f0e"}
LONG_COLOR, SHORT_COLOR = "#2ca02c", "#9467bd"
CONFIG = {"displaylogo": False, "responsive": True, "scrollZoom": False}


def figure_div(fig, div_id: str, with_js: bool) -> str:
    """The figure as a `<div>`; `with_js` embeds plotly.js inline (once per page)."""
    return fig.to_html(full_html=False, include_plotlyjs=bool(with_js), div_id=div_id,
                       config=CONFIG)


def _naive(index):
    import pandas as pd

    index = pd.DatetimeIndex(index)
    return index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index


def _text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def equity_figure(equity, liquidations, trades, title: str, drawn: list[int]):
    """Equity (top) and drawdown % (bottom) of the runs `drawn` (column positions of
    `equity`), with each trade's entry (hover: side, prices, exit, PnL, catalyst) and each
    liquidation or close-out marked on its run's line.

    `trades` and `liquidations` carry a `label` column naming their `equity` column."""
    import numpy as np
    import pandas as pd
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=(0.7, 0.3),
                        vertical_spacing=0.04)
    eq = equity.apply(pd.to_numeric, errors="coerce").astype(float)
    x = _naive(eq.index)
    for n, j in enumerate(drawn):
        label = str(eq.columns[j])
        s = eq.iloc[:, j]
        color = COLORS[n % len(COLORS)]
        peak = s.cummax()
        dd = (s / peak.where(peak > 0) - 1.0) * 100.0
        fig.add_trace(go.Scatter(x=x, y=s.to_numpy(), mode="lines", name=label, legendgroup=label,
                                 line={"color": color, "width": 1.5}, meta=["equity", label],
                                 hovertemplate="%{x|%Y-%m-%d %H:%M}<br>equity $%{y:,.2f}"
                                               f"<extra>{_escape(label)}</extra>"), row=1, col=1)
        fig.add_trace(go.Scatter(x=x, y=dd.to_numpy(), mode="lines", name=label,
                                 legendgroup=label, showlegend=False, meta=["drawdown", label],
                                 line={"color": color, "width": 1}, hovertemplate=(
                                     "%{x|%Y-%m-%d %H:%M}<br>drawdown %{y:.2f}%"
                                     f"<extra>{_escape(label)}</extra>")), row=2, col=1)
        mine = trades[trades["label"] == label] if len(trades) else trades
        if len(mine):
            at = _value_at(s, mine["entry_time"])
            custom = np.array([[t.side, f"{t.entry_price:.6g}", _stamp(t.exit_time),
                                f"{t.exit_price:.6g}", t.exit_reason, f"{t.pnl:,.2f}",
                                _text(t.catalyst) or "none named by the strategy"]
                               for t in mine.itertuples(index=False)], dtype=object)
            symbols = ["triangle-up" if side == "long" else "triangle-down" for side in mine["side"]]
            fig.add_trace(go.Scatter(
                x=_naive(mine["entry_time"]), y=at, mode="markers", name=f"{label} trades",
                legendgroup=label, showlegend=False, customdata=custom, meta=["trades", label],
                marker={"symbol": symbols, "size": 9, "color": color,
                        "line": {"width": 1, "color": "#333"}},
                hovertemplate=("<b>%{customdata[0]}</b> entry %{x|%Y-%m-%d %H:%M}, "
                               "price %{customdata[1]}<br>exit %{customdata[2]}, price "
                               "%{customdata[3]} (%{customdata[4]})<br>PnL $%{customdata[5]}"
                               "<br>catalyst: %{customdata[6]}"
                               f"<extra>{_escape(label)}</extra>")), row=1, col=1)
        hits = liquidations[liquidations["label"] == label] if len(liquidations) else liquidations
        for kind in (dict.fromkeys(hits["kind"]) if len(hits) else ()):
            rows = hits[hits["kind"] == kind]
            times = pd.to_datetime(rows["time"], utc=True)
            custom = np.array([[kind, f"{p:.6g}"] for p in rows["fill_price"]], dtype=object)
            fig.add_trace(go.Scatter(
                x=_naive(times), y=_value_at(s, times), mode="markers", name=kind,
                legendgroup=kind, customdata=custom, meta=["liquidations", label],
                marker={"symbol": "x", "size": 12, "color": KIND_COLORS.get(kind, "#d62728"),
                        "line": {"width": 1}},
                hovertemplate=("<b>%{customdata[0]}</b> %{x|%Y-%m-%d %H:%M}<br>fill "
                               f"%{{customdata[1]}}<extra>{_escape(label)}</extra>")),
                row=1, col=1)
    fig.update_yaxes(title_text="equity ($)", tickprefix="$", row=1, col=1)
    fig.update_yaxes(title_text="drawdown (%)", ticksuffix="%", row=2, col=1)
    fig.update_xaxes(title_text="time (UTC)", row=2, col=1)
    fig.update_layout(title={"text": _escape(title)}, height=640, hovermode="closest",
                      margin={"l": 70, "r": 20, "t": 60, "b": 50}, template="plotly_white",
                      legend={"orientation": "v"})
    return fig


def _value_at(series, times):
    """The run's equity at (or last before) each time, for placing a marker on its line."""
    import numpy as np
    import pandas as pd

    s = series.dropna()
    if s.empty:
        return np.full(len(times), np.nan)
    index = pd.DatetimeIndex(s.index)
    times = pd.DatetimeIndex(pd.to_datetime(times, utc=True))
    if index.tz is None:
        index = index.tz_localize("UTC")
    pos = np.clip(index.searchsorted(times, side="right") - 1, 0, len(s) - 1)
    return s.to_numpy()[pos]


def _stamp(t) -> str:
    import pandas as pd

    t = pd.Timestamp(t)
    t = t.tz_convert("UTC") if t.tzinfo is not None else t
    return f"{t:%Y-%m-%d %H:%M}"


def _escape(text: str) -> str:
    """Plotly renders hover and title text as a small HTML subset: escape what it would read."""
    import html

    return html.escape(str(text), quote=False)


def scenario_figures(rows: list[dict], symbol: str, venue: str | None, levs, hors, grid):
    """The P(liquidation) heatmap of one symbol (leverage x horizon, values in the cells and on
    hover) and, when the rows carry returns, the return-on-margin histogram of the highest
    leverage and longest horizon. Returns a list of figures."""
    import numpy as np
    import plotly.graph_objects as go

    name = f"{symbol} ({venue})" if venue else str(symbol)
    # plain lists (not a numpy array, which plotly would ship as a typed binary block): the
    # page's data then reads back as the numbers in the table
    z = [[None if math.isnan(v) else float(v) for v in row] for row in grid]
    text = [["\u2013" if math.isnan(v) else f"{v:.1f}" for v in row] for row in grid]
    x = [_lev(v) for v in levs]
    y = [str(h) for h in hors]
    heat = go.Figure(go.Heatmap(
        z=z, x=x, y=y, text=text, texttemplate="%{text}", zmin=0, zmax=100,
        colorscale="YlOrRd", colorbar={"title": {"text": "P(liq) %"}},
        hovertemplate=("leverage %{x}<br>horizon %{y} bars<br>P(liquidation) %{z:.1f}%"
                       f"<extra>{_escape(symbol)}</extra>"), hoverongaps=False, name=symbol))
    heat.update_layout(title={"text": _escape(f"{name}: P(liquidation) %")}, height=360,
                       xaxis={"title": {"text": "leverage"}, "type": "category"},
                       yaxis={"title": {"text": "horizon (bars)"}, "type": "category"},
                       margin={"l": 70, "r": 20, "t": 50, "b": 50}, template="plotly_white")
    out = [heat]
    with_returns = [r for r in rows if r.get("returns") is not None and len(r["returns"]) > 0]
    if with_returns:
        row = max(with_returns, key=lambda r: (float(r["leverage"]), float(r["horizon"])))
        values = np.asarray(row["returns"], dtype=float) * 100.0
        values = values[np.isfinite(values)]
        hist = go.Figure(go.Histogram(x=values, nbinsx=60, marker={"color": "#4c72b0"},
                                      name=symbol, hovertemplate=(
                                          "return on margin %{x}%<br>%{y} paths / starts"
                                          f"<extra>{_escape(symbol)}</extra>")))
        hist.add_vline(x=-100, line={"color": KIND_COLORS["liquidation"], "dash": "dash"},
                       annotation_text="margin lost (-100%)")
        hist.update_layout(title={"text": _escape(f"{symbol}: {_lev(row['leverage'])}, "
                                                  f"{row['horizon']} bars (n={values.size:,d})")},
                           height=300, xaxis={"title": {"text": "return on margin (%)"}},
                           yaxis={"title": {"text": "paths / starts"}}, bargap=0.02,
                           margin={"l": 70, "r": 20, "t": 50, "b": 50}, template="plotly_white")
        out.append(hist)
    return out


def _lev(value) -> str:
    try:
        return f"{float(value):g}x"
    except (TypeError, ValueError):
        return str(value)
