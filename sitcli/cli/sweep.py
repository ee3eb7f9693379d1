"""`sitcli sweep STRATEGY`: large parameter grids on every core or a Dask cluster.

It takes the options of `sitcli backtest` that define a run (the typed aliases and
`RunOptions` of `sitcli.cli.run_options`, so the two cannot drift apart) plus the sweep's own,
and prints per-combination summaries instead of curves and trade lists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sitcli.cli.options import (
    Account,
    DataDirOpt,
    DebugOpt,
    DemoOpt,
    EndOpt,
    Executor,
    Fill,
    Format,
    FormatOpt,
    OnRuin,
    QuietOpt,
    SaveOpt,
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
from sitcli.metrics import default_rank_by


def sweep(
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
    save: SaveOpt = False,
    demo: DemoOpt = False,
    data_dir: DataDirOpt = None,
    fmt: FormatOpt = Format.table,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
    workers: Annotated[Optional[int], typer.Option(
        "--workers", "-w", help="Threads (local) or worker processes (Dask LocalCluster) "
                                "(default: every core).")] = None,
    executor: Annotated[Executor, typer.Option(
        "--executor", case_sensitive=False,
        help="local: every core of this machine; dask: a Dask cluster "
             "(pip install 'sitcli[dask]').")] = Executor.local,
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
    """Sweep a large grid on every core (or a Dask cluster), keeping per-combination summaries.

    Example: sitcli sweep catalyst_momentum --demo --symbols NVDA --grid leverage=2,5,10,20
    --grid stop=0.01,0.02,0.05 --grid hold=1,3,5
    """
    import sys

    import numpy as np

    from sitcli.cli.backtest import run_config, stat_keys
    from sitcli.cli.options import Format
    from sitcli.cli.render import note
    from sitcli.errors import BadInput
    from sitcli.events import load_events
    from sitcli.sweep import run_sweep

    rank_by = rank_by or default_rank_by(value(on_ruin))
    o = RunOptions(
        strategy=strategy, strategy_file=strategy_file, strategy_timeout=strategy_timeout,
        symbols=symbols, leverage=leverage, venue=venue, settings=settings, params=params,
        grid=grid, rank_by=rank_by, top=top, oos=oos, oos_start=oos_start,
        walk_forward=walk_forward, wf_train=wf_train, wf_test=wf_test, wf_anchored=wf_anchored,
        account=account, cfd_hours=cfd_hours, events_files=events_files, start=start, end=end,
        timeframe=timeframe, cash=cash, size=size, fill=fill, take_first=take_first,
        allow_above_cap=allow_above_cap, on_ruin=on_ruin, ruin_level=ruin_level, detail=detail,
        demo=demo, data_dir=data_dir, fmt=fmt, quiet=quiet)
    if out is not None and out.is_dir():
        raise BadInput(f"--out {out}: is a directory; give a file name such as sweep.csv")
    run_id = None
    from sitcli.cli import walkforward as wf_cli

    if out is None and save and not wf_cli.asked(o):   # into the history: runs/ID/sweep.csv
        from sitcli.data.store import default_data_dir
        from sitcli.runs import save_dir

        run_id, folder = save_dir(default_data_dir(o.data_dir), "sweep")
        folder.mkdir(parents=True)
        out = folder / "sweep.csv"
    cfg, store = run_config(o)
    events = load_events(o.events_files)
    kwargs = dict(workers=workers, executor=value(executor), scheduler=scheduler,
                  chunk_size=chunk_size)
    from sitcli.cli import walkforward as wf_cli

    if wf_cli.asked(o):      # --oos / --walk-forward (issue 15): pick on the summaries kernel
        if out is not None:
            raise BadInput("--out with --oos/--walk-forward: use `sitcli backtest --grid ... "
                           "--walk-forward N --out DIR` for the stitched curve and trades")
        wf_cli.run(o, cfg, store, events, summaries=True, sweep_kwargs=kwargs)
        return
    from sitcli.cli.render import note_compiling
    from sitcli.strategy import time_limit

    note_compiling(o.quiet)
    with time_limit(o.strategy_timeout):
        if not o.quiet and sys.stderr.isatty():
            result = _with_progress(cfg, store, events, kwargs)
        else:
            result = run_sweep(cfg, store, events, **kwargs)

    from sitcli.cli.backtest import LOWER_IS_BETTER
    from sitcli.stats import rank

    # the overfitting statistics' winner-free part first: the per-block sums (most of what a
    # combination keeps) are let go before the table is built, ranked and written
    trials = result.release_blocks() if cfg.grid and result.complete else None
    # the columns ranking needs; the rest of the table is computed a batch of ranked rows at a
    # time as they are written (`SweepResult.combo_table(rows)`), never whole
    ranking = result.table_columns(("combination", o.rank_by, "ruined", "short_span"))
    table = result.combo_table
    keys = [k for k in ("combination", *stat_keys(cfg.grid, True)) if k in table([])]
    whole = out is not None or o.fmt != Format.table
    order = rank(ranking[o.rank_by] if o.rank_by in ranking
                 else np.full(len(ranking["ruined"]), np.nan),
                 ranking["ruined"], o.rank_by in LOWER_IS_BETTER, None if whole else o.top)
    interrupted_write = False
    overfitting = None
    if cfg.grid and result.complete and len(order):   # overfitting of the winner (issue 15)
        from sitcli.overfit import sweep_statistics

        overfitting = sweep_statistics(result, int(ranking["combination"][order[0]]), store,
                                       events, trials)
    if out is not None:
        try:
            _write(out, result, table, order, keys)
        except KeyboardInterrupt:
            # the sweep itself finished: still print its result, then exit 130
            interrupted_write = True
            note(f"interrupted while writing {out}: not written (no partial file left)")
        if not interrupted_write:
            _record(out, o, result, store, _rows(result, table, order[:10], keys), run_id)
    if result.synthetic and o.fmt != Format.json:
        note("synthetic demo data: generated prices, not market history", o.quiet or o.fmt == Format.table)
    if o.fmt == Format.json:
        from sitcli.cli.render import print_json

        payload = _payload(result, _rows(result, table, order, keys))
        if overfitting is not None:
            payload["overfitting"] = overfitting
        print_json(payload)
    elif o.fmt == Format.csv:
        import io

        sys.stdout.flush()
        written = (out is not None and not interrupted_write
                   and out.suffix.lower() not in (".json", ".parquet"))
        if written and hasattr(sys.stdout, "buffer"):   # the same CSV: copy it, not format twice
            import shutil

            with open(out, "rb") as fh:
                shutil.copyfileobj(fh, sys.stdout.buffer)
        elif hasattr(sys.stdout, "buffer"):
            write_csv(sys.stdout.buffer, table, order, keys)
        else:                                   # a text-only stream (an embedding caller)
            raw = io.BytesIO()
            write_csv(raw, table, order, keys)
            sys.stdout.write(raw.getvalue().decode())
    else:
        _print_tables(result, _rows(result, table, order[:o.top], keys), o.rank_by,
                      len(order))
        if overfitting is not None:
            from sitcli.cli.backtest import print_overfitting

            print_overfitting(overfitting)
    short = int(ranking["short_span"].sum())
    if short:
        from sitcli.stats import MIN_SPAN_BARS, MIN_SPAN_DAYS

        note(f"{short:,} combinations cover under {MIN_SPAN_BARS} bars or {MIN_SPAN_DAYS} days: "
             "their CAGR, Sharpe and Sortino are not annualised (blank)", o.quiet)
    finished = len(order)
    if interrupted_write:
        raise typer.Exit(130)
    if out is not None:
        note(f"wrote {finished} combinations to {out}", o.quiet)
    if not result.complete:
        note(f"interrupted: {finished} of {len(result.finished)} combinations finished "
             "(partial results above)")
        raise typer.Exit(130)


def _record(out: Path, o, result, store, top: list[dict], run_id) -> None:
    """The sweep's manifest (`sitcli.runs`): beside --out FILE as FILE.run.json, or in its
    --save folder."""
    from sitcli import runs
    from sitcli.data.store import default_data_dir

    results = {"combinations": len(result.finished), "finished": int(result.finished.sum()),
               "complete": result.complete, "rank_by": o.rank_by, "top": top}
    runs.write_manifest(out.parent if run_id else out, command="sweep",
                        store_root=store.root, outputs=[out], results=results,
                        argv=list(runs.ARGV), run_id=run_id,
                        data_dir=default_data_dir(o.data_dir),
                        saved_as=out.name if run_id else None)


def _rows(result, table, order, keys) -> list[dict]:
    """Rows of `table` in `order` as dicts, with their labels (JSON and the printed table)."""
    from sitcli.sweep import _python

    rows = []
    columns = _take(table, order, keys)
    for i in range(len(order)):
        row = _python({k: columns[k][i] for k in keys})
        rows.append({"label": result.combo_label(row["combination"]) or "all symbols", **row})
    return rows


BATCH_ROWS = 16_384   # rows per Arrow batch written: the ranked copy never holds every row
CSV_BATCH_ROWS = 2_048   # CSV: smaller, as three are formatted (and held) at once


def _take(table, rows, keys) -> dict:
    """Columns `keys` of rows `rows` of a table: a dict of whole columns, or a function that
    computes the columns of the rows it is given (`SweepResult.combo_table`)."""
    import numpy as np

    if callable(table):
        part = table(rows)
        return {k: np.ascontiguousarray(part[k]) for k in keys}
    return {k: np.asarray(table[k])[rows] for k in keys}


def arrow_batches(table, order, keys, text_times: bool = False, size: int = BATCH_ROWS):
    """The ranked rows as Arrow record batches of `size` rows built from the columns (no row
    objects; `table` as `_take` takes it): NaN and infinities become nulls (blank in CSV), bar
    times UTC timestamps (or ISO text)."""
    import numpy as np
    import pyarrow as pa

    for lo in range(0, max(len(order), 1), size):
        columns = _take(table, order[lo:lo + size], keys)
        arrays = []
        for key in keys:
            col = columns[key]
            if col.dtype.kind == "f":
                arrays.append(pa.array(col, mask=~np.isfinite(col)))
            elif col.dtype.kind == "M" and text_times:
                # a span's first and last bars take few values: each one's text once
                times, at = np.unique(col, return_inverse=True)
                text = np.datetime_as_string(times.astype("datetime64[s]"), timezone="UTC")
                arrays.append(pa.DictionaryArray.from_arrays(
                    pa.array(at.astype(np.int32)), pa.array(text, mask=np.isnat(times)))
                    .dictionary_decode())
            elif col.dtype.kind == "M":
                arrays.append(pa.array(col.astype("datetime64[ns]"),
                                       type=pa.timestamp("ns", "UTC")))
            else:
                arrays.append(pa.array(col.tolist() if col.dtype == object else col))
        yield pa.record_batch(arrays, names=list(keys))


def write_csv(fh, table, order, keys, size: int = CSV_BATCH_ROWS) -> None:
    """CSV straight from the columns: the header, then each batch formatted by Arrow's writer
    on one of two threads (it releases the GIL; formatting numbers is most of the time) while
    the next batch is cut, written in order."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    fh.write((",".join(keys) + "\n").encode())
    with ThreadPoolExecutor(2) as pool:
        pending = deque()
        for batch in arrow_batches(table, order, keys, text_times=True, size=size):
            pending.append(pool.submit(_csv_rows, batch))
            if len(pending) > 2:            # at most three batches held at once
                fh.write(pending.popleft().result())
        while pending:
            fh.write(pending.popleft().result())


