"""Rendering the daily signal report: the plain structure `sitcli.report.build_report` makes,
as JSON, Markdown and a self-contained HTML page (inline SVG charts, no script), and writing
the files. Nothing here reads data or computes a signal; both pages print the same cells
(`signal_rows`, `_backtest_table`, `status_block`).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from sitcli.metrics import SHORT_TITLES
from sitcli.report import ACTIONS, RECENT_DAYS, UPCOMING_DAYS, Chart, Report


def to_json(report: Report) -> str:
    return json.dumps(report.data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _price(value) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.5g}"


def _num(value, fmt: str = "{:,.2f}", suffix: str = "") -> str:
    return "-" if value is None else fmt.format(value) + suffix


def _signed_pct(value) -> str:
    return "-" if value is None else f"{value:+.2f}%"


def _data_cell(s: dict) -> str:
    if s["status"] in ("missing", "error"):
        return s["status"].upper()
    age = f"{s['age_hours']:g} h old" if s["age_hours"] < 48 else f"{s['age_hours'] / 24:.1f} days old"
    return age if s["status"] == "ok" else f"STALE, {age}"


def _carry_cell(carry) -> str:
    if not carry or carry["kind"] == "none":
        return "none"
    return (f"{carry['kind']} {carry['long_pct_per_day']:+.4f}% / {carry['short_pct_per_day']:+.4f}%")


def signal_rows(data: dict) -> list[dict]:
    """One row per symbol and strategy (one per missing symbol): the summary table."""
    rows = []
    for s in data["symbols"]:
        last = s["last_bar"]
        base = {"symbol": s["symbol"], "status": s["status"],
                "last close": f"{_price(last['close'])} ({last['time'][:10]})" if last else "-",
                "data": _data_cell(s)}
        if not s["signals"]:
            rows.append({**base, "strategy": "-", "signal": "-", "leverage": "-", "notional": "-",
                         "liquidation": "-", "to liquidation": "-", "in daily σ": "-",
                         "carry long / short per day": "-"})
        for sig in s["signals"]:
            liq = sig["liquidation"]
            rows.append({**base, "strategy": sig["strategy"], "signal": sig["action"],
                         "leverage": f"{sig['size']['leverage']:g}x",
                         "notional": _num(sig["size"]["notional"], "{:,.0f}"),
                         "liquidation": f"{_price(liq['price'])} ({liq['side']})",
                         "to liquidation": _signed_pct(liq["distance_pct"]),
                         "in daily σ": _num(liq["distance_daily_std"]),
                         "carry long / short per day": _carry_cell(s["carry"])})
    return rows


SUMMARY_COLUMNS = ("symbol", "last close", "data", "strategy", "signal", "leverage", "notional",
                   "liquidation", "to liquidation", "in daily σ", "carry long / short per day")
BACKTEST_COLUMNS = tuple((SHORT_TITLES[k], k) for k in (
    "total_return_pct", "sharpe", "max_drawdown_pct", "win_rate_pct", "trades", "liquidations",
    "buy_hold_return_pct"))


def _backtest_table(data: dict) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the recent-backtest table, shared by the Markdown and HTML pages."""
    heads = ["symbol", "strategy", "from", "leverage", *(h for h, _ in BACKTEST_COLUMNS)]
    rows = []
    for s in data["symbols"]:
        for sig in s["signals"]:
            b = sig["backtest"]
            cells = [s["symbol"], sig["strategy"], b["start"][:10], f"{b['leverage']:g}x"]
            cells += [_num(b[k], "{:,d}") if k in ("trades", "liquidations") else _num(b[k])
                      for _, k in BACKTEST_COLUMNS]
            rows.append(cells)
    return heads, rows


def _intro(data: dict) -> list[str]:
    st = data["settings"]
    names = ", ".join(s["name"] for s in st["strategies"])
    lev = f"{st['leverage']:g}x (capped per venue)" if st["leverage"] else "each venue's default"
    return [f"As of {data['asof_time']}: only bars closed and catalysts known by then. "
            f"Strategies: {names}. Risk budget {st['risk_budget']:,.0f} per position; leverage "
            f"{lev}; timeframe {st['timeframe']}."]


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|")


