"""Large parameter grids: the backtest's preparation, then the summaries-only sweep kernel on
every core (numba threads) or on a Dask cluster, in chunks of combinations.

Each chunk's kernel columns are built when it runs (`GridCombos.kernel_columns`); it returns
per-column trade statistics and per-account / per-combination curve statistics
(`sitcli.engine.kernel.N_COL_STATS`, `N_CURVE_STATS`), and per combination the per-block sums
of its returns that the overfitting statistics need (`overfit.block_sums`), never equity
curves, so memory grows with the number of combinations, not combinations x bars. What is
kept of them is what the tables and PBO read: 441 bytes a combination of one symbol
(`SweepResult`), the per-block sums (272 of them) let go once PBO is computed. A
combination's numbers do not depend on the executor, the number of workers or the chunk
size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sitcli import stats
from sitcli.backtest import Prepared, RunConfig, prepare_backtest
from sitcli.errors import BadInput

EXECUTORS = ("local", "dask")
UPDATES_PER_CHUNK = 20_000_000   # bar x column updates per chunk: a fraction of a second
# and a chunk's statistics (which are copied into the result's) take at most a few MB
OUTPUT_BYTES_PER_CHUNK = 4_000_000


TRADE_KEYS = ("win_rate_pct", "profit_factor", "trades", "liquidations", "fees", "spread",
              "slippage", "financing", "funding", "liquidation_fees", "protection", "pnl",
              "cut_trades", "effective_leverage")
RETURN_KEYS = ("total_return_pct", "cagr_pct", "sharpe", "sortino", "max_drawdown_pct",
               "final_equity")
SPAN_KEYS = ("span_first", "span_last", "span_bars", "ruined")


@dataclass
class SweepResult:
    cfg: RunConfig
    prep: Prepared
    col_stats: np.ndarray       # (columns, N_COL_STATS)
    # the curve statistics a row of the tables reads (`curve_fields`), of each account and
    # each combination (the same array when every combination has one account)
    acc_kept: np.ndarray        # (accounts, len(curve_fields))
    combo_kept: np.ndarray      # (combinations, len(curve_fields))
    finished: np.ndarray        # bool per combination: False where an interrupt stopped it
    # Σr, Σr² (float64) and n (`count_dtype`) of each combination's per-bar returns in each of
    # PBO's time blocks, each (blocks, combinations) (`overfit.block_sums` of
    # `overfit.combination_returns`, one run); None once `release_blocks` let them go
    blocks: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @property
    def acc_curve(self) -> np.ndarray:
        """(accounts, N_CURVE_STATS): the kernel's curve statistics of each account, the
        fields a table does not read (`curve_fields`) 0, as they are not kept."""
        return self._curves(self.acc_kept)

    @property
    def combo_curve(self) -> np.ndarray:
        """`acc_curve` of each combination's curve (its accounts' summed)."""
        return self._curves(self.combo_kept)

    def _curves(self, kept, rows=None) -> np.ndarray:
        """Rows `rows` (all by default) of `kept` at their N_CURVE_STATS places."""
        kept = kept if rows is None else kept[rows]
        out = np.zeros((len(kept), _n_curve_stats()))
        out[:, curve_fields(self.cfg)] = kept
        return out

    @property
    def complete(self) -> bool:
        return bool(self.finished.all())

    def release_blocks(self) -> dict:
        """The overfitting statistics that do not depend on the winner
        (`overfit.sweep_trials`), then the per-block sums they came from let go: most of what
        a combination keeps, no longer held while the table is ranked and written."""
        from sitcli.overfit import sweep_trials

        trials = sweep_trials(self)
        self.blocks = None
        return trials

    @property
    def synthetic(self) -> bool:
        return any(leg.synthetic for leg in self.prep.legs)

    def combo_label(self, ci: int) -> str:
        return " ".join(f"{k}={self.prep.combos[ci][k]}" for k in self.cfg.grid)

    def assumptions(self) -> dict:
        """`Result.assumptions` of the sweep, its grid as each parameter's values."""
        from sitcli.backtest import Run
        from sitcli.result import Result

        prep = self.prep
        combos = prep.combos
        runs = prep.runs
        if isinstance(combos, GridCombos):    # every value once is what the summary reads
            combos = combos.representatives()
            runs = [Run(leg.symbol, j, ci, 0) for ci in range(len(combos))
                    for j, leg in enumerate(prep.legs)]
        out = Result(cfg=self.cfg, strategy=prep.strategy, combos=combos, legs=prep.legs,
                     runs=runs, index=prep.index, equity=None, trades=None,
                     liquidations=None).assumptions()
        out["grid"] = {k: list(dict.fromkeys(self.params(k).tolist())) for k in self.cfg.grid}
        out["combinations"] = len(prep.combos)
        return out

    def params(self, key: str, combos=None) -> np.ndarray:
        """One grid parameter as an array over combinations (all, or those numbered
        `combos`)."""
        grid = self.prep.combos
        if isinstance(grid, GridCombos):
            return grid.column(key, combos)
        values = np.array([c[key] for c in grid])
        return values if combos is None else values[combos]

    def combo_table(self, rows=None) -> dict[str, np.ndarray]:
        """A column per field, a row per finished combination over all symbols (the keys of
        `Result.combo_stats` but the label): the shared account, or the sum of the symbols'
        accounts. Columns, not a dict per row: 100,000 combinations stay small and fast.
        `rows` (positions among the finished combinations) computes those rows only, the same
        values as the whole table's: a ranked table is written a batch at a time."""
        prep = self.prep
        n_legs = len(prep.legs)
        done = np.flatnonzero(self.finished)
        everything = rows is None and len(done) == len(self.finished)
        if rows is not None:
            done = done[np.asarray(rows, np.int64)]

        def rows(a):   # no copy when every combination finished
            return a if everything else a[done]

        table = {"combination": done,
                 **{k: self.params(k, None if everything else done) for k in self.cfg.grid}}
        per_col = self.col_stats.reshape(len(self.finished), n_legs, -1)
        table.update(_trade_columns(per_col[:, 0] if n_legs == 1 else rows(per_col).sum(axis=1),
                                    rows if n_legs == 1 else lambda a: a))
        per_account = 1 if self.cfg.account == "shared" else n_legs
        any_24_7 = any(leg.instrument.is_24_7 for leg in prep.legs)
        start = self._combo_span_start(None if everything else done)
        curve = self._curves(self.combo_kept, None if everything else done)
        table.update(_return_columns(curve, len(prep.index) - start,
                                     self.cfg.cash * per_account,
                                     stats.bars_per_year(self.cfg.timeframe, any_24_7),
                                     stats.utc_times(prep.index)[start], stats.utc_times(prep.index)[-1]))
        if self.cfg.on_ruin == "topup":
            table.update(_topup_columns(curve, table,
                                        self.cfg.cash * per_account))
        return table

    def table_columns(self, keys, batch: int = 16_384) -> dict[str, np.ndarray]:
        """Columns `keys` of `combo_table` (those it has), computed a batch of rows at a time:
        what ranking needs without the whole table."""
        n = int(self.finished.sum())
        parts: dict[str, list] = {k: [] for k in keys}
        for lo in range(0, max(n, 1), batch):
            part = self.combo_table(np.arange(lo, min(lo + batch, n)))
            for key in keys:
                if key in part:
                    parts[key].append(part[key])
        return {k: np.concatenate(v) for k, v in parts.items() if v}

    def combo_rows(self) -> list[dict]:
        """`combo_table` as a dict per row, with a label (small grids, tests)."""
        table = self.combo_table()
        rows = []
        for values in zip(*table.values(), strict=True):
            row = dict(zip(table, values, strict=True))
            row["label"] = self.combo_label(row["combination"]) or "all symbols"
            row["symbol"] = "ALL"
            rows.append(_with_note(_python(row)))
        return rows

    def run_rows(self) -> list[dict]:
        """A row per finished run (symbol x combination), with the keys of
        `Result.run_stats`; return statistics only when the run has its own account."""
        prep, shared = self.prep, self.cfg.account == "shared"
        cols = column_source(prep, shared).chunk(0, len(prep.combos))[0]
        trade = _trade_columns(self.col_stats)
        starts = self._run_span_start()
        rows = []
        for r, run in enumerate(prep.runs):
            if not self.finished[run.combo]:
                continue
            leg = prep.legs[run.leg]
            label = self.combo_label(run.combo)
            row = {"label": f"{run.symbol} {label}" if label else run.symbol,
                   "symbol": run.symbol, **{k: prep.combos[run.combo][k] for k in self.cfg.grid},
                   "leverage": float(cols["leverage"][r])}
            row.update({k: trade[k][r] for k in TRADE_KEYS})
            if shared:
                row.update({k: math.nan for k in RETURN_KEYS})
                row.update(span_first=None, span_last=None, span_bars=0, ruined=False,
                           short_span=False)
            else:
                times = stats.utc_times(leg.bars.index)
                curve = self._curves(self.acc_kept, [run.account])
                ret = _return_columns(curve, [len(times) - starts[r]],
                                      self.cfg.cash,
                                      stats.bars_per_year(self.cfg.timeframe,
                                                          leg.instrument.is_24_7),
                                      times[[starts[r]]], times[-1])
                row.update({k: v[0] for k, v in ret.items()})
                if self.cfg.on_ruin == "topup":
                    one = {k: np.asarray([row[k]]) for k in ("final_equity", "liquidations",
                                                            "span_first", "span_last")}
                    row.update({k: v[0] for k, v in _topup_columns(
                        curve, one, self.cfg.cash).items()})
            closes = leg.bars["close"]
            row["buy_hold_return_pct"] = 100 * float(closes.iloc[-1] / closes.iloc[0] - 1)
            rows.append(_with_note(_python(row)))
        return rows

    # -- spans (`sitcli.stats`): the kernel streams every bar of a curve; the bars before a
    # span are flat at the starting cash (returns of exactly 0), so only their count is taken
    # off

    def _first_fills(self, combos=None) -> np.ndarray:
        """Per kernel column (of every combination, or of those numbered `combos`), the row
        of `prep.index` where its first entry fills (-1: none): the next bar of its symbol
        after the first entry signal (fill=open), or the signal's own bar (fill=close)."""
        prep = self.prep
        # a column's symbol and signal set are its signal combination's (`GridCombos`): the
        # fills are found once per signal combination and symbol
        cols, signal_of = column_source(prep, self.cfg.account == "shared").signal_layout(combos)
        entries = prep.kernel_args[6]
        fills = np.full(len(cols), -1, np.int64)
        pairs = np.stack([cols["inst"], cols["sig"]], axis=1)
        unique, back = np.unique(pairs, axis=0, return_inverse=True)
        for u, (j, sig) in enumerate(unique):
            signals = np.flatnonzero(entries[:, sig])
            if not len(signals):
                continue
            rows = prep.index.get_indexer(prep.legs[j].bars.index)
            at = int(np.searchsorted(rows, signals[0], "right" if self.cfg.fill == "open"
                                     else "left"))
            if at < len(rows):
                fills[back.ravel() == u] = rows[at]
        return fills.reshape(-1, len(prep.legs))[signal_of].reshape(-1)

    def _run_span_start(self) -> np.ndarray:
        """Per run, the position in its symbol's bars where its span starts."""
        prep = self.prep
        starts = np.zeros(len(prep.runs), np.int64)
        if self.cfg.start is not None:
            return starts
        fills = self._first_fills()
        cols = column_source(prep, self.cfg.account == "shared").chunk(0, len(prep.combos))[0]
        for j, leg in enumerate(prep.legs):
            rows = prep.index.get_indexer(leg.bars.index)
            mine = (cols["inst"] == j) & (fills >= 0)
            starts[mine] = np.maximum(np.searchsorted(rows, fills[mine], "left") - 1, 0)
        return starts

    def _combo_span_start(self, combos=None) -> np.ndarray:
        """Per combination (all, or those numbered `combos`), the row of `prep.index` where
        its span starts: the bar before its symbols' earliest first fill."""
        m = len(self.finished) if combos is None else len(combos)
        if self.cfg.start is not None:
            return np.zeros(m, np.int64)
        fills = self._first_fills(combos).astype(np.float64)
        fills[fills < 0] = np.inf
        first = fills.reshape(m, len(self.prep.legs)).min(axis=1)
        return np.where(np.isinf(first), 0, np.maximum(first - 1, 0)).astype(np.int64)


