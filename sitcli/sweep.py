"""Large parameter grids: the backtest's preparation, then the summaries-only sweep kernel on
every core (numba threads) or on a Dask cluster, in chunks of combinations.

Each chunk returns per-column trade statistics and per-account / per-combination curve
statistics (`sitcli.engine.kernel.N_COL_STATS`, `N_CURVE_STATS`), never equity curves, so
memory grows with the number of combinations, not combinations x bars. A combination's
numbers do not depend on the executor, the number of workers or the chunk size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sitcli.backtest import Prepared, RunConfig, bar_duration, prepare_backtest
from sitcli.errors import BadInput

EXECUTORS = ("local", "dask")
UPDATES_PER_CHUNK = 20_000_000   # bar x column updates per chunk: a fraction of a second


@dataclass
class SweepResult:
    cfg: RunConfig
    prep: Prepared
    col_stats: np.ndarray       # (columns, N_COL_STATS)
    acc_curve: np.ndarray       # (accounts, N_CURVE_STATS)
    combo_curve: np.ndarray     # (combinations, N_CURVE_STATS)
    finished: np.ndarray        # bool per combination: False where an interrupt stopped it

    @property
    def complete(self) -> bool:
        return bool(self.finished.all())

    @property
    def synthetic(self) -> bool:
        return any(leg.synthetic for leg in self.prep.legs)

    def combo_label(self, ci: int) -> str:
        return " ".join(f"{k}={self.prep.combos[ci][k]}" for k in self.cfg.grid)

    def run_rows(self) -> list[dict]:
        """A row per finished run (symbol x combination), with the keys of
        `Result.run_stats`; return statistics only when the run has its own account."""
        prep, shared = self.prep, self.cfg.account == "shared"
        rows = []
        for r, run in enumerate(prep.runs):
            if not self.finished[run.combo]:
                continue
            leg = prep.legs[run.leg]
            combo = prep.combos[run.combo]
            label = self.combo_label(run.combo)
            lev = leg.venue.default_leverage if combo["leverage"] is None else combo["leverage"]
            row = {"label": f"{run.symbol} {label}" if label else run.symbol, "symbol": run.symbol,
                   **{k: combo[k] for k in self.cfg.grid}, "leverage": lev}
            row.update(_trade_stats(self.col_stats[[r]]))
            curve = None if shared else self.acc_curve[run.account]
            row.update(self._return_stats(curve, self.cfg.cash, leg.instrument.is_24_7))
            closes = leg.bars["close"]
            row["buy_hold_return_pct"] = 100 * float(closes.iloc[-1] / closes.iloc[0] - 1)
            rows.append(row)
        return rows

    def combo_rows(self) -> list[dict]:
        """A row per finished combination over all symbols (keys of `Result.combo_stats`):
        the shared account, or the sum of the symbols' accounts."""
        prep = self.prep
        n_legs = len(prep.legs)
        per_account = 1 if self.cfg.account == "shared" else n_legs
        any_24_7 = any(leg.instrument.is_24_7 for leg in prep.legs)
        rows = []
        for ci in np.flatnonzero(self.finished):
            row = {"combination": int(ci), "label": self.combo_label(ci) or "all symbols",
                   "symbol": "ALL", **{k: prep.combos[ci][k] for k in self.cfg.grid}}
            row.update(_trade_stats(self.col_stats[ci * n_legs:(ci + 1) * n_legs]))
            row.update(self._return_stats(self.combo_curve[ci], self.cfg.cash * per_account,
                                          any_24_7))
            rows.append(row)
        return rows

    def _return_stats(self, curve, cash: float, is_24_7: bool) -> dict:
        """The stats table's return statistics (vectorbt's returns accessor formulas) from
        the streamed curve statistics."""
        from sitcli.engine.kernel import C_DOWN_SQ, C_FINAL, C_GROWTH, C_MAX_DD, C_N, C_SUM, C_SUM_SQ

        nan = math.nan
        out = {"total_return_pct": nan, "cagr_pct": nan, "sharpe": nan, "sortino": nan,
               "max_drawdown_pct": nan, "final_equity": nan}
        if curve is None or curve[C_N] == 0:
            return out
        year = 365 if is_24_7 else 252
        ann = year * 86_400 / bar_duration(self.cfg.timeframe).total_seconds()
        n = curve[C_N]
        mean = curve[C_SUM] / n
        out["total_return_pct"] = 100 * (curve[C_FINAL] / cash - 1)
        growth = float(curve[C_GROWTH])
        out["cagr_pct"] = 100 * (growth ** (ann / n) - 1) if growth >= 0 else nan
        if n >= 2:
            std = math.sqrt(max(0.0, curve[C_SUM_SQ] - curve[C_SUM] * mean) / (n - 1))
            out["sharpe"] = math.inf if std == 0 else mean / std * math.sqrt(ann)
            down = math.sqrt(curve[C_DOWN_SQ] / n) * math.sqrt(ann)
            out["sortino"] = math.inf if down == 0 else mean * ann / down
        out["max_drawdown_pct"] = 100 * curve[C_MAX_DD]
        out["final_equity"] = float(curve[C_FINAL])
        return out


