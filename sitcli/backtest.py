"""The pandas edge of the engine: align data, build arrays, run the kernel, return a Result."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from sitcli import instruments as inst_mod
from sitcli.bars import (
    bar_duration,
    bar_times,
    financing_per_bar,
    financing_rates,
    funding_rates_per_bar,
)
from sitcli.errors import BadInput, DataMissing
from sitcli.result import Result
from sitcli.tiers import venue_for

__all__ = ["bar_duration", "bar_times"]   # re-exported for callers not yet moved to bars


@dataclass
class RunConfig:
    symbols: list[str]
    strategy: str = "catalyst_momentum"
    params: dict = field(default_factory=dict)       # --param strings
    grid: dict = field(default_factory=dict)         # --grid key -> list of value strings
    leverage: float | None = None                    # None: each venue's default
    venue: str | None = None                         # None: each instrument's venue
    overrides: dict = field(default_factory=dict)    # --set venue fields
    cash: float = 10_000.0
    size: float | None = None                        # None: 1 per account, 1/n when shared
    account: str = "isolated"                        # "isolated" per symbol, or "shared"
    cfd_hours: str | None = None                     # "session" or "24/7"; None: the venue's
    start: str | None = None
    end: str | None = None
    timeframe: str = "1d"
    fill: str = "open"                               # "open": next bar's open; "close": same close
    take_first: bool = False
    allow_above_cap: bool = False
    tiers_asof: str | None = None    # the date whose tier snapshot applies (None: the first bar)
    detail: str | None = None                        # --detail: finer bars walked inside a bar
    on_ruin: str = "stop"          # "topup": refill a wiped-out account to `cash` (kernel rule)
    ruin_level: float = 0.01       # wiped out: flat with equity <= ruin_level x cash


@dataclass
class Run:
    """One column of the kernel: a symbol under one combination of the grid."""
    symbol: str
    leg: int            # index into Result.legs
    combo: int          # index into Result.combos
    account: int


@dataclass
class Leg:
    """One symbol's prepared inputs."""
    symbol: str
    instrument: inst_mod.Instrument
    venue: inst_mod.Venue
    bars: pd.DataFrame
    synthetic: bool          # its own bars, or a series its strategy reads, are generated
    source: str
    open_times: pd.DatetimeIndex = None
    close_times: pd.DatetimeIndex = None
    generated: list = field(default_factory=list)   # (symbol, source, what) of generated series
    notes: list = field(default_factory=list)       # what the run header must say about it


def parse_date(text: str | None, flag: str):
    if text is None:
        return None
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        raise BadInput(f"{flag} {text!r} is not a date; use YYYY-MM-DD") from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def read_bars(store, symbol: str, timeframe: str = "1d", start=None, end=None) -> pd.DataFrame:
    """A symbol's stored bars. No data for a symbol sitcli does not know is a bad symbol
    (exit 2), not missing data (exit 3)."""
    try:
        return store.read(symbol, timeframe, start=start, end=end)
    except DataMissing:
        if not inst_mod.is_listed(symbol) and not store.sources_for(symbol, timeframe):
            raise BadInput(f"unknown symbol {symbol!r}: not in instruments.toml and not in "
                           f"{store.root}; check the spelling or import its data with "
                           f"`sitcli data import FILE --symbol {symbol}`") from None
        raise