def _python(row: dict) -> dict:
    """numpy scalars as Python ones, datetimes as UTC Timestamps."""
    import pandas as pd

    out = {}
    for key, value in row.items():
        if isinstance(value, np.datetime64):
            value = None if np.isnat(value) else pd.Timestamp(value).tz_localize("UTC")
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out


def _with_note(row: dict) -> dict:
    """A row's `short_span` flag as the stats table's note."""
    short = row.pop("short_span")
    row["stats_note"] = None
    if short:
        days = (row["span_last"] - row["span_first"]).total_seconds() / 86_400
        row["stats_note"] = stats.span_note(row["span_bars"], days)
    return row


def _trade_columns(s: np.ndarray, rows=lambda a: a) -> dict[str, np.ndarray]:
    """Trade statistics per row of per-column (or summed) kernel statistics, of the rows
    `rows` picks."""
    from sitcli.engine import kernel as k

    s = rows(s)
    n = s[:, k.S_TRADES]
    with np.errstate(divide="ignore", invalid="ignore"):
        win_rate = np.where(n > 0, 100 * s[:, k.S_WINS] / n, np.nan)
        loss = s[:, k.S_LOSS_PNL]
        profit_factor = np.where(loss > 0, s[:, k.S_WIN_PNL] / loss, np.nan)
    return {"win_rate_pct": win_rate, "profit_factor": profit_factor,
            "trades": n.astype(np.int64), "liquidations": s[:, k.S_LIQS].astype(np.int64),
            "fees": s[:, k.S_FEES], "spread": s[:, k.S_SPREAD], "slippage": s[:, k.S_SLIP],
            "financing": s[:, k.S_FIN], "funding": s[:, k.S_FUND],
            "liquidation_fees": s[:, k.S_LIQ_FEE], "protection": s[:, k.S_PROTECTION],
            "pnl": s[:, k.S_PNL], "cut_trades": s[:, k.S_CUTS].astype(np.int64),
            "effective_leverage": np.where(n > 0, s[:, k.S_EFF_LEV] / np.maximum(n, 1), np.nan)}


