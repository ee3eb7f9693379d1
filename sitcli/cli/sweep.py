"""`sitcli sweep STRATEGY`: large parameter grids on every core or a Dask cluster.

It takes every option of `sitcli backtest` that defines a run (its signature is reused, so
the two commands cannot drift apart) plus the sweep's own, and prints per-combination
summaries instead of curves and trade lists.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Optional

import typer

BACKTEST_ONLY = ("out", "plot")     # backtest options that write curves and trade lists


def _own_options(
    workers: Annotated[Optional[int], typer.Option(
        "--workers", "-w", help="Threads (local) or worker processes (Dask LocalCluster) "
                                "(default: every core).")] = None,
    executor: Annotated[str, typer.Option(
        "--executor", help="local: every core of this machine; dask: a Dask cluster "
                           "(pip install 'sitcli[dask]').")] = "local",
    scheduler: Annotated[Optional[str], typer.Option(
        "--scheduler", help="With --executor dask: address of a running scheduler, e.g. "
                            "tcp://10.0.0.5:8786 (default: start a LocalCluster).")] = None,
    chunk_size: Annotated[Optional[int], typer.Option(
        "--chunk-size", help="Combinations per task (default: about 20 million bar updates).")]
        = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Also write every finished combination to this file (.json, else CSV).")]
        = None,
) -> None:
    """Only the signature is used: the options `sweep` adds to backtest's."""


def sweep(**opts) -> None:
    """Sweep a large grid on every core (or a Dask cluster), keeping per-combination summaries.

    Example: sitcli sweep catalyst_momentum --demo --symbols NVDA --grid leverage=2,5,10,20
    --grid stop=0.01,0.02,0.05 --grid hold=1,3,5
    """
    import sys

    from sitcli.cli.backtest import STAT_TITLES, run_config
    from sitcli.cli.options import Format
    from sitcli.cli.render import note
    from sitcli.errors import BadInput
    from sitcli.events import load_events
    from sitcli.sweep import run_sweep

    o = type("Options", (), opts)
    if o.out is not None and o.out.is_dir():
        raise BadInput(f"--out {o.out}: is a directory; give a file name such as sweep.csv")
    cfg, store = run_config(opts)
    events = load_events(o.events_files)
    kwargs = dict(workers=o.workers, executor=o.executor, scheduler=o.scheduler,
                  chunk_size=o.chunk_size)
    from sitcli.cli import walkforward as wf_cli

    if wf_cli.asked(o):      # --oos / --walk-forward (issue 15): pick on the summaries kernel
        if o.out is not None:
            raise BadInput("--out with --oos/--walk-forward: use `sitcli backtest --grid ... "
                           "--walk-forward N --out DIR` for the stitched curve and trades")
        wf_cli.run(o, cfg, store, events, summaries=True, sweep_kwargs=kwargs)
        return
    if not o.quiet and sys.stderr.isatty():
        result = _with_progress(cfg, store, events, kwargs)
    else:
        result = run_sweep(cfg, store, events, **kwargs)

    rows = _ranked(result.combo_rows(), o.rank_by)
    keys = ["combination", *cfg.grid, *STAT_TITLES]
    payload = _payload(result, rows)
    if cfg.grid and result.complete and rows:   # overfitting of the winner (issue 15)
        from sitcli.overfit import sweep_statistics

        payload["overfitting"] = sweep_statistics(result, rows[0]["combination"], store, events,
                                                  sweep_kwargs=kwargs)
    if o.out is not None:
        _write(o.out, payload, rows, keys)
    if result.synthetic and o.fmt != Format.json:
        note("synthetic demo data: generated prices, not market history", o.quiet or o.fmt == Format.table)
    if o.fmt == Format.json:
        from sitcli.cli.render import print_json

        print_json(payload)
    elif o.fmt == Format.csv:
        from sitcli.cli.render import print_csv

        print_csv(rows, keys)
    else:
        _print_tables(result, rows, o.rank_by, o.top)
        if "overfitting" in payload:
            from sitcli.cli.backtest import print_overfitting

            print_overfitting(payload["overfitting"])
    if o.out is not None:
        note(f"wrote {len(rows)} combinations to {o.out}", o.quiet)
    if not result.complete:
        note(f"interrupted: {len(rows)} of {len(result.finished)} combinations finished "
             "(partial results above)")
        raise typer.Exit(130)


