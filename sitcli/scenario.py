"""Liquidation probabilities by leverage x horizon, from a symbol's own history.

`historical`: every bar of the stored data is a start; a position opened at its close is
followed over the next `horizon` bars with the engine's liquidation price for the venue.
`bootstrap`: the same on `paths` block-bootstrapped paths built from the symbol's own bars
(each bar's open/high/low/close shape relative to the previous close), seeded.
`jump-diffusion`: paths from a jump-diffusion fitted to the symbol's close-to-close log
returns (jumps: moves beyond 4 standard deviations of the rest), seeded.

`--detail TIMEFRAME` (historical): inside each bar that has stored finer bars, the first
passage is decided on them in order (`first_passage_nb`'s walk), so a gap at a finer bar's
open through the liquidation price fills there; bars without finer bars keep the bar rule,
and the run counts both.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sitcli.errors import BadInput
from sitcli.liquidation import DEFAULT_CASH

METHODS = ("historical", "bootstrap", "jump-diffusion")


def parse_positive_list(text: str, flag: str, kind=float) -> list:
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise BadInput(f"{flag} {text!r}: expected a comma-separated list, e.g. {flag} 5,20,50") from None
    if not values or any(not (v > 0 and math.isfinite(v)) for v in values):
        raise BadInput(f"{flag} {text!r}: every value must be > 0")
    return values


def lp_ratio(side: int, leverage: float, venue, cash: float = DEFAULT_CASH) -> float:
    """Liquidation (or close-out) price over entry of the position `backtest` and
    `liquidation` open at `leverage` from an account of `cash`: the engine's opening rule
    (fee on top of the margin, notional cut to the brackets) and its trigger."""
    from sitcli.liquidation import build_position, position_liquidation_price

    try:
        pos = build_position("long" if side > 0 else "short", 1.0, leverage, venue, cash=cash,
                             allow_above_cap=True)
    except BadInput:
        return math.nan   # maintenance above 1/leverage: liquidated as soon as it opens
    return position_liquidation_price(pos)


def liquidation_rom(side: int, leverage: float, venue) -> float:
    """Return on margin of a position liquidated at its trigger, by the calculator's exit
    rule (`liquidation.exit_pnl`): a perpetual loses its margin and entry fee, a CFD keeps
    what equity is left after the close-out's costs."""
    from sitcli.liquidation import build_position, exit_pnl, position_liquidation_price

    pos = build_position("long" if side > 0 else "short", 1.0, leverage, venue, qty=1.0,
                         allow_above_cap=True)
    return exit_pnl(pos, position_liquidation_price(pos), True) / pos.initial_margin


def cap_notes(leverages: list[float], venue) -> list[str | None]:
    """Per leverage, why the venue would refuse it (`instruments.check_leverage`, the check
    `backtest` and `liquidation` refuse by), or None. Scenario rows above a cap are still
    computed, as if the venue allowed them, and flagged."""
    from sitcli.instruments import check_leverage

    notes = []
    for lev in leverages:
        try:
            check_leverage(lev, venue, False)
            notes.append(None)
        except BadInput as exc:
            notes.append(str(exc).split(";")[0])
    return notes


def _passage_args(side: int, leverages: list[float], venue, cash: float) -> tuple:
    """first_passage_nb's venue arguments: liquidation-price ratios, leverages and the exit
    rule, from the same opening and trigger rules `backtest` and `liquidation` use."""
    from sitcli.engine.margin import LIQUIDATION_RULES, exit_rule_of

    ratios = np.array([lp_ratio(side, lev, venue, cash) for lev in leverages])
    return (ratios, np.asarray(leverages, np.float64), float(venue.fee),
            float(venue.liquidation_fee),
            exit_rule_of(venue.margin_mode == "account",
                         LIQUIDATION_RULES.index(venue.liquidation_rule)),
            bool(venue.negative_balance_protection))