def load_legs(cfg: RunConfig, store) -> list[Leg]:
    start, end = parse_date(cfg.start, "--start"), parse_date(cfg.end, "--end")
    if start is not None and end is not None and start > end:
        raise BadInput(f"--start {cfg.start} is after --end {cfg.end}; swap them")
    if not cfg.symbols:
        raise BadInput("no symbols: pass --symbols NVDA,AMD or use --demo")
    if len(set(cfg.symbols)) != len(cfg.symbols):
        raise BadInput(f"--symbols {','.join(cfg.symbols)}: a symbol is listed twice")
    legs = []
    for symbol in cfg.symbols:
        bars = read_bars(store, symbol, cfg.timeframe, start, end)
        instrument = inst_mod.instrument(symbol)   # after the read: no fallback warning first
        if len(bars) < 2:
            raise DataMissing(f"{symbol}: only {len(bars)} bar(s) between {cfg.start or 'start'} "
                              f"and {cfg.end or 'end'}; widen the range or pull more data")
        # the symbol's own brackets from the tier snapshot nearest its first bar
        # windows of one study (walk-forward, PBO blocks) keep the study's venue rules
        when = bars.index[0] if cfg.tiers_asof is None else cfg.tiers_asof
        venue = venue_for(symbol, cfg.venue, cfg.overrides, when, store.root)
        inst_mod.check_engine_rule(venue)
        meta = bars.attrs.get("sitcli", {})
        hours = cfg.cfd_hours or venue.cfd_hours
        timing = instrument if hours == "session" else replace(instrument, calendar="24/7")
        opens, closes = bar_times(bars.index, timing, cfg.timeframe)
        synthetic = bool(meta.get("synthetic"))
        source = str(meta.get("source", "?"))
        leg = Leg(symbol, instrument, venue, bars, synthetic, source, opens, closes,
                  [(symbol, source, "")] if synthetic else [])
        if venue.margin_mode != "account":
            leg.notes.append(f"{symbol}: maintenance tiers {venue.tiers.name}, the snapshot "
                             f"nearest its first bar {bars.index[0]:%Y-%m-%d}")
        if venue.liquidation_rule == "hyperliquid":
            from sitcli.engine.margin import HL_PARTIAL_FRACTION, HL_PARTIAL_THRESHOLD

            leg.notes.append(f"{symbol}: {venue.name} liquidates a position above "
                             f"{HL_PARTIAL_THRESHOLD:,.0f} USDC {HL_PARTIAL_FRACTION:.0%} at a "
                             "time; this backtest closes it whole at the first trigger "
                             f"(`sitcli liquidation --venue {venue.name}` shows the steps)")
        legs.append(leg)
    return legs


GRID_RUN_KEYS = ("leverage", "size")


def expand_grid(cfg: RunConfig, strategy_cls) -> list[dict]:
    """Every combination of the --grid values, each a full parameter dict (strategy and
    engine parameters, plus leverage and size), in the order the keys were given."""
    import itertools

    declared = strategy_cls.all_params()
    for key, values in cfg.grid.items():
        if key not in declared and key not in GRID_RUN_KEYS:
            raise BadInput(f"--grid {key}: not a parameter of {strategy_cls.name}; grid keys are "
                           f"{', '.join([*GRID_RUN_KEYS, *declared])}")
        if not values:
            raise BadInput(f"--grid {key}=: give at least one value, e.g. --grid {key}=1,2")
    base = strategy_cls.resolve(cfg.params)
    keys = list(cfg.grid)
    combos = []
    for values in itertools.product(*(cfg.grid[k] for k in keys)):
        combo = dict(base, leverage=cfg.leverage, size=cfg.size)
        for key, text in zip(keys, values, strict=True):
            combo[key] = _grid_value(key, text, declared, strategy_cls.name)
        combos.append(combo)
    return combos


def _grid_value(key: str, text: str, declared: dict, strategy: str):
    from sitcli.strategy import coerce

    if key in GRID_RUN_KEYS:
        try:
            return float(text)
        except ValueError:
            raise BadInput(f"--grid {key}={text}: expected a number") from None
    return coerce(strategy, key, text, declared)


def parse_grid(pairs: list[str] | None) -> dict[str, list[str]]:
    """--grid key=v1,v2 (repeatable) into {key: [v1, v2]}."""
    grid: dict[str, list[str]] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise BadInput(f"--grid {pair!r}: expected KEY=V1,V2, e.g. --grid leverage=5,20,50")
        key, values = pair.split("=", 1)
        key = key.strip()
        if key in grid:
            raise BadInput(f"--grid {key} is given twice; list all values in one --grid")
        grid[key] = [v.strip() for v in values.split(",") if v.strip()]
    return grid


def event_fill_bars(leg: Leg, events: pd.DataFrame, fill: str) -> np.ndarray:
    """Per event, j such that an order on bar j-1 is the first to act on it: bar j is the
    first to open at or after the event (fill=open), or bar j-1 the first to close at or
    after it (fill=close)."""
    from sitcli.events import fill_bars

    first_open = fill_bars(leg.open_times, events["time"])
    if fill == "open":
        return first_open
    # the same at-or-after rule on closes; n + 1 (no order bar) for news after the last close,
    # and 0 for news at or before the first open, which a fill at the open could not act on
    # either, so that both fills see the same news
    first_close = fill_bars(leg.close_times, events["time"])
    return np.where(first_open == 0, 0, first_close + 1)


