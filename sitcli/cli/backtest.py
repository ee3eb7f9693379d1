"""`sitcli backtest`: one strategy over symbols, with stats, trades and equity."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer

from sitcli.cli.options import (
    Account,
    DataDirOpt,
    DebugOpt,
    DemoOpt,
    EndOpt,
    Fill,
    Format,
    FormatOpt,
    OnRuin,
    QuietOpt,
    SaveOpt,
    StartOpt,
    StatsLevel,
    parse_pairs,
    value,
)
from sitcli.cli.run_options import (
    DEMO_SYMBOLS,
    AccountOpt,
    AllowAboveCapOpt,
    CashOpt,
    CfdHoursOpt,
    DetailOpt,
    EventsOpt,
    FillOpt,
    GridOpt,
    LeverageOpt,
    OnRuinOpt,
    ParamOpt,
    RankByOpt,
    RuinLevelOpt,
    RunOptions,
    SetOpt,
    SizeOpt,
    StrategyArg,
    StrategyFileOpt,
    StrategyTimeoutOpt,
    SymbolsOpt,
    TakeFirstOpt,
    TimeframeOpt,
    TopOpt,
    VenueOpt,
)
from sitcli.cli.walkforward import AnchoredOpt, OosOpt, OosStartOpt, TestOpt, TrainOpt, WalkOpt
from sitcli.metrics import (  # noqa: F401
    LOWER_IS_BETTER,
    RANK_COLUMNS,
    SPAN_TITLES,
    STAT_TITLES,
    TOPUP_TITLES,
    default_rank_by,
)

# above this many runs `backtest --grid` points to `sitcli sweep` (full records grow with runs x bars)
SWEEP_HINT_RUNS = 2000

def backtest(
    strategy: StrategyArg = None,
    strategy_file: StrategyFileOpt = None,
    strategy_timeout: StrategyTimeoutOpt = None,
    symbols: SymbolsOpt = None,
    leverage: LeverageOpt = None,
    venue: VenueOpt = None,
    settings: SetOpt = None,
    params: ParamOpt = None,
    grid: GridOpt = None,
    rank_by: RankByOpt = None,
    stats_level: Annotated[StatsLevel, typer.Option(
        "--stats", case_sensitive=False,
        help="basic: sitcli's statistics; full: also vectorbt's full returns statistics of "
             "each run over the same span (imports vectorbt: slower).")] = StatsLevel.basic,
    top: TopOpt = 20,
    oos: OosOpt = None,
    oos_start: OosStartOpt = None,
    walk_forward: WalkOpt = None,
    wf_train: TrainOpt = None,
    wf_test: TestOpt = None,
    wf_anchored: AnchoredOpt = False,
    account: AccountOpt = Account.isolated,
    cfd_hours: CfdHoursOpt = None,
    events_files: EventsOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    timeframe: TimeframeOpt = "1d",
    cash: CashOpt = 10_000.0,
    size: SizeOpt = None,
    fill: FillOpt = Fill.open,
    take_first: TakeFirstOpt = False,
    allow_above_cap: AllowAboveCapOpt = False,
    on_ruin: OnRuinOpt = OnRuin.stop,
    ruin_level: RuinLevelOpt = 0.01,
    detail: DetailOpt = None,
    compare_detail: Annotated[bool, typer.Option(
        "--compare-detail", help="With --detail: print the plain and the detailed run side by "
                                 "side per symbol and leverage.")] = False,
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Write trades.csv, equity.csv, liquidations.csv and summary.json here.")] = None,
    plot: Annotated[bool, typer.Option(
        "--plot", help="With --out: also equity.png and a self-contained report.html.")] = False,
    save: SaveOpt = False,
    demo: DemoOpt = False,
    data_dir: DataDirOpt = None,
    fmt: FormatOpt = Format.table,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Backtest a strategy over stored or demo data: stats, trades, liquidations.

    Return statistics cover each symbol's own bars, from the close before its first trade (or
    from --start) to its last bar; spans under 60 bars or 90 days are not annualised (CAGR,
    Sharpe and Sortino blank). A ruined account (less than 0.1% of its cash left) ranks below
    every account that survived, whatever --rank-by.

    Example: sitcli backtest catalyst_momentum --demo --grid leverage=5,20,50
    """
    from sitcli.cli.render import note
    from sitcli.errors import BadInput
    from sitcli.events import load_events

    if out is not None and out.exists() and not out.is_dir():
        raise BadInput(f"--out {out}: exists and is not a directory; give a directory path")
    if plot and out is None and not save:
        raise BadInput("--plot writes equity.png and report.html into --out DIR; add --out")
    stats_level = value(stats_level)
    if compare_detail and detail is None:
        raise BadInput("--compare-detail needs --detail TIMEFRAME, e.g. --detail 1h")
    rank_by = rank_by or default_rank_by(value(on_ruin))
    opts = RunOptions(
        strategy=strategy, strategy_file=strategy_file, strategy_timeout=strategy_timeout,
        symbols=symbols, leverage=leverage, venue=venue, settings=settings, params=params,
        grid=grid, rank_by=rank_by, top=top, oos=oos, oos_start=oos_start,
        walk_forward=walk_forward, wf_train=wf_train, wf_test=wf_test, wf_anchored=wf_anchored,
        account=account, cfd_hours=cfd_hours, events_files=events_files, start=start, end=end,
        timeframe=timeframe, cash=cash, size=size, fill=fill, take_first=take_first,
        allow_above_cap=allow_above_cap, on_ruin=on_ruin, ruin_level=ruin_level, detail=detail,
        demo=demo, data_dir=data_dir, fmt=fmt, quiet=quiet)
    cfg, store = run_config(opts)
    from sitcli.cli import walkforward as wf_cli

    if wf_cli.asked(opts):    # --oos / --walk-forward (issue 15)
        wf_cli.run(opts, cfg, store, load_events(events_files), summaries=False, out=out)
        return
    runs_asked = len(cfg.symbols) * math.prod(len(v) for v in cfg.grid.values())
    if runs_asked > SWEEP_HINT_RUNS:
        note(f"{runs_asked:,} runs with full records: `sitcli sweep` takes the same arguments, uses "
             "every core and keeps only per-run summaries", quiet)
    from sitcli.cli.render import note_compiling
    from sitcli.strategy import time_limit

    note_compiling(quiet)
    with time_limit(strategy_timeout):
        result, detail_info = backtest_result(cfg, store, load_events(events_files))
    payload, runs, combos = build_payload(result, rank_by, stats_level, detail_info)
    assumptions = payload["assumptions"]
    full_keys = list(dict.fromkeys(k for v in payload.get("stats_full", {}).values() for k in v))
    if cfg.detail:
        compared, detail_summary = detail_info
    run_id = None
    if out is None and save:
        from sitcli.data.store import default_data_dir
        from sitcli.runs import save_dir

        run_id, out = save_dir(default_data_dir(data_dir), "backtest")
    if out is not None:
        write_outputs(out, result, payload, plot)
        record_run(out, payload, store.root, data_dir, run_id)
    if result.synthetic and fmt != Format.json:
        note("synthetic demo data: generated prices, not market history", quiet or fmt == Format.table)
    if fmt == Format.json:
        from sitcli.cli.render import print_json

        print_json(payload)
    elif fmt == Format.csv:
        from sitcli.cli.render import print_csv

        keys = ["label", *stat_keys(cfg.grid, cfg.on_ruin == "topup"),
                *(f"vectorbt {k}" for k in full_keys)]
        print_csv(_ranked(runs, rank_by) if cfg.grid else runs, keys)
    else:
        _print_tables(result, runs, combos, assumptions, rank_by, top)
        if cfg.grid:
            print_overfitting(payload["overfitting"])
        if full_keys:
            from sitcli.cli.render import print_table

            labels = list(payload["stats_full"])
            print_table([{"stat": k, **{c: payload["stats_full"][c].get(k) for c in labels}}
                         for k in full_keys], ["stat", *labels],
                        title="vectorbt returns statistics (same span)", digits=2)
        if cfg.detail:
            _print_detail(detail_summary, compared, compare_detail)
    if out is not None:
        note(f"wrote {', '.join(OUT_FILES + (PLOT_FILES if plot else ()))} and run.json to "
             f"{out}", quiet)