def status_block(d: dict) -> tuple[str, list[str]]:
    """The status line's word and the lines under it: one source for Markdown and HTML."""
    return d["status"].upper(), [*d["problems"], *d.get("warnings", [])]


def to_markdown(report: Report) -> str:
    d = report.data
    out = [f"# sitcli daily signal report: {d['asof']}", ""]
    if d["synthetic_demo_data"]:
        out += [f"> **{d['synthetic_label']}**: generated prices, not market history.", ""]
    out += _intro(d) + [""]
    title, items = status_block(d)
    out += [f"**Status: {title}**" + (f" (exit code {d['exit_code']})" if items else ""), ""]
    out += [f"- {_md_escape(p)}" for p in items] + ([""] if items else [])
    out += ["## Signals", ""]
    out += ["| " + " | ".join(SUMMARY_COLUMNS) + " |",
            "|" + "|".join("---" if c in ("symbol", "data", "strategy", "signal", "carry long / short "
                                          "per day") else "---:" for c in SUMMARY_COLUMNS) + "|"]
    for row in signal_rows(d):
        cells = [_md_escape(row[c]) for c in SUMMARY_COLUMNS]
        if row["signal"] in ACTIONS[:3]:
            cells[4] = f"**{cells[4]}**"
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "## Why", ""]
    for s in d["symbols"]:
        for sig in s["signals"]:
            out.append(f"- **{s['symbol']}, {sig['strategy']}: {sig['action']}**: "
                       f"{_md_escape(sig['reason'])}")
            size, liq = sig["size"], sig["liquidation"]
            line = (f"  - size: margin {size['margin']:,.2f}, notional {size['notional']:,.2f} "
                    f"({size['qty']:g} units) at {size['leverage']:g}x; liquidation for the "
                    f"{liq['basis']}, entry {_price(liq['entry'])}")
            notes = [n for n in (size["note"], liq["note"]) if n]
            out.append(line + ("; " + "; ".join(notes) if notes else ""))
        if not s["signals"]:
            out.append(f"- **{s['symbol']}**: {_md_escape(s['problem'])}")
    out += ["", "## Catalysts", ""]
    for s in d["symbols"]:
        recent = "; ".join(_catalyst_text(e) for e in s["catalysts"]["recent"]) or "none"
        upcoming = "; ".join(_catalyst_text(e) for e in s["catalysts"]["upcoming"]) or "none"
        out.append(f"- **{s['symbol']}**: recent ({RECENT_DAYS} days): {_md_escape(recent)}. "
                   f"Upcoming ({UPCOMING_DAYS} days, scheduled): {_md_escape(upcoming)}.")
    out += ["", f"## Backtest, last {d['settings']['lookback_days']} days", ""]
    heads, rows = _backtest_table(d)
    out += ["| " + " | ".join(heads) + " |", "|---|---|---|" + "---:|" * (len(heads) - 3)]
    out += ["| " + " | ".join(cells) + " |" for cells in rows]
    out += ["", "## Definitions", ""]
    out += [f"- {k.replace('_', ' ')}: {v}" for k, v in d["definitions"].items()]
    return "\n".join(out) + "\n"


def _catalyst_text(e: dict) -> str:
    direction = {1: "up", -1: "down", 0: "no direction"}[e["direction"]]
    return f"{e['time']} {e['title']} ({e['category']}, {e['status']}, {direction})"