def strategy_inputs(strategy_cls, leg: Leg, store, cfg: RunConfig) -> dict:
    """Other symbols' closes a strategy reads, as known at each of this leg's closes. A
    generated input (the simulated SIT) marks the leg synthetic; an input that covers none of
    the leg's bars is missing data, one that covers part of them is said in the header."""
    series = {}
    for symbol in strategy_cls.inputs:
        if symbol == leg.symbol:
            continue
        other = read_bars(store, symbol, cfg.timeframe)
        meta = other.attrs.get("sitcli", {})
        _, other_closes = bar_times(other.index, inst_mod.instrument(symbol), cfg.timeframe)
        known = pd.Series(other["close"].to_numpy(), index=other_closes)
        values = known.reindex(leg.close_times, method="ffill").to_numpy()
        covered = int(np.isfinite(values).sum())
        span = f"{other.index[0]:%Y-%m-%d}..{other.index[-1]:%Y-%m-%d}"
        if covered == 0:
            raise DataMissing(f"{strategy_cls.name} reads {symbol}, whose data ({span}) has no "
                              f"close before {leg.symbol}'s last bar {leg.bars.index[-1]:%Y-%m-%d}; "
                              f"store {symbol} over that span (`sitcli sit build` for SIT)")
        if covered < len(values):
            _add(leg.notes, f"{leg.symbol}: {symbol} ({span}) covers {covered} of its "
                            f"{len(values)} bars; {strategy_cls.name} has no signal before")
        if meta.get("synthetic"):
            leg.synthetic = True
            _add(leg.generated, (symbol, str(meta.get("source", "?")),
                                 f", read by {strategy_cls.name}"))
        series[symbol] = pd.Series(values, index=leg.bars.index)
    return series


def _add(items: list, item) -> None:
    if item not in items:
        items.append(item)


@dataclass
class Prepared:
    """A checked run before the kernel: the kernel's inputs and what maps its columns back."""
    strategy: type
    combos: list[dict]
    legs: list[Leg]
    runs: list[Run]
    index: pd.DatetimeIndex
    kernel_args: tuple      # simulate's (and sweep_nb's leading) positional arguments
    detail: object = None   # sitcli.detail.Detail with --detail
    catalysts: list = None  # per kernel column: {order bar: catalyst} (sitcli.catalysts)


def run_backtest(cfg: RunConfig, store, events) -> Result:
    from sitcli.engine.kernel import simulate_injected

    prep = prepare_backtest(cfg, store, events)
    equity, trades, liqs, injected, tally = simulate_injected(*prep.kernel_args)
    entries, cols = prep.kernel_args[6], prep.kernel_args[8]
    return Result(cfg=cfg, strategy=prep.strategy, combos=prep.combos, legs=prep.legs,
                  runs=prep.runs, index=prep.index, equity=equity, trades=trades,
                  liquidations=liqs, entry_orders=(entries != 0).sum(axis=0)[cols["sig"]],
                  catalysts=prep.catalysts,
                  injected=injected if len(injected) else None, refills=tally[:, 1].astype(np.int64))


