"""Charts and the self-contained HTML pages of `backtest --plot` and `scenario --plot`.

Importing this module is cheap: pandas, matplotlib and plotly are imported inside the
functions. matplotlib draws the PNGs (for e-mail and the README) through its non-interactive
Agg canvas (no pyplot, no GUI backend, no global backend switch); the HTML pages draw the same
charts with plotly (`sitcli.interactive`: zoomable, values on hover, plotly.js inline so they
work offline) and keep the PNG inside `<noscript>` for readers without scripts. Every file is
written with `sitcli.files.atomic_write`.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sitcli.htmlpage import (  # noqa: F401 - DASH, SYNTHETIC_TEXT and _fmt re-exported
    DASH,
    SYNTHETIC_TEXT,
    frame_table,
    head,
    render_value,
    stats_table,
)
from sitcli.htmlpage import fmt as _fmt  # noqa: F401
from sitcli.htmlpage import synthetic_text as _synthetic_text

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

MAX_LINES = 12          # runs drawn at most; the rest are summarised in the title
TRADES_SHOWN = 500      # trade rows in the HTML report
FIGSIZE = (12.0, 7.0)   # inches
DPI = 150
KIND_COLORS = {"liquidation": "#d62728", "close-out": "#ff7f0e"}   # red, orange


# --------------------------------------------------------------------------------------------
# PNG


def equity_png(path, equity: pd.DataFrame, liquidations: pd.DataFrame, title: str,
               synthetic: bool = False) -> Path:
    """Equity (top) and drawdown % (bottom) of each run, liquidations marked; write a PNG.

    ``equity``: UTC DatetimeIndex, one column per run label, account equity in $ (NaN allowed).
    ``liquidations``: columns ``time``, ``label`` (or ``symbol``), ``kind``, ``fill_price``;
    may be empty. Returns the path written.
    """
    path = Path(path)
    _atomic_write(path, _render_png(equity, liquidations, title, synthetic))
    return path


def _render_png(equity, liquidations, title: str, synthetic: bool) -> bytes:
    import io

    import matplotlib.dates as mdates
    import numpy as np
    import pandas as pd
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, StrMethodFormatter

    equity = equity if equity is not None else pd.DataFrame()
    eq = equity.apply(pd.to_numeric, errors="coerce").astype(float)
    eq = eq.replace([np.inf, -np.inf], np.nan)
    if len(eq.index):
        index = pd.DatetimeIndex(eq.index)
        eq.index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
        eq = eq.sort_index(kind="stable")
    n_runs = eq.shape[1]

    finals = [_last_valid(eq.iloc[:, j]) for j in range(n_runs)]
    order = drawn_runs(eq)

    heading = str(title)
    if n_runs > MAX_LINES:
        heading += f"  (top {MAX_LINES} of {n_runs} runs by final equity)"
    if synthetic:
        heading = f"{_synthetic_text(synthetic)} \u2014 {heading}"

    x = _naive_utc(eq.index) if len(eq.index) else eq.index
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax_eq, ax_dd = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1.3))
    fig.suptitle(heading, fontsize=12, color="#b00000" if synthetic else "black",
                 fontweight="bold" if synthetic else "normal")

    colors = _colors(len(order))
    handles: list = []
    drawn: dict[str, Any] = {}      # label -> its equity Series (for markers)
    for color, j in zip(colors, order, strict=True):
        label = str(eq.columns[j])
        s = eq.iloc[:, j]
        legend = label if math.isnan(finals[j]) else f"{label}  ${finals[j]:,.0f}"
        (line,) = ax_eq.plot(x, s.to_numpy(), color=color, lw=1.2, label=legend)
        handles.append(line)
        peak = s.cummax()
        dd = (s / peak.where(peak > 0) - 1.0) * 100.0
        ax_dd.plot(x, dd.to_numpy(), color=color, lw=1.0)
        drawn.setdefault(label, s)

    # liquidation / close-out markers, on the run's equity line at that time
    kinds_seen: list[str] = []
    liq = liquidations if liquidations is not None else pd.DataFrame()
    label_col = "label" if "label" in liq.columns else ("symbol" if "symbol" in liq.columns else None)
    if len(liq) and label_col is not None and "time" in liq.columns and len(eq.index):
        times = pd.to_datetime(liq["time"], utc=True)
        kinds = liq["kind"].astype(str) if "kind" in liq.columns else pd.Series("liquidation",
                                                                                index=liq.index)
        for t, lab, kind in zip(times, liq[label_col].astype(str), kinds, strict=True):
            s = drawn.get(lab)
            if s is None or pd.isna(t):
                continue
            y = s.loc[:t].dropna()
            if y.empty:
                continue
            color = KIND_COLORS.get(kind, KIND_COLORS["liquidation"])
            ax_eq.plot(_naive_utc(pd.DatetimeIndex([t]))[0], y.iloc[-1], marker="x", ms=10,
                       mew=2.5, color=color, ls="none", zorder=5)
            if kind not in kinds_seen:
                kinds_seen.append(kind)
    for kind in kinds_seen:
        handles.append(Line2D([], [], marker="x", ms=8, mew=2.5, ls="none",
                              color=KIND_COLORS.get(kind, KIND_COLORS["liquidation"]), label=kind))

    # scales and axes
    shown = eq.iloc[:, order].to_numpy().ravel() if order else np.array([])
    shown = shown[np.isfinite(shown)]
    if shown.size and shown.min() > 0 and shown.max() / shown.min() > 10:
        from matplotlib.ticker import LogLocator, NullFormatter

        ax_eq.set_yscale("log")
        ax_eq.yaxis.set_major_formatter(FuncFormatter(_money_log))
        if shown.max() / shown.min() <= 1e3:
            ax_eq.yaxis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
            ax_eq.yaxis.set_minor_formatter(FuncFormatter(_money_log))
        else:
            ax_eq.yaxis.set_minor_formatter(NullFormatter())
        ax_eq.set_ylabel("equity ($, log scale)")
    else:
        small = shown.size and np.abs(shown).max() < 100
        ax_eq.yaxis.set_major_formatter(StrMethodFormatter("${x:,.2f}" if small else "${x:,.0f}"))
        ax_eq.set_ylabel("equity ($)")
    ax_dd.set_ylabel("drawdown (%)")
    ax_dd.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0f}%"))
    for ax in (ax_eq, ax_dd):
        ax.grid(True, which="major", alpha=0.3)
        ax.grid(True, which="minor", alpha=0.12)
    if len(eq.index):
        locator = mdates.AutoDateLocator()
        ax_dd.xaxis.set_major_locator(locator)
        ax_dd.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax_dd.set_xlabel("time (UTC)")
    if handles:
        fig.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)
    if not order or not shown.size:
        ax_eq.text(0.5, 0.5, "no equity data", transform=ax_eq.transAxes, ha="center",
                   va="center", color="grey")

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Title": heading})
    return buf.getvalue()


def drawn_runs(equity) -> list[int]:
    """The columns a chart draws: at most MAX_LINES, highest final (last valid) equity first."""
    finals = [_last_valid(equity.iloc[:, j]) for j in range(equity.shape[1])]

    def rank(j: int):
        return (math.isnan(finals[j]), 0.0 if math.isnan(finals[j]) else -finals[j])

    return sorted(range(equity.shape[1]), key=rank)[:MAX_LINES]


def _last_valid(s) -> float:
    valid = s.dropna()
    return float(valid.iloc[-1]) if len(valid) else math.nan


def _naive_utc(index):
    """A DatetimeIndex as naive UTC datetime64 (what matplotlib plots without converters)."""
    import pandas as pd

    index = pd.DatetimeIndex(index)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.to_numpy()


def _colors(n: int) -> list:
    """Line colours without red and orange, which mark liquidations and close-outs."""
    from matplotlib import colormaps

    tab10, tab20 = colormaps["tab10"], colormaps["tab20"]
    pal = [tab10(i) for i in (0, 2, 4, 5, 6, 7, 8, 9)] + [tab20(i) for i in (1, 5, 9, 11, 13, 15, 17, 19)]
    return [pal[i % len(pal)] for i in range(n)]


def _money_log(v: float, _pos=None) -> str:
    """Compact $ tick label for the log axis: $500, $2k, $2.5k, $10k, $1.2M."""
    a = abs(v)
    if a >= 1e6:
        return f"${v / 1e6:,.3g}M"
    if a >= 1e3:
        return f"${v / 1e3:,.3g}k"
    if a >= 1 or a == 0:
        return f"${v:,.3g}"
    return f"${v:.2g}"


# --------------------------------------------------------------------------------------------
# HTML


def report_html(path, *, title: str, assumptions: dict, stats: list[dict], equity: pd.DataFrame,
                trades: pd.DataFrame, liquidations: pd.DataFrame, synthetic: bool = False,
                aggregate: list[dict] | None = None, png: bytes | None = None) -> Path:
    """One self-contained HTML report: the interactive equity and drawdown chart (plotly.js
    inline; the PNG inside `<noscript>`), the statistics per run and in aggregate with human
    headers, the assumptions, liquidations and the trades with their catalysts.

    ``stats`` and ``aggregate``: flat dicts, the first key of each is its row label.
    ``trades`` and ``liquidations`` may carry a ``label`` column naming their ``equity``
    column (it places their markers; the tables do not show it). ``png``: the chart already
    rendered for equity.png (rendered here when None). The first TRADES_SHOWN trades are
    listed. Returns the path written.
    """
    import pandas as pd

    from sitcli.interactive import equity_figure, figure_div
    from sitcli.metrics import record_title
    from sitcli.metrics import title as human

    path = Path(path)
    esc = html.escape
    png = png if png is not None else _render_png(equity, liquidations, title, synthetic)
    chart = base64.b64encode(png).decode("ascii")
    trades = trades if trades is not None else pd.DataFrame()
    liquidations = liquidations if liquidations is not None else pd.DataFrame()
    marked_trades = trades if "label" in trades.columns or trades.empty else trades.assign(
        label=trades.get("symbol", pd.Series(dtype=str)))
    marked_liqs = liquidations
    if len(liquidations) and "label" not in liquidations.columns:
        marked_liqs = liquidations.assign(label=liquidations.get("symbol"))
    eq = equity if equity is not None else pd.DataFrame()
    drawn = drawn_runs(eq)

    parts = head(title, synthetic)
    parts.append("<h2>Equity and drawdown</h2>")
    heading = str(title) + (f"  (top {MAX_LINES} of {eq.shape[1]} runs by final equity)"
                            if eq.shape[1] > MAX_LINES else "")
    fig = equity_figure(eq, marked_liqs, _with_trade_columns(marked_trades), heading, drawn)
    parts.append('<div class="chart">' + figure_div(fig, "equity-chart", with_js=True) + "</div>")
    parts.append('<p class="note">Drag to zoom, double-click to reset; hover a triangle for the '
                 "trade and the catalyst that triggered it, a cross for a liquidation.</p>")
    parts.append(f'<noscript><img src="data:image/png;base64,{chart}" class="chart" '
                 f'alt="{esc("Equity and drawdown: " + str(title))}"></noscript>')

    parts.append("<h2>Statistics</h2>")
    parts.append(stats_table(stats, human))
    if aggregate:
        parts.append("<h2>Aggregate</h2>")
        parts.append(stats_table(aggregate, human))

    parts.append("<h2>Assumptions</h2>")
    parts.append(render_value(assumptions if assumptions is not None else {}))

    shown_liqs = liquidations.drop(columns=["label"], errors="ignore")
    parts.append(f"<h2>Liquidations and close-outs ({len(liquidations)})</h2>")
    parts.append(frame_table(shown_liqs, record_title) if len(liquidations)
                 else '<p class="note">No liquidations or close-outs.</p>')

    n_trades = len(trades)
    parts.append(f"<h2>Trades ({n_trades})</h2>")
    if n_trades > TRADES_SHOWN:
        parts.append(f'<p class="note">showing {TRADES_SHOWN} of {n_trades} trades</p>')
    shown = trades.drop(columns=["label"], errors="ignore").head(TRADES_SHOWN)
    parts.append(frame_table(shown, record_title) if n_trades
                 else '<p class="note">No trades.</p>')

    parts.append("</body></html>\n")
    _atomic_write(path, "\n".join(parts).encode("utf-8"))
    return path


def write_backtest_plots(out: Path, result, payload: dict) -> list[Path]:
    """`backtest --plot`: equity.png and the interactive report.html of a Result, with the
    statistics `payload` (`cli.backtest.build_payload`) per run and in aggregate."""
    liqs = result.liquidations_frame()
    if not liqs.empty:
        liqs = liqs.assign(label=result.account_labels(liqs))
    trades = result.trades_frame()
    columns = result.equity_frame().columns
    trades.insert(0, "label", [columns[result.runs[c].account] for c in result.trades["col"]])
    title = f"sitcli backtest {result.strategy.name}"
    equity = result.equity_frame()
    png = _render_png(equity, liqs, title, result.synthetic_label)
    _atomic_write(Path(out) / "equity.png", png)
    stats = [{"run": label, **row} for label, row in payload["stats"].items()]
    aggregate = [{"run": row["label"], **{k: v for k, v in row.items() if k != "label"}}
                 for row in payload.get("aggregate", [])]
    report_html(Path(out) / "report.html", title=title, assumptions=payload["assumptions"],
                stats=stats, aggregate=aggregate, equity=equity, trades=trades,
                liquidations=liqs, synthetic=result.synthetic_label, png=png)
    return [Path(out) / "equity.png", Path(out) / "report.html"]


TRADE_MARK_COLUMNS = {"side": "long", "entry_price": float("nan"), "exit_price": float("nan"),
                      "exit_time": None, "exit_reason": "", "pnl": float("nan"), "catalyst": ""}


def _with_trade_columns(trades):
    """The trades with every column the chart's hover reads (a caller's frame may lack some)."""
    if trades.empty or "entry_time" not in trades.columns:
        import pandas as pd

        return pd.DataFrame(columns=["label", "entry_time", *TRADE_MARK_COLUMNS])
    missing = {k: v for k, v in TRADE_MARK_COLUMNS.items() if k not in trades.columns}
    if "exit_time" in missing:
        missing["exit_time"] = trades["entry_time"]
    return trades.assign(**missing) if missing else trades


# --------------------------------------------------------------------------------------------
# files


def _atomic_write(path: Path, data: bytes) -> None:
    from sitcli.files import atomic_write

    atomic_write(path, lambda tmp: tmp.write_bytes(data))


# --------------------------------------------------------------------------------------------
# scenario: P(liquidation) by leverage x horizon

SCENARIO_COLS = 3        # symbols per row of the scenario grid
SCENARIO_CMAP = "YlOrRd"


def scenario_plot(path, result: dict, title: str, synthetic: bool = False,
                  with_html: bool = False) -> Path:
    """P(liquidation) heatmaps (leverage x horizon, one per symbol) as ``.png`` or ``.html``.

    ``result``: symbol -> {"rows": [...], "venue": str, ...}, as ``sitcli.scenario.run``
    returns; each row has ``leverage``, ``horizon``, ``p_liquidation_pct`` and optionally
    ``returns`` (return on margin per path/start, a fraction), which adds a histogram panel
    for the highest leverage and longest horizon of each symbol. ``.html`` is one
    self-contained interactive page (`_scenario_html`); ``with_html`` writes it beside a
    ``.png`` too (same name, ``.html``). Any other extension raises ``ValueError``. Returns
    the path asked for.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in (".png", ".html", ".htm"):
        raise ValueError(f"scenario plot {str(path)!r}: unsupported extension "
                         f"{path.suffix or '(none)'!r}; use .png or .html")
    result = dict(result or {})
    from sitcli.data.store import synthetic_label

    synthetic = synthetic or synthetic_label(v.get("source", "demo") for v in result.values()
                                             if isinstance(v, dict) and v.get("synthetic"))
    png = _render_scenario_png(result, title, synthetic)
    if ext == ".png":
        _atomic_write(path, png)
    if ext != ".png" or with_html:
        _atomic_write(path.with_suffix(".html") if ext == ".png" else path,
                      _scenario_html(result, title, synthetic, png))
    return path


