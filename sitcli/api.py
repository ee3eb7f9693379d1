"""sitcli from Python: the functions the CLI calls, with Python arguments.

Each function turns its arguments into the command's own option values and calls the same
functions the command does (`sitcli.cli.backtest.run_config`, `backtest_result`, `build_payload`,
`write_outputs`, `sitcli.sweep.run_sweep`, `sitcli.scenario.run`,
`sitcli.liquidation.build_position` and `report`), so results equal the CLI's to the last digit.

Errors are the CLI's: `sitcli.errors.BadInput` (bad arguments; exit 2 on the command line),
`DataMissing` (symbol not in the store; exit 3), `RuntimeFailure` (exit 1), all subclasses of
`sitcli.errors.SitcliError`. Messages name the command-line flag (e.g. "--leverage") of the
argument of the same name.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from sitcli.data import store as _store
from sitcli.metrics import default_rank_by
from sitcli.strategy import Strategy

__all__ = ["Run", "SavedRun", "Store", "Strategy", "backtest", "demo", "liquidation", "load_run",
           "scenario", "sweep"]


class Store(_store.Store):
    """The Parquet store at `root`, else at $SITCLI_DATA_DIR, else the platform's data dir
    (the directory the CLI uses without --data-dir)."""

    def __init__(self, root: str | Path | None = None, read_only: bool = False):
        super().__init__(_store.default_data_dir(None if root is None else Path(root)), read_only)


def demo() -> _store.Store:
    """The embedded synthetic demo data (read-only), as `--demo` reads it."""
    return _store.demo_store()


@dataclass
class Run:
    """One backtest: its `sitcli.result.Result` and the payload `--format json` prints."""

    result: object          # sitcli.result.Result
    payload: dict
    call: dict | None = None        # the function and arguments (the run manifest records them)
    store_root: Path | None = None
    read: tuple = ()                # the stored files the run read (fingerprinted on save)

    @cached_property
    def stats(self) -> pd.DataFrame:
        """A row per run (symbol x grid combination), indexed by its label (summary.json "stats")."""
        return pd.DataFrame.from_dict(self.payload["stats"], orient="index")

    @cached_property
    def aggregate(self) -> pd.DataFrame:
        """A row per grid combination over all symbols (summary.json "aggregate")."""
        return pd.DataFrame(self.payload["aggregate"]).set_index("label")

    @property
    def trades(self) -> pd.DataFrame:
        return self.result.trades_frame()

    @property
    def equity(self) -> pd.DataFrame:
        return self.result.equity_frame()

    @property
    def liquidations(self) -> pd.DataFrame:
        return self.result.liquidations_frame()

    @property
    def assumptions(self) -> dict:
        return self.payload["assumptions"]

    def save(self, directory: str | Path, plot: bool = False) -> Path:
        """Write the files `sitcli backtest --out DIR [--plot]` writes, with the run's manifest
        (run.json: this call, the data read, the files written); returns the directory."""
        from sitcli import runs
        from sitcli.cli.backtest import record_run, write_outputs

        directory = Path(directory)
        if directory.exists() and not directory.is_dir():
            from sitcli.errors import BadInput

            raise BadInput(f"save {directory}: exists and is not a directory; give a directory path")
        write_outputs(directory, self.result, self.payload, plot)
        if self.call is not None and self.store_root is not None:
            runs.READ.clear()
            for path in self.read:
                runs.note_read(path)
            record_run(directory, self.payload, self.store_root, None, api=self.call)
        return directory


def _config(strategy, symbols, store, params, grid, settings, **options):
    """RunConfig and store from Python values, through the CLI's own `run_config` (one set
    of checks). The store it builds is replaced by the caller's."""
    from sitcli.cli.backtest import run_config
    from sitcli.cli.run_options import RunOptions

    if isinstance(symbols, (list, tuple)):
        symbols = ",".join(symbols)
    store = Store() if store is None else store
    opts = {"strategy": str(strategy), "strategy_file": None, "symbols": symbols,
            "demo": bool(getattr(store, "demo", False)), "data_dir": None,
            "params": _pairs(params), "settings": _pairs(settings),
            "grid": [f"{k}={','.join(map(str, v))}" for k, v in (grid or {}).items()],
            **_floats(options)}
    cfg, _ = run_config(RunOptions(**opts))
    return cfg, store