def prepare_backtest(cfg: RunConfig, store, events) -> Prepared:
    """Check the run, load its data, compute every signal set and lay out the kernel's
    columns (one per symbol x combination) and accounts."""
    from sitcli.catalysts import named_catalysts
    from sitcli.engine.kernel import DETAIL_ARGS, no_detail
    from sitcli.engine.margin import LIQUIDATION_RULES
    from sitcli.engine.records import CROSS, MARGIN_MODES, account_dt, column_dt
    from sitcli.strategy import Context, check_no_lookahead, load_strategy, run_signals

    if cfg.fill not in ("open", "close"):
        raise BadInput(f"--fill {cfg.fill!r}: use open (next bar's open) or close")
    if cfg.account not in ("isolated", "shared"):
        raise BadInput(f"--account {cfg.account!r}: use isolated (one account per symbol) or "
                       "shared (one account for all symbols)")
    if cfg.cfd_hours not in (None, "session", "24/7"):
        raise BadInput(f"--cfd-hours {cfg.cfd_hours!r}: use session or 24/7")
    if cfg.on_ruin not in ("stop", "topup"):
        raise BadInput(f"--on-ruin {cfg.on_ruin!r}: use stop (a wiped-out account stays so) or "
                       "topup (refill it to --cash and go on, counting the refill as new capital)")
    if not 0 <= cfg.ruin_level < 1:
        raise BadInput(f"--ruin-level {cfg.ruin_level:g}: a fraction of the starting cash in "
                       "[0, 1)")
    from sitcli.domains import check_flags

    check_flags(cash=cfg.cash, size=cfg.size, leverage=cfg.leverage)
    from sitcli.events import known_times

    strategy_cls = load_strategy(cfg.strategy)
    combos = expand_grid(cfg, strategy_cls)
    events = known_times(events)
    legs = load_legs(cfg, store)
    shared = cfg.account == "shared"
    n_legs = len(legs)
    for combo in combos:
        if combo["size"] is None:
            combo["size"] = 1.0 / n_legs if shared else 1.0
        if not 0 < combo["size"] <= 1:
            raise BadInput(f"size {combo['size']:g} must be in (0, 1]: the fraction of free "
                           "collateral committed as margin per trade")
        for leg in legs:
            lev = leg.venue.leverage(combo["leverage"])
            inst_mod.check_leverage(lev, leg.venue, cfg.allow_above_cap)
    if shared:
        rules = {(leg.venue.margin_mode, leg.venue.closeout_level,
                  leg.venue.negative_balance_protection) for leg in legs}
        if len(rules) > 1:
            raise BadInput("--account shared needs one margin model for all symbols, but their "
                           f"venues differ ({', '.join(sorted({leg.venue.name for leg in legs}))}); "
                           "pass one --venue")
        inst_mod.check_engine_rule(legs[0].venue, cross=True)
    step = bar_duration(cfg.timeframe)

    index = legs[0].bars.index
    for leg in legs[1:]:
        index = index.union(leg.bars.index)
    n = len(index)
    prices = {f: np.full((n, n_legs), np.nan) for f in ("open", "high", "low", "close")}
    funding = np.zeros((n, n_legs))
    funding_closed = np.zeros((n, n_legs))
    financing = np.zeros((n, n_legs, 2))
    strategy = strategy_cls()
    signal_keys = [k for k in strategy_cls.params if k not in ENGINE_KEYS]
    sig_index: dict[tuple, int] = {}
    sig_entries, sig_exits, sig_catalysts, run_catalysts = [], [], [], []
    user_file = getattr(strategy_cls, "origin", "").endswith(".py")
    contexts = []
    for j, leg in enumerate(legs):
        rows = index.get_indexer(leg.bars.index)
        for f in prices:
            prices[f][rows, j] = leg.bars[f].to_numpy(np.float64)
        funding[rows, j], funding_closed[rows, j] = funding_rates_per_bar(
            leg.bars, leg.venue, leg.open_times, leg.close_times)
        financing[rows, j], note = financing_per_bar(leg.venue, leg.close_times, step,
                                                     store.root)
        if note:
            _add(leg.notes, f"{leg.symbol}: {note}")
        event_bars = event_fill_bars(leg, events, cfg.fill)
        contexts.append(Context(leg.symbol, leg.instrument.asset_class, leg.open_times,
                                leg.close_times, event_bars,
                                strategy_inputs(strategy_cls, leg, store, cfg)))

    tiers = [leg.venue.tiers for leg in legs]
    width = max(len(t.floor) for t in tiers)
    tier_floor = np.full((n_legs, width), np.inf)
    tier_mmr = np.zeros((n_legs, width))
    tier_cum = np.zeros((n_legs, width))
    tier_maxlev = np.full((n_legs, width), np.inf)
    for j, t in enumerate(tiers):
        m = len(t.floor)
        tier_floor[j, :m] = t.floor
        tier_mmr[j, :m], tier_mmr[j, m:] = t.mmr, t.mmr[-1]
        tier_cum[j, :m], tier_cum[j, m:] = t.cum, t.cum[-1]
        tier_maxlev[j, :m] = t.leverage_limits(cfg.allow_above_cap)

    # the columns' annual rates are for the record: the kernel charges `financing` above
    rates_now = [financing_rates(leg.venue, None, store.root) for leg in legs]
    runs: list[Run] = []
    cols = np.zeros(len(combos) * n_legs, column_dt)
    n_accounts = len(combos) if shared else len(combos) * n_legs
    accounts = np.zeros(n_accounts, account_dt)
    for ci, combo in enumerate(combos):
        for j, leg in enumerate(legs):
            key = (j, *(combo[k] for k in signal_keys))
            if key not in sig_index:
                contexts[j].catalysts = {}
                ent, ex = run_signals(strategy, leg.bars, events, combo, contexts[j])
                sig_catalysts.append(named_catalysts(events, contexts[j].catalysts))
                if user_file:
                    check_no_lookahead(strategy, leg.bars, events, combo, contexts[j], ent, ex,
                                       fill=cfg.fill)
                ent, ex = defer_limit_locked(leg, ent, ex, cfg.fill)
                full_e = np.zeros(n, np.int8)
                full_x = np.zeros(n, bool)
                rows = index.get_indexer(leg.bars.index)
                full_e[rows], full_x[rows] = ent, ex
                sig_index[key] = len(sig_entries)
                sig_entries.append(full_e)
                sig_exits.append(full_x)
            v = leg.venue
            lev = v.leverage(combo["leverage"])
            account = ci if shared else len(runs)
            cols[len(runs)] = (j, sig_index[key], account, j, lev, combo["size"], combo["stop"],
                               combo["take"], int(combo["hold"]), v.fee, v.half_spread,
                               v.slippage, *rates_now[j],
                               v.financing_days, v.liquidation_fee, v.requirement_leverage(lev),
                               LIQUIDATION_RULES.index(v.liquidation_rule))
            mode = MARGIN_MODES[v.margin_mode]
            if shared and mode == MARGIN_MODES["isolated"]:
                mode = CROSS   # one wallet behind every position
            accounts[account] = (cfg.cash, mode, v.closeout_level, v.negative_balance_protection,
                                 cfg.on_ruin == "topup", cfg.ruin_level)
            runs.append(Run(leg.symbol, j, ci, account))
            run_catalysts.append(sig_catalysts[sig_index[key]])

    entries = np.ascontiguousarray(np.stack(sig_entries, axis=1))
    exits = np.ascontiguousarray(np.stack(sig_exits, axis=1))
    # each symbol's run ends at its own last bar (its position is closed there)
    last_bar = np.array([index.get_loc(leg.bars.index[-1]) for leg in legs], np.int64)
    args = (prices["open"], prices["high"], prices["low"], prices["close"], funding, financing,
            entries, exits, cols, accounts, tier_floor, tier_mmr, tier_cum, tier_maxlev,
            cfg.fill == "close", cfg.take_first, last_bar, funding_closed, *no_detail(n_legs))
    detail = None
    if cfg.detail:
        from sitcli.detail import load_detail

        fine, detail = load_detail(cfg, legs, index, store)
        args = (*args[:DETAIL_ARGS[0]], *fine)
    mark = mark_prices(legs, index, prices, store, cfg, shared)
    if mark is not None:
        args = (*args, mark)
    return Prepared(strategy_cls, combos, legs, runs, index, args, detail, run_catalysts)