def backtest_result(cfg, store, events):
    """The Result of a backtest and, with cfg.detail, (comparison rows, summary) of the
    detailed run against the plain rule (else None). Shared by the CLI and `sitcli.api`."""
    from sitcli.backtest import run_backtest

    if not cfg.detail:
        return run_backtest(cfg, store, events), None
    from sitcli.detail import comparison, run_detailed

    result, plain, info = run_detailed(cfg, store, events)
    return result, comparison(result, plain, info)


def build_payload(result, rank_by: str, stats_level: str = "basic", detail_info=None):
    """(payload, run rows, combination rows) of a backtest: the payload is what --format
    json prints and `write_outputs` writes; shared by the CLI and `sitcli.api`."""
    cfg = result.cfg
    runs = result.run_stats()
    combos = result.combo_stats()
    from sitcli.config import record

    assumptions = record(result.assumptions())
    if cfg.detail:
        assumptions["intrabar"] = (f"{cfg.detail} bars walked in order inside each held bar, "
                                   "perpetual funding paid at the one that ends at each 8-hour "
                                   f"stamp; a bar without them: {assumptions['intrabar']}")
    payload = {"assumptions": assumptions,
               "stats": {row["label"]: _stat_row(row, cfg.grid) for row in runs},
               "aggregate": [_stat_row(row, cfg.grid) | {"label": row["label"]} for row in combos],
               "liquidations": result.liquidations_frame().to_dict("records")}
    if cfg.grid:
        payload["ranking"] = [row["label"] for row in _ranked(runs, rank_by)]
        payload["overfitting"] = overfitting(result, combos, rank_by)
    if stats_level == "full":
        payload["stats_full"] = full_stats(result)
        for row in runs:
            row.update({f"vectorbt {k}": v for k, v in payload["stats_full"].get(row["label"],
                                                                              {}).items()})
    if detail_info is not None:
        compared, detail_summary = detail_info
        payload["detail"] = {**detail_summary, "runs": compared}
    return payload, runs, combos