def historical(bars: pd.DataFrame, venue, leverages: list[float], horizons: list[int],
               side: int, event_starts=None, carry: float = 0.0,
               cash: float = DEFAULT_CASH, fine=None, mark=None) -> list[dict]:
    """Every bar a start, or only `event_starts` (the bar before each event's first open).
    `fine`: (open, high, low, fine_start) finer bars for `--detail` (`detail_arrays`); each
    row then also says how many of the bars it walked had finer bars, and the plain rule's
    P(liquidation) beside its own. `mark` (4, n): the open, high and low the liquidation is
    checked on (a perpetual's mark price, `sitcli.mark.align`); entries and exits stay at the
    last price's closes."""
    from sitcli.engine.paths import first_passage_nb

    n = len(bars)
    if max(horizons) >= n:
        raise BadInput(f"--horizon {max(horizons)} is as long as the data ({n} bars); use a "
                       "shorter horizon or more data")
    arrays = [bars[c].to_numpy(np.float64) for c in ("open", "high", "low", "close")]
    if mark is not None:
        arrays[:3] = [np.ascontiguousarray(mark[k]) for k in range(3)]
    venue_args = _passage_args(side, leverages, venue, cash)
    rows = []
    for h in horizons:
        starts = np.arange(0, n - h, dtype=np.int64)
        if event_starts is not None:
            starts = np.asarray([t for t in event_starts if 0 <= t < n - h], np.int64)
            if not len(starts):
                raise BadInput("no catalyst falls inside the data with a full horizon after it; "
                               "use more data or drop --at-events")
        if fine is None:
            bars_to, rom, gap = first_passage_nb(*arrays, starts, int(h), side, *venue_args,
                                                 *_NO_FINE)
            rows.extend(_summarise(leverages, h, venue_args[0], bars_to, rom, gap, carry))
            continue
        plain_to, _, _ = first_passage_nb(*arrays, starts, int(h), side, *venue_args,
                                          *_NO_FINE)
        bars_to, rom, gap = first_passage_nb(*arrays, starts, int(h), side, *venue_args, *fine)
        got = _summarise(leverages, h, venue_args[0], bars_to, rom, gap, carry)
        covered = np.concatenate([[0], np.cumsum(np.diff(fine[3]) > 0)])
        for j, row in enumerate(got):
            # the bars each start walked: up to its liquidation, else the whole horizon
            walked = np.where(bars_to[:, j] > 0, bars_to[:, j], h)
            row["bars_walked"] = int(walked.sum())
            row["bars_walked_with_detail"] = int(
                (covered[starts + 1 + walked] - covered[starts + 1]).sum())
            row["p_liquidation_pct_plain"] = 100 * float((plain_to[:, j] > 0).mean())
            row["starts_changed"] = int((plain_to[:, j] != bars_to[:, j]).sum())
        rows.extend(got)
    return rows


_NO_FINE = (np.empty(0), np.empty(0), np.empty(0), np.empty(0, np.int64))


def detail_arrays(store, symbol: str, bars: pd.DataFrame, venue, opens, closes,
                  timeframe: str, detail: str):
    """`first_passage_nb`'s finer bars for one symbol's `bars`: `detail.load_detail`'s
    alignment (the instrument's sessions, pre- and after-hours left out). Returns
    ((open, high, low, fine_start), Detail)."""
    from types import SimpleNamespace

    from sitcli.detail import load_detail

    leg = SimpleNamespace(symbol=symbol, bars=bars, venue=venue, open_times=opens,
                          close_times=closes)
    cfg = SimpleNamespace(detail=detail, timeframe=timeframe)
    (fo, fh, fl, _, start, _), info = load_detail(cfg, [leg], bars.index, store)
    return (np.ascontiguousarray(fo[:, 0]), np.ascontiguousarray(fh[:, 0]),
            np.ascontiguousarray(fl[:, 0]), np.ascontiguousarray(start[:, 0])), info


def bootstrap(bars: pd.DataFrame, venue, leverages: list[float], horizons: list[int],
              side: int, paths: int, seed: int, block: int = 5, carry: float = 0.0,
              progress=None, cash: float = DEFAULT_CASH) -> list[dict]:
    from sitcli.engine.paths import bootstrap_paths_nb

    if paths <= 0:
        raise BadInput(f"--paths {paths}: give a positive number of paths, e.g. --paths 10000")
    if len(bars) < block + 2:
        raise BadInput(f"{len(bars)} bars are too few to bootstrap blocks of {block}")
    arrays = [bars[c].to_numpy(np.float64) for c in ("open", "high", "low", "close")]
    simulated = _in_chunks(lambda n, first: bootstrap_paths_nb(
        *arrays, n, int(max(horizons)), block, int(seed), first), int(paths), progress)
    return _path_rows(simulated, venue, leverages, horizons, side, carry, cash)


def _path_rows(simulated, venue, leverages, horizons, side: int, carry: float,
               cash: float) -> list[dict]:
    """First passage from the start of every simulated path, summarised per horizon."""
    from sitcli.engine.paths import paths_first_passage_nb

    venue_args = _passage_args(side, leverages, venue, cash)
    rows = []
    for h in horizons:
        bars_to, rom, gap = paths_first_passage_nb(*simulated, int(h), side, *venue_args)
        rows.extend(_summarise(leverages, h, venue_args[0], bars_to, rom, gap, carry))
    return rows


def _in_chunks(simulate, paths: int, progress, chunk: int = 2_000):
    """Simulate in chunks so a progress bar can move; seeds follow the global path number,
    so the paths are the same however they are split."""
    parts = []
    for first in range(0, paths, chunk):
        parts.append(simulate(min(chunk, paths - first), first))
        if progress:
            progress(min(first + chunk, paths), paths)
    return [np.concatenate([p[i] for p in parts]) for i in range(4)]