def _csv_rows(batch):
    """One batch's CSV rows (no header) as an Arrow buffer."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    # the system allocator: Arrow's default one keeps what each thread freed (tens of MB)
    pool = pa.system_memory_pool()
    sink = pa.BufferOutputStream(memory_pool=pool)
    pacsv.write_csv(batch, sink, write_options=pacsv.WriteOptions(include_header=False,
                                                                  quoting_style="needed"),
                    memory_pool=pool)
    return sink.getvalue()


def write_parquet(path, table, order, keys) -> None:
    import pyarrow.parquet as pq

    writer = None
    for batch in arrow_batches(table, order, keys):
        if writer is None:
            writer = pq.ParquetWriter(path, batch.schema)
        writer.write_batch(batch)
    if writer is not None:
        writer.close()


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


def _payload(result, rows) -> dict:
    from sitcli.config import record

    return {"assumptions": record(result.assumptions()), "complete": result.complete,
            "combinations": len(result.finished), "finished": int(result.finished.sum()),
            "results": rows}


def _write(path: Path, result, table, order, keys) -> None:
    """To a temporary name, then renamed: an interrupted write leaves no half file. .json
    gets the whole payload, .parquet an Arrow table, anything else CSV."""
    import json

    from sitcli.cli.render import _plain
    from sitcli.files import atomic_path

    suffix = path.suffix.lower()
    with atomic_path(path) as tmp:
        if suffix == ".json":
            with open(tmp, "w") as fh:
                json.dump(_plain(_payload(result, _rows(result, table, order, keys))), fh,
                          indent=2, allow_nan=False)
        elif suffix == ".parquet":
            write_parquet(tmp, table, order, keys)
        else:
            with open(tmp, "wb") as fh:
                write_csv(fh, table, order, keys)


def _print_tables(result, rows, rank_by, total_rows) -> None:
    from sitcli.cli.backtest import _header
    from sitcli.cli.render import print_pairs, print_table
    from sitcli.metrics import RANK_COLUMNS, STAT_TITLES, TOPUP_TITLES

    payload = _payload(result, [])
    if result.synthetic:
        from sitcli.result import synthetic_notice

        typer.echo(synthetic_notice(result.prep.legs))
    header = _header(payload["assumptions"])
    total = len(result.finished)
    header["combinations"] = (f"{total:,}" if result.complete else
                              f"{int(result.finished.sum()):,} of {total:,} (interrupted)")
    if result.prep.detail is not None:
        header["detail"] = (f"--detail {result.cfg.detail}: {result.prep.detail.fine_rows:,} finer "
                            "bars walked inside the bars a position is open")
    print_pairs(header, title=f"Sweep: {payload['assumptions']['strategy']}")
    titles = STAT_TITLES | TOPUP_TITLES
    topup = tuple(TOPUP_TITLES) if result.cfg.on_ruin == "topup" else ()
    shown = [{"#": i + 1, **{k: r[k] for k in result.cfg.grid},
              **{titles[c]: r[c] for c in (*RANK_COLUMNS, *topup)}, "Ruined": r["ruined"]}
             for i, r in enumerate(rows)]
    where = "" if len(result.prep.legs) == 1 else " (all symbols together)"
    print_table(shown, title=f"Top {len(shown)} of {total_rows:,} combinations{where} by "
                             f"{titles[rank_by]}", digits=2)


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep)
