"""The pandas edge of the engine: align data, build arrays, run the kernel, return a Result."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sitcli import instruments as inst_mod
from sitcli.errors import BadInput, DataMissing
from sitcli.result import Result

FUNDING_HOURS = (0, 8, 16)   # UTC funding stamps of Binance/Bybit perpetuals
ROLLOVER_HOUR = 21           # UTC daily CFD financing cut-off (5pm New York in winter; ours)


@dataclass
class RunConfig:
    symbols: list[str]
    strategy: str = "catalyst_long"
    params: dict = field(default_factory=dict)       # --param strings
    leverage: float | None = None                    # None: each venue's default
    venue: str | None = None                         # None: each instrument's venue
    overrides: dict = field(default_factory=dict)    # --set venue fields
    cash: float = 10_000.0
    size: float = 1.0
    start: str | None = None
    end: str | None = None
    timeframe: str = "1d"
    fill: str = "open"                               # "open": next bar's open; "close": same close
    take_first: bool = False
    allow_above_cap: bool = False


@dataclass
class Leg:
    """One symbol's prepared inputs."""
    symbol: str
    instrument: inst_mod.Instrument
    venue: inst_mod.Venue
    leverage: float
    bars: pd.DataFrame
    synthetic: bool
    source: str


def parse_date(text: str | None, flag: str):
    if text is None:
        return None
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        raise BadInput(f"{flag} {text!r} is not a date; use YYYY-MM-DD") from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def bar_duration(timeframe: str) -> pd.Timedelta:
    try:
        return pd.Timedelta(timeframe.replace("m", "min") if timeframe.endswith("m") else timeframe)
    except ValueError:
        raise BadInput(f"--timeframe {timeframe!r}: use 1d, 4h, 1h, 15m, ...") from None


def bar_times(index: pd.DatetimeIndex, instrument: inst_mod.Instrument, timeframe: str):
    """Real opening and closing times of each bar. Daily exchange bars are stamped at
    midnight but open and close with the session (exchange-calendars)."""
    step = bar_duration(timeframe)
    opens, closes = index, index + step
    if step >= pd.Timedelta("1D") and not instrument.is_24_7:
        import exchange_calendars as xcals

        cal = xcals.get_calendar(instrument.calendar, start=index[0].tz_localize(None),
                                 end=index[-1].tz_localize(None))
        sched = cal.schedule.reindex(index.tz_localize(None))
        # a date the calendar does not know falls back to 14:30-21:00 UTC
        opens = pd.DatetimeIndex(sched["open"].fillna(pd.Series(index + pd.Timedelta("14h30min"),
                                                                 index=sched.index)))
        closes = pd.DatetimeIndex(sched["close"].fillna(pd.Series(index + pd.Timedelta("21h"),
                                                                  index=sched.index)))
    return pd.DatetimeIndex(opens).tz_convert("UTC"), pd.DatetimeIndex(closes).tz_convert("UTC")


def _ns(times) -> np.ndarray:
    return pd.DatetimeIndex(times).as_unit("ns").asi8


