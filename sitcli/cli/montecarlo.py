"""`sitcli montecarlo STRATEGY`: redraw a backtest's trades at leverage, many times.

It takes the options of `sitcli backtest` that define a run (`sitcli.cli.run_options`, as
`sweep` does) plus its own; each run (symbol x combination) gets its own distribution.
"""

from __future__ import annotations

from typing import Annotated

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
    QuietOpt,
    ResampleMethod,
    StartOpt,
    value,
)
from sitcli.cli.run_options import (
    AccountOpt,
    AllowAboveCapOpt,
    CashOpt,
    CfdHoursOpt,
    DetailOpt,
    EventsOpt,
    FillOpt,
    GridOpt,
    LeverageOpt,
    ParamOpt,
    RunOptions,
    SetOpt,
    SizeOpt,
    StrategyArg,
    StrategyFileOpt,
    StrategyTimeoutOpt,
    SymbolsOpt,
    TakeFirstOpt,
    TimeframeOpt,
    VenueOpt,
)


def montecarlo(
    strategy: StrategyArg = None,
    strategy_file: StrategyFileOpt = None,
    strategy_timeout: StrategyTimeoutOpt = None,
    symbols: SymbolsOpt = None,
    leverage: LeverageOpt = None,
    venue: VenueOpt = None,
    settings: SetOpt = None,
    params: ParamOpt = None,
    grid: GridOpt = None,
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
    detail: DetailOpt = None,
    demo: DemoOpt = False,
    data_dir: DataDirOpt = None,
    fmt: FormatOpt = Format.table,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
    paths: Annotated[int, typer.Option("--paths", "-n", help="Paths per run.")] = 10_000,
    method: Annotated[ResampleMethod, typer.Option(
        "--method", case_sensitive=False,
        help="iid: trades drawn independently; block: runs of --block consecutive "
             "trades (keeps streaks).")] = ResampleMethod.iid,
    block: Annotated[int, typer.Option("--block", help="Trades per block with --method block.")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same numbers).")] = 0,
    on_ruin: Annotated[str, typer.Option(
        "--on-ruin", help="stop: a ruined path ends; topup: refill it to --cash and go on, "
                          "counting each refill as new capital.")] = "stop",
    ruin_level: Annotated[float, typer.Option(
        "--ruin-level", help="Ruin: equity at or below this fraction of --cash.")] = 0.01,
) -> None:
    """Monte Carlo of a strategy's trades: final equity, drawdown, time to ruin, liquidations.

    Each trade's net return on margin (the engine's, at its leverage, with liquidation and
    protection) is redrawn and compounded on the account, never its dollar PnL. The backtest
    runs with --on-ruin topup (a wiped-out account is refilled and trades on), so even 50x has
    every trade the strategy would have made to redraw.

    Example: sitcli montecarlo catalyst_momentum --demo --symbols NVDA --grid leverage=5,20,50
    --paths 10000 --on-ruin topup
    """
    import sys

    from sitcli.backtest import prepare_backtest
    from sitcli.cli.backtest import run_config
    from sitcli.cli.options import Format
    from sitcli.cli.render import note
    from sitcli.events import load_events
    from sitcli.montecarlo import check_options, refilled_samples, simulate
    from sitcli.result import Result

    o = RunOptions(
        strategy=strategy, strategy_file=strategy_file, strategy_timeout=strategy_timeout,
        symbols=symbols, leverage=leverage, venue=venue, settings=settings, params=params,
        grid=grid, account=account, cfd_hours=cfd_hours, events_files=events_files,
        start=start, end=end, timeframe=timeframe, cash=cash, size=size, fill=fill,
        take_first=take_first, allow_above_cap=allow_above_cap, detail=detail, demo=demo,
        data_dir=data_dir, fmt=fmt, quiet=quiet)
    check_options(paths, value(method), block, on_ruin, ruin_level)
    # the backtest's own run; `refilled_samples` runs it with --on-ruin topup at --ruin-level
    cfg, store = run_config(o)
    events = load_events(o.events_files)
    samples = refilled_samples(cfg, store, events, ruin_level)
    prep = prepare_backtest(cfg, store, events)
    result = Result(cfg=cfg, strategy=prep.strategy, combos=prep.combos, legs=prep.legs,
                    runs=prep.runs, index=prep.index, equity=None, trades=None, liquidations=None)
    kwargs = dict(paths=paths, method=value(method), block=block, seed=seed, on_ruin=on_ruin,
                  ruin_level=ruin_level)
    if not o.quiet and sys.stderr.isatty():
        runs = _with_progress(samples, kwargs)
    else:
        runs = [simulate(s, **kwargs) for s in samples]
    payload = {"assumptions": {**result.assumptions(), "montecarlo": _assumptions(kwargs)},
               "runs": runs}
    if result.synthetic and o.fmt != Format.json:
        note("synthetic demo data: generated prices, not market history", o.quiet or o.fmt == Format.table)
    if o.fmt == Format.json:
        from sitcli.cli.render import print_json

        print_json(payload)
    elif o.fmt == Format.csv:
        from sitcli.cli.render import print_csv

        rows = [_flat(r) for r in runs]
        print_csv(rows, list(rows[0]) if rows else ["label"])
    else:
        _print_tables(result, runs, kwargs)


