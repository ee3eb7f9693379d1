"""Out-of-sample and walk-forward tests of a grid, built on the backtest and the sweep.

Nothing here simulates: each window is an ordinary run (`run_backtest`, or `run_sweep` whose
kernel keeps per-combination summaries only) on the data cut to that window's dates.

- `oos_split`: pick the best combination (by the caller's ranking) on the in-sample part and
  run it on the out-of-sample part that follows.
- `walk_forward`: N test windows at the end of the data, each preceded by a training window
  (rolling: a fixed number of bars; anchored: from the first bar). Each training window picks
  a combination, which then runs on its test window. The test windows are stitched into one
  curve: each starts with the capital the previous one ended with (split evenly across the
  symbols, as a fresh run would), so the stitched curve is window k's curve x (capital carried
  in / starting cash). Trade dollar amounts are scaled the same way.

A window starts flat with fresh signals: a strategy that needs bars before an event (a
look-back) has none before the window's first bar, exactly as with --start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd

from sitcli.errors import BadInput

MONEY_COLUMNS = ("qty", "margin", "pnl_gross", "fees", "spread", "slippage", "financing",
                 "funding", "liq_fee", "protection", "pnl")


@dataclass(frozen=True)
class Window:
    train: tuple[pd.Timestamp, pd.Timestamp]   # first and last bar stamps, inclusive
    test: tuple[pd.Timestamp, pd.Timestamp]


def data_index(cfg, store) -> pd.DatetimeIndex:
    """The bar stamps of the run (the union over its symbols), as the backtest lays them out."""
    from sitcli.backtest import load_legs

    legs = load_legs(cfg, store)
    index = legs[0].bars.index
    for leg in legs[1:]:
        index = index.union(leg.bars.index)
    return index


def oos_split(index, fraction: float | None = None, start=None) -> Window:
    """In-sample: the bars before the split; out-of-sample: from the split on. The split is the
    last `fraction` of the bars, or the first bar at or after `start`."""
    if (fraction is None) == (start is None):
        raise BadInput("give one of --oos FRACTION (e.g. 0.3) or --oos-start DATE")
    if fraction is not None:
        if not 0 < fraction < 1:
            raise BadInput(f"--oos {fraction:g}: the out-of-sample share of the bars, in (0, 1)")
        cut = len(index) - max(1, round(fraction * len(index)))
        flag = f"--oos {fraction:g}"
    else:
        from sitcli.backtest import parse_date

        cut = int(index.searchsorted(parse_date(start, "--oos-start"), side="left"))
        flag = f"--oos-start {start}"
    if cut < 2 or cut > len(index) - 2:
        raise BadInput(f"{flag}: leaves {cut} in-sample and {len(index) - cut} out-of-sample "
                       f"bars of {len(index)} ({index[0]:%Y-%m-%d}..{index[-1]:%Y-%m-%d}); each "
                       "side needs at least 2")
    return Window((index[0], index[cut - 1]), (index[cut], index[-1]))


def walk_windows(index, n: int, train: int | None = None, test: int | None = None,
                 anchored: bool = False) -> list[Window]:
    """`n` consecutive test windows of `test` bars ending at the last bar, each after a training
    window of `train` bars (rolling) or of every bar before it (anchored). Defaults: the data
    cut into n + 1 equal parts, the first training on the first part."""
    total = len(index)
    if n < 1:
        raise BadInput(f"--walk-forward {n}: the number of test windows, at least 1")
    test = test if test is not None else total // (n + 1)
    if test < 2:
        raise BadInput(f"--wf-test {test}: a test window needs at least 2 bars")
    first_test = total - n * test
    train = train if train is not None else first_test
    if train < 2 or first_test - train < 0:
        raise BadInput(f"--walk-forward {n} x --wf-test {test} bars after --wf-train {train} bars "
                       f"needs {n * test + train} bars; the data has {total} "
                       f"({index[0]:%Y-%m-%d}..{index[-1]:%Y-%m-%d}); use fewer or shorter windows")
    out = []
    for k in range(n):
        a = first_test + k * test
        lo = 0 if anchored else a - train
        out.append(Window((index[lo], index[a - 1]), (index[a], index[a + test - 1])))
    return out


def _window_cfg(cfg, span, grid=None):
    return replace(cfg, start=span[0].isoformat(), end=span[1].isoformat(),
                   grid=cfg.grid if grid is None else grid)


def pick(cfg, store, events, span, rank, summaries: bool = False, sweep_kwargs=None):
    """The combination the ranking puts first on the window `span`: (grid values as given on
    the command line, its stats row, the number of combinations)."""
    if summaries:
        from sitcli.sweep import run_sweep

        result = run_sweep(_window_cfg(cfg, span), store, events, **(sweep_kwargs or {}))
        rows, combos = result.combo_rows(), result.prep.combos
    else:
        from sitcli.backtest import run_backtest

        result = run_backtest(_window_cfg(cfg, span), store, events)
        rows, combos = result.combo_stats(), result.combos
    best = rank(rows)[0]
    labels = [result.combo_label(ci) or "all symbols" for ci in range(len(combos))]
    ci = labels.index(best["label"])
    return _grid_values(cfg.grid, combos[ci]), best, len(rows)


def _grid_values(grid: dict, combo: dict) -> dict:
    """The chosen combination as a one-value grid, in the spelling the user gave."""
    chosen = {}
    for key, values in grid.items():
        matches = [v for v in values if _same(v, combo[key])]
        chosen[key] = [matches[0] if matches else str(combo[key])]
    return chosen


def _same(text: str, value) -> bool:
    if isinstance(value, float):
        try:
            return float(text) == value or (math.isnan(float(text)) and math.isnan(value))
        except ValueError:
            return False
    return str(value) == text


def run_test(cfg, store, events, span, chosen: dict):
    """The chosen combination on a test window: the backtest Result (one combination)."""
    from sitcli.backtest import run_backtest

    return run_backtest(_window_cfg(cfg, span, grid=chosen), store, events)


def _study_tiers(cfg, first: Window):
    """Every window of one study trades under the venue rules of its first bar."""
    return replace(cfg, tiers_asof=cfg.tiers_asof or first.train[0].isoformat())


def oos(cfg, store, events, window: Window, rank, summaries=False, sweep_kwargs=None) -> dict:
    cfg = _study_tiers(cfg, window)
    chosen, in_sample, tried = pick(cfg, store, events, window.train, rank, summaries, sweep_kwargs)
    result = run_test(cfg, store, events, window.test, chosen)
    return {"window": _window_dict(window), "combinations": tried,
            "chosen": {k: v[0] for k, v in chosen.items()}, "in_sample": in_sample,
            "out_of_sample": result.combo_stats()[0]}


def walk_forward(cfg, store, events, windows: list[Window], rank, summaries=False,
                 sweep_kwargs=None) -> dict:
    """Re-pick on each training window, run on its test window, stitch the test windows."""
    cfg = _study_tiers(cfg, windows[0])
    pieces, trades, rows = [], [], []
    capital = None
    for k, w in enumerate(windows):
        chosen, in_sample, tried = pick(cfg, store, events, w.train, rank, summaries, sweep_kwargs)
        result = run_test(cfg, store, events, w.test, chosen)
        _, curve, cash = result.combo_curve(0)
        curve = pd.Series(curve, index=result.index)
        capital = cash if capital is None else capital
        scale = capital / cash
        pieces.append(curve * scale)
        t = result.trades_frame()
        t.insert(0, "window", k)
        for c in MONEY_COLUMNS:
            if c in t:
                t[c] = t[c] * scale
        trades.append(t)
        out_row = result.combo_stats()[0]
        rows.append({"window": k, **_window_dict(w), "combinations": tried,
                     "chosen": {key: v[0] for key, v in chosen.items()},
                     "in_sample": in_sample, "out_of_sample": out_row,
                     "capital_in": capital, "capital_out": float(curve.iloc[-1] * scale)})
        capital = float(curve.iloc[-1] * scale)
    equity = pd.concat(pieces)
    start = float(pieces[0].iloc[0])
    return {"windows": rows, "equity": equity, "trades": pd.concat(trades, ignore_index=True),
            "total_return_pct": 100 * (float(equity.iloc[-1]) / start - 1),
            "max_drawdown_pct": 100 * float((equity / equity.cummax() - 1).min()),
            "starting_capital": start, "final_equity": float(equity.iloc[-1])}


def _window_dict(w: Window) -> dict:
    return {"train": [w.train[0].isoformat(), w.train[1].isoformat()],
            "test": [w.test[0].isoformat(), w.test[1].isoformat()]}