def _floats(values: dict) -> dict:
    """Whole numbers as the floats typer makes of the CLI's float options (20 -> 20.0), so
    the outputs print alike; anything else is left for the CLI's own checks to judge."""
    return {k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
            for k, v in values.items()}


def _pairs(values: dict | None) -> list[str]:
    return [f"{k}={v}" for k, v in (values or {}).items()]


def _events(events):
    from sitcli.events import load_events

    return load_events([Path(p) for p in events] if events else None)


def backtest(strategy: str = "catalyst_momentum", symbols=None, *, store=None,
             leverage: float | None = None, venue: str | None = None, params: dict | None = None,
             grid: dict | None = None, settings: dict | None = None, start=None, end=None,
             cash: float = 10_000.0, size: float | None = None, account: str = "isolated",
             cfd_hours: str | None = None, timeframe: str = "1d", fill: str = "open",
             take_first: bool = False, allow_above_cap: bool = False, detail: str | None = None,
             events=None, rank_by: str | None = None, stats: str = "basic",
             strategy_timeout: float | None = None, on_ruin: str = "stop",
             ruin_level: float = 0.01) -> Run:
    """`sitcli backtest`: `strategy` is a built-in name or the path to your .py file (a
    `sitcli.Strategy` subclass); `symbols` a list (default with the demo store: the demo's
    six); `params`/`settings` are --param/--set as a dict, `grid` is {key: [values]},
    `events` a list of your catalyst CSV paths, `stats` "basic" or "full" (vectorbt's);
    `on_ruin="topup"` refills a wiped-out account (--on-ruin, --ruin-level)."""
    from sitcli.cli.backtest import backtest_result, build_payload
    from sitcli.errors import BadInput
    from sitcli.strategy import time_limit

    if stats not in ("basic", "full"):
        raise BadInput(f"--stats {stats}: use basic or full")
    rank_by = rank_by or default_rank_by(on_ruin)
    cfg, store = _config(strategy, symbols, store, params, grid, settings, leverage=leverage,
                         venue=venue, start=start, end=end, cash=cash, size=size,
                         account=account, cfd_hours=cfd_hours, timeframe=timeframe, fill=fill,
                         take_first=take_first, allow_above_cap=allow_above_cap, detail=detail,
                         rank_by=rank_by, strategy_timeout=strategy_timeout, on_ruin=on_ruin,
                         ruin_level=ruin_level)
    from sitcli import runs

    call = {"function": "backtest", "arguments": {
        "strategy": str(strategy), "symbols": None if symbols is None else list(symbols),
        "store": str(store.root), "leverage": leverage, "venue": venue, "params": params,
        "grid": grid, "settings": settings, "start": start, "end": end, "cash": cash,
        "size": size, "account": account, "cfd_hours": cfd_hours, "timeframe": timeframe,
        "fill": fill, "take_first": take_first, "allow_above_cap": allow_above_cap,
        "detail": detail, "events": None if events is None else [str(e) for e in events],
        "rank_by": rank_by, "stats": stats, "on_ruin": on_ruin, "ruin_level": ruin_level}}
    runs.start_tracking()
    with time_limit(strategy_timeout):
        result, detail_info = backtest_result(cfg, store, _events(events))
    payload, _, _ = build_payload(result, rank_by, stats, detail_info)
    return Run(result, payload, call, store.root, tuple(runs.READ.values()))