def _with_progress(cfg, store, events, kwargs):
    import time

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from sitcli.sweep import run_sweep

    started = time.perf_counter()
    with Progress(TextColumn("sweeping"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rate]}"), console=Console(stderr=True),
                  transient=True) as bar:
        task = bar.add_task("combinations", total=None, rate="")

        def progress(done, total):
            rate = done / max(time.perf_counter() - started, 1e-9)
            bar.update(task, completed=done, total=total, rate=f"{rate:,.0f} combinations/s")

        return run_sweep(cfg, store, events, progress=progress, **kwargs)


def _ranked(rows, key):
    from sitcli.cli.backtest import _ranked as ranked

    return ranked(rows, key)


def _payload(result, rows) -> dict:
    from sitcli.result import Result

    prep = result.prep
    assumptions = Result(cfg=result.cfg, strategy=prep.strategy, combos=prep.combos,
                         legs=prep.legs, runs=prep.runs, index=prep.index, equity=None,
                         trades=None, liquidations=None).assumptions()
    assumptions["grid"] = {k: list(dict.fromkeys(c[k] for c in prep.combos))
                           for k in result.cfg.grid}
    return {"assumptions": assumptions, "complete": result.complete,
            "combinations": len(result.finished), "finished": int(result.finished.sum()),
            "results": [{k: v for k, v in row.items() if k != "symbol"} for row in rows]}


def _write(path: Path, payload: dict, rows, keys) -> None:
    """To a temporary name, then renamed: an interrupted write leaves no half file."""
    import contextlib
    import json
    import os

    from sitcli.cli.render import _plain, print_csv

    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "w") as fh:
        if path.suffix.lower() == ".json":
            json.dump(_plain(payload), fh, indent=2, allow_nan=False)
        else:
            with contextlib.redirect_stdout(fh):
                print_csv(rows, keys)
    os.replace(tmp, path)


def _print_tables(result, rows, rank_by, top) -> None:
    from sitcli.cli.backtest import RANK_COLUMNS, STAT_TITLES, _header
    from sitcli.cli.render import print_pairs, print_table

    payload = _payload(result, [])
    if result.synthetic:
        from sitcli.backtest import synthetic_notice

        typer.echo(synthetic_notice(result.prep.legs))
    header = _header(payload["assumptions"])
    total = len(result.finished)
    header["combinations"] = (f"{total:,}" if result.complete else
                              f"{int(result.finished.sum()):,} of {total:,} (interrupted)")
    print_pairs(header, title=f"Sweep: {payload['assumptions']['strategy']}")
    shown = [{"#": i + 1, **{k: r[k] for k in result.cfg.grid},
              **{STAT_TITLES[c]: r[c] for c in RANK_COLUMNS}} for i, r in enumerate(rows[:top])]
    where = "" if len(result.prep.legs) == 1 else " (all symbols together)"
    print_table(shown, title=f"Top {len(shown)} of {len(rows):,} combinations{where} by "
                             f"{STAT_TITLES[rank_by]}", digits=2)


def _signature() -> inspect.Signature:
    from sitcli.cli.backtest import backtest

    shared = [p for name, p in inspect.signature(backtest, eval_str=True).parameters.items()
              if name not in BACKTEST_ONLY]
    return inspect.Signature([*shared, *inspect.signature(_own_options, eval_str=True)
                              .parameters.values()])


def register(app: typer.Typer) -> None:
    sweep.__signature__ = _signature()
    app.command("sweep")(sweep)