def fit_jump_diffusion(bars: pd.DataFrame) -> dict:
    """Per-bar drift, volatility, jump intensity and jump size of log close-to-close returns.
    Jumps are the returns beyond 4 standard deviations of the others (found iteratively)."""
    r = np.diff(np.log(bars["close"].to_numpy(np.float64)))
    if len(r) < 20:
        raise BadInput(f"{len(r) + 1} bars are too few to fit a jump-diffusion; use more data")
    jumps = np.zeros(len(r), bool)
    for _ in range(10):
        body = r[~jumps]
        found = np.abs(r - body.mean()) > 4 * body.std()
        if (found == jumps).all():
            break
        jumps = found
    body, big = r[~jumps], r[jumps]
    lam = len(big) / len(r)
    mu_j = float(big.mean()) if len(big) >= 2 else 0.0
    sigma_j = float(big.std()) if len(big) >= 2 else 0.0
    return {"mu": float(r.mean() - lam * mu_j), "sigma": float(body.std()),
            "lam": lam if len(big) >= 2 else 0.0, "mu_j": mu_j, "sigma_j": sigma_j,
            "jumps": int(len(big)), "returns": int(len(r))}


def jump_diffusion(bars: pd.DataFrame, venue, leverages: list[float], horizons: list[int],
                   side: int, paths: int, seed: int, gap_open: bool, substeps: int = 24,
                   carry: float = 0.0, progress=None, cash: float = DEFAULT_CASH):
    from sitcli.engine.paths import jump_diffusion_paths_nb

    if paths <= 0:
        raise BadInput(f"--paths {paths}: give a positive number of paths, e.g. --paths 10000")
    fit = fit_jump_diffusion(bars)
    simulated = _in_chunks(lambda n, first: jump_diffusion_paths_nb(
        n, int(max(horizons)), substeps, fit["mu"], fit["sigma"], fit["lam"], fit["mu_j"],
        fit["sigma_j"], int(seed), gap_open, first), int(paths), progress)
    return _path_rows(simulated, venue, leverages, horizons, side, carry, cash), fit


def _summarise(leverages, h, ratios, bars_to, rom, gap, carry=0.0) -> list[dict]:
    """One row per leverage: probability, timing and size of the outcomes at horizon h, with
    `carry` (cost per bar held, fraction of notional) taken off the return on margin."""
    rows = []
    for j, lev in enumerate(leverages):
        held = np.where(bars_to[:, j] > 0, bars_to[:, j], h)
        # carry comes out of the margin: it cannot take a position below losing all of it
        rom[:, j] = np.maximum(rom[:, j] - carry * lev * held, np.minimum(rom[:, j], -1.0))
        hit = bars_to[:, j] > 0
        rows.append({
            "leverage": lev, "horizon": int(h), "starts": int(len(rom)),
            "liquidation_price_move_pct": 0.0 if math.isnan(ratios[j]) else 100 * (ratios[j] - 1),
            "p_liquidation_pct": 100 * float(hit.mean()),
            "median_bars_to_liquidation": float(np.median(bars_to[hit, j])) if hit.any()
            else math.nan,
            "carry_per_bar_pct_of_margin": 100 * carry * lev,
            "expected_return_on_margin_pct": 100 * float(rom[:, j].mean()),
            "p99_loss_on_margin_pct": 100 * float(np.percentile(rom[:, j], 1)),
            "worst_gap_loss_pct": 100 * float(gap[:, j].max()),
            "returns": rom[:, j],   # for the loss-distribution plot; not printed
        })
    return rows


COMPARED_VENUES = ("perp-isolated", "cfd-offshore", "cfd-retail")


def event_starts(bars: pd.DataFrame, instrument, timeframe: str, events) -> list[int]:
    """Bars whose close is the last before a catalyst relevant to the instrument reaches it:
    a position opened there holds through the news."""
    from sitcli.bars import bar_times
    from sitcli.events import fill_bars, filter_events, known_times

    mine = known_times(filter_events(events, symbol=instrument.symbol))
    opens, _ = bar_times(bars.index, instrument, timeframe)
    return sorted({int(j) - 1 for j in fill_bars(opens, mine["time"]) if 1 <= j < len(bars)})


def _sample_warning(starts) -> str | None:
    """`--at-events` figures resting on fewer catalysts than the event study trusts."""
    from sitcli.eventstudy import MIN_EVENTS

    if starts is None or len(starts) >= MIN_EVENTS:
        return None
    return (f"only {len(starts)} catalyst starts: fewer than {MIN_EVENTS}, too few for these "
            "probabilities to mean much")


