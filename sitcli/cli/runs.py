"""`sitcli runs list|show|compare|rerun`: saved runs and their manifests (`sitcli.runs`)."""

from __future__ import annotations

from typing import Annotated

import typer

from sitcli.cli.options import DataDirOpt, DebugOpt, Format, FormatOpt, QuietOpt

runs_app = typer.Typer(help="Saved runs (backtest, sweep, scenario with --out or --save): list, "
                            "show, compare, rerun.", no_args_is_help=True)

RunArg = Annotated[str, typer.Argument(help="A run's id (or a unique part of it), its "
                                            "directory, or its manifest file.",
                                       show_default=False)]
# the statistics a comparison shows first (all of a backtest's are in the manifest)
SHOWN_STATS = ("leverage", "total_return_pct", "cagr_pct", "sharpe", "max_drawdown_pct", "win_rate_pct",
               "trades", "liquidations", "fees", "spread", "financing", "funding",
               "final_equity")


def _data_dir(data_dir):
    from sitcli.data.store import default_data_dir

    return default_data_dir(data_dir)


@runs_app.command("list")
def list_(
    data_dir: DataDirOpt = None,
    fmt: FormatOpt = Format.table,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """The recorded runs, oldest first: id, when, command, arguments, where.

    Example: sitcli runs list
    """
    from sitcli import runs
    from sitcli.cli.render import emit, note

    rows = []
    for run_id, path in runs.history(_data_dir(data_dir)):
        m = runs.load(path)
        args = " ".join(m["argv"][1:]) if m.get("argv") else f"python: {m['api']['function']}()"
        rows.append({"id": run_id, "created": m.get("created", "")[:19].replace("T", " "),
                     "command": m["command"], "args": args, "path": str(path.parent)})
    if not rows:
        note(f"no runs recorded in {runs.runs_dir(_data_dir(data_dir))}; add --save (or --out "
             "DIR) to a backtest, sweep or scenario", quiet)
        if fmt == Format.table:
            return
    emit(fmt, {"runs": rows}, rows, ["id", "created", "command", "args", "path"],
         title="Runs")


@runs_app.command("show")
def show(
    run: RunArg,
    data_dir: DataDirOpt = None,
    fmt: FormatOpt = Format.table,
    debug: DebugOpt = False,
) -> None:
    """One run's manifest: the command, config, version, data read, files written, results.

    Example: sitcli runs show 20260101-120000-backtest-ab12
    """
    from sitcli import runs
    from sitcli.cli.render import print_json, print_pairs, print_table

    m = runs.load(runs.find(run, _data_dir(data_dir)))
    if fmt == Format.json:
        print_json({k: v for k, v in m.items() if k != "_path"})
        return
    call = ("sitcli " + " ".join(m["argv"]) if m.get("argv") is not None
            else f"python: sitcli.{m['api']['function']}(**{m['api']['arguments']})")
    pairs = {"id": m["id"], "command": call, "created": m.get("created"),
             "sitcli": m.get("sitcli_version"), "store": m.get("store"),
             "manifest": m["_path"]}
    if m.get("config", {}).get("files"):
        pairs["config"] = ", ".join(f["path"] for f in m["config"]["files"])
    rows = m.get("data", [])
    if fmt == Format.csv:
        from sitcli.cli.render import print_csv

        print_csv(rows, ["path", "first", "last", "rows", "sha256"])
        return
    print_pairs(pairs, title=f"Run {m['id']}")
    print_table([{**r, "first": str(r["first"])[:10], "last": str(r["last"])[:10],
                  "sha256": r["sha256"][:16]} for r in rows],
                ["path", "first", "last", "rows", "sha256"], title="Data read")
    print_table([{"file": k, "sha256": v[:16]} for k, v in m.get("outputs", {}).items()],
                ["file", "sha256"], title="Files written")
    table = _stat_table([m])
    if table:
        print_table(table, title="Results", digits=2)


@runs_app.command("compare")
def compare(
    first: RunArg,
    second: RunArg,
    data_dir: DataDirOpt = None,
    fmt: FormatOpt = Format.table,
    debug: DebugOpt = False,
) -> None:
    """Two runs side by side: their statistics, and what differed in their inputs
    (arguments, config, data files, sitcli version).

    Example: sitcli runs compare RUN_A RUN_B
    """
    from sitcli import runs
    from sitcli.cli.render import print_json, print_table

    root = _data_dir(data_dir)
    a = runs.load(runs.find(first, root))
    b = runs.load(runs.find(second, root))
    diffs = runs.differences(a, b)
    stats = _stat_table([a, b])
    if fmt == Format.json:
        print_json({"A": a["id"], "B": b["id"], "inputs": diffs, "stats": stats})
        return
    if fmt == Format.csv:
        from sitcli.cli.render import print_csv

        print_csv(stats)
        return
    typer.echo(f"A: {a['id']}\nB: {b['id']}")
    print_table(stats, title="Results side by side", digits=2)
    if diffs:
        print_table(diffs, ["input", "A", "B"], title="What differed in the inputs")
    else:
        typer.echo("The inputs were the same (arguments, config, data, version).")


@runs_app.command("rerun")
def rerun(
    run: RunArg,
    data_dir: DataDirOpt = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Run a recorded command again into a temporary directory and compare every file it
    writes with the recorded one, byte for byte: "reproduced bit for bit", or the files that
    differ and the inputs that changed since (exit 1).

    Example: sitcli runs rerun 20260101-120000-backtest-ab12
    """
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from sitcli import runs
    from sitcli.cli.render import note
    from sitcli.errors import RuntimeFailure

    m = runs.load(runs.find(run, _data_dir(data_dir)))
    changed = runs.input_changes(m)
    with tempfile.TemporaryDirectory(prefix="sitcli-rerun-") as tmp:
        argv, produced = runs.rerun_argv(m, Path(tmp))
        env = {**os.environ, runs.RERUN_ENV: "1",
               "SITCLI_CONFIG": m.get("config", {}).get("user_file_env") or ""}
        if m.get("data_dir"):
            env["SITCLI_DATA_DIR"] = m["data_dir"]
        if m.get("config", {}).get("user_file_env") is None:
            # the run read the platform's user file, if any: it is among the recorded files
            env.pop("SITCLI_CONFIG")
        note(f"rerunning: sitcli {' '.join(argv)}", quiet)
        proc = subprocess.run([sys.executable, "-m", "sitcli", *argv], cwd=m.get("cwd"),
                              env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            why = f"; inputs changed: {'; '.join(changed)}" if changed else ""
            raise RuntimeFailure(f"run {m['id']}: the rerun failed (exit {proc.returncode}: "
                                 f"{last}){why}")
        same, differ = runs.compare_outputs(m, produced)
    if not differ:
        typer.echo(f"reproduced bit for bit: {_files(len(same))} identical "
                   f"({', '.join(same)})")
        for text in changed:
            typer.echo(f"note: {text}, yet the outputs are the same")
        return
    typer.echo(f"not reproduced: {', '.join(differ)} differ"
               + (f" ({_files(len(same))} identical: {', '.join(same)})" if same else ""))
    if changed:
        for text in changed:
            typer.echo(f"input changed: {text}")
    else:
        typer.echo("no recorded input changed (data files, config files, named files and the "
                   "sitcli version are as recorded)")
    raise typer.Exit(1)


def _stat_table(manifests: list[dict]) -> list[dict]:
    """A row per statistic, a column per run and label (backtest: each run's symbols/grid
    labels; sweep: its best combinations; scenario: symbol x leverage x horizon)."""
    from sitcli.cli.backtest import SPAN_TITLES, STAT_TITLES

    titles = {"leverage": "Leverage", **STAT_TITLES, **SPAN_TITLES, "ruined": "Ruined"}

    columns: dict[str, dict] = {}
    several = len(manifests) > 1
    for tag, m in zip("AB", manifests, strict=False):
        for label, row in _labelled(m):
            columns[f"{tag} {label}" if several else label] = row
    if not columns:
        return []
    keys = [k for k in dict.fromkeys(k for row in columns.values() for k in row)
            if k not in ("symbol", "label", "combination", "span_first", "span_last",
                         "stats_note")]
    keys = sorted(keys, key=lambda k: (k not in SHOWN_STATS, SHOWN_STATS.index(k)
                                       if k in SHOWN_STATS else 0))
    return [{"stat": titles.get(k, k), **{c: row.get(k) for c, row in columns.items()}}
            for k in keys]


def _labelled(m: dict) -> list[tuple[str, dict]]:
    results = m.get("results", {})
    if "stats" in results:                       # backtest: per run, plus ALL
        rows = list(results["stats"].items())
        if len(rows) > 1 and results.get("aggregate"):
            rows += [(r["label"], {k: v for k, v in r.items() if k != "label"})
                     for r in results["aggregate"]]
        return rows[:8]
    if "top" in results:                         # sweep: its best combinations
        return [(r.get("label") or f"#{i + 1}", r) for i, r in enumerate(results["top"][:3])]
    if "rows" in results:                        # scenario
        return [(f"{r['symbol']} {r['leverage']:g}x {r['horizon']}b", r)
                for r in results["rows"][:6]]
    return []


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"
