"""Event studies: how AI-compute proxies moved around catalysts, and what leverage would have done.

For each symbol and each event that lists the symbol's asset class:

- the event bar ``j`` is the first bar that opens at or after the event, on the instrument's own
  calendar (``sitcli.backtest.bar_times``: real session opens for exchange-traded daily bars,
  00:00 UTC for 24/7 daily bars), see ``sitcli.events.fill_bars``;
- the reference price is the close of bar ``j - 1`` (the last price before the news could be
  traded); the cumulative return at offset ``k`` is ``close[j+k] / close[j-1] - 1`` (simple) and
  ``log(close[j+k] / close[j-1])`` (log), for every ``k`` in the window ``[pre, post]``, negative
  offsets included (offset -1 is 0 by construction);
- a long entered at bar ``j``'s open ``E`` has, over bars ``j .. j+post``, the maximum adverse
  excursion ``min(low) / E - 1`` and the maximum favourable excursion ``max(high) / E - 1``;
- at leverage ``L`` (isolated margin ``E/L``, maintenance 0) the liquidation price is
  ``sitcli.engine.margin.liquidation_price`` = ``E (1 - 1/L)``. Walking the bars from ``j``, the
  long is *liquidated before the gain* if a bar's low reaches the liquidation price before any
  bar's high reaches ``E (1 + gain)``; when both happen inside one bar it counts as liquidated
  (the engine's conservative order: adverse extreme first). With ``--detail TIMEFRAME`` the
  bars that have stored finer bars are walked through them in order instead, so the finer bars
  decide which came first; the other bars keep the rule.

Events that need bars outside the data are skipped and counted; events that fill the same bar
count once (the earliest). Everything here is plain pandas/numpy on arrays and frames; only
``run_study`` touches the store.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sitcli.errors import BadInput, DataMissing

DEFAULT_LEVERAGES = (10.0, 20.0, 50.0)
DEFAULT_GAIN = 0.03
DEFAULT_ESTIMATION = 120    # bars of the market-model estimation window
MIN_EVENTS = 10             # below this many events a figure carries a sample-size warning
DIRECTIONS = {1: "expected up", -1: "expected down", 0: "direction unknown"}


@dataclass(frozen=True)
class Window:
    pre: int    # first offset (<= 0)
    post: int   # last offset (>= 0)

    @property
    def offsets(self) -> np.ndarray:
        return np.arange(self.pre, self.post + 1)


def parse_window(text: str) -> Window:
    """'-5,10' -> Window(-5, 10). Needs two integers a <= 0 <= b with a < b."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        if len(parts) != 2:
            raise ValueError
        pre, post = int(parts[0]), int(parts[1])
    except ValueError:
        raise BadInput(f"--window {text!r}: expected two integers 'a,b' with a <= 0 <= b, "
                       "e.g. --window=-5,10 (5 bars before to 10 bars after the event bar)") from None
    if not (pre <= 0 <= post) or pre == post:
        raise BadInput(f"--window {text!r}: need a <= 0 <= b and a < b (offset 0 is the event "
                       "bar), e.g. --window=-5,10")
    return Window(pre, post)


def parse_leverages(text: str) -> tuple[float, ...]:
    """'10,20,50' -> (10.0, 20.0, 50.0); each >= 1."""
    out = []
    for part in str(text).split(","):
        try:
            value = float(part.strip())
        except ValueError:
            value = float("nan")
        if not (np.isfinite(value) and value >= 1):
            raise BadInput(f"--leverages {text!r}: expected numbers >= 1 separated by commas, "
                           "e.g. --leverages 10,20,50")
        out.append(value)
    return tuple(dict.fromkeys(out))


def liquidation_price_long(entry: float, leverage: float) -> float:
    """The engine's isolated liquidation price of a 1-unit long at `leverage`, maintenance 0."""
    from sitcli.engine.margin import liquidation_price

    return float(liquidation_price(1, 1.0, float(entry), float(entry) / leverage,
                                   [0.0], [0.0], [0.0]))


def first_outcome(lows: np.ndarray, highs: np.ndarray, liq_price: float, target: float):
    """('liquidated' | 'gain' | 'neither', bar offset or None) for a long over the given bars:
    the low reaching `liq_price` before the high reaches `target`; within one bar, liquidation
    first."""
    from sitcli.engine.margin import reaches  # the kernel's and scenario's trigger rule

    hit_liq = np.flatnonzero(reaches(1, lows, liq_price))
    hit_gain = np.flatnonzero(highs >= target)
    k_liq = int(hit_liq[0]) if len(hit_liq) else None
    k_gain = int(hit_gain[0]) if len(hit_gain) else None
    if k_liq is not None and (k_gain is None or k_liq <= k_gain):
        return "liquidated", k_liq
    if k_gain is not None:
        return "gain", k_gain
    return "neither", None