def mark_prices(legs: list[Leg], index, prices: dict, store, cfg: RunConfig, shared: bool):
    """The (4, n, n_legs) open/high/low/close a perpetual's liquidation is checked on: its
    stored mark bars (`sitcli.mark`), the last prices elsewhere; None when no leg has mark
    bars. Each perpetual leg's header says which price its liquidations follow."""
    from sitcli import mark as mark_mod

    out = None
    for j, leg in enumerate(legs):
        if leg.venue.margin_mode == "account":
            continue
        stored = mark_mod.read_mark(store, leg.symbol, cfg.timeframe)
        aligned, covered = mark_mod.align(leg.bars, stored)
        isolated = not shared and leg.venue.margin_mode == "isolated"
        _add(leg.notes, mark_mod.note(leg.symbol, cfg.timeframe, covered, len(leg.bars),
                                      isolated))
        if not covered or not isolated:
            continue
        if out is None:
            out = np.stack([prices[f] for f in mark_mod.FIELDS])
        rows = index.get_indexer(leg.bars.index)
        out[:, rows, j] = aligned
    if out is not None and cfg.detail:
        for leg in legs:
            _add(leg.notes, f"{leg.symbol}: inside --detail bars liquidation follows the finer "
                            "bars' last prices")
    return out


ENGINE_KEYS = ("stop", "take", "hold", "leverage", "size")


def defer_limit_locked(leg: Leg, entries: np.ndarray, exits: np.ndarray, fill: str):
    """Move orders that would fill on a bar locked at its daily price limit (SIT futures from
    `sitcli sit build`: no trading the whole bar) to the next tradable bar; an order with no
    tradable bar left is dropped. Other data is returned unchanged."""
    from sitcli.sit.build import locked_mask

    locked = locked_mask(leg.bars)
    if locked is None or not locked.any():
        return entries, exits
    entries, exits = entries.copy(), exits.copy()
    shift = 1 if fill == "open" else 0          # the bar an order on bar i fills on
    n = len(locked)
    for i in np.flatnonzero((entries != 0) | exits)[::-1]:
        j = i + shift
        if j >= n or not locked[j]:
            continue
        k = j
        while k < n and locked[k]:
            k += 1
        side, leave = entries[i], exits[i]
        entries[i], exits[i] = 0, False
        if k < n:
            entries[k - shift] = side if side else entries[k - shift]
            exits[k - shift] |= leave
    return entries, exits