def run(store, symbols: list[str], leverages, horizons, side: str, venue_name: str | None,
        method: str, timeframe: str = "1d", overrides: dict | None = None, paths: int = 10_000,
        seed: int = 7, compare_venues: bool = False, events=None, progress=None,
        cash: float = DEFAULT_CASH, detail: str | None = None) -> dict:
    """Results keyed by symbol (or "symbol @ venue" with compare_venues). `events` (a
    calendar frame) restricts historical starts to the bars before catalysts. Each position
    opens from an account of `cash`, as `backtest` opens it (its size picks the bracket).
    `detail`: walk the stored finer bars of that timeframe inside each bar (historical)."""
    from sitcli import instruments
    from sitcli.backtest import read_bars
    from sitcli.bars import bar_times, carry_per_bar
    from sitcli.tiers import venue_for

    if method not in METHODS:
        raise BadInput(f"--method {method}: use historical, bootstrap or jump-diffusion")
    if side not in ("long", "short"):
        raise BadInput(f"--side {side!r}: use long or short")
    if events is not None and method != "historical":
        raise BadInput("--at-events starts at the catalysts of the real history: use it with "
                       "--method historical")
    if detail is not None and method != "historical":
        raise BadInput(f"--detail {detail}: walks the stored finer bars of the real history; "
                       "use it with --method historical")
    s = 1 if side == "long" else -1
    out = {}
    for symbol in symbols:
        bars = read_bars(store, symbol, timeframe)
        inst = instruments.instrument(symbol)   # after the read: no fallback warning first
        meta = bars.attrs.get("sitcli", {})
        starts = None if events is None else event_starts(bars, inst, timeframe, events)
        opens, closes = bar_times(bars.index, inst, timeframe)
        if method == "historical":
            starts_text = "every bar" if starts is None else f"{len(starts)} catalysts"
        else:
            starts_text = f"{paths:,} simulated paths, seed {seed}"
        names = COMPARED_VENUES if compare_venues else (venue_name or inst.venue,)
        fine = fine_info = None
        for name in names:
            venue = venue_for(symbol, name, overrides, bars.index[0], store.root)
            instruments.check_engine_rule(venue)
            notes = cap_notes(leverages, venue)
            key = f"{symbol} @ {venue.name}" if compare_venues else symbol
            info = out[key] = {
                "symbol": symbol, "venue": venue.name, "margin_mode": venue.margin_mode,
                "tiers": venue.tiers.name if venue.margin_mode != "account" else None,
                "venue_leverage_cap": venue.max_leverage,
                "first": bars.index[0], "last": bars.index[-1], "bars": len(bars),
                "synthetic": bool(meta.get("synthetic")), "source": str(meta.get("source", "?")),
                "starts": starts_text, "cash": cash,
                "sample_warning": _sample_warning(starts),
                "above_cap": [n for n in notes if n],
                "liquidation_price_basis": None,   # set when mark bars are stored
            }
            carry = carry_per_bar(s, venue, opens, closes, timeframe, store.root)
            if detail is not None and fine is None:
                fine, fine_info = detail_arrays(store, symbol, bars, venue, opens, closes,
                                                timeframe, detail)
            if fine_info is not None:
                info["detail"] = {"timeframe": detail, "fine_bars": fine_info.fine_rows,
                                  "bars_with_detail": int((np.diff(fine[3]) > 0).sum()),
                                  "fine_bars_outside_sessions":
                                      fine_info.outside.get(symbol, 0)}
            mark = None
            if venue.margin_mode == "isolated":
                from sitcli import mark as mark_mod

                stored = mark_mod.read_mark(store, symbol, timeframe)
                mark, covered = mark_mod.align(bars, stored)
                if covered:
                    info["liquidation_price_basis"] = mark_mod.note(
                        symbol, timeframe, covered, len(bars), True).split(": ", 1)[1]
                    if method != "historical":
                        info["liquidation_price_basis"] = ("last price: simulated paths are "
                                                           "built from last-price bars")
                        mark = None
                else:
                    mark = None
            if method == "historical":
                info["rows"] = historical(bars, venue, leverages, horizons, s, starts, carry,
                                          cash, fine, mark)
            elif method == "bootstrap":
                info["rows"] = bootstrap(bars, venue, leverages, horizons, s, paths, seed,
                                         carry=carry, progress=progress, cash=cash)
            else:
                rows, fit = jump_diffusion(bars, venue, leverages, horizons, s, paths, seed,
                                           gap_open=not inst.is_24_7, carry=carry,
                                           progress=progress, cash=cash)
                info.update(rows=rows, fitted=fit)
            for row in info["rows"]:
                row["above_venue_cap"] = notes[leverages.index(row["leverage"])] is not None
    return out