def walk_rows(lows, highs, first: int, last: int, fine):
    """The lows and highs a walk over bars first..last visits, and the bar offset (from
    `first`) of each: a bar's finer rows (`fine` = (low, high, fine_start)) when it has any,
    else the bar itself."""
    if fine is None:
        return lows[first:last + 1], highs[first:last + 1], np.arange(last + 1 - first)
    fine_low, fine_high, start = fine
    lo, hi, offset = [], [], []
    for k, t in enumerate(range(first, last + 1)):
        a, b = start[t], start[t + 1]
        if b > a:
            lo.append(fine_low[a:b])
            hi.append(fine_high[a:b])
            offset.append(np.full(b - a, k))
        else:
            lo.append(lows[t:t + 1])
            hi.append(highs[t:t + 1])
            offset.append(np.array([k]))
    return np.concatenate(lo), np.concatenate(hi), np.concatenate(offset)


def _dist(values: np.ndarray) -> dict:
    if len(values) == 0:
        return {"mean": None, "median": None, "p10": None, "p90": None}
    return {"mean": float(np.mean(values)), "median": float(np.median(values)),
            "p10": float(np.percentile(values, 10)), "p90": float(np.percentile(values, 90))}


def _pct(x):
    return None if x is None else 100.0 * x


def usable_events(js, opens, times, n: int, window: Window):
    """[(event row, event bar j)] of the events whose window lies inside the data, one per bar
    (the earliest), and the skip counts."""
    skipped = {"outside_data": 0, "window_outside_data": 0, "same_bar": 0}
    used_rows, seen = [], set()
    for i, j in enumerate(js):
        j = int(j)
        if j >= n or (j == 0 and n and times.iloc[i] < opens[0]):
            skipped["outside_data"] += 1
            continue
        if j - 1 < 0 or j + window.pre < 0 or j + window.post > n - 1:
            skipped["window_outside_data"] += 1
            continue
        if j in seen:
            skipped["same_bar"] += 1
            continue
        seen.add(j)
        used_rows.append((i, j))
    return used_rows, skipped