def _return_columns(curve, n_span, cash, ann, first, last) -> dict[str, np.ndarray]:
    """The stats table's return statistics from the streamed curve statistics, over each
    row's span (`n_span` bars from `first` to `last`)."""
    n_span = np.asarray(n_span)
    out = stats.streamed_stats(curve, n_span, cash, ann)
    first = np.broadcast_to(np.asarray(first, "datetime64[ns]"), n_span.shape)
    extra = stats.span_columns(out, n_span, first, last)
    out.update(span_first=first, span_last=np.broadcast_to(np.datetime64(last, "ns"),
                                                           n_span.shape),
               span_bars=n_span.astype(np.int64), ruined=extra["ruined"])
    out["short_span"] = extra["short_span"]
    return out


def _topup_columns(curve, table, cash) -> dict[str, np.ndarray]:
    """`--on-ruin topup`'s columns (`stats.topup_stats`) from the streamed curve statistics
    and the rows' final equity, liquidations and span."""
    from sitcli.engine.kernel import C_INJECTED, C_REFILLS

    days = ((np.asarray(table["span_last"], "datetime64[ns]")
             - np.asarray(table["span_first"], "datetime64[ns]")) / np.timedelta64(86_400, "s"))
    return stats.topup_stats(table["final_equity"], cash, curve[:, C_INJECTED],
                             curve[:, C_REFILLS], table["liquidations"], days)


