"""The one small HTML helper of sitcli's pages: the daily report (`sitcli.report_render`), the
backtest report and the scenario page (`sitcli.plots`) share its head, style and tables.

Every piece of text is escaped; numbers are formatted to 2-4 decimals, NaN and None as an en
dash, times in UTC. Headers can be given human titles (`sitcli.metrics.title`).
"""

from __future__ import annotations

import html
import math
import numbers

SYNTHETIC_TEXT = "SYNTHETIC DEMO DATA"
DASH = "\u2013"         # shown for NaN / None / missing


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
margin:1.5em auto;max-width:1400px;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.5em;margin:.3em 0}h2{font-size:1.15em;margin:1.4em 0 .4em;
border-bottom:1px solid #ddd;padding-bottom:.2em}
.banner{background:#b00000;color:#fff;font-weight:bold;padding:.7em 1em;border-radius:4px;
font-size:1.1em;letter-spacing:.02em}
img.chart{max-width:100%;height:auto;border:1px solid #eee}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:.85em;margin:.3em 0}
th,td{border:1px solid #ddd;padding:.25em .55em;vertical-align:top}
th{background:#f4f4f4;text-align:left;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr:nth-child(even) td{background:#fafafa}
dl{margin:.2em 0}dt{font-weight:600;margin-top:.35em}dd{margin-left:1.5em}
.note{color:#666;font-style:italic}
"""


def stats_table(stats: list[dict], titles=str) -> str:
    esc = html.escape
    rows = [dict(r) for r in (stats or []) if r]
    if not rows:
        return '<p class="note">No statistics.</p>'
    label_key = next(iter(rows[0]))
    columns: list = []
    for r in rows:
        for k in list(r)[1:]:
            if k not in columns and k != label_key:
                columns.append(k)
    out = ['<div class="scroll"><table><thead><tr>', f"<th>{esc(titles(label_key))}</th>"]
    out += [f"<th>{esc(titles(c))}</th>" for c in columns]
    out.append("</tr></thead><tbody>")
    for r in rows:
        label = r.get(label_key, next(iter(r.values())))
        out.append(f"<tr><th>{esc(fmt(label))}</th>")
        out += [td(r.get(c)) for c in columns]
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def frame_table(frame, titles=str) -> str:
    esc = html.escape
    out = ['<div class="scroll"><table><thead><tr>']
    out += [f"<th>{esc(titles(c))}</th>" for c in frame.columns]
    out.append("</tr></thead><tbody>")
    for row in frame.itertuples(index=False, name=None):
        out.append("<tr>" + "".join(td(v) for v in row) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def td(value) -> str:
    cls = ' class="num"' if is_number(value) else ""
    return f"<td{cls}>{html.escape(fmt(value))}</td>"


def is_number(value) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def is_missing(value) -> bool:
    if value is None:
        return True
    try:
        import pandas as pd

        return bool(pd.isna(value)) if not isinstance(value, (str, bytes)) else False
    except (TypeError, ValueError):
        return False


def fmt(value) -> str:
    """Plain text for one value: numbers to 2-4 decimals, NaN/None as an en dash, UTC times."""
    if isinstance(value, (list, tuple, dict, set)):
        return plain(value)
    if is_missing(value):
        return DASH
    if isinstance(value, bool) or type(value).__name__ in ("bool_", "bool"):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,d}"
    if isinstance(value, numbers.Real):
        v = float(value)
        if math.isinf(v):
            return "\u221e" if v > 0 else "\u2212\u221e"
        if v == 0:
            return "0"
        if abs(v) >= 1:
            return f"{v:,.2f}"
        return f"{v:.4f}"
    if hasattr(value, "strftime") and hasattr(value, "year"):
        return fmt_time(value)
    if hasattr(value, "total_seconds"):      # Timedelta
        return str(value)
    return str(value)


def fmt_time(value) -> str:
    import pandas as pd

    t = pd.Timestamp(value)
    if t.tzinfo is not None:
        t = t.tz_convert("UTC")
        suffix = " UTC"
    else:
        suffix = ""
    text = t.strftime("%Y-%m-%d %H:%M:%S" if t.second or t.microsecond else "%Y-%m-%d %H:%M")
    return text + suffix


def plain(value) -> str:
    """Compact text for a small nested value (used inside table cells)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {plain(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple, set)):
        return "[" + ", ".join(plain(v) for v in value) + "]"
    return fmt(value)


def render_value(value, depth: int = 0) -> str:
    """Readable HTML for a nested assumptions value (every piece of text escaped)."""
    esc = html.escape
    if isinstance(value, dict):
        if not value:
            return f"<span>{DASH}</span>"
        items = "".join(f"<dt>{esc(str(k))}</dt><dd>{render_value(v, depth + 1)}</dd>"
                        for k, v in value.items())
        return f"<dl>{items}</dl>"
    if isinstance(value, (list, tuple, set)):
        seq = list(value)
        if not seq:
            return f"<span>{DASH}</span>"
        if all(isinstance(v, dict) for v in seq):
            columns: list = []
            for v in seq:
                for k in v:
                    if k not in columns:
                        columns.append(k)
            if all(not isinstance(x, (dict, list, tuple, set)) for v in seq for x in v.values()):
                heads = "".join(f"<th>{esc(str(c))}</th>" for c in columns)
                body = "".join("<tr>" + "".join(td(v.get(c)) for c in columns) + "</tr>"
                               for v in seq)
                return (f'<div class="scroll"><table><thead><tr>{heads}</tr></thead>'
                        f"<tbody>{body}</tbody></table></div>")
        if all(not isinstance(v, (dict, list, tuple, set)) for v in seq):
            return f"<span>{esc(', '.join(fmt(v) for v in seq))}</span>"
        return "<ol>" + "".join(f"<li>{render_value(v, depth + 1)}</li>" for v in seq) + "</ol>"
    return f"<span>{esc(fmt(value))}</span>"



def head(title: str, synthetic: bool | str) -> list[str]:
    """Doctype, inline style, the synthetic-data banner and the title of a report page."""
    esc = html.escape
    label = synthetic_text(synthetic)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(('[' + label + '] ') if label else '')}{esc(str(title))}</title>",
        f"<style>{CSS}</style></head><body>",
    ]
    if label:
        parts.append(f'<div class="banner">{label}: these are generated random paths, '
                     "not market prices. Results say nothing about real performance.</div>")
    parts.append(f"<h1>{esc(str(title))}</h1>")
    return parts



def synthetic_text(synthetic: bool | str) -> str:
    """`synthetic`: a label from `store.synthetic_label`, or True for the demo's."""
    return synthetic if isinstance(synthetic, str) else (SYNTHETIC_TEXT if synthetic else "")