def study_bars(bars: pd.DataFrame, open_times, events: pd.DataFrame, window: Window,
               leverages=DEFAULT_LEVERAGES, gain: float = DEFAULT_GAIN, fine=None) -> dict:
    """The event study of one instrument: `bars` (OHLC), `open_times` (each bar's real open,
    UTC), `events` (already restricted to the ones relevant to this instrument). `fine`
    (`--detail`): (low, high, fine_start) finer bars deciding the order of liquidation and
    gain inside the bars that have them; each outcome then also gives the bar rule's.

    Returns plain numbers (percent where the key ends in ``_pct``, shares in [0, 1]).
    """
    from sitcli.events import fill_bars

    o = bars["open"].to_numpy(np.float64)
    h = bars["high"].to_numpy(np.float64)
    lo = bars["low"].to_numpy(np.float64)
    c = bars["close"].to_numpy(np.float64)
    n = len(bars)
    opens = pd.DatetimeIndex(open_times)
    js = fill_bars(opens, events["time"]) if len(events) else np.zeros(0, np.int64)
    offsets = window.offsets

    used_rows, skipped = usable_events(js, opens, events["time"], n, window)

    per_event = []
    simple = np.zeros((len(used_rows), len(offsets)))
    logs = np.zeros_like(simple)
    mae = np.zeros(len(used_rows))
    mfe = np.zeros(len(used_rows))
    outcomes = {lev: [] for lev in leverages}
    plain_outcomes = {lev: [] for lev in leverages}
    walked = covered = 0
    for r, (i, j) in enumerate(used_rows):
        ref = c[j - 1]
        path = c[j + offsets]
        simple[r] = path / ref - 1.0
        logs[r] = np.log(path / ref)
        entry = o[j]
        post = slice(j, j + window.post + 1)
        mae[r] = lo[post].min() / entry - 1.0
        mfe[r] = h[post].max() / entry - 1.0
        event = events.iloc[i]
        record = {"time": event["time"], "title": event["title"], "category": event["category"],
                  "status": event["status"], "direction": int(event["direction"]),
                  "bar": j, "bar_open": opens[j], "reference_close": float(ref),
                  "entry": float(entry), "mae_pct": 100 * mae[r], "mfe_pct": 100 * mfe[r],
                  "cum_simple_pct": list(100 * simple[r]), "cum_log_pct": list(100 * logs[r]),
                  "outcomes": []}
        rows_lo, rows_hi, row_offset = walk_rows(lo, h, j, j + window.post, fine)
        if fine is not None:
            walked += window.post + 1
            covered += int((np.diff(fine[2][j:j + window.post + 2]) > 0).sum())
        for lev in leverages:
            lp = liquidation_price_long(entry, lev)
            what, k = first_outcome(rows_lo, rows_hi, lp, entry * (1.0 + gain))
            k = None if k is None else int(row_offset[k])
            outcomes[lev].append(what)
            outcome = {"leverage": lev, "liquidation_price": lp, "outcome": what, "offset": k}
            if fine is not None:
                plain, _ = first_outcome(lo[post], h[post], lp, entry * (1.0 + gain))
                plain_outcomes[lev].append(plain)
                outcome["outcome_bar_rule"] = plain
            record["outcomes"].append(outcome)
        per_event.append(record)

    m = len(used_rows)
    rows = []
    for col, k in enumerate(offsets):
        rows.append({"offset": int(k), "events": m,
                     "mean_simple_pct": _pct(float(np.mean(simple[:, col]))) if m else None,
                     "median_simple_pct": _pct(float(np.median(simple[:, col]))) if m else None,
                     "mean_log_pct": _pct(float(np.mean(logs[:, col]))) if m else None,
                     "median_log_pct": _pct(float(np.median(logs[:, col]))) if m else None})
    liquidation = []
    for lev in leverages:
        got = outcomes[lev]
        count = {w: got.count(w) for w in ("liquidated", "gain", "neither")}
        liquidation.append({
            "leverage": lev, "liquidation_move_pct": -100.0 / lev,
            "liquidated_before_gain": count["liquidated"], "gain_first": count["gain"],
            "neither": count["neither"],
            "liquidated_before_gain_share": count["liquidated"] / m if m else None,
            "gain_first_share": count["gain"] / m if m else None})
        if fine is not None:
            liquidation[-1]["liquidated_before_gain_bar_rule"] = \
                plain_outcomes[lev].count("liquidated")
            liquidation[-1]["outcomes_changed"] = sum(
                a != b for a, b in zip(got, plain_outcomes[lev], strict=True))
    detail = {} if fine is None else {"detail": {"bars_walked": walked,
                                                 "bars_walked_with_detail": covered}}
    return {
        **detail,
        "events_relevant": int(len(events)), "events_used": m, "skipped": skipped,
        "offsets": rows,
        "mae_pct": {k: _pct(v) for k, v in _dist(mae).items()},
        "mfe_pct": {k: _pct(v) for k, v in _dist(mfe).items()},
        "gain_pct": 100.0 * gain,
        "liquidation": liquidation,
        "events": per_event,
    }


# --- abnormal returns against a benchmark (market model) --------------------------------------

def market_model(r: np.ndarray, m: np.ndarray) -> tuple[float, float, int]:
    """(alpha, beta, observations) of the OLS fit r = alpha + beta m over the finite pairs."""
    ok = np.isfinite(r) & np.isfinite(m)
    x, y = m[ok], r[ok]
    if len(x) < 2 or np.var(x) == 0:
        return float(np.mean(y)) if len(y) else np.nan, 0.0, int(len(x))
    beta = float(np.cov(x, y, ddof=0)[0, 1] / np.var(x))
    return float(y.mean() - beta * x.mean()), beta, int(len(x))