# Fields of a kernel column that say where it sits (instrument, signal set, account, tier
# table) rather than what a parameter value sets.
LAYOUT_FIELDS = ("inst", "sig", "group", "tiers")


def prepare_sweep(cfg: RunConfig, store, events) -> Prepared:
    """`prepare_backtest` for large grids, with no Python object per combination.

    The backtest's own preparation runs on the grid of the signal parameters (each signal set
    is computed once) and once per engine parameter (leverage, size, stop, take, hold) on that
    parameter's values alone, so every value is checked and turned into column fields by the
    backtest's rules. The product is then laid out with array indexing: each combination's
    column is its signal combination's, with each engine parameter's fields from that
    parameter's column. tests/test_sweep.py holds the result equal to `prepare_backtest` on the
    whole product."""
    from dataclasses import replace

    from sitcli.backtest import ENGINE_KEYS

    keys = list(cfg.grid)
    engine = [k for k in keys if k in ENGINE_KEYS]
    signal_grid = {k: v for k, v in cfg.grid.items() if k not in ENGINE_KEYS}
    base = prepare_backtest(replace(cfg, grid=signal_grid), store, events)
    if not engine:
        return base
    per_key = {k: prepare_backtest(replace(cfg, grid={k: cfg.grid[k]}), store, events)
               for k in engine}
    n_legs = len(base.legs)
    base_cols = base.kernel_args[8].reshape(-1, n_legs)
    fields: dict[str, tuple[str, np.ndarray]] = {}   # column field -> (parameter, its values')
    for key in engine:
        key_cols = per_key[key].kernel_args[8].reshape(-1, n_legs)
        for field in base_cols.dtype.names:
            if field in LAYOUT_FIELDS or np.array_equal(
                    key_cols[field], np.broadcast_to(base_cols[0][field], key_cols.shape),
                    equal_nan=True):
                continue
            if field in fields:    # a field two parameters set together: not separable
                raise AssertionError(f"column field {field} depends on both {fields[field][0]} "
                                     f"and {key}; sweep them through prepare_backtest")
            fields[field] = (key, key_cols[field])
    args = list(base.kernel_args)
    args[8] = args[9] = None        # the product's columns are built a chunk at a time
    combos = GridCombos(base.combos, keys, [len(cfg.grid[k]) for k in keys], list(signal_grid),
                        {k: [c[k] for c in per_key[k].combos] for k in engine},
                        base_cols, base.kernel_args[9], fields, cfg.account == "shared")
    return Prepared(base.strategy, combos, base.legs,
                    GridRuns(base.legs, len(combos), cfg.account == "shared"), base.index,
                    tuple(args))