def _fmt_lev(lev) -> str:
    try:
        return f"{float(lev):g}x"
    except (TypeError, ValueError):
        return str(lev)


def _fmt_pct1(value) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return DASH
    return DASH if math.isnan(v) else f"{v:.1f}"


def _scenario_grid(rows: list[dict]):
    """(leverages, horizons, P(liq) % matrix [horizon][leverage]) in first-seen order."""
    levs: list = []
    hors: list = []
    for r in rows:
        if r.get("leverage") not in levs:
            levs.append(r.get("leverage"))
        if r.get("horizon") not in hors:
            hors.append(r.get("horizon"))
    grid = [[math.nan] * len(levs) for _ in hors]
    for r in rows:
        try:
            v = float(r.get("p_liquidation_pct"))
        except (TypeError, ValueError):
            v = math.nan
        grid[hors.index(r.get("horizon"))][levs.index(r.get("leverage"))] = v
    return levs, hors, grid


def _sort_key(value):
    try:
        return (0, float(value))
    except (TypeError, ValueError):
        return (1, 0.0)


def _scenario_returns_row(rows: list[dict]):
    """The row with returns at the highest leverage, then longest horizon (None if none)."""
    with_returns = [r for r in rows if r.get("returns") is not None and len(r.get("returns")) > 0]
    if not with_returns:
        return None
    return max(with_returns, key=lambda r: (_sort_key(r.get("leverage")),
                                            _sort_key(r.get("horizon"))))