def cumulative(ar: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Cumulative abnormal return at each offset, from the close before the event bar (the same
    convention as the raw study: offset -1 is 0; k >= 0 sums bars 0..k; k < -1 is minus the sum
    of bars k+1..-1). `ar` holds the abnormal returns at `offsets`."""
    out = np.zeros(len(offsets))
    for col, k in enumerate(offsets):
        if k >= 0:
            out[col] = ar[(offsets >= 0) & (offsets <= k)].sum()
        elif k < -1:
            out[col] = -ar[(offsets > k) & (offsets <= -1)].sum()
    return out


def t_stat(x: np.ndarray) -> float | None:
    """Cross-sectional t-statistic of the mean: mean / (sd / sqrt(n))."""
    if len(x) < 2:
        return None
    sd = float(np.std(x, ddof=1))
    if sd == 0:
        return None
    return float(np.mean(x) / (sd / np.sqrt(len(x))))


def _group(cars: np.ndarray) -> dict:
    n = len(cars)
    return {"events": n, "mean_car_pct": _pct(float(np.mean(cars))) if n else None,
            "t_stat": t_stat(cars),
            "share_positive": float((cars > 0).mean()) if n else None,
            "sample_warning": n < MIN_EVENTS}


def abnormal_study(close: np.ndarray, bench_close: np.ndarray, open_times, events: pd.DataFrame,
                   window: Window, estimation: int = DEFAULT_ESTIMATION) -> dict:
    """Abnormal returns of one instrument around its events against a benchmark whose closes
    (`bench_close`) are aligned to the instrument's bars.

    Per event, the market model r = alpha + beta m is fitted on the `estimation` bars before
    the event window (bars j+pre-estimation .. j+pre-1, at least half of them with both
    returns); the abnormal return of a bar is r - alpha - beta m, cumulated as in the raw
    study. Per offset: mean CAR, t-statistic across events and the share of positive CARs; at
    the last offset, the same split by the event's expected direction.
    """
    from sitcli.events import fill_bars

    close = np.asarray(close, np.float64)
    bench = np.asarray(bench_close, np.float64)
    n = len(close)
    r = np.full(n, np.nan)
    m = np.full(n, np.nan)
    r[1:], m[1:] = close[1:] / close[:-1] - 1, bench[1:] / bench[:-1] - 1
    opens = pd.DatetimeIndex(open_times)
    js = fill_bars(opens, events["time"]) if len(events) else np.zeros(0, np.int64)
    used, skipped = usable_events(js, opens, events["time"], n, window)
    offsets = window.offsets
    cars, directions, per_event = [], [], []
    skipped["estimation_outside_data"] = 0
    for i, j in used:
        lo = j + window.pre - estimation
        alpha, beta, obs = market_model(r[max(lo, 0):j + window.pre], m[max(lo, 0):j + window.pre])
        if lo < 0 or obs < max(2, estimation // 2):
            skipped["estimation_outside_data"] += 1
            continue
        ar = r[j + offsets] - alpha - beta * m[j + offsets]
        car = cumulative(ar, offsets)
        cars.append(car)
        directions.append(int(events["direction"].iloc[i]))
        per_event.append({"time": events["time"].iloc[i], "title": events["title"].iloc[i],
                          "direction": directions[-1], "alpha": alpha, "beta": beta,
                          "car_pct": list(100 * car)})
    cars = np.array(cars).reshape(len(cars), len(offsets))
    directions = np.array(directions, np.int64)
    rows = [{"offset": int(k), **_group(cars[:, col])} for col, k in enumerate(offsets)]
    last = cars[:, -1] if len(cars) else np.zeros(0)
    by_direction = {name: _group(last[directions == d]) for d, name in DIRECTIONS.items()}
    signed = last[directions != 0] * directions[directions != 0]
    by_direction["signed by direction"] = _group(signed)
    return {"events_used": len(cars), "skipped": skipped, "estimation_bars": estimation,
            "offsets": rows, "at_last_offset": by_direction, "events": per_event}


def asof_closes(store, symbol: str, timeframe: str, close_times) -> np.ndarray:
    """`symbol`'s closes as known at each of `close_times` (the last close at or before)."""
    from sitcli import instruments
    from sitcli.backtest import bar_times, read_bars

    other = read_bars(store, symbol, timeframe)
    _, closes = bar_times(other.index, instruments.instrument(symbol), timeframe)
    known = pd.Series(other["close"].to_numpy(np.float64), index=closes)
    return known.reindex(pd.DatetimeIndex(close_times), method="ffill").to_numpy()


def relevant_events(events: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """The events about `symbol` (named, or reaching its asset class: `sitcli.events.about`)."""
    from sitcli.events import filter_events

    return filter_events(events, symbol=symbol)


def run_study(store, symbols: list[str], events: pd.DataFrame, window: Window,
              timeframe: str = "1d", leverages=DEFAULT_LEVERAGES, gain: float = DEFAULT_GAIN,
              filters: dict | None = None, benchmark: str | None = None,
              estimation: int = DEFAULT_ESTIMATION, detail: str | None = None) -> dict:
    """The study over stored bars for each symbol. `events` is the (already filtered) calendar.

    BadInput when no event is left to study (none matches the filters, or none lists any of the
    symbols' asset classes); DataMissing when events match but none falls inside the data with
    enough bars around it.
    """
    from sitcli import instruments
    from sitcli.backtest import bar_times, read_bars

    if not symbols:
        raise BadInput("no symbols: pass --symbols NVDA,RENDER/USDT (or --demo)")
    if not gain > 0:
        raise BadInput(f"--gain-pct {100 * gain:g}: must be > 0, e.g. 3")
    if events.empty:
        raise BadInput(f"no events match {_describe(filters)}; widen --since or --category "
                       "(see `sitcli events list`)")
    from sitcli.events import known_times

    events = known_times(events)
    names = list(dict.fromkeys(symbols))
    out = {}
    for symbol in names:
        bars = read_bars(store, symbol, timeframe)
        inst = instruments.instrument(symbol)   # after the read: no fallback warning first
        opens, closes = bar_times(bars.index, inst, timeframe)
        mine = relevant_events(events, symbol)
        meta = bars.attrs.get("sitcli", {})
        fine = None
        if detail is not None:
            from sitcli.scenario import detail_arrays

            (_, fine_high, fine_low, start), info = detail_arrays(
                store, symbol, bars, instruments.venue(inst.venue, inst.asset_class), opens,
                closes, timeframe, detail)
            fine = (fine_low, fine_high, start)
        result = study_bars(bars, opens, mine, window, leverages, gain, fine)
        if detail is not None:
            result["detail"].update(timeframe=detail, fine_bars=info.fine_rows,
                                    fine_bars_outside_sessions=info.outside.get(symbol, 0))
        result["sample_warning"] = result["events_used"] < MIN_EVENTS
        if benchmark:
            result["abnormal"] = abnormal_study(
                bars["close"].to_numpy(), asof_closes(store, benchmark, timeframe, closes), opens,
                mine, window, estimation)
        out[symbol] = {"asset_class": inst.asset_class, "calendar": inst.calendar,
                       "source": str(meta.get("source", "?")), "synthetic": bool(meta.get("synthetic")),
                       "bars": len(bars), "first": bars.index[0], "last": bars.index[-1], **result}
    if sum(r["events_relevant"] for r in out.values()) == 0:
        classes = ", ".join(sorted({r["asset_class"] for r in out.values()}))
        raise BadInput(f"no events match {_describe(filters)} about {', '.join(names)} (by name, "
                       f"or reaching asset class(es) {classes}); pick another --category or symbol")
    if sum(r["events_used"] for r in out.values()) == 0:
        span = "; ".join(f"{s} {r['first']:%Y-%m-%d}..{r['last']:%Y-%m-%d}" for s, r in out.items())
        raise DataMissing(f"no matching event falls inside the data with {-window.pre} bar(s) "
                          f"before and {window.post} after it ({span}); pull more data or "
                          "narrow --window")
    info = assumptions(window, timeframe, leverages, gain, filters, len(events))
    if benchmark:
        info["abnormal"] = (f"market model r = alpha + beta x {benchmark} return, fitted per event on "
                            f"the {estimation} bars before the window; CAR cumulated like the raw "
                            "returns; t = mean / (sd / sqrt(n)) across events")
    info["sample_warning"] = f"figures from fewer than {MIN_EVENTS} events are flagged"
    return {"assumptions": info, "symbols": out}


def _describe(filters: dict | None) -> str:
    parts = [f"{k} {v}" for k, v in (filters or {}).items() if v]
    return "the filters (" + ", ".join(parts) + ")" if parts else "the calendar"


def assumptions(window: Window, timeframe: str, leverages, gain: float, filters: dict | None,
                n_events: int) -> dict:
    return {
        "window": [window.pre, window.post],
        "timeframe": timeframe,
        "event_bar": "first bar opening at or after the event, on the instrument's calendar "
                     "(session opens for exchange-traded bars, 00:00 UTC for 24/7 daily bars)",
        "returns": "cumulative from the close of the bar before the event bar to each offset's "
                   "close (simple and log)",
        "entry": "long at the event bar's open; MAE/MFE from lows/highs of offsets 0..post",
        "liquidation": "isolated, maintenance 0: liquidation price = entry x (1 - 1/L); a bar whose "
                       "low reaches it counts before a gain in the same bar",
        "leverages": list(leverages),
        "gain_pct": 100.0 * gain,
        "same_bar": "events that fill the same bar count once (the earliest)",
        "events": {"matching": n_events, **{k: v for k, v in (filters or {}).items()}},
    }