def sweep(strategy: str = "catalyst_momentum", symbols=None, *, grid: dict, store=None,
          leverage: float | None = None, venue: str | None = None, params: dict | None = None,
          settings: dict | None = None, start=None, end=None, cash: float = 10_000.0,
          size: float | None = None, account: str = "isolated", cfd_hours: str | None = None,
          timeframe: str = "1d", fill: str = "open", take_first: bool = False,
          allow_above_cap: bool = False, events=None, rank_by: str | None = None,
          workers: int | None = None, executor: str = "local", scheduler: str | None = None,
          chunk_size: int | None = None, strategy_timeout: float | None = None,
          on_ruin: str = "stop", ruin_level: float = 0.01) -> pd.DataFrame:
    """`sitcli sweep`: a row per finished combination of `grid`, best first by `rank_by`,
    with the columns `sitcli sweep --out FILE.csv` writes; the index is the combination's
    label. `.attrs["complete"]` is False when Ctrl-C stopped it early."""
    import numpy as np

    from sitcli.cli.backtest import LOWER_IS_BETTER, stat_keys
    from sitcli.stats import rank
    from sitcli.strategy import time_limit
    from sitcli.sweep import run_sweep

    rank_by = rank_by or default_rank_by(on_ruin)
    cfg, store = _config(strategy, symbols, store, params, grid, settings, leverage=leverage,
                         venue=venue, start=start, end=end, cash=cash, size=size,
                         account=account, cfd_hours=cfd_hours, timeframe=timeframe, fill=fill,
                         take_first=take_first, allow_above_cap=allow_above_cap, detail=None,
                         rank_by=rank_by, strategy_timeout=strategy_timeout, on_ruin=on_ruin,
                         ruin_level=ruin_level)
    with time_limit(strategy_timeout):
        result = run_sweep(cfg, store, _events(events), workers=workers, executor=executor,
                           scheduler=scheduler, chunk_size=chunk_size)
    table = result.combo_table()
    keys = [k for k in ("combination", *stat_keys(cfg.grid, True)) if k in table]
    ranked_by = table[rank_by] if rank_by in table else np.full(len(table["ruined"]), np.nan)
    order = rank(ranked_by, table["ruined"], rank_by in LOWER_IS_BETTER)
    columns = {k: np.asarray(table[k])[order] for k in keys}
    # bar times are UTC, as in the CLI's output
    frame = pd.DataFrame({k: pd.to_datetime(c, utc=True) if c.dtype.kind == "M" else c
                          for k, c in columns.items()})
    frame.index = [result.combo_label(int(ci)) for ci in frame["combination"]]
    frame.attrs["complete"] = result.complete
    return frame


def scenario(symbols=None, *, store=None, leverage=(2, 5, 10, 20, 50, 100), horizon=(1, 5, 20),
             side: str = "long", venue: str | None = None, settings: dict | None = None,
             method: str = "historical", paths: int = 10_000, seed: int = 7,
             timeframe: str = "1d", compare_venues: bool = False, at_events: bool = False,
             events=None, cash: float = 10_000.0, detail: str | None = None) -> dict:
    """`sitcli scenario`: what `--format json` prints under "symbols" (per symbol: venue,
    bars, and a row per leverage x horizon), plus each row's simulated "returns" array."""
    from sitcli.cli.options import parse_pairs
    from sitcli.errors import BadInput
    from sitcli.scenario import parse_positive_list, run

    store = Store() if store is None else store
    if symbols is None and not getattr(store, "demo", False):
        raise BadInput("pass symbols=[...] (stored data) or store=sitcli.demo()")
    names = list(symbols or ["NVDA", "AMD", "TSM", "^NDX", "RENDER/USDT"])
    levs = parse_positive_list(",".join(map(str, leverage)), "--leverage")
    hors = parse_positive_list(",".join(map(str, horizon)), "--horizon")
    if any(h != int(h) for h in hors):
        raise BadInput(f"--horizon {list(horizon)!r}: horizons are whole numbers of bars")
    return run(store, names, levs, [int(h) for h in hors], side, venue, method, timeframe,
               parse_pairs(_pairs(settings), "--set", "closeout_level=0.2"), paths, seed,
               compare_venues, _events(events) if at_events else None, cash=cash,
               detail=detail)