def _render_scenario_png(result: dict, title: str, synthetic: bool) -> bytes:
    import io

    import numpy as np
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    symbols = list(result)
    rows_of = {s: list((result[s] or {}).get("rows") or []) for s in symbols}
    has_hist = any(_scenario_returns_row(rows_of[s]) is not None for s in symbols)
    n = max(len(symbols), 1)
    ncols = min(n, SCENARIO_COLS)
    nblocks = math.ceil(n / ncols)
    per_block = 2 if has_hist else 1
    width = max(7.0, 4.6 * ncols + 1.2)
    height = 0.9 + nblocks * (3.4 + (2.8 if has_hist else 0.0))

    heading = str(title)
    if synthetic:
        heading = f"{_synthetic_text(synthetic)} \u2014 {heading}"

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(heading, fontsize=12, color="#b00000" if synthetic else "black",
                 fontweight="bold" if synthetic else "normal")
    ratios = [1.0, 0.8] * nblocks if has_hist else [1.0] * nblocks
    axes = fig.subplots(nblocks * per_block, ncols, squeeze=False, height_ratios=ratios)
    cmap = colormaps[SCENARIO_CMAP].with_extremes(bad="#dddddd")
    norm = Normalize(vmin=0.0, vmax=100.0)
    heat_axes = []
    image = None

    for k in range(nblocks * ncols):
        block, col = divmod(k, ncols)
        ax = axes[block * per_block, col]
        ax_h = axes[block * per_block + 1, col] if has_hist else None
        if k >= len(symbols):
            ax.set_visible(False)
            if ax_h is not None:
                ax_h.set_visible(False)
            continue
        symbol = symbols[k]
        info = result[symbol] or {}
        rows = rows_of[symbol]
        venue = info.get("venue")
        name = f"{symbol}  ({venue})" if venue else str(symbol)
        heat_axes.append(ax)
        levs, hors, grid = _scenario_grid(rows)
        if not levs:
            ax.text(0.5, 0.5, "no scenario rows", transform=ax.transAxes, ha="center",
                    va="center", color="grey")
            ax.set_title(name, fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            data = np.ma.masked_invalid(np.array(grid, dtype=float))
            image = ax.imshow(data, cmap=cmap, norm=norm, aspect="auto", origin="lower",
                              interpolation="nearest")
            for i in range(len(hors)):
                for j in range(len(levs)):
                    v = grid[i][j]
                    dark = not math.isnan(v) and v >= 60
                    ax.text(j, i, _fmt_pct1(v), ha="center", va="center", fontsize=9,
                            color="white" if dark else "black")
            ax.set_xticks(range(len(levs)), [_fmt_lev(v) for v in levs])
            ax.set_yticks(range(len(hors)), [str(h) for h in hors])
            ax.set_xlabel("leverage")
            ax.set_ylabel("horizon (bars)")
            ax.set_title(f"{name}: P(liquidation) %", fontsize=10)
        if ax_h is None:
            continue
        row = _scenario_returns_row(rows)
        if row is None:
            ax_h.text(0.5, 0.5, "no return distribution", transform=ax_h.transAxes,
                      ha="center", va="center", color="grey")
            ax_h.set_xticks([])
            ax_h.set_yticks([])
            continue
        values = np.asarray(row["returns"], dtype=float) * 100.0
        values = values[np.isfinite(values)]
        if values.size:
            # the rare huge winners at 100x would squash the losses into one bar: show the
            # 0.5th-99.5th percentiles (and always the -100% line)
            lo_, hi_ = np.percentile(values, [0.5, 99.5])
            ax_h.hist(values, bins=min(60, max(10, int(np.sqrt(values.size)))),
                      range=(min(lo_, -110.0), max(hi_, 10.0)), color="#4c72b0", alpha=0.85)
        ax_h.axvline(0.0, color="black", lw=0.8)
        ax_h.axvline(-100.0, color=KIND_COLORS["liquidation"], lw=1.0, ls="--",
                     label="margin lost (-100%)")
        ax_h.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0f}%"))
        ax_h.set_xlabel("return on margin")
        ax_h.set_ylabel("paths / starts")
        ax_h.set_title(f"{symbol}: {_fmt_lev(row.get('leverage'))}, "
                       f"{row.get('horizon')} bars (n={values.size:,d})", fontsize=9)
        ax_h.legend(fontsize=7, frameon=False, loc="upper left")
        ax_h.grid(True, alpha=0.3)

    if not symbols:
        axes[0, 0].set_visible(True)
        axes[0, 0].text(0.5, 0.5, "no scenario data", transform=axes[0, 0].transAxes,
                        ha="center", va="center", color="grey")
        axes[0, 0].set_xticks([])
        axes[0, 0].set_yticks([])
    if heat_axes:
        from matplotlib.cm import ScalarMappable

        mappable = image if image is not None else ScalarMappable(norm=norm, cmap=cmap)
        bar = fig.colorbar(mappable, ax=heat_axes, shrink=0.9)
        bar.set_label("P(liquidation) %")

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Title": heading})
    return buf.getvalue()


