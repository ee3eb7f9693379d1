"""Bar timing and the clocks of carry: one home for every clock sitcli charges by.

- bar duration and each bar's real opening and closing time (exchange sessions from
  exchange-calendars, or 24/7);
- perpetual funding stamps (every 8 h around the clock, also while the underlying's exchange
  is closed);
- CFD financing nights (the daily rollover, three over a weekend for daily equity bars), each
  charged at that night's benchmark rate (`financing_per_bar`).

The backtest kernel, `scenario` and `report daily` all take their carry from here, so the
carry per day of a position is the same number in every command.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from sitcli.errors import BadInput

FUNDING_HOURS = (0, 8, 16)   # UTC funding stamps of Binance/Bybit perpetuals
ROLLOVER_HOUR = 21           # UTC daily CFD financing cut-off (5pm New York in winter; ours)
DAY_NS = 86_400 * 10**9


def bar_duration(timeframe: str) -> pd.Timedelta:
    try:
        unit = {"m": "min", "h": "h", "d": "D", "w": "W"}.get(timeframe[-1:], timeframe[-1:])
        step = pd.Timedelta(timeframe[:-1] + unit)
    except ValueError:
        raise BadInput(f"--timeframe {timeframe!r}: use 1d, 4h, 1h, 15m, ...") from None
    if step <= pd.Timedelta(0):
        raise BadInput(f"--timeframe {timeframe!r}: use 1d, 4h, 1h, 15m, ...")
    return step


def bar_times(index: pd.DatetimeIndex, instrument, timeframe: str):
    """Real opening and closing times of each bar. Daily exchange bars are stamped at
    midnight but open and close with the session (exchange-calendars)."""
    step = bar_duration(timeframe)
    opens, closes = index, index + step
    if step >= pd.Timedelta("1D") and not instrument.is_24_7:
        sched = _schedule(instrument.calendar, index[0].tz_localize(None),
                          index[-1].tz_localize(None)).reindex(index.tz_localize(None))
        # a date the calendar does not know falls back to 14:30-21:00 UTC
        opens = pd.DatetimeIndex(sched["open"].fillna(pd.Series(index + pd.Timedelta("14h30min"),
                                                                 index=sched.index)))
        closes = pd.DatetimeIndex(sched["close"].fillna(pd.Series(index + pd.Timedelta("21h"),
                                                                  index=sched.index)))
    return pd.DatetimeIndex(opens).tz_convert("UTC"), pd.DatetimeIndex(closes).tz_convert("UTC")


@lru_cache(maxsize=64)
def _schedule(code: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """An exchange's session opens and closes, indexed by session date (building a calendar
    costs about 0.4 s after 0.2 s of importing exchange-calendars; one report or backtest asks
    for the same span several times, and the next run for the same span again: it is kept
    in memory and in `sitcli.cache`, keyed by the installed exchange-calendars)."""
    from sitcli import cache

    name = f"sessions-{code}-{start:%Y%m%d}-{end:%Y%m%d}"
    key = cache.package_stamp("exchange_calendars")
    table = cache.load(name, key)
    if table is None or set(table) != {"session", "open", "close"}:
        import exchange_calendars as xcals

        sched = xcals.get_calendar(code, start=start, end=end).schedule
        table = {"session": _ns(sched.index), "open": _ns(sched["open"]),
                 "close": _ns(sched["close"])}
        cache.save(name, key, table)
    return pd.DataFrame({"open": pd.DatetimeIndex(table["open"], tz="UTC"),
                         "close": pd.DatetimeIndex(table["close"], tz="UTC")},
                        index=pd.DatetimeIndex(table["session"]))


def _ns(times) -> np.ndarray:
    return pd.DatetimeIndex(times).as_unit("ns").asi8


def _count_daily(start: np.ndarray, end: np.ndarray, hour: int) -> np.ndarray:
    """How many daily instants at `hour` UTC fall in [start, end) (int64 ns arrays)."""
    offset = hour * 3600 * 10**9
    # integer ceil-division: float division would lose the nanosecond that makes the
    # interval half-open at these magnitudes
    return (-((offset - end) // DAY_NS) + ((offset - start) // DAY_NS)).astype(np.float64)


def funding_stamps_per_bar(opens, closes) -> tuple[np.ndarray, np.ndarray]:
    """Funding stamps per bar, in two parts (a perpetual settles every 8 h around the clock):
    those in (open_t, close_t], paid at bar t's close by a position open there; and those
    while the underlying is closed, in (close_t, open_t+1], paid at bar t's close by a
    position still held after it (it cannot exit before the next open). The second part is
    0 for 24/7 bars; the last bar has none."""
    o, c = _ns(opens), _ns(closes)
    nxt = np.append(o[1:], c[-1:])
    in_bar = sum(_count_daily(o + 1, c + 1, h) for h in FUNDING_HOURS)
    closed = sum(_count_daily(np.minimum(c, nxt) + 1, nxt + 1, h) for h in FUNDING_HOURS)
    return in_bar, closed


def funding_rates_per_bar(bars: pd.DataFrame, venue, opens, closes):
    """The funding rates each bar settles at its close, as `funding_stamps_per_bar`'s two
    parts: the data's history where present (all in the bar), else the venue's constant
    8-hourly rate per stamp. Venues without a funding rate (CFDs, futures) pay none;
    `--set funding_rate_8h=0` turns it off."""
    zeros = np.zeros(len(bars))
    if venue.funding_rate_8h:
        if "funding_rate" in bars and bars["funding_rate"].notna().any():
            return bars["funding_rate"].fillna(0.0).to_numpy(np.float64), zeros
        in_bar, closed = funding_stamps_per_bar(opens, closes)
        return in_bar * venue.funding_rate_8h, closed * venue.funding_rate_8h
    return zeros, zeros.copy()


def nights_per_bar(closes: pd.DatetimeIndex, step: pd.Timedelta) -> np.ndarray:
    """Financing nights a position held at each close carries to the next close: the 21:00
    UTC cut-offs in [close_t, close_t+1) — three over a weekend for daily equity bars."""
    c = _ns(closes)
    nxt = np.append(c[1:], c[-1] + max(step, pd.Timedelta("1D")).value)
    return _count_daily(c, nxt, ROLLOVER_HOUR)


def financing_per_bar(venue, closes, step: pd.Timedelta, data_root=None):
    """CFD financing per bar, as (n, 2) fractions of the notional: column 0 what a long held
    at close_t pays by close_t+1, column 1 what a short pays (negative: receives). Each
    21:00 UTC cut-off in [close_t, close_t+1) is one night (`nights_per_bar`), charged at that
    night's benchmark (the venue's constant, or its rate series on the cut-off's date:
    `rates.on_days`) plus the markup (long) or the markup minus it (short), over the day count.
    Returns (array, note or None): the note says when nights fell outside the series."""
    c = _ns(closes)
    out = np.zeros((len(c), 2))
    if not (venue.benchmark_series or venue.financing_benchmark or venue.financing_markup):
        return out, None
    nxt = np.append(c[1:], c[-1] + max(step, pd.Timedelta("1D")).value)
    offset = ROLLOVER_HOUR * 3600 * 10**9
    # night k is the cut-off at day k + 21:00 UTC; the bar holds nights k0 .. k1 - 1
    k0, k1 = -((offset - c) // DAY_NS), -((offset - nxt) // DAY_NS)
    nights = (k1 - k0).astype(np.float64)
    note = None
    if venue.benchmark_series:
        from sitcli.rates import on_days

        days = np.arange(k0.min(), k1.max())
        rate, note = on_days(venue.benchmark_series, pd.DatetimeIndex(days * DAY_NS), data_root)
        if note:
            note = f"financing at {venue.benchmark_series}: {note}"
        total = np.concatenate([[0.0], np.cumsum(rate)])
        benchmark = total[k1 - days[0]] - total[k0 - days[0]]   # Σ over the bar's nights
    else:
        benchmark = nights * venue.financing_benchmark
    markup = nights * venue.financing_markup
    out[:, 0] = (benchmark + markup) / venue.financing_days
    out[:, 1] = (markup - benchmark) / venue.financing_days
    return out, note


def financing_rates(venue, when=None, data_root=None) -> tuple[float, float]:
    """The annual rates a long and a short pay on the night of `when` (default: the latest
    the series has): the benchmark (its constant, or its rate series' value then) plus or
    minus the markup."""
    bench = venue.financing_benchmark
    if venue.benchmark_series:
        from sitcli.rates import load, on_days

        if when is None:
            bench = float(load(venue.benchmark_series, data_root).iloc[-1])
        else:
            day = pd.DatetimeIndex([pd.Timestamp(when)]).tz_localize(None).normalize()
            bench = float(on_days(venue.benchmark_series, day, data_root)[0][0])
    return bench + venue.financing_markup, venue.financing_markup - bench


def carry_per_bar(side: int, venue, opens, closes, timeframe: str, data_root=None) -> float:
    """Average financing (CFD) or funding (perpetual, the venue's constant rate) a position
    pays per bar of this schedule, as a fraction of its notional: the same stamps and nights
    the backtest charges, at the same nightly benchmark, averaged over the bars."""
    if len(opens) < 2:
        return 0.0
    # the last bar has no next bar: average over the ones that do
    stamps = sum(funding_stamps_per_bar(opens, closes))[:-1].mean()
    funding = stamps * venue.funding_rate_8h
    financing, _ = financing_per_bar(venue, closes, bar_duration(timeframe), data_root)
    return side * funding + financing[:-1, 0 if side > 0 else 1].mean()


def carry_per_day(side: int, venue, when=None, data_root=None) -> float:
    """Funding and financing a position pays per calendar day, as a fraction of its notional:
    three 8-hourly funding stamps and one financing night every day, whatever the
    underlying's sessions (what `report daily` prints, at the benchmark of `when`; the
    backtest charges exactly this over any whole number of days at a constant benchmark, and
    `carry_per_bar` averages it over a schedule's bars)."""
    long_rate, short_rate = financing_rates(venue, when, data_root)
    rate = long_rate if side > 0 else short_rate
    return side * len(FUNDING_HOURS) * venue.funding_rate_8h + rate / venue.financing_days


def session_spans(fine_times, opens, closes) -> tuple[np.ndarray, np.ndarray]:
    """For each coarse bar (opening at `opens[t]`, closing at `closes[t]`), the rows
    `first[t] .. end[t]` of the finer bars (stamped at their start, ascending) that start
    inside it. Finer bars outside every bar (pre- and after-hours around a session) belong
    to none."""
    f = _ns(fine_times)
    return np.searchsorted(f, _ns(opens), "left"), np.searchsorted(f, _ns(closes), "left")


def detail_layout(first: np.ndarray, end: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The kernel's `fine_start` for one instrument (n + 1 rows): bar t walks rows
    fine_start[t] .. fine_start[t + 1], starting at its first finer bar with prices (`valid`),
    empty when it has none. Rows between two bars' spans must hold no prices (NaN)."""
    m = len(valid)
    seen = np.concatenate([[0], np.cumsum(valid)])
    has = seen[end] > seen[first]
    first_valid = np.searchsorted(seen, seen[first] + 1, "left") - 1
    start = np.where(has, first_valid, m)
    # an empty bar starts where the next bar with finer bars does: its span is empty
    start = np.minimum.accumulate(start[::-1])[::-1]
    return np.append(start, m).astype(np.int64)


def resample_sessions(fine: pd.DataFrame, instrument, timeframe: str,
                      fine_timeframe: str) -> pd.DataFrame:
    """Coarse OHLCV bars from finer ones. Daily bars of an exchange-traded instrument follow
    its session calendar: a day is its regular session's finer bars only (pre- and
    after-hours bars are dropped, as in the daily bars exchanges and Yahoo publish); other
    bars are fixed UTC intervals. Bars without a finer bar are left out."""
    step = bar_duration(timeframe)
    if step <= bar_duration(fine_timeframe):
        raise BadInput(f"--timeframe {timeframe}: must be longer than the stored "
                       f"{fine_timeframe} bars it is built from")
    agg = {"open": "first", "high": "max", "low": "min", "close": "last"}
    if "volume" in fine:
        agg["volume"] = "sum"
    if step >= pd.Timedelta("1D") and not instrument.is_24_7:
        days = pd.DatetimeIndex(fine.index.tz_convert("UTC").normalize().unique())
        # one day more: the calendar wants a span longer than a day
        opens, closes = bar_times(days.append(days[-1:] + pd.Timedelta("1D")), instrument, "1d")
        opens, closes = opens[:-1], closes[:-1]
        first, end = session_spans(fine.index, opens, closes)
        label = np.full(len(fine), -1)
        for t, (a, b) in enumerate(zip(first, end, strict=True)):
            label[a:b] = t
        keep = label >= 0
        out = fine[keep].groupby(label[keep]).agg(agg)
        out.index = days[out.index]
        if step > pd.Timedelta("1D"):
            out = out.resample(step, label="left", closed="left").agg(agg).dropna(
                subset=["open"])
    else:
        out = fine.resample(step, label="left", closed="left", origin="epoch").agg(agg)
        out = out.dropna(subset=["open"])
    out.index.name = fine.index.name
    return out