class GridCombos(Sequence):
    """The combinations of a sweep as their positions in the grid, worked out from the
    combination's number (product order: the last parameter varies fastest): a combination's
    dict is built only when asked for (labels, the top rows), and its kernel columns only when
    its chunk runs (`kernel_columns`), never 100,000 of them at once."""

    def __init__(self, base: list[dict], keys: list[str], sizes: list[int],
                 signal_keys: list[str], values: dict[str, list], base_cols=None,
                 base_accounts=None, fields=None, shared: bool = False):
        self.base, self.keys, self.sizes, self.signal_keys = base, keys, sizes, signal_keys
        self.values = values                  # engine parameter -> its values, in grid order
        self.base_cols, self.base_accounts = base_cols, base_accounts  # the signal grid's
        self.fields = fields or {}            # column field -> (engine parameter, per value)
        self.shared = shared

    def __len__(self) -> int:
        return math.prod(self.sizes)

    def position(self, key: str, rows) -> np.ndarray:
        """Where combinations `rows` sit on parameter `key`'s axis of the grid."""
        i = self.keys.index(key)
        return (np.asarray(rows) // math.prod(self.sizes[i + 1:])) % self.sizes[i]

    def signal_of(self, rows) -> np.ndarray:
        """The signal combination (a row of `base`) of combinations `rows`."""
        out = np.zeros(np.shape(rows), np.int64)
        for key in self.signal_keys:
            out = out * self.sizes[self.keys.index(key)] + self.position(key, rows)
        return out

    def __getitem__(self, ci):
        if isinstance(ci, slice):
            return [self[i] for i in range(*ci.indices(len(self)))]
        if not -len(self) <= ci < len(self):
            raise IndexError(ci)
        ci %= len(self)
        combo = dict(self.base[int(self.signal_of(ci))])
        for key, values in self.values.items():
            combo[key] = values[int(self.position(key, ci))]
        return combo

    def column(self, key: str, rows=None) -> np.ndarray:
        rows = np.arange(len(self)) if rows is None else rows
        if key in self.values:
            return np.asarray(self.values[key])[self.position(key, rows)]
        return np.asarray([c[key] for c in self.base])[self.signal_of(rows)]

    def kernel_columns(self, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
        """The kernel's columns and accounts of combinations first .. last − 1, accounts
        numbered from 0: each combination's columns are its signal combination's, with each
        engine parameter's fields from that parameter's column (`prepare_sweep`)."""
        rows = np.arange(first, last)
        n, n_legs = last - first, self.base_cols.shape[1]
        signal = self.signal_of(rows)
        cols = self.base_cols[signal]                          # (n, n_legs), a copy
        for field, (key, per_value) in self.fields.items():
            cols[field] = per_value[self.position(key, rows)]
        cols["group"] = (np.arange(n)[:, None] if self.shared
                         else np.arange(n * n_legs).reshape(n, n_legs))
        accounts = (self.base_accounts[signal] if self.shared
                    else self.base_accounts.reshape(-1, n_legs)[signal].reshape(-1))
        return cols.reshape(-1), accounts

    def chunk(self, first: int, last: int):
        return chunk_layout(*self.kernel_columns(first, last), last - first)

    def signal_layout(self, combos=None):
        """The signal grid's columns, and per combination (all, or those numbered `combos`)
        the row of them its columns take their symbol and signal set from."""
        return self.base_cols.reshape(-1), self.signal_of(
            np.arange(len(self)) if combos is None else combos)

    def representatives(self) -> list[dict]:
        """A few combinations in which every value of every parameter appears."""
        longest = max(len(v) for v in self.values.values())
        rows = []
        for r in range(longest):
            combo = dict(self.base[r % len(self.base)])
            combo.update({k: v[r % len(v)] for k, v in self.values.items()})
            rows.append(combo)
        return rows


class PreparedColumns:
    """`GridCombos.chunk` and `signal_layout` of a sweep prepared whole (a grid of signal
    parameters only: `prepare_backtest`'s columns, one per symbol, combination-major)."""

    def __init__(self, cols, accounts, n_legs: int, shared: bool):
        self.cols, self.accounts, self.n_legs, self.shared = cols, accounts, n_legs, shared

    def chunk(self, first: int, last: int):
        per_combo = 1 if self.shared else self.n_legs
        cols = self.cols[first * self.n_legs:last * self.n_legs].copy()
        cols["group"] -= first * per_combo
        return chunk_layout(cols, self.accounts[first * per_combo:last * per_combo],
                            last - first)

    def signal_layout(self, combos=None):
        return self.cols, np.arange(len(self.cols) // self.n_legs) if combos is None else combos


def column_source(prep: Prepared, shared: bool):
    """What builds the kernel's columns of any chunk of a sweep's combinations."""
    if isinstance(prep.combos, GridCombos):
        return prep.combos
    return PreparedColumns(prep.kernel_args[8], prep.kernel_args[9], len(prep.legs), shared)


def chunk_layout(cols, accounts, n_combos: int):
    """A chunk's columns and accounts with acc_start (accounts + 1 column offsets) and
    combo_start (combinations + 1 account offsets): columns combination-major, one per
    symbol, as the backtest lays them out."""
    acc_start = np.searchsorted(cols["group"], np.arange(len(accounts) + 1)).astype(np.int64)
    per_combo = len(accounts) // max(1, n_combos)
    combo_start = np.arange(n_combos + 1, dtype=np.int64) * per_combo
    return cols, accounts, acc_start, combo_start


class GridRuns(Sequence):
    """`Prepared.runs` of a sweep: combination-major, one run per symbol, built on demand."""

    def __init__(self, legs, n_combos: int, shared: bool):
        self.legs, self.n_combos, self.shared = legs, n_combos, shared

    def __len__(self) -> int:
        return self.n_combos * len(self.legs)

    def __getitem__(self, r):
        from sitcli.backtest import Run

        if isinstance(r, slice):
            return [self[i] for i in range(*r.indices(len(self)))]
        if not -len(self) <= r < len(self):
            raise IndexError(r)
        r %= len(self)
        ci, j = divmod(r, len(self.legs))
        return Run(self.legs[j].symbol, j, ci, ci if self.shared else r)


def chunk_ranges(n_combos: int, n_bars: int, cols_per_combo: int, chunk_size: int | None,
                 workers: int) -> list[tuple[int, int]]:
    if chunk_size is None:
        from sitcli.overfit import DEFAULT_BLOCKS

        # per combination: trade and curve statistics per column, its own curve's, PBO's sums
        out_bytes = 8 * (cols_per_combo * (_n_col_stats() + _n_curve_stats())
                         + _n_curve_stats() + 3 * DEFAULT_BLOCKS)
        chunk_size = max(4 * workers, min(UPDATES_PER_CHUNK // max(1, n_bars * cols_per_combo),
                                          OUTPUT_BYTES_PER_CHUNK // out_bytes))
    return [(lo, min(lo + chunk_size, n_combos)) for lo in range(0, n_combos, chunk_size)]


def run_chunk(args: tuple, source, first: int, last: int, edges):
    """One chunk on the calling thread (what a Dask task runs): its columns built from
    `source` (`column_source`)."""
    from sitcli.engine.kernel import sweep_serial_nb

    return first, last, sweep_serial_nb(*chunk_args(args, source, first, last), edges,
                                        *args[_cut():])


def chunk_args(args: tuple, source, first: int, last: int) -> tuple:
    """`sweep_nb`'s arguments up to `last` for combinations first .. last − 1: the run's
    arrays with the chunk's columns and accounts, numbered from 0."""
    cols, accounts, acc_start, combo_start = source.chunk(first, last)
    # simulate's 24 arguments, then the mark prices when the run has them
    return (*args[:8], cols, accounts, *args[10:_cut()], acc_start, combo_start, 0,
            last - first)


def _cut() -> int:
    from sitcli.engine.kernel import DETAIL_ARGS

    return DETAIL_ARGS[1]


def count_dtype(edges) -> np.dtype:
    """The smallest unsigned integers that hold the longest block's count of returns exactly
    (16 blocks of 752 daily bars: uint8), float64 beyond uint16 (PBO adds them as float64)."""
    longest = int(np.diff(edges).max()) if len(edges) > 1 else 0
    return np.dtype(np.uint8 if longest <= 255 else np.uint16 if longest <= 65_535
                    else np.float64)


def pbo_edges(n_bars: int) -> np.ndarray:
    """Where PBO's time blocks cut the n_bars − 1 per-bar returns (`overfit.block_edges`);
    empty when there are too few bars for two blocks."""
    from sitcli.overfit import block_count, block_edges

    blocks = block_count(n_bars - 1)
    return block_edges(n_bars - 1, blocks) if blocks >= 2 else np.empty(0, np.int64)


def run_sweep(cfg: RunConfig, store, events, workers: int | None = None, executor: str = "local",
              scheduler: str | None = None, chunk_size: int | None = None,
              progress=None) -> SweepResult:
    """Every combination of `cfg.grid`. `progress(done, total)` is called after each chunk.
    Ctrl-C (KeyboardInterrupt) stops after the running chunk(s): the result then holds the
    finished combinations and `complete` is False."""
    if executor not in EXECUTORS:
        raise BadInput(f"--executor {executor!r}: use local (all cores here) or dask")
    if scheduler is not None and executor != "dask":
        raise BadInput("--scheduler is the address of a Dask scheduler; add --executor dask")
    if workers is not None and workers < 1:
        raise BadInput(f"--workers {workers}: give at least 1")
    if chunk_size is not None and chunk_size < 1:
        raise BadInput(f"--chunk-size {chunk_size}: give at least 1 combination")
    if not cfg.grid:
        raise BadInput("no --grid: give the values to sweep, e.g. --grid leverage=5,20,50 "
                       "--grid stop=0.01,0.02")
    client = _dask_client(scheduler, workers) if executor == "dask" else None
    try:
        prep = prepare_sweep(cfg, store, events)
        shared = cfg.account == "shared"
        source = column_source(prep, shared)
        m = len(prep.combos)
        n_legs = len(prep.legs)
        kept = len(curve_fields(cfg))
        acc_curve = np.zeros((m if shared else m * n_legs, kept))
        # one account per combination (one symbol, or shared): its curve is the combination's
        combo_curve = acc_curve if len(acc_curve) == m else np.zeros((m, kept))
        n_bars = len(prep.index)
        edges = pbo_edges(n_bars)
        n_blocks = max(len(edges) - 1, 0)
        blocks = (np.zeros((n_blocks, m)), np.zeros((n_blocks, m)),
                  np.zeros((n_blocks, m), count_dtype(edges)))
        result = SweepResult(cfg, prep, np.zeros((len(prep.runs), _n_col_stats())), acc_curve,
                             combo_curve, np.zeros(m, bool), blocks)
        if client is None:
            _run_local(result, source, edges, workers, chunk_size, n_bars, progress)
        else:
            n_workers = max(1, sum(client.nthreads().values()))
            _run_dask(client, result, source, edges, chunk_size, n_bars, n_workers, progress)
        return result
    finally:
        if client is not None:
            cluster = client.cluster if scheduler is None else None
            client.close()
            if cluster is not None:
                cluster.close()


def curve_fields(cfg: RunConfig) -> list[int]:
    """The kernel's curve statistics (`N_CURVE_STATS`) a sweep keeps: those a table row reads
    (`stats.streamed_stats`; with --on-ruin topup also `_topup_columns`)."""
    from sitcli.engine.kernel import (
        C_DOWN_SQ,
        C_FINAL,
        C_GROWTH,
        C_INJECTED,
        C_MAX_DD,
        C_REFILLS,
        C_SUM,
        C_SUM_SQ,
    )

    topup = [C_INJECTED, C_REFILLS] if cfg.on_ruin == "topup" else []
    return [C_FINAL, C_MAX_DD, C_SUM, C_SUM_SQ, C_DOWN_SQ, C_GROWTH, *topup]


def _n_col_stats() -> int:
    from sitcli.engine.kernel import N_COL_STATS

    return N_COL_STATS


def _n_curve_stats() -> int:
    from sitcli.engine.kernel import N_CURVE_STATS

    return N_CURVE_STATS


def _store(result: SweepResult, first: int, last: int, out) -> None:
    col_stats, acc_curve, combo_curve, blocks = out
    n_legs = len(result.prep.legs)
    per_combo = 1 if result.cfg.account == "shared" else n_legs
    result.col_stats[first * n_legs:last * n_legs] = col_stats
    kept = curve_fields(result.cfg)
    result.acc_kept[first * per_combo:last * per_combo] = acc_curve[:, kept]
    if result.combo_kept is not result.acc_kept:     # else the same curves, just stored
        result.combo_kept[first:last] = combo_curve[:, kept]
    for kept, part in zip(result.blocks, blocks, strict=True):
        kept[:, first:last] = part      # counts: whole numbers, exact in `count_dtype`
    result.finished[first:last] = True


def _run_local(result, source, edges, workers, chunk_size, n_bars, progress) -> None:
    import numba

    from sitcli.engine.kernel import sweep_nb

    threads = min(workers or numba.config.NUMBA_NUM_THREADS, numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(threads)
    m = len(result.finished)
    per_combo = len(result.prep.legs)        # kernel columns a combination
    args = result.prep.kernel_args
    done = 0
    with _ctrl_c() as stop:
        try:
            for first, last in chunk_ranges(m, n_bars, per_combo, chunk_size, threads):
                if stop():
                    return
                # no name holds a chunk's columns or statistics: the next chunk's take their
                # place rather than adding to them
                _store(result, first, last,
                       sweep_nb(*chunk_args(args, source, first, last), edges, *args[_cut():]))
                done += last - first
                if progress:
                    progress(done, m)
        except KeyboardInterrupt:
            return


class _ctrl_c:
    """While a sweep runs, a first Ctrl-C only asks it to stop after the running chunk (a
    KeyboardInterrupt raised inside a numba call would surface as a SystemError); a second
    one interrupts at once. Outside the main thread signals cannot be caught: no change."""

    def __enter__(self):
        import signal
        import threading

        self.requested = False
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return lambda: self.requested

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False


def _dask_client(scheduler: str | None, workers: int | None):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise BadInput("--executor dask needs Dask: pip install 'sitcli[dask]'") from None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        return Client(cluster)
    try:
        return Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as exc:
        from sitcli.errors import RuntimeFailure

        raise RuntimeFailure(f"--scheduler {scheduler}: cannot reach the Dask scheduler "
                             f"({exc}); check the address and that it is running") from None


def _run_dask(client, result, source, edges, chunk_size, n_bars, n_workers, progress) -> None:
    from distributed import as_completed

    m = len(result.finished)
    per_combo = len(result.prep.legs)        # kernel columns a combination
    [args, source] = client.scatter([result.prep.kernel_args, source], broadcast=True)
    ranges = chunk_ranges(m, n_bars, per_combo, chunk_size, n_workers)
    futures = [client.submit(run_chunk, args, source, first, last, edges, pure=False)
               for first, last in ranges]
    done = 0
    with _ctrl_c() as stop:
        try:
            for future in as_completed(futures):
                first, last, out = future.result()
                _store(result, first, last, out)
                done += last - first
                if progress:
                    progress(done, m)
                if stop():
                    break
        except KeyboardInterrupt:
            pass
    if done < m:
        client.cancel(futures)