OUT_FILES = ("trades.csv", "equity.csv", "liquidations.csv", "summary.json")
PLOT_FILES = ("equity.png", "report.html")


# --- overfitting statistics under a ranked grid (logic in sitcli.overfit) ---------------------

def overfitting(result, combos: list[dict], rank_by: str) -> dict:
    """DSR and PBO of the combination the ranking puts first."""
    from sitcli.overfit import result_statistics

    labels = [result.combo_label(ci) for ci in range(len(result.combos))]
    return result_statistics(result, labels.index(_ranked(combos, rank_by)[0]["label"]))


def print_overfitting(stats: dict) -> None:
    from sitcli.cli.render import print_pairs
    from sitcli.overfit import describe

    if "dsr" not in stats or math.isnan(stats["pbo"]):
        typer.echo(f"Overfitting statistics: {stats.get('note', 'not available')}")
        return
    print_pairs({"winner": stats["winner"], "combinations tried": stats["trials"],
                 "Sharpe per bar": f"{stats['sharpe_per_bar']:.4f} (best of {stats['trials']} would "
                                   f"reach {stats['expected_max_sharpe']:.4f} by luck)",
                 "PSR": f"{stats['psr']:.3f}", "DSR": f"{stats['dsr']:.3f}",
                 "PBO": f"{stats['pbo']:.3f} ({stats['pbo_splits']:,} splits of "
                        f"{stats['pbo_blocks']} blocks)"},
                title="Overfitting of the ranking's winner")
    typer.echo(describe(stats))


SPAN_KEYS = ("span_first", "span_last", "span_bars", "ruined", "stats_note")


def stat_keys(grid, topup: bool = False) -> list[str]:
    """The fields of a stats row: symbol, each grid parameter, leverage, the statistics
    (with `topup`, --on-ruin topup's too) and their span (no key twice, so CSV headers are
    unique)."""
    return list(dict.fromkeys(["symbol", *grid, "leverage", *STAT_TITLES,
                               *(TOPUP_TITLES if topup else ()), *SPAN_KEYS]))


def full_stats(result) -> dict[str, dict]:
    """vectorbt's full returns statistics of each run with its own account, over the span of
    sitcli's own statistics (`Result.to_vectorbt`)."""
    if result.shared:
        return {}
    out = {}
    for r in range(len(result.runs)):
        table = result.to_vectorbt(r).stats(silence_warnings=True)
        out[result.label(r)] = {str(k): v for k, v in table.items()}
    return out


def _stat_row(row: dict, grid) -> dict:
    return {k: row[k] for k in stat_keys(grid, True) if k in row}


