"""`sitcli sit build|curve|index|hedge`: the synthetic SIT index, its futures and the hedge experiment."""

from __future__ import annotations

from typing import Annotated

import typer

from sitcli.cli.options import DataDirOpt, DebugOpt, Format, FormatOpt, QuietOpt

sit_app = typer.Typer(help="The synthetic Standard Inference Token: index, futures curve, hedge experiment.",
                      no_args_is_help=True, rich_markup_mode=None)

SYNTHETIC_BANNER = "SYNTHETIC: simulated from the SIT paper's price model, not market prices."

ScenarioOpt = Annotated[str, typer.Option("--scenario", help="Scenario in datasets/sit/scenarios.toml: "
                                          "baseline, demand-explosion or tech-progress.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the simulated path.")]


def register(app: typer.Typer) -> None:
    app.add_typer(sit_app, name="sit")


@sit_app.command("build")
def build(
    scenario: ScenarioOpt = "baseline",
    start: Annotated[str, typer.Option("--start", help="First day and model origin, YYYY-MM-DD (UTC).")]
        = "2026-01-01",
    end: Annotated[str, typer.Option("--end", help="Last day, YYYY-MM-DD (UTC).")] = "2028-12-31",
    freq: Annotated[str, typer.Option("--freq", help="Bar size: 1d or 1h.")] = "1d",
    seed: SeedOpt = 7,
    scheme: Annotated[str, typer.Option("--scheme", help="exact (the model's exact transition) or "
                                        "euler (the paper's scheme).")] = "exact",
    data_dir: DataDirOpt = None,
    fmt: FormatOpt = Format.table,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Simulate the SIT index and its listed futures and write them into the local store.

    Writes SIT (the spot index, every day) and SIT-F1..SIT-F10 (the futures by listing
    position, Mon-Fri, on the $0.01 tick with the daily limits applied) under source "sit",
    marked synthetic, so backtest, scenario and data show can use them.

    Example: sitcli sit build --scenario demand-explosion --start 2026-01-01 --end 2028-12-31 --seed 7
    """
    from sitcli.cli.render import emit
    from sitcli.data.store import Store, default_data_dir, fmt_time
    from sitcli.sit.build import build as run_build
    from sitcli.sit.build import parse_day

    store = Store(default_data_dir(data_dir))
    summary = run_build(store, scenario, parse_day(start, "--start"), parse_day(end, "--end"), freq, seed,
                        scheme)
    rows = [{**r, "first": fmt_time(r["first"]), "last": fmt_time(r["last"])} for r in summary["series"]]
    if fmt == Format.table:
        print(SYNTHETIC_BANNER)
        print(f"stored under source sit, note \"{summary['note']}\"")
    title = f"sit build: {summary['start']}..{summary['end']}, {freq} bars"
    emit(fmt, summary, rows, ["symbol", "bars", "first", "last", "last_close", "limit_bars",
                              "locked_bars"], title=title)


@sit_app.command("curve")
def curve(
    asof: Annotated[str, typer.Option("--asof", help="Valuation day, YYYY-MM-DD: the curve at its close.",
                                      show_default=False)],
    scenario: ScenarioOpt = "baseline",
    seed: SeedOpt = 7,
    origin: Annotated[str, typer.Option("--origin", help="Model origin (day 0 of the simulated path).")]
        = "2026-01-01",
    from_store: Annotated[bool, typer.Option("--from-store", help="Use the index written by "
                                             "\"sitcli sit build\" (its scenario, seed and origin) "
                                             "instead of simulating.")] = False,
    data_dir: DataDirOpt = None,
    fmt: FormatOpt = Format.table,
    debug: DebugOpt = False,
) -> None:
    """The futures curve on a day: each listed contract, its last trading day, days to expiry,
    price (closed form F(t,T) on the $0.01 tick) and initial and maintenance margin rates.

    Without --from-store the index path is simulated from --origin with --scenario and --seed
    (the same path "sit build --start ORIGIN --seed N" stores).

    Example: sitcli sit curve --asof 2026-06-30 --scenario demand-explosion
    """
    from sitcli.cli.render import emit
    from sitcli.sit.build import parse_day, simulated_curve, stored_curve

    day = parse_day(asof, "--asof")
    if from_store:
        from sitcli.data.store import Store, default_data_dir

        result = stored_curve(Store(default_data_dir(data_dir)), day)
    else:
        result = simulated_curve(scenario, parse_day(origin, "--origin"), day, seed)
    if fmt == Format.table:
        print(SYNTHETIC_BANNER)
    title = (f"SIT futures curve at the close of {day}: index {result['index']:.4f} $/M SIT, "
             f"scenario {result['scenario']}, seed {result['seed']}, origin {result['origin']}")
    columns = ["contract", "kind", "last_trade", "days_to_expiry", "price", "vol_20d", "vol_basis",
               "initial_margin", "maintenance_margin"]
    emit(fmt, result, result["contracts"], columns, title=title)


# ---------------------------------------------------------------- index and hedge

@sit_app.command("index")
def index_command(
    prices: Annotated[str, typer.Argument(help="CSV with columns time,provider,price,volume,score.",
                                          show_default=False)],
    reference_score: Annotated[float | None, typer.Option(
        "--reference-score", help="S_SIT, the capability score of the SIT bar (default 81.6667: the "
                                  "average of MMLU 86, HumanEval 67, GSM8K 92).")] = None,
    cap: Annotated[float, typer.Option("--cap", help="Largest weight of one provider.")] = 0.30,
    fmt: FormatOpt = Format.table,
    debug: DebugOpt = False,
) -> None:
    """The paper's Token Price Index from your provider prices: capability-adjusted prices
    (P * S_SIT / S_i), volume weights capped at 30%, TPI = sum of weight x price per timestamp.

    The paper does not say where the weight above the cap goes; sitcli gives it to the
    uncapped providers in proportion to their volumes, repeated until none exceeds the cap
    (so every timestamp needs at least 4 providers at a 30% cap).

    PRICES.csv: one row per timestamp and provider, header time,provider,price,volume,score:
    time an ISO date, price in $ per million output tokens, volume in any unit shared by all
    rows, score on the reference score's scale; all > 0; lines starting with # are comments.

    Example: sitcli sit index examples/tpi-prices.csv
    """
    from pathlib import Path

    from sitcli.cli.render import print_csv, print_json, print_pairs, print_table
    from sitcli.sit.index import DEFAULT_REFERENCE_SCORE, compute_index, load_prices

    reference = DEFAULT_REFERENCE_SCORE if reference_score is None else reference_score
    records = compute_index(load_prices(Path(prices)), reference_score=reference, cap=cap)
    rule = "excess to uncapped providers pro rata to volume, repeated (sitcli's choice)"
    if fmt == Format.json:
        print_json({"source": Path(prices).name, "reference_score": reference, "cap": cap, "cap_rule": rule,
                    "index": records})
        return
    if fmt == Format.csv:
        rows = [{"time": r["time"], "tpi": r["tpi"], **d} for r in records for d in r["detail"]]
        print_csv(rows, ["time", "tpi", "provider", "raw_price", "score", "adjusted_price", "volume",
                         "volume_share", "weight", "capped"])
        return
    print_pairs({"source": Path(prices).name, "reference score S_SIT": f"{reference:.4f}",
                 "weights": f"volume shares, each at most {cap:.0%}; {rule}",
                 "prices": "raw price x S_SIT / provider score ($/M SIT)"},
                title="Token Price Index (TPI)")
    print_table([{"time": r["time"], "TPI ($/M SIT)": r["tpi"], "providers": r["providers"],
                  "capped": ", ".join(r["capped"]) or "-"} for r in records], title="Index")
    providers = sorted({d["provider"] for r in records for d in r["detail"]})
    for title, key, scale in (("Effective weights (%)", "weight", 100.0),
                              ("SIT-equivalent prices ($/M SIT)", "adjusted_price", 1.0)):
        rows = [{"time": r["time"], **{p: None for p in providers},
                 **{d["provider"]: d[key] * scale for d in r["detail"]}} for r in records]
        print_table(rows, ["time", *providers], title=title)


HEDGE_ROWS = (
    ("std_unhedged", "unhedged cost std ($/M SIT)", "money"),
    ("std_hedged", "hedged cost std ($/M SIT)", "money"),
    ("var_unhedged", "unhedged cost variance", "var"),
    ("var_hedged", "hedged cost variance", "var"),
    ("hedge_ratio", "hedge ratio h*", "ratio"),
    ("rho", "correlation rho", "ratio"),
    ("rho_squared", "rho^2", "pct"),
    ("variance_reduction", "variance reduction E = 1 - Var_h/Var_u", "pct"),
    ("std_reduction", "std reduction 1 - std_h/std_u", "pct"),
)


def _hedge_cell(value, kind: str) -> str:
    if value is None or value != value:   # missing or NaN (too few paths for batch means)
        return "-"
    if kind == "pct":
        return f"{100 * value:.1f}%"
    if kind == "var":
        return f"{value:.4f}"
    if kind == "money":
        return f"{value:.2f}" if value >= 1 else f"{value:.3f}"
    return f"{value:.3f}"


def _paper_cell(paper: dict, key: str, kind: str) -> str:
    if key in paper:
        return _hedge_cell(paper[key], kind) if kind != "money" else f"{paper[key]:.2f}"
    implied = paper.get("implied", {})
    if key in implied:
        return f"{_hedge_cell(implied[key], kind)} (implied)"
    return "-"


@sit_app.command("hedge")
def hedge_command(
    scenario: Annotated[str, typer.Option("--scenario", help="A scenario of datasets/sit/scenarios.toml, "
                                                             "or all.")] = "all",
    paths: Annotated[int, typer.Option("--paths", help="Simulated paths per scenario.")] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed (the same seed gives the same output).")] = 7,
    horizon: Annotated[str, typer.Option("--horizon", help="Procurement horizon: monthly purchases "
                                                           "over e.g. 12m, 18m or 2y.")] = "12m",
    fmt: FormatOpt = Format.table,
    debug: DebugOpt = False,
) -> None:
    """The paper's hedge experiment: an AI application company buys inference every month for
    the horizon and hedges with a strip of monthly SIT futures bought today at the model's
    price F(0,T), cash-settled to the index. Its price differs from the index by a basis
    (datasets/sit/hedge.toml). Prints the cost's std and variance unhedged and hedged at the
    minimum-variance ratio h*, the correlation, and both the variance and the std reduction,
    beside the paper's published numbers.

    Example: sitcli sit hedge --scenario baseline --paths 10000 --seed 7
    """
    from sitcli.cli.render import print_json, print_pairs, print_table
    from sitcli.errors import BadInput
    from sitcli.sit.hedge import load_basis, parse_horizon, run_scenario
    from sitcli.sit.model import scenario_names

    months = parse_horizon(horizon)
    if paths <= 0:
        raise BadInput(f"--paths {paths}: must be a positive number of paths, e.g. --paths 10000")
    names = scenario_names()
    if scenario != "all" and scenario not in names:
        raise BadInput(f"unknown scenario {scenario!r}; choose one of {', '.join(names)} or all")
    chosen = names if scenario == "all" else [scenario]
    basis = load_basis()
    results = [run_scenario(name, paths, seed, months, basis) for name in chosen]
    assumptions = {
        "procurement": f"equal purchases at each of {months} month ends; cost = average price paid, $/M SIT",
        "company price": "settlement index x exp(basis)",
        "basis": f"log basis a monthly AR(1), zero today, long-run std {basis.sigma:g}, half-life "
                 f"{basis.half_life_months:g} months, independent of the index",
        "hedge": "a strip of monthly futures bought today at F(0,T) (closed form), cash-settled to the index",
        "hedge ratio": "h* = Cov(cost, strip payoff) / Var(strip payoff) from the sample (Prop. 6.1)",
        "paths, seed": f"{paths:,} per scenario, seed {seed}; index stepped exactly at monthly steps",
    }
    if fmt == Format.json:
        print_json({"assumptions": assumptions, "scenarios": results})
        return
    if fmt == Format.csv:
        from sitcli.cli.render import print_csv

        keys = [k for k, _, _ in HEDGE_ROWS]
        print_csv([{"scenario": r["scenario"], **{k: r[k] for k in keys},
                    "variance_reduction_stderr": r["variance_reduction_stderr"],
                    "variance_reduction_out_of_sample": r["out_of_sample"]["variance_reduction"],
                    "paper_variance_reduction": r["paper"].get("variance_reduction")} for r in results])
        return
    print(SYNTHETIC_BANNER)
    print_pairs(assumptions, title="SIT hedge experiment")
    for r in results:
        paper = r["paper"]
        rows = [{"metric": label, "sitcli": _hedge_cell(r[key], kind), "paper": _paper_cell(paper, key, kind)}
                for key, label, kind in HEDGE_ROWS]
        oos = r["out_of_sample"]
        rows.append({"metric": "E out of sample (h* from the other half)",
                     "sitcli": f"{100 * oos['variance_reduction']:.1f}% (that half's rho^2 "
                               f"{100 * oos['rho_squared']:.1f}%)",
                     "paper": "-"})
        rows.append({"metric": "Monte Carlo std error of E",
                     "sitcli": _hedge_cell(r["variance_reduction_stderr"], "pct"), "paper": "-"})
        rows.append({"metric": "mean cost unhedged / hedged ($/M SIT)",
                     "sitcli": f"{r['mean_unhedged']:.3f} / {r['mean_hedged']:.3f}", "paper": "-"})
        case = f" = the paper's {paper['case']}" if paper else ""
        print_table(rows, ["metric", "sitcli", "paper"], title=f"{r['scenario']}{case}, {months}-month cost")