def liquidation(*, leverage: float, entry: float, side: str = "long", venue: str | None = None,
                qty: float | None = None, margin: float | None = None,
                cash: float | None = None, mmr: float | None = None,
                maint_amount: float | None = None, fee: float | None = None,
                wallet: float | None = None, other_maintenance: float = 0.0,
                other_margin: float = 0.0, other_pnl: float = 0.0,
                moves=(-5, -3, -2, -1, 1, 2, 3, 5), settings: dict | None = None,
                allow_above_cap: bool = False) -> dict:
    """`sitcli liquidation --entry ...`: the dict `--format json` prints (liquidation and
    bankruptcy price, return on margin per move in percent, assumptions)."""
    from sitcli.cli.options import parse_pairs
    from sitcli.errors import BadInput
    from sitcli.instruments import venue as load_venue
    from sitcli.liquidation import build_position, parse_moves, report

    n = _floats({"entry": entry, "leverage": leverage, "qty": qty, "margin": margin,
                 "cash": cash, "mmr": mmr, "maint_amount": maint_amount, "fee": fee,
                 "wallet": wallet, "other_maintenance": other_maintenance,
                 "other_margin": other_margin, "other_pnl": other_pnl})
    if settings and venue is None:
        raise BadInput("--set needs a --venue (or --symbol) whose fields it overrides")
    spec = None if venue is None else load_venue(
        venue, "equity", parse_pairs(_pairs(settings), "--set", "liquidation_fee=0.01"))
    cross = None if wallet is None else {k: n[k] for k in ("wallet", "other_maintenance",
                                                           "other_margin", "other_pnl")}
    pos = build_position(side, n["entry"], n["leverage"], spec, qty=n["qty"], margin=n["margin"],
                         mmr=n["mmr"], maint_amount=n["maint_amount"], fee=n["fee"],
                         allow_above_cap=allow_above_cap, cash=n["cash"], cross=cross)
    result = report(pos, parse_moves(",".join(map(str, moves))))
    result["assumptions"]["venue"] = spec.name if spec else None
    result["assumptions"]["tiers"] = spec.tiers.name if spec else None
    result["assumptions"]["entry_source"] = "--entry"
    return result


@dataclass
class SavedRun:
    """A run read back from its directory (`sitcli backtest --out DIR`, `--save`, `Run.save`):
    its manifest and, for a backtest, the files it wrote as DataFrames."""

    directory: Path
    manifest: dict

    def _summary(self) -> dict:
        import json

        return json.loads((self.directory / "summary.json").read_text(encoding="utf-8"))

    @cached_property
    def stats(self) -> pd.DataFrame:
        """Backtest: a row per run as in `Run.stats`; sweep: the ranked combinations file;
        scenario: a row per symbol x leverage x horizon."""
        command = self.manifest["command"]
        if command == "backtest":
            return pd.DataFrame.from_dict(self._summary()["stats"], orient="index")
        if command == "sweep":
            name = self.manifest.get("saved_as") or next(iter(self.manifest["outputs"]))
            path = self.directory / name
            if path.suffix.lower() == ".json":
                import json

                return pd.DataFrame(json.loads(path.read_text())["results"])
            if path.suffix.lower() == ".parquet":
                return pd.read_parquet(path)
            return pd.read_csv(path)
        return pd.DataFrame(self.manifest["results"]["rows"])

    @cached_property
    def aggregate(self) -> pd.DataFrame:
        return pd.DataFrame(self._summary()["aggregate"]).set_index("label")

    @cached_property
    def trades(self) -> pd.DataFrame:
        return pd.read_csv(self.directory / "trades.csv")

    @cached_property
    def equity(self) -> pd.DataFrame:
        frame = pd.read_csv(self.directory / "equity.csv", index_col="time")
        frame.index = pd.to_datetime(frame.index, utc=True)
        return frame

    @cached_property
    def liquidations(self) -> pd.DataFrame:
        return pd.read_csv(self.directory / "liquidations.csv")

    @property
    def assumptions(self) -> dict:
        return self._summary()["assumptions"]


def load_run(path: str | Path) -> SavedRun:
    """A saved run from its directory (or its manifest file): `.manifest` (run.json) and, for a
    backtest, `.stats`, `.aggregate`, `.trades`, `.equity`, `.liquidations` as written."""
    from sitcli import runs
    from sitcli.errors import BadInput

    path = Path(path).expanduser()
    if path.is_dir():
        manifest_path = path / runs.MANIFEST
    elif path.suffix == ".json" and path.is_file():
        manifest_path = path
    elif Path(str(path) + ".run.json").is_file():
        manifest_path = Path(str(path) + ".run.json")
    else:
        raise BadInput(f"load_run {path}: no run here (a run directory holds run.json)")
    if not manifest_path.is_file():
        raise BadInput(f"load_run {path}: no {runs.MANIFEST} in it; save runs with "
                       "Run.save(DIR), --out DIR or --save")
    manifest = runs.load(manifest_path)
    return SavedRun(manifest_path.parent, manifest)