def _print_detail(summary: dict, compared: list[dict], side_by_side: bool) -> None:
    from sitcli.cli.render import print_table
    from sitcli.detail import summary_line

    typer.echo(summary_line(summary))
    if side_by_side:
        rows = [{"symbol": r["symbol"], "leverage": r["leverage"],
                 "trades": f"{r['trades']} -> {r['trades_detail']}",
                 "changed": r["trades_changed"],
                 "liquidations": f"{r['liquidations']} -> {r['liquidations_detail']}",
                 "return plain [%]": r["total_return_pct"],
                 f"return {summary['timeframe']} [%]": r["total_return_pct_detail"]}
                for r in compared]
        print_table(rows, title=f"Plain rule vs --detail {summary['timeframe']}", digits=2)




def run_config(o: RunOptions):
    """The RunConfig and store of a backtest, sweep or montecarlo from their shared options."""
    from sitcli.backtest import RunConfig, parse_grid
    from sitcli.cli.options import check_demo_or_data_dir
    from sitcli.data.store import Store, default_data_dir, demo_store
    from sitcli.domains import check_flags
    from sitcli.errors import BadInput

    check_flags(cash=o.cash, size=o.size, leverage=o.leverage,
                strategy_timeout=o.strategy_timeout)
    check_demo_or_data_dir(o.demo, o.data_dir)
    if o.strategy and o.strategy_file and o.strategy != o.strategy_file:
        raise BadInput(f"strategy given twice: {o.strategy} (argument) and --strategy "
                       f"{o.strategy_file}; pass one of them")
    if o.symbols is None and not o.demo:
        raise BadInput("pass --symbols NVDA,AMD (stored data) or --demo (embedded demo data)")
    if o.rank_by not in STAT_TITLES | TOPUP_TITLES:
        raise BadInput(f"--rank-by {o.rank_by}: use one of "
                       f"{', '.join(STAT_TITLES | TOPUP_TITLES)}")
    names = [s.strip() for s in (o.symbols or DEMO_SYMBOLS).split(",") if s.strip()]
    cfg = RunConfig(symbols=names, strategy=o.strategy_file or o.strategy or "catalyst_momentum",
                    params=parse_pairs(o.params, "--param", "hold=3"), grid=parse_grid(o.grid),
                    leverage=o.leverage, venue=o.venue,
                    overrides=parse_pairs(o.settings, "--set", "fee=0.001"), cash=o.cash,
                    size=o.size, account=value(o.account), cfd_hours=value(o.cfd_hours),
                    start=o.start, end=o.end, timeframe=o.timeframe, fill=value(o.fill),
                    take_first=o.take_first,
                    allow_above_cap=o.allow_above_cap, detail=o.detail,
                    on_ruin=value(o.on_ruin), ruin_level=o.ruin_level)
    store = demo_store() if o.demo else Store(default_data_dir(o.data_dir))
    return cfg, store


def _ranked(rows: list[dict], key: str) -> list[dict]:
    """Best first by `key` (`sitcli.stats.rank`: ruined accounts last)."""
    from sitcli.stats import rank

    values = [math.nan if row.get(key) is None else row[key] for row in rows]
    order = rank(values, [bool(row.get("ruined")) for row in rows], key in LOWER_IS_BETTER)
    return [rows[i] for i in order]


def _print_tables(result, runs, combos, assumptions, rank_by, top) -> None:
    from sitcli.cli.render import print_pairs, print_table

    if result.synthetic:
        typer.echo(result.synthetic_notice)
    print_pairs(_header(assumptions), title=f"Backtest: {assumptions['strategy']}")
    if not result.cfg.grid:
        columns = [row["label"] for row in runs] + (["ALL"] if len(runs) > 1 else [])
        table = {row["label"]: row for row in runs}
        if len(runs) > 1:
            table["ALL"] = combos[0]
        titles = STAT_TITLES | (TOPUP_TITLES if result.topup else {})
        rows = [{"stat": title, **{c: table[c].get(key) for c in columns}}
                for key, title in titles.items()]
        rows += [{"stat": title, **{c: _day(table[c].get(key)) for c in columns}}
                 for key, title in SPAN_TITLES.items()]
        where = ("one shared account" if result.shared else "each its own account; ALL = their sum")
        print_table(rows, ["stat", *columns], title=f"Results per symbol ({where})", digits=2)
        for c in columns:
            if table[c].get("stats_note"):
                typer.echo(f"{c}: {table[c]['stats_note']}")
        return
    keys = list(result.cfg.grid)
    ranked = _ranked(runs, rank_by)[:top]
    # a position the brackets cut ran at less than its label's leverage: show by how much
    cut = ("effective_leverage",) if any(r["cut_trades"] for r in runs) else ()
    topup = tuple(TOPUP_TITLES) if result.topup else ()
    titles = STAT_TITLES | TOPUP_TITLES
    shown = [{"#": i + 1, "symbol": r["symbol"], **{k: r[k] for k in keys},
              **{titles[c]: r[c] for c in (*RANK_COLUMNS, *cut, *topup)}, "Ruined": r["ruined"]}
             for i, r in enumerate(ranked)]
    print_table(shown, title=f"Top {len(ranked)} of {len(runs)} runs by {titles[rank_by]}",
                digits=2)
    ranked = _ranked(combos, rank_by)[:top]
    shown = [{"#": i + 1, **{k: r[k] for k in keys},
              **{titles[c]: r[c] for c in (*RANK_COLUMNS, *topup)},
              "Ruined": r["ruined"]} for i, r in enumerate(ranked)]
    print_table(shown, title=f"Combinations over all symbols by {titles[rank_by]}", digits=2)