def _scenario_html(result: dict, title: str, synthetic: bool, png: bytes) -> bytes:
    """The scenario page: per symbol the interactive heatmap (values on hover), the return
    histogram and the table; the PNG inside `<noscript>`."""
    from sitcli.interactive import figure_div, scenario_figures

    esc = html.escape
    chart = base64.b64encode(png).decode("ascii")
    parts = head(title, synthetic)
    parts.append("<h2>P(liquidation) by leverage and horizon</h2>")
    parts.append(f'<noscript><img src="data:image/png;base64,{chart}" class="chart" '
                 f'alt="{esc("P(liquidation) heatmaps: " + str(title))}"></noscript>')
    if not result:
        parts.append('<p class="note">No scenario data.</p>')
    with_js = True
    for k, (symbol, info) in enumerate(result.items()):
        info = info or {}
        venue = info.get("venue")
        heading = f"{symbol} ({venue})" if venue else str(symbol)
        parts.append(f'<h2 data-symbol="{esc(str(symbol))}">{esc(heading)}: P(liquidation) %</h2>')
        rows = list(info.get("rows") or [])
        levs, hors, grid = _scenario_grid(rows)
        if not levs:
            parts.append('<p class="note">No scenario rows.</p>')
            continue
        for n, fig in enumerate(scenario_figures(rows, symbol, venue, levs, hors, grid)):
            kind = "heatmap" if n == 0 else "returns"
            parts.append(f'<div class="chart" data-symbol="{esc(str(symbol))}" data-kind="{kind}">'
                         + figure_div(fig, f"scenario-{k}-{kind}", with_js) + "</div>")
            with_js = False
        out = ['<div class="scroll"><table><thead><tr><th>horizon (bars) \\ leverage</th>']
        out += [f"<th>{esc(_fmt_lev(v))}</th>" for v in levs]
        out.append("</tr></thead><tbody>")
        for i, h in enumerate(hors):
            out.append(f"<tr><th>{esc(str(h))}</th>")
            out += [f'<td class="num">{esc(_fmt_pct1(v))}</td>' for v in grid[i]]
            out.append("</tr>")
        out.append("</tbody></table></div>")
        parts.append("".join(out))
    parts.append("</body></html>\n")
    return "\n".join(parts).encode("utf-8")