def _assumptions(kwargs: dict) -> dict:
    return {**kwargs, "resampled": "net return on margin per trade (the engine's, at the run's "
                                   "leverage, costs, liquidation and protection included)",
            "sizing": "each trade commits size x equity as margin: equity x (1 + size x r)",
            "path_length": "as many trades as the backtest made; each carries its days to the "
                           "next trade, so a path spans about the backtest's time",
            "drawdown": "at trade exits (moves inside a trade are not redrawn)"}


def _flat(run: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in run.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _with_progress(samples, kwargs):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from sitcli.montecarlo import simulate

    out = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        for s in samples:
            task = bar.add_task(s.label, total=kwargs["paths"])
            out.append(simulate(s, progress=lambda done, _total, t=task: bar.update(t, completed=done),
                                **kwargs))
    return out


ROWS = (
    ("trades (backtest)", lambda r: r["history"]["trades"]),
    ("liquidations (backtest)", lambda r: r["history"]["liquidations"]),
    ("refills after ruin (backtest)", lambda r: r["history"]["refills"]),
    ("backtest topped up: capital put in [$]",
     lambda r: r["cash"] + r["history"]["topped_up"]["capital_injected"]),
    ("backtest topped up: final equity [$]", lambda r: r["history"]["topped_up"]["final_equity"]),
    ("final equity p5 [$]", lambda r: r["final_equity"]["p5"]),
    ("final equity median [$]", lambda r: r["final_equity"]["median"]),
    ("final equity p95 [$]", lambda r: r["final_equity"]["p95"]),
    ("max drawdown median [%]", lambda r: r["max_drawdown_pct"]["median"]),
    ("max drawdown p5 [%]", lambda r: r["max_drawdown_pct"]["p5"]),
    ("ruin within 1 month [%]", lambda r: 100 * r["ruin_probability"]["1m"]),
    ("ruin within 3 months [%]", lambda r: 100 * r["ruin_probability"]["3m"]),
    ("ruin within 12 months [%]", lambda r: 100 * r["ruin_probability"]["12m"]),
    ("ruin at any time [%]", lambda r: 100 * r["ruin_probability"]["any"]),
    ("days to ruin median", lambda r: r["days_to_ruin"]["median"]),
    ("liquidations per year", lambda r: r["liquidations_per_year"]),
)
TOPUP_ROWS = (
    ("capital injected median [$]", lambda r: r["capital_injected"]["median"]),
    ("refills per year", lambda r: r["refills_per_year"]),
    ("return on capital put in, median [%]", lambda r: r["return_on_capital_pct"]["median"]),
)


def _print_tables(result, runs, kwargs) -> None:
    from sitcli.cli.backtest import _header
    from sitcli.cli.render import print_pairs, print_table

    if result.synthetic:
        typer.echo(result.synthetic_notice)
    header = _header(result.assumptions())
    method = kwargs["method"] + (f" (blocks of {kwargs['block']})" if kwargs["method"] == "block" else "")
    header["monte carlo"] = (f"{kwargs['paths']:,} paths per run, {method}, seed {kwargs['seed']}; "
                             f"ruin at {100 * kwargs['ruin_level']:g}% of cash, then "
                             f"{kwargs['on_ruin']}")
    print_pairs(header, title=f"Monte Carlo: {result.strategy.name}")
    shown = [r for r in runs if r["paths"]]
    rows = ROWS + (TOPUP_ROWS if kwargs["on_ruin"] == "topup" else ())
    table = [{"stat": title, **{r["label"]: get(r) for r in shown}} for title, get in rows]
    print_table(table, ["stat", *(r["label"] for r in shown)],
                title="Redrawn trades, net return on margin compounded on the account", digits=2)
    empty = [r["label"] for r in runs if not r["paths"]]
    if empty:
        typer.echo(f"no trades to redraw: {', '.join(empty)}")



def register(app: typer.Typer) -> None:
    app.command("montecarlo")(montecarlo)