def _trade_stats(stats: np.ndarray) -> dict:
    from sitcli.engine import kernel as k

    total = stats.sum(axis=0)
    n = int(total[k.S_TRADES])
    return {
        "win_rate_pct": 100 * total[k.S_WINS] / n if n else math.nan,
        "profit_factor": (total[k.S_WIN_PNL] / total[k.S_LOSS_PNL] if total[k.S_LOSS_PNL] > 0
                          else math.nan),
        "trades": n, "liquidations": int(total[k.S_LIQS]),
        "fees": float(total[k.S_FEES]), "spread": float(total[k.S_SPREAD]),
        "slippage": float(total[k.S_SLIP]), "financing": float(total[k.S_FIN]),
        "funding": float(total[k.S_FUND]), "liquidation_fees": float(total[k.S_LIQ_FEE]),
        "protection": float(total[k.S_PROTECTION]),
        "pnl": float(total[k.S_PNL]),
        "cut_trades": int(total[k.S_CUTS]),
        "effective_leverage": float(total[k.S_EFF_LEV] / n) if n else math.nan,
    }


def layout(prep: Prepared, shared: bool) -> tuple[np.ndarray, np.ndarray]:
    """acc_start (accounts + 1 column offsets) and combo_start (combinations + 1 account
    offsets): the backtest lays out columns combination-major, one per symbol."""
    cols = prep.kernel_args[8]
    n_accounts = len(prep.kernel_args[9])
    acc_start = np.searchsorted(cols["group"], np.arange(n_accounts + 1)).astype(np.int64)
    per_combo = 1 if shared else len(prep.legs)
    combo_start = np.arange(len(prep.combos) + 1, dtype=np.int64) * per_combo
    return acc_start, combo_start


def chunk_ranges(n_combos: int, n_bars: int, cols_per_combo: int, chunk_size: int | None,
                 workers: int) -> list[tuple[int, int]]:
    if chunk_size is None:
        chunk_size = max(4 * workers, UPDATES_PER_CHUNK // max(1, n_bars * cols_per_combo))
    return [(lo, min(lo + chunk_size, n_combos)) for lo in range(0, n_combos, chunk_size)]


def run_chunk(args: tuple, acc_start, combo_start, first: int, last: int):
    """One chunk on the calling thread (what a Dask task runs)."""
    from sitcli.engine.kernel import sweep_serial_nb

    return first, last, sweep_serial_nb(*args, acc_start, combo_start, first, last)


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
        prep = prepare_backtest(cfg, store, events)
        acc_start, combo_start = layout(prep, cfg.account == "shared")
        m = len(prep.combos)
        result = SweepResult(cfg, prep, np.zeros((len(prep.runs), _n_col_stats())),
                             np.zeros((len(acc_start) - 1, _n_curve_stats())),
                             np.zeros((m, _n_curve_stats())), np.zeros(m, bool))
        n_bars = len(prep.index)
        if client is None:
            _run_local(result, acc_start, combo_start, workers, chunk_size, n_bars, progress)
        else:
            n_workers = max(1, sum(client.nthreads().values()))
            _run_dask(client, result, acc_start, combo_start, chunk_size, n_bars,
                      n_workers, progress)
        return result
    finally:
        if client is not None:
            cluster = client.cluster if scheduler is None else None
            client.close()
            if cluster is not None:
                cluster.close()


def _n_col_stats() -> int:
    from sitcli.engine.kernel import N_COL_STATS

    return N_COL_STATS


def _n_curve_stats() -> int:
    from sitcli.engine.kernel import N_CURVE_STATS

    return N_CURVE_STATS


def _store(result: SweepResult, acc_start, combo_start, first: int, last: int, out) -> None:
    col_stats, acc_curve, combo_curve = out
    a0, a1 = combo_start[first], combo_start[last]
    result.col_stats[acc_start[a0]:acc_start[a1]] = col_stats
    result.acc_curve[a0:a1] = acc_curve
    result.combo_curve[first:last] = combo_curve
    result.finished[first:last] = True


def _run_local(result, acc_start, combo_start, workers, chunk_size, n_bars, progress) -> None:
    import numba

    from sitcli.engine.kernel import sweep_nb

    threads = min(workers or numba.config.NUMBA_NUM_THREADS, numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(threads)
    m = len(result.finished)
    per_combo = int(acc_start[-1]) // max(1, m)
    args = result.prep.kernel_args
    done = 0
    with _ctrl_c() as stop:
        try:
            for first, last in chunk_ranges(m, n_bars, per_combo, chunk_size, threads):
                if stop():
                    return
                out = sweep_nb(*args, acc_start, combo_start, first, last)
                _store(result, acc_start, combo_start, first, last, out)
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


def _run_dask(client, result, acc_start, combo_start, chunk_size, n_bars, n_workers,
              progress) -> None:
    from distributed import as_completed

    m = len(result.finished)
    per_combo = int(acc_start[-1]) // max(1, m)
    [args] = client.scatter([result.prep.kernel_args], broadcast=True)
    ranges = chunk_ranges(m, n_bars, per_combo, chunk_size, n_workers)
    futures = [client.submit(run_chunk, args, acc_start, combo_start, first, last, pure=False)
               for first, last in ranges]
    done = 0
    with _ctrl_c() as stop:
        try:
            for future in as_completed(futures):
                first, last, out = future.result()
                _store(result, acc_start, combo_start, first, last, out)
                done += last - first
                if progress:
                    progress(done, m)
                if stop():
                    break
        except KeyboardInterrupt:
            pass
    if done < m:
        client.cancel(futures)
