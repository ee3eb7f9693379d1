"""Checks of stored bars: gaps against the instrument's calendar, bad stamps and prices, and
single-bar moves that look like an unadjusted split."""

from __future__ import annotations

import numpy as np
import pandas as pd

SPLIT_RATIOS = (2, 3, 4, 5, 8, 10, 20, 1 / 2, 1 / 3, 1 / 4, 1 / 5, 1 / 8, 1 / 10, 1 / 20)


def expected_index(index: pd.DatetimeIndex, calendar: str, timeframe: str) -> pd.DatetimeIndex:
    """The bars the range should have: every step for 24/7, every session for daily
    exchange bars. Intraday exchange bars are checked per session (see `verify_bars`)."""
    from sitcli.bars import bar_duration

    step = bar_duration(timeframe)
    if calendar == "24/7":
        return pd.date_range(index[0], index[-1], freq=step)
    import exchange_calendars as xcals

    first = index[0].tz_localize(None).normalize()
    last = index[-1].tz_localize(None).normalize()
    # a calendar spans more than one day
    cal = xcals.get_calendar(calendar, start=first, end=max(last, first + pd.Timedelta("1D")))
    # data that starts or ends on a holiday or weekend lies outside the calendar's sessions
    sessions = cal.sessions_in_range(max(first, cal.first_session), min(last, cal.last_session))
    return pd.DatetimeIndex(sessions).tz_localize("UTC")


def outside_sessions(index: pd.DatetimeIndex, calendar: str) -> int:
    """Intraday bars of an exchange-traded instrument that start outside its regular
    sessions: pre- and after-hours bars (kept in the store; daily bars and `--detail` use the
    regular session only), or, when they are most of the file, times in the wrong zone."""
    from sitcli.bars import _schedule

    first = index[0].tz_localize(None).normalize()
    last = index[-1].tz_localize(None).normalize() + pd.Timedelta("1D")
    sched = _schedule(calendar, first, last)
    opens = pd.DatetimeIndex(sched["open"]).as_unit("ns").asi8
    closes = pd.DatetimeIndex(sched["close"]).as_unit("ns").asi8
    t = index.as_unit("ns").asi8
    k = np.searchsorted(opens, t, "right") - 1
    inside = (k >= 0) & (t < closes[np.maximum(k, 0)])
    return int((~inside).sum())


def verify_bars(bars: pd.DataFrame, calendar: str, timeframe: str, examples: int = 5) -> dict:
    index = pd.DatetimeIndex(bars.index)
    out: dict = {"bars": len(bars)}
    step_ns = np.diff(index.as_unit("ns").asi8)
    out["duplicates"] = [str(t) for t in index[1:][step_ns == 0][:examples]]
    out["non_monotonic"] = [str(t) for t in index[1:][step_ns < 0][:examples]]
    prices = bars[["open", "high", "low", "close"]]
    out["non_positive"] = [str(t) for t in index[(prices <= 0).any(axis=1).to_numpy()][:examples]]
    out["high_below_low"] = [str(t) for t in index[(bars["high"] < bars["low"]).to_numpy()][:examples]]
    daily = timeframe.endswith("d")
    if calendar == "24/7" or daily:
        have = index.normalize() if daily else index
        missing = expected_index(index, calendar, timeframe).difference(have)
    else:
        sessions = expected_index(index, calendar, "1d")
        missing = sessions.difference(index.normalize().unique())
        out["outside_sessions"] = outside_sessions(index, calendar)
    out["gaps"] = len(missing)
    out["gap_examples"] = [str(t) for t in missing[:examples]]
    ratio = (bars["open"].to_numpy()[1:] / bars["close"].to_numpy()[:-1])
    moved = np.abs(np.log(ratio)) > np.log(1.4)
    split_like = [(str(index[i + 1]), float(ratio[i])) for i in np.flatnonzero(moved)
                  if any(abs(ratio[i] / k - 1) < 0.03 for k in SPLIT_RATIOS)]
    out["split_like_moves"] = split_like[:examples]
    # most bars outside the sessions: local times stored as UTC (`data import --tz`)
    out["wrong_zone"] = out.get("outside_sessions", 0) > len(bars) / 2
    out["problems"] = (len(out["duplicates"]) + len(out["non_monotonic"])
                       + len(out["non_positive"]) + len(out["high_below_low"]) + out["gaps"]
                       + len(split_like) + int(out["wrong_zone"]))
    return out