def _day(value):
    return f"{value:%Y-%m-%d}" if hasattr(value, "strftime") else value


def _header(a: dict) -> dict:
    import numpy as np

    data = "; ".join(f"{d['symbol']} {d['first']:%Y-%m-%d}..{d['last']:%Y-%m-%d} "
                     f"({d['bars']} bars, {d['source']})" for d in a["data"])
    venues = "; ".join(f"{s}: {v['name']} "
                       f"{'/'.join(f'{x:g}' for x in np.atleast_1d(v['leverage']))}x "
                       f"({v['margin_mode']}, fee {v['fee']:g}, half-spread {v['half_spread']:g})"
                       for s, v in a["venues"].items())
    header = {"strategy": f"{a['strategy']} ({a.get('strategy_source', 'built-in')})",
              "data": data, "params": a["params"], "venues": venues,
              "account": f"{a['account']}, {a['initial_cash_per_account']:,.0f} cash each",
              "position size": a["position_size"],
              "event timing": a["event_timing"], "fill": a["fill"], "intrabar": a["intrabar"]}
    if a.get("notes"):
        header["notes"] = "; ".join(a["notes"])
    if a.get("on_ruin"):
        header["on ruin"] = a["on_ruin"]
    if a.get("config"):
        header["config"] = ", ".join(a["config"])
    if a["grid"]:
        header["grid"] = ", ".join(f"{k}={','.join(map(str, dict.fromkeys(v)))}"
                                   for k, v in a["grid"].items())
    return header


def record_run(out: Path, payload: dict, store_root: Path, data_dir, run_id=None,
               api: dict | None = None) -> dict:
    """The run's manifest beside its files (`sitcli.runs`): the command line (or the Python
    call), the data it read, the files it wrote and its statistics. A command's run joins the
    history under the data directory; a Python call's (`Run.save`) does not."""
    from sitcli import runs
    from sitcli.data.store import default_data_dir

    outputs = [out / name for name in OUT_FILES + PLOT_FILES]
    results = {k: payload[k] for k in ("stats", "aggregate", "ranking") if k in payload}
    return runs.write_manifest(out, command="backtest", store_root=store_root, outputs=outputs,
                               results=results, argv=None if api else list(runs.ARGV),
                               api=api, run_id=run_id,
                               data_dir=None if api else default_data_dir(data_dir))


def write_outputs(out: Path, result, payload: dict, plot: bool) -> None:
    """Each file is written to a temporary name and renamed, so a crash leaves no half file."""
    import json

    from sitcli.cli.render import _plain
    from sitcli.files import atomic_write, environment_error

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise environment_error(exc, "create the output directory", out) from None
    summary = {k: payload[k] for k in ("assumptions", "stats", "aggregate", "ranking", "detail")
               if k in payload}
    files = {
        "trades.csv": lambda p: result.trades_frame().to_csv(p, index=False),
        "equity.csv": lambda p: result.equity_frame().to_csv(p, index_label="time"),
        "liquidations.csv": lambda p: result.liquidations_frame().to_csv(p, index=False),
        "summary.json": lambda p: p.write_text(json.dumps(_plain(summary), indent=2,
                                                          allow_nan=False)),
    }
    for name, write in files.items():
        atomic_write(out / name, write)
    if plot:
        from sitcli.plots import write_backtest_plots

        write_backtest_plots(out, result, payload)


def register(app: typer.Typer) -> None:
    app.command("backtest")(backtest)
