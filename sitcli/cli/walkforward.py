"""--oos / --walk-forward for `backtest --grid` and `sweep`: the options, one entry point, output.

The logic is `sitcli.walkforward`; `backtest` picks on full records, `sweep` on its
summaries-only kernel (every core or Dask).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

OosOpt = Annotated[Optional[float], typer.Option(
    "--oos", help="Out-of-sample test: pick the best combination (by --rank-by) on all but the "
                  "last FRACTION of the bars, report it on that last part, e.g. --oos 0.3.")]
OosStartOpt = Annotated[Optional[str], typer.Option(
    "--oos-start", help="Out-of-sample test from this date on (YYYY-MM-DD) instead of --oos.")]
WalkOpt = Annotated[Optional[int], typer.Option(
    "--walk-forward", help="N test windows at the end of the data, each re-picking the best "
                           "combination on the training window before it; stitched into one "
                           "out-of-sample curve.")]
TrainOpt = Annotated[Optional[int], typer.Option(
    "--wf-train", help="Bars per training window (default: all bars before the first test "
                       "window).")]
TestOpt = Annotated[Optional[int], typer.Option(
    "--wf-test", help="Bars per test window (default: the bars cut into N + 1 equal parts).")]
AnchoredOpt = Annotated[bool, typer.Option(
    "--wf-anchored", help="Training windows all start at the first bar (default: rolling).")]


def asked(o) -> bool:
    given = (o.oos, o.oos_start, o.walk_forward, o.wf_train, o.wf_test)
    return any(v is not None for v in given) or bool(o.wf_anchored)


def run(o, cfg, store, events, summaries: bool, sweep_kwargs=None, out: Path | None = None) -> None:
    """Run the asked test and print it (table or JSON); --out DIR (backtest) gets the files."""
    from sitcli.cli.backtest import _ranked
    from sitcli.cli.options import Format
    from sitcli.errors import BadInput
    from sitcli.walkforward import data_index, oos, oos_split, walk_forward, walk_windows

    if not cfg.grid:
        raise BadInput("--oos / --walk-forward pick among combinations: add --grid, e.g. "
                       "--grid hold=1,3,5")
    if o.walk_forward is None and (o.wf_train or o.wf_test or o.wf_anchored):
        raise BadInput("--wf-train / --wf-test / --wf-anchored shape --walk-forward N; add it")
    if o.walk_forward is not None and (o.oos is not None or o.oos_start is not None):
        raise BadInput("--walk-forward and --oos/--oos-start are two different tests; pick one")

    def rank(rows):
        return _ranked(rows, o.rank_by)

    index = data_index(cfg, store)
    if o.walk_forward is None:
        payload = {"test": "out-of-sample", "rank_by": o.rank_by, "kernel": _kernel(summaries),
                   **oos(cfg, store, events, oos_split(index, o.oos, o.oos_start), rank,
                         summaries, sweep_kwargs)}
    else:
        windows = walk_windows(index, o.walk_forward, o.wf_train, o.wf_test, o.wf_anchored)
        wf = walk_forward(cfg, store, events, windows, rank, summaries, sweep_kwargs)
        payload = {"test": "walk-forward", "mode": "anchored" if o.wf_anchored else "rolling",
                   "rank_by": o.rank_by, "kernel": _kernel(summaries),
                   **{k: v for k, v in wf.items() if k not in ("equity", "trades")}}
        if out is not None:
            _write(out, wf, payload)
    if o.fmt == Format.json:
        from sitcli.cli.render import print_json

        print_json(payload)
    else:
        _print(payload, o.rank_by)


def _kernel(summaries: bool) -> str:
    return ("sweep (per-combination summaries) to pick, backtest to run the pick" if summaries
            else "backtest (full records)")


def _write(out: Path, wf: dict, payload: dict) -> None:
    import json

    from sitcli.cli.render import _plain
    from sitcli.files import atomic_write, environment_error

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise environment_error(exc, "create the output directory", out) from None
    files = {"oos_equity.csv": lambda p: wf["equity"].rename("equity").to_csv(p, index_label="time"),
             "oos_trades.csv": lambda p: wf["trades"].to_csv(p, index=False),
             "walkforward.json": lambda p: p.write_text(json.dumps(_plain(payload), indent=2,
                                                                   allow_nan=False))}
    for name, write in files.items():
        atomic_write(out / name, write)


def _print(payload: dict, rank_by: str) -> None:
    from sitcli.cli.render import print_table
    from sitcli.metrics import SHORT_TITLES, STAT_TITLES

    short = {k: SHORT_TITLES[k] for k in ("total_return_pct", "sharpe", "max_drawdown_pct",
                                          "trades", "liquidations")}

    def row(name, span, chosen, stats):
        return {"part": name, "from": span[0][:10], "to": span[1][:10],
                "chosen": " ".join(f"{k}={v}" for k, v in chosen.items()),
                **{title: stats.get(k) for k, title in short.items()}}

    if payload["test"] == "out-of-sample":
        w = payload["window"]
        rows = [row("in-sample", w["train"], payload["chosen"], payload["in_sample"]),
                row("out-of-sample", w["test"], payload["chosen"], payload["out_of_sample"])]
        print_table(rows, title=f"Best of {payload['combinations']} combinations by "
                                f"{STAT_TITLES[rank_by]} in sample, then out of sample", digits=2)
        return
    rows = []
    for w in payload["windows"]:
        rows.append(row(f"{w['window'] + 1} train", w["train"], w["chosen"], w["in_sample"]))
        rows.append(row(f"{w['window'] + 1} test", w["test"], w["chosen"], w["out_of_sample"]))
    print_table(rows, title=f"Walk-forward ({payload['mode']}): each training window's best of "
                            f"{payload['windows'][0]['combinations']} by {STAT_TITLES[rank_by]}, "
                            "then its test window", digits=2)
    typer.echo(f"Stitched out-of-sample: total return {payload['total_return_pct']:.2f}%, max "
               f"drawdown {payload['max_drawdown_pct']:.2f}%, {payload['starting_capital']:,.2f} -> "
               f"{payload['final_equity']:,.2f}")