def _count_daily(start: np.ndarray, end: np.ndarray, hour: int) -> np.ndarray:
    """How many daily instants at `hour` UTC fall in [start, end) (int64 ns arrays)."""
    day = 86_400 * 10**9
    offset = hour * 3600 * 10**9
    # integer ceil-division: float division would lose the nanosecond that makes the
    # interval half-open at these magnitudes
    return (-((offset - end) // day) + ((offset - start) // day)).astype(np.float64)


def funding_per_bar(bars: pd.DataFrame, venue: inst_mod.Venue, opens, closes) -> np.ndarray:
    """The funding rate each bar settles: the data's history where present, else the venue's
    constant rate times the number of 8-hourly stamps in (open, close]. Venues without a
    funding rate (CFDs, futures) pay none; `--set funding_rate_8h=0` turns it off."""
    if venue.funding_rate_8h:
        if "funding_rate" in bars and bars["funding_rate"].notna().any():
            return bars["funding_rate"].fillna(0.0).to_numpy(np.float64)
        o = _ns(opens)
        c = _ns(closes)
        stamps = sum(_count_daily(o + 1, c + 1, h) for h in FUNDING_HOURS)
        return stamps * venue.funding_rate_8h
    return np.zeros(len(bars))


def nights_per_bar(closes: pd.DatetimeIndex, step: pd.Timedelta) -> np.ndarray:
    """Financing nights a position held at each close carries to the next close: the 21:00
    UTC cut-offs in [close_t, close_t+1) — three over a weekend for daily equity bars."""
    c = _ns(closes)
    nxt = np.append(c[1:], c[-1] + max(step, pd.Timedelta("1D")).value)
    return _count_daily(c, nxt, ROLLOVER_HOUR)


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
    legs = []
    for symbol in cfg.symbols:
        instrument = inst_mod.instrument(symbol)
        venue = inst_mod.venue(cfg.venue or instrument.venue, instrument.asset_class,
                               cfg.overrides, tier_table=instrument.tiers)
        leverage = venue.default_leverage if cfg.leverage is None else cfg.leverage
        inst_mod.check_leverage(leverage, venue, cfg.allow_above_cap)
        bars = read_bars(store, symbol, cfg.timeframe, start, end)
        if len(bars) < 2:
            raise DataMissing(f"{symbol}: only {len(bars)} bar(s) between {cfg.start or 'start'} "
                              f"and {cfg.end or 'end'}; widen the range or pull more data")
        meta = bars.attrs.get("sitcli", {})
        legs.append(Leg(symbol, instrument, venue, float(leverage), bars,
                        bool(meta.get("synthetic")), str(meta.get("source", "?"))))
    return legs


def run_backtest(cfg: RunConfig, store, events) -> Result:
    from sitcli.engine.kernel import simulate_nb
    from sitcli.engine.records import MARGIN_MODES, account_dt, column_dt
    from sitcli.strategy import load_strategy

    if cfg.fill not in ("open", "close"):
        raise BadInput(f"--fill {cfg.fill!r}: use open (next bar's open) or close")
    if not 0 < cfg.cash:
        raise BadInput(f"--cash {cfg.cash:g} must be > 0")
    if not 0 < cfg.size <= 1:
        raise BadInput(f"--size {cfg.size:g} must be in (0, 1]: the fraction of free collateral "
                       "committed as margin per trade")
    strategy_cls = load_strategy(cfg.strategy)
    params = strategy_cls.resolve(cfg.params)
    legs = load_legs(cfg, store)
    step = bar_duration(cfg.timeframe)

    index = legs[0].bars.index
    for leg in legs[1:]:
        index = index.union(leg.bars.index)
    n, k = len(index), len(legs)
    prices = {f: np.full((n, k), np.nan) for f in ("open", "high", "low", "close")}
    funding = np.zeros((n, k))
    nights = np.zeros((n, k))
    entries = np.zeros((n, k), np.int8)
    exits = np.zeros((n, k), bool)
    cols = np.zeros(k, column_dt)
    accounts = np.zeros(k, account_dt)
    tier_sets = [leg.venue.tiers for leg in legs]
    width = max(len(t.floor) for t in tier_sets)
    tier_floor = np.full((k, width), np.inf)
    tier_mmr = np.zeros((k, width))
    tier_cum = np.zeros((k, width))
    tier_maxlev = np.full((k, width), np.inf)
    strategy = strategy_cls()
    for j, leg in enumerate(legs):
        rows = index.get_indexer(leg.bars.index)
        for f in prices:
            prices[f][rows, j] = leg.bars[f].to_numpy(np.float64)
        opens, closes = bar_times(leg.bars.index, leg.instrument, cfg.timeframe)
        funding[rows, j] = funding_per_bar(leg.bars, leg.venue, opens, closes)
        if leg.venue.financing_long or leg.venue.financing_short:
            nights[rows, j] = nights_per_bar(closes, step)
        context = {"open_times": opens, "close_times": closes, "symbol": leg.symbol,
                   "asset_class": leg.instrument.asset_class}
        ent, ex = strategy.signals(leg.bars, events, params, context)
        ent, ex = np.asarray(ent), np.asarray(ex)
        if ent.shape != (len(leg.bars),) or ex.shape != (len(leg.bars),):
            raise BadInput(f"strategy {cfg.strategy} returned signals of shape {ent.shape} / "
                           f"{ex.shape} for {len(leg.bars)} bars of {leg.symbol}")
        entries[rows, j] = np.sign(ent).astype(np.int8)
        exits[rows, j] = ex.astype(bool)
        v = leg.venue
        cols[j] = (j, j, j, j, leg.leverage, cfg.size, params["stop"], params["take"],
                   int(params.get("max_bars", 0)), v.fee, v.half_spread, v.slippage,
                   v.financing_long, v.financing_short, v.financing_days, v.liquidation_fee)
        accounts[j] = (cfg.cash, MARGIN_MODES[v.margin_mode], v.closeout_level,
                       v.negative_balance_protection)
        t = v.tiers
        tier_floor[j, :len(t.floor)] = t.floor
        tier_mmr[j, :len(t.mmr)] = t.mmr
        tier_mmr[j, len(t.mmr):] = t.mmr[-1]
        tier_cum[j, :len(t.floor)] = t.cum
        tier_cum[j, len(t.floor):] = t.cum[-1]
        if not cfg.allow_above_cap:
            tier_maxlev[j, :len(t.floor)] = t.max_leverage

    equity, trades, liqs = simulate_nb(prices["open"], prices["high"], prices["low"],
                                       prices["close"], funding, nights, entries, exits, cols,
                                       accounts, tier_floor, tier_mmr, tier_cum, tier_maxlev,
                                       cfg.fill == "close", cfg.take_first)
    return Result(cfg=cfg, params=params, legs=legs, index=index, equity=equity,
                  trades=trades, liquidations=liqs, entries=entries)


def describe_params(params: dict) -> str:
    return ", ".join(f"{k}={'off' if isinstance(v, float) and math.isnan(v) else v}"
                     for k, v in params.items())