def to_html(report: Report) -> str:
    from sitcli.htmlpage import head

    esc = html.escape
    d = report.data
    parts = head(f"sitcli daily signal report: {d['asof']}", d["synthetic_label"])
    parts += [f"<p>{esc(line)}</p>" for line in _intro(d)]
    title, items = status_block(d)
    if items:
        parts.append(f'<div id="status" class="{d["status"]}" style="background:#fff0e0;border:'
                     f'1px solid #e08000;padding:.5em 1em"><b>Status: {title}</b> (exit code '
                     f'{d["exit_code"]})<ul>' + "".join(f"<li>{esc(p)}</li>" for p in items)
                     + "</ul></div>")
    else:
        parts.append('<p id="status" class="ok"><b>Status: OK</b></p>')
    parts.append("<h2>Signals</h2>")
    head = "".join(f"<th>{esc(c)}</th>" for c in SUMMARY_COLUMNS)
    body = []
    for row in signal_rows(d):
        style = ' style="background:#ffe0e0"' if row["status"] != "ok" else ""
        cells = "".join(f"<td><b>{esc(row[c])}</b></td>" if c == "signal" and row[c] in ACTIONS[:3]
                        else f"<td>{esc(row[c])}</td>" for c in SUMMARY_COLUMNS)
        body.append(f'<tr data-symbol="{esc(row["symbol"])}" data-status="{row["status"]}"{style}>'
                    f"{cells}</tr>")
    parts.append(f'<div class="scroll"><table id="signals"><thead><tr>{head}</tr></thead><tbody>'
                 + "".join(body) + "</tbody></table></div>")
    for s in d["symbols"]:
        parts.append(f'<section class="symbol" data-symbol="{esc(s["symbol"])}">')
        parts.append(f"<h2>{esc(s['symbol'])}: {esc(s['name'])} ({esc(s['venue'])})</h2>")
        chart = report.charts.get(s["symbol"])
        if chart is not None:
            parts.append(svg_chart(s["symbol"], chart))
            first = s["signals"][0]
            parts.append(f'<p class="note">Closes (blue); {esc(first["strategy"])}\'s entries '
                         "(\u25b2 long, \u25bc short) and exits (\u25cb); its liquidation level "
                         f'(dashed red) for the {esc(first["liquidation"]["basis"])}.</p>')
        else:
            parts.append(f'<p class="note">No chart: {esc(s["problem"] or "no data")}</p>')
        items = [f"<li><b>{esc(sig['strategy'])}: {esc(sig['action'])}</b>: {esc(sig['reason'])}</li>"
                 for sig in s["signals"]]
        recent = "; ".join(_catalyst_text(e) for e in s["catalysts"]["recent"]) or "none"
        upcoming = "; ".join(_catalyst_text(e) for e in s["catalysts"]["upcoming"]) or "none"
        items.append(f"<li>recent catalysts ({RECENT_DAYS} days): {esc(recent)}</li>")
        items.append(f"<li>upcoming (scheduled, {UPCOMING_DAYS} days): {esc(upcoming)}</li>")
        parts.append("<ul>" + "".join(items) + "</ul></section>")
    parts.append(f"<h2>Backtest, last {d['settings']['lookback_days']} days</h2>")
    heads, cells_by_row = _backtest_table(d)
    rows = ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>" for cells in cells_by_row]
    parts.append('<div class="scroll"><table id="backtest"><thead><tr>'
                 + "".join(f"<th>{esc(h)}</th>" for h in heads) + "</tr></thead><tbody>"
                 + "".join(rows) + "</tbody></table></div>")
    parts.append("<h2>Definitions</h2><dl>" + "".join(
        f"<dt>{esc(k.replace('_', ' '))}</dt><dd>{esc(v)}</dd>" for k, v in d["definitions"].items())
        + "</dl>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


CHART_W, CHART_H = 720, 220
CHART_PAD = (64, 12, 14, 26)     # left, right, top, bottom
PRICE_COLOR, LIQ_COLOR, LONG_COLOR, SHORT_COLOR = "#1f77b4", "#d62728", "#2ca02c", "#d62728"


def svg_chart(symbol: str, chart: Chart) -> str:
    """Closes, the strategy's entries and exits, and the liquidation level, as inline SVG."""
    esc = html.escape
    left, right, top, bottom = CHART_PAD
    values = list(chart.closes) + ([chart.liquidation] if chart.liquidation else [])
    lo, hi = min(values), max(values)
    span = (hi - lo) or abs(hi) or 1.0
    lo, hi = lo - 0.05 * span, hi + 0.05 * span
    n = len(chart.closes)
    width, height = CHART_W - left - right, CHART_H - top - bottom

    def x(i):
        return left + (i * width / (n - 1) if n > 1 else width / 2)

    def y(v):
        return top + (hi - v) / (hi - lo) * height

    points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(chart.closes))
    out = [f'<svg class="chart" data-symbol="{esc(symbol)}" xmlns="http://www.w3.org/2000/svg" '
           f'width="{CHART_W}" height="{CHART_H}" viewBox="0 0 {CHART_W} {CHART_H}" role="img">',
           f"<title>{esc(symbol)}: last {n} closes, entries, exits and the liquidation level</title>",
           f'<rect x="{left}" y="{top}" width="{width}" height="{height}" fill="#fff" '
           'stroke="#ccc"/>',
           f'<polyline fill="none" stroke="{PRICE_COLOR}" stroke-width="2" points="{points}"/>']
    if chart.liquidation:
        ly = y(chart.liquidation)
        out.append(f'<line x1="{left}" x2="{left + width}" y1="{ly:.1f}" y2="{ly:.1f}" '
                   f'stroke="{LIQ_COLOR}" stroke-width="1.5" stroke-dasharray="6 4"/>')
        out.append(f'<text x="{left + width - 4}" y="{ly - 4:.1f}" text-anchor="end" font-size="11" '
                   f'fill="{LIQ_COLOR}">liquidation {esc(_price(chart.liquidation))}</text>')
    index = {t: i for i, t in enumerate(chart.times)}
    for t, kind in chart.marks:
        if t not in index:
            continue
        i = index[t]
        cx, cy = x(i), y(chart.closes[i])
        if kind == "long":
            out.append(f'<polygon points="{cx:.1f},{cy - 9:.1f} {cx - 6:.1f},{cy + 3:.1f} '
                       f'{cx + 6:.1f},{cy + 3:.1f}" fill="{LONG_COLOR}"/>')
        elif kind == "short":
            out.append(f'<polygon points="{cx:.1f},{cy + 9:.1f} {cx - 6:.1f},{cy - 3:.1f} '
                       f'{cx + 6:.1f},{cy - 3:.1f}" fill="{SHORT_COLOR}"/>')
        else:
            out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="none" stroke="#333" '
                       'stroke-width="1.5"/>')
    font = 'font-size="11" fill="#444"'
    out.append(f'<text x="{left - 4}" y="{top + 10}" text-anchor="end" {font}>{esc(_price(hi))}</text>')
    out.append(f'<text x="{left - 4}" y="{top + height}" text-anchor="end" {font}>'
               f"{esc(_price(lo))}</text>")
    out.append(f'<text x="{left}" y="{CHART_H - 8}" {font}>{chart.times[0]:%Y-%m-%d}</text>')
    out.append(f'<text x="{left + width}" y="{CHART_H - 8}" text-anchor="end" {font}>'
               f"{chart.times[-1]:%Y-%m-%d}</text>")
    out.append("</svg>")
    return "".join(out)


RENDERERS = {"json": to_json, "md": to_markdown, "html": to_html}


def write_report(report: Report, out_dir: Path, formats: list[str]) -> list[Path]:
    """DIR/YYYY-MM-DD.<format>, each written to a temporary file and renamed over the old one."""
    from sitcli.files import atomic_path, environment_error

    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise environment_error(exc, "create the report directory", out_dir) from None
    written = []
    for fmt in formats:
        path = out_dir / f"{report.data['asof']}.{fmt}"
        with atomic_path(path, mode=0o644) as tmp:
            tmp.write_text(RENDERERS[fmt](report), encoding="utf-8", newline="\n")
        written.append(path)
    return written
