"""The daily signal report: what each strategy says today, per symbol, and how risky acting on it is.

This module computes the report (data -> `Report`, a plain JSON-able structure);
`sitcli.report_render` renders it as JSON, Markdown and HTML and writes the files.

For an as-of instant T (the end of the --asof day, or now) the report uses only bars that had
closed by T and catalysts known by T (a date-only catalyst counts from the end of its day), so
a past day is reproduced exactly from stored data. Per symbol it gives the last bar, the data's
freshness, and per strategy the day's signal with its reason, a position size for the risk
budget, the liquidation price and its distance, the carry (funding or financing) and the
strategy's backtest over the `lookback_days` up to the last bar.

Definitions (also printed in every report):

- risk budget: the margin put up for one position, the most an isolated or negative-balance-
  protected position can lose to a liquidation (a gap through it can cost more without that
  protection). notional = budget x leverage, cut to the largest notional the venue's
  maintenance bracket allows at that leverage.
- leverage: --leverage, else the venue's default, capped at the venue's maximum.
- liquidation: sitcli.liquidation (the engine's formulas) for that position, entered at the
  position's entry price, or at the last close for a new or hypothetical one.
- distance in daily standard deviations: ln(liquidation / close) over the standard deviation
  of the last VOL_DAYS daily log returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sitcli.catalysts import event_time as _event_time
from sitcli.catalysts import event_words as _event_words
from sitcli.data.store import synthetic_label
from sitcli.errors import BadInput, DataMissing

SCHEMA_VERSION = 1
FORMATS = ("json", "md", "html")
SCHEDULED_CATEGORIES = ("earnings", "keynote")   # dates announced in advance: may be "upcoming"
RECENT_DAYS = 14
UPCOMING_DAYS = 30
VOL_DAYS = 60
CHART_BARS = 90
MAX_CATALYSTS_NAMED = 3   # in one reason: stale data can have many catalysts waiting
SESSION_SLACK_DAYS = 3     # weekends and holidays of exchange-traded symbols
RISK_BUDGET_MEANING = (
    "margin put up per position: the most it can lose to a liquidation (a gap can cost more "
    "where the venue has no negative balance protection); notional = budget x leverage, cut "
    "to what the venue's maintenance bracket allows at that leverage")
STD_MEANING = f"distance ln(liquidation/close) over the std of the last {VOL_DAYS} daily log returns"
ACTIONS = ("enter long", "enter short", "exit", "hold", "none")


@dataclass
class ReportConfig:
    strategies: list[str]
    symbols: list[str]
    asof: str | None = None          # YYYY-MM-DD; None: today, bars closed by now
    timeframe: str = "1d"
    leverage: float | None = None    # None: each venue's default
    risk_budget: float = 1000.0
    max_age: str | None = None       # e.g. 36h, 3d; None: by timeframe and calendar
    lookback_days: int = 365
    venue: str | None = None
    cash: float = 10_000.0           # the backtest's account (its stats are in %)
    pull: list = field(default_factory=list)   # PullReport per symbol when --pull ran
    allow_above_cap: bool = False    # --leverage above a venue's cap (as in backtest)


@dataclass
class Chart:
    """What the HTML draws for one symbol."""
    times: list
    closes: list
    marks: list            # (time, kind) with kind "long", "short" or "exit"
    liquidation: float | None


@dataclass
class Report:
    data: dict             # the JSON document (schema: datasets/report.schema.json)
    charts: dict           # symbol -> Chart

    @property
    def problems(self) -> list[dict]:
        return [s for s in self.data["symbols"] if s["status"] != "ok"]

    @property
    def exit_code(self) -> int:
        return self.data["exit_code"]


# The report's overall status, from its symbols' (worst first), and the exit code of each:
# a symbol that could not be reported is a runtime failure (1), stale or missing data is 3,
# a failed pull whose stored data is still fresh enough is a warning (0).
STATUS_EXIT = {"errors": 1, "problems": 3, "warnings": 0, "ok": 0}


def overall_status(symbols: list[dict], warnings: list[str]) -> str:
    if any(s["status"] == "error" for s in symbols):
        return "errors"
    if any(s["status"] != "ok" for s in symbols):
        return "problems"
    return "warnings" if warnings else "ok"


# --------------------------------------------------------------------------------------------
# time


def parse_duration(text: str, flag: str = "--max-age"):
    import pandas as pd

    units = {"m": "min", "h": "h", "d": "D", "w": "W"}
    text = str(text).strip()
    try:
        if text[-1:] not in units:
            raise ValueError
        value = pd.Timedelta(f"{float(text[:-1])}{units[text[-1]]}")
    except ValueError:
        raise BadInput(f"{flag} {text!r}: use a number and a unit, e.g. 36h, 3d or 90m") from None
    if value <= pd.Timedelta(0):
        raise BadInput(f"{flag} {text!r} must be positive")
    return value


def asof_instant(asof: str | None, now):
    """(day, T): the report's date and the instant it is as of. A past day ends at midnight
    UTC; today (or no --asof) is as of `now`, so unfinished bars are never used."""
    import pandas as pd

    now = pd.Timestamp(now).tz_convert("UTC") if pd.Timestamp(now).tzinfo else \
        pd.Timestamp(now).tz_localize("UTC")
    if asof is None:
        return now.normalize(), now
    try:
        day = pd.Timestamp(asof)
    except (ValueError, TypeError):
        day = pd.NaT
    if pd.isna(day) or day != day.normalize():
        raise BadInput(f"--asof {asof!r}: use a date, YYYY-MM-DD")
    day = day.tz_localize("UTC") if day.tzinfo is None else day.tz_convert("UTC")
    if day > now.normalize():
        raise BadInput(f"--asof {asof}: in the future (today is {now:%Y-%m-%d} UTC)")
    return day, min(day + pd.Timedelta("1D"), now)


def default_max_age(timeframe: str, is_24_7: bool):
    """Two bars, plus the weekend and a holiday for symbols that trade in sessions."""
    import pandas as pd

    from sitcli.bars import bar_duration

    return 2 * bar_duration(timeframe) + (pd.Timedelta(0) if is_24_7
                                          else pd.Timedelta(days=SESSION_SLACK_DAYS))


# --------------------------------------------------------------------------------------------
# building


def build_report(cfg: ReportConfig, store, events, now) -> Report:
    """The whole report; a symbol without usable data is marked, never dropped."""
    from sitcli import __version__
    from sitcli.events import known_times
    from sitcli.strategy import load_strategy

    if not cfg.strategies:
        raise BadInput("pass at least one --strategy, e.g. --strategy catalyst_momentum")
    if len(set(cfg.symbols)) != len(cfg.symbols) or not cfg.symbols:
        raise BadInput("--symbols: give each symbol once, e.g. --symbols NVDA,AMD")
    if not (cfg.risk_budget > 0 and math.isfinite(cfg.risk_budget)):
        raise BadInput(f"--risk-budget {cfg.risk_budget:g} must be a positive amount")
    from sitcli import instruments as inst_mod

    if cfg.leverage is not None:
        # the same check, and the same refusal, as `sitcli backtest --leverage`
        from sitcli.tiers import venue_for

        for symbol in cfg.symbols:
            inst_mod.check_leverage(cfg.leverage, venue_for(symbol, cfg.venue),
                                    cfg.allow_above_cap)
    if cfg.lookback_days < 30:
        raise BadInput(f"--lookback-days {cfg.lookback_days}: use at least 30")
    max_age = parse_duration(cfg.max_age) if cfg.max_age else None
    day, instant = asof_instant(cfg.asof, now)
    strategies = [load_strategy(name) for name in dict.fromkeys(cfg.strategies)]
    store = _parsing_once(store)
    # the calendar's rows known by the instant (known_times: a date-only row from its day's end)
    stamped = known_times(events.assign(row=range(len(events))))
    raw_known = events.iloc[sorted(stamped.loc[stamped["time"] <= instant, "row"])]
    raw_known = raw_known.reset_index(drop=True)
    known = known_times(raw_known)
    pulls = {p.symbol: p for p in cfg.pull}

    symbols, charts, synthetic_sources, warnings = [], {}, [], []
    for symbol in cfg.symbols:
        try:
            entry, chart, synthetic_source = _symbol_section(
                cfg, store, symbol, strategies, events, raw_known, known, instant, max_age)
        except Exception as exc:   # noqa: BLE001 - one broken symbol must not sink the report
            entry, chart, synthetic_source = _error_entry(cfg, symbol, exc, max_age), None, ""
        if symbol in pulls:
            p = pulls[symbol]
            entry["pull"] = {"ok": bool(p.ok), "new_bars": int(p.new_bars),
                             "message": p.message or None}
            if not p.ok and entry["status"] == "ok":
                warnings.append(f"{symbol}: pull failed ({p.message}); reported from the stored "
                                "bars, which are still within --max-age")
        symbols.append(entry)
        if synthetic_source:
            synthetic_sources.append(synthetic_source)
        if chart is not None:
            charts[symbol] = chart
    problems = [s for s in symbols if s["status"] != "ok"]
    data = {
        "schema_version": SCHEMA_VERSION,
        "kind": "sitcli daily signal report",
        "sitcli_version": __version__,
        "asof": f"{day:%Y-%m-%d}",
        "asof_time": _iso(instant),
        "synthetic_demo_data": bool(synthetic_sources),
        "synthetic_label": synthetic_label(synthetic_sources),
        "status": overall_status(symbols, warnings),
        "exit_code": STATUS_EXIT[overall_status(symbols, warnings)],
        "settings": {
            "strategies": [{"name": s.name, "source": getattr(s, "origin", "built-in"),
                            "params": _params(s.resolve({}))} for s in strategies],
            "timeframe": cfg.timeframe,
            "leverage": cfg.leverage,
            "venue": cfg.venue,
            "risk_budget": cfg.risk_budget,
            "max_age_hours": _hours(max_age) if max_age is not None else None,
            "lookback_days": cfg.lookback_days,
            "backtest_cash": cfg.cash,
        },
        "definitions": {
            "asof_time": "only bars closed by then and catalysts known by then are used",
            "risk_budget": RISK_BUDGET_MEANING,
            "distance_daily_std": STD_MEANING,
            "max_age": ("data is stale when the last bar closed longer ago than this; default "
                        f"two bars, plus {SESSION_SLACK_DAYS} days for symbols that trade in "
                        "sessions"),
            "upcoming_catalysts": ("calendar rows of kinds announced in advance ("
                                   f"{', '.join(SCHEDULED_CATEGORIES)}) in the next "
                                   f"{UPCOMING_DAYS} days"),
            "actions": ("enter long / enter short: an order placed at the last close, filled at "
                        "the next open; exit: the position closes (at the next open, or it was "
                        "closed at the last bar by a time exit, stop, take-profit or "
                        "liquidation); hold: a position stays open; none: flat, no order"),
        },
        "problems": [f"{s['symbol']}: {s['problem']}" for s in problems],
        "warnings": warnings,
        "symbols": symbols,
    }
    return Report(data, charts)


def _error_entry(cfg, symbol: str, exc: Exception, max_age) -> dict:
    """The section of a symbol that could not be reported: status error and the reason."""
    from sitcli import instruments as inst_mod
    from sitcli.errors import SitcliError

    reason = str(exc) if isinstance(exc, SitcliError) else (
        f"internal error {type(exc).__name__}: {exc}")
    try:
        instrument = inst_mod.instrument(symbol)
        name, asset_class = instrument.name, instrument.asset_class
        venue, is_24_7 = cfg.venue or instrument.venue, instrument.is_24_7
    except Exception:   # noqa: BLE001 - the symbol itself may be what is broken
        name, asset_class, venue = symbol, inst_mod.guess_asset_class(symbol), cfg.venue or "?"
        is_24_7 = asset_class == "crypto"
    limit = max_age if max_age is not None else default_max_age(cfg.timeframe, is_24_7)
    return {"symbol": symbol, "name": name, "asset_class": asset_class, "venue": venue,
            "status": "error", "problem": reason, "source": None, "last_bar": None,
            "age_hours": None, "max_age_hours": _hours(limit), "daily_std_pct": None, "carry": None,
            "catalysts": {"recent": [], "upcoming": []}, "signals": []}


def _parsing_once(store):
    """The store for one report: each stored file parsed and checked once (a symbol's bars are
    read for its section and again by each strategy's backtest), every read its own copy."""
    import copy

    from sitcli.runs import note_read

    parsed = {}
    read_file = store._read_file

    def read_file_once(path):
        if path in parsed:
            note_read(path)
        else:
            parsed[path] = read_file(path)
        return parsed[path].copy()

    once = copy.copy(store)
    once._read_file = read_file_once
    return once


def _symbol_section(cfg, store, symbol, strategies, events, raw_known, known, instant, max_age):
    import numpy as np
    import pandas as pd

    from sitcli import instruments as inst_mod
    from sitcli.backtest import read_bars
    from sitcli.bars import bar_times
    from sitcli.tiers import venue_for

    instrument = inst_mod.instrument(symbol)
    venue = inst_mod.venue(cfg.venue or instrument.venue, instrument.asset_class)
    limit = max_age if max_age is not None else default_max_age(cfg.timeframe, instrument.is_24_7)
    entry = {"symbol": symbol, "name": instrument.name, "asset_class": instrument.asset_class,
             "venue": venue.name, "status": "ok", "problem": None, "source": None,
             "last_bar": None, "age_hours": None, "max_age_hours": _hours(limit),
             "daily_std_pct": None, "carry": None,
             "catalysts": _catalysts(events, raw_known, instrument, instant),
             "signals": []}
    try:
        bars = read_bars(store, symbol, cfg.timeframe, end=instant)
    except DataMissing as exc:
        entry.update(status="missing", problem=str(exc))
        return entry, None, ""
    opens, closes = bar_times(bars.index, instrument, cfg.timeframe)
    done = np.asarray(closes <= instant)
    bars, opens, closes = bars[done], opens[done], closes[done]
    meta = bars.attrs.get("sitcli", {})
    source = str(meta.get("source", "?"))
    synthetic = source if meta.get("synthetic") else ""   # the synthetic series' source, or ""
    entry["source"] = source + (f" ({synthetic_label([source]).lower()})" if synthetic else "")
    if len(bars) < 2:
        entry.update(status="missing", problem=f"fewer than 2 {cfg.timeframe} bars closed by "
                                               f"{_iso(instant)}; pull or import its history")
        return entry, None, synthetic
    age = instant - closes[-1]
    close = float(bars["close"].iloc[-1])
    entry["last_bar"] = {"time": _iso(bars.index[-1]), "close_time": _iso(closes[-1]),
                         "close": _r(close)}
    entry["age_hours"] = _hours(age)
    if age > limit:
        entry.update(status="stale", problem=f"last bar closed {_fmt_age(age)} before "
                                             f"{_iso(instant)}, more than the {_fmt_age(limit)} "
                                             "allowed (--max-age); pull fresh data")
    std = _daily_std(bars["close"], cfg.timeframe)
    entry["daily_std_pct"] = _r(100 * std) if std is not None else None
    window_start = (bars.index[-1] - pd.Timedelta(days=cfg.lookback_days)).normalize()
    # the symbol's own brackets, as the window's backtest takes them (`backtest.load_legs`)
    venue = venue_for(symbol, cfg.venue, None, max(window_start, bars.index[0]), store.root)
    entry["carry"] = _carry(bars, venue, cfg.timeframe, store.root)
    marks, liq_for_chart = [], None
    for strategy_cls in strategies:
        try:
            signal, trades = _strategy_signal(cfg, store, symbol, strategy_cls, bars, raw_known,
                                              known, instrument, venue, window_start, std)
        except DataMissing as exc:   # e.g. too few bars in the window: this symbol only
            entry.update(status="missing", problem=f"{strategy_cls.name}: {exc}", signals=[])
            return entry, None, synthetic
        if entry["status"] == "stale":
            signal["reason"] = (f"ON STALE DATA (as of the {entry['last_bar']['time'][:10]} bar): "
                                + signal["reason"])
        entry["signals"].append(signal)
        if not marks:
            marks = trades
            liq_for_chart = (signal["liquidation"] or {}).get("price")
    shown = bars.iloc[-CHART_BARS:]
    chart = Chart([t for t in shown.index], [float(c) for c in shown["close"]],
                  [m for m in marks if m[0] >= shown.index[0]], liq_for_chart)
    return entry, chart, synthetic


def _strategy_signal(cfg, store, symbol, strategy_cls, bars, raw_known, evs, instrument, venue,
                     window_start, std):
    """Backtest the strategy on the window up to the last bar; read today's action off it."""
    from sitcli.backtest import RunConfig, event_fill_bars, run_backtest

    params = strategy_cls.resolve({})
    lev_wanted = venue.default_leverage if cfg.leverage is None else cfg.leverage
    lev = lev_wanted
    if not cfg.allow_above_cap:
        lev = min(lev, venue.max_leverage)
        if venue.margin_mode != "account":
            lev = min(lev, venue.tiers.max_leverage[0])
    start = max(window_start, bars.index[0])
    run = RunConfig(symbols=[symbol], strategy=strategy_cls.origin if _is_file(strategy_cls)
                    else strategy_cls.name, leverage=lev, venue=cfg.venue, cash=cfg.cash,
                    start=_iso(start), end=_iso(bars.index[-1]), timeframe=cfg.timeframe,
                    allow_above_cap=cfg.allow_above_cap)
    result = run_backtest(run, store, raw_known)
    leg = result.legs[0]
    index = leg.bars.index
    n = len(index)
    trades = result.trades_frame()
    stats = result.run_stats()[0]
    fills = event_fill_bars(leg, evs, "open")
    entries, exits = _orders(result, leg, evs, store)
    # a strategy whose orders do not change without the calendar is not trading news
    no_news = _orders(result, leg, evs.iloc[0:0], store)
    if (no_news[0] == entries).all() and (no_news[1] == exits).all():
        fills = None

    last = index[-1]
    open_trade = trades[trades["exit_reason"] == "end"]
    closed_now = trades[(trades["exit_time"] == last) & (trades["exit_reason"] != "end")]
    position = None
    if len(open_trade):
        t = open_trade.iloc[-1]
        k = index.get_loc(t["entry_time"])
        position = {"side": t["side"], "since": _iso(t["entry_time"]),
                    "entry_price": _r(float(t["entry_price"])), "bars_held": int(n - k),
                    "reason": _entry_reason(strategy_cls, params, evs, fills, k - 1, instrument)}
    order = int(entries[-1])
    side_word = {1: "long", -1: "short"}
    hold = int(params.get("hold") or 0)
    if exits[-1] and position is not None:
        action, reason = "exit", "the strategy's exit signal at the last close"
    elif order and (position is None or position["side"] != side_word[order]):
        action = f"enter {side_word[order]}"
        reason = _entry_reason(strategy_cls, params, evs, fills, n - 1, instrument)
        if position is not None:
            reason += f" (reverses the {position['side']} since {position['since'][:10]})"
    elif position is not None:
        action = "hold"
        reason = (f"{position['side']} since {position['since'][:10]}, {position['bars_held']} "
                  f"bar(s) held" + (f" of {hold}" if hold else "") + f": {position['reason']}")
        if order:
            reason += "; today's same-side signal does not add to it"
    elif len(closed_now):
        t = closed_now.iloc[-1]
        action = "exit"
        reason = (f"the {t['side']} from {_iso(t['entry_time'])[:10]} closed at the last bar: "
                  + _exit_words(t["exit_reason"], params))
        position = {"side": t["side"], "since": _iso(t["entry_time"]),
                    "entry_price": _r(float(t["entry_price"])),
                    "bars_held": int(index.get_loc(last) - index.get_loc(t["entry_time"]) + 1),
                    "reason": _exit_words(t["exit_reason"], params)}
    else:
        action, reason = "none", "no order at the last close and no open position"

    close = float(bars["close"].iloc[-1])
    if action.startswith("enter"):
        side, entry_price, basis = action.split()[1], close, "new position at the last close"
    elif position is not None:
        side, entry_price = position["side"], float(position["entry_price"])
        basis = f"{side} position from {position['since'][:10]}"
    else:
        side, entry_price, basis = "long", close, "hypothetical long at the last close (no signal)"
    size = _size(cfg.risk_budget, lev, lev_wanted, venue, entry_price)
    liq = _liquidation(side, entry_price, size, venue, close, std, basis)
    marks = _trade_marks(trades)
    window = {"start": _iso(index[0]), "end": _iso(index[-1]), "bars": n, "leverage": _r(lev)}
    keep = ("total_return_pct", "cagr_pct", "sharpe", "max_drawdown_pct", "win_rate_pct", "trades",
            "liquidations", "buy_hold_return_pct")
    backtest = {**window, **{k: _r(stats.get(k)) for k in keep}}
    backtest["trades"] = int(stats["trades"])
    backtest["liquidations"] = int(stats["liquidations"])
    return {"strategy": strategy_cls.name, "action": action, "reason": reason,
            "position": position, "size": size, "liquidation": liq, "backtest": backtest}, marks


def _orders(result, leg, evs, store):
    """The strategy's orders on the backtest's bars (the same call the backtest made), with
    the catalysts `evs`."""
    from sitcli.backtest import event_fill_bars, strategy_inputs
    from sitcli.strategy import Context, run_signals

    ctx = Context(leg.symbol, leg.instrument.asset_class, leg.open_times, leg.close_times,
                  event_fill_bars(leg, evs, "open"),
                  strategy_inputs(result.strategy, leg, store, result.cfg))
    return run_signals(result.strategy(), leg.bars, evs, result.combos[0], ctx)


def _is_file(strategy_cls) -> bool:
    return str(getattr(strategy_cls, "origin", "")).endswith(".py")


def _trade_marks(trades):
    out = []
    for t in trades.itertuples(index=False):
        out.append((t.entry_time, t.side))
        if t.exit_reason != "end":
            out.append((t.exit_time, "exit"))
    return out


def _entry_reason(strategy_cls, params, evs, fills, order_bar, instrument) -> str:
    """Which catalyst (or rule) an order on `order_bar` acted on, from the calendar and the
    strategy's own filters: the catalysts whose first bar is the next one, else the latest
    before it. `fills` is None for a strategy that does not read the calendar."""
    import numpy as np

    rule = strategy_cls.summary()
    rule = rule.split(": ", 1)[1] if ": " in rule else rule
    own = [f"{k}={v}" for k, v in params.items() if k in strategy_cls.params and k != "hold"]
    rule = rule.rstrip(".") + (f" [{', '.join(own)}]" if own else "")
    if fills is None:
        return f"rule: {rule}"
    from sitcli.events import about

    mine = about(evs, instrument.symbol, instrument.asset_class)
    if "status" in params and isinstance(params["status"], str):
        wanted = {s.strip() for s in params["status"].split(",") if s.strip()}
        mine &= evs["status"].isin(wanted).to_numpy()
    if params.get("category"):
        mine &= (evs["category"] == params["category"]).to_numpy()
    if order_bar < 0:
        return f"rule: {rule}"
    acted = np.flatnonzero(mine & (fills == order_bar + 1))[::-1]   # the latest first
    if len(acted):
        listed = "; ".join(_event_words(evs.iloc[i]) for i in acted[:MAX_CATALYSTS_NAMED])
        more = len(acted) - MAX_CATALYSTS_NAMED
        return (f"catalyst {listed}" + (f"; and {more} earlier since the last bar" if more > 0
                                         else "") + f" (rule: {rule})")
    before = np.flatnonzero(mine & (fills <= order_bar + 1))
    if len(before):
        i = before[-1]
        return (f"rule: {rule}; latest catalyst before it: {_event_words(evs.iloc[i])}, "
                f"{order_bar + 1 - int(fills[i])} bar(s) earlier")
    return f"rule: {rule}"


def _exit_words(reason: str, params: dict) -> str:
    pct = {k: params.get(k) for k in ("stop", "take")}
    return {
        "time": f"time exit after {params.get('hold')} bars",
        "stop": f"stop-loss ({_pct_text(pct['stop'])} adverse move)",
        "take": f"take-profit ({_pct_text(pct['take'])} move)",
        "liquidation": "liquidated",
        "close-out": "closed out by the broker (margin close-out)",
        "signal": "the strategy's exit signal",
    }.get(reason, reason)


def _pct_text(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else \
        f"{100 * value:g}%"


def _size(budget: float, lev: float, lev_wanted: float, venue, price: float) -> dict:
    """The position `backtest` would open from an account of `budget` at `lev`
    (`liquidation.build_position`, the engine's opening rule: the entry fee on top of the
    margin, the notional cut to the venue's brackets)."""
    from sitcli.liquidation import build_position

    notes = []
    if lev < lev_wanted:
        notes.append(f"leverage {lev_wanted:g}x capped at {venue.name}'s {lev:g}x")
    pos = build_position("long", price, lev, venue, cash=budget, allow_above_cap=True)
    if pos.requested_qty > pos.qty * (1 + 1e-12):
        notes.append(f"notional cut to {pos.notional:,.0f}, the most {venue.name}'s "
                     f"{venue.tiers.name} brackets allow at {lev:g}x")
    return {"leverage": _r(lev), "margin": _r(pos.margin), "notional": _r(pos.notional),
            "qty": _r(pos.qty), "note": "; ".join(notes) or None}


def _liquidation(side: str, entry: float, size: dict, venue, close: float, std, basis: str):
    from sitcli.liquidation import build_position, position_liquidation_price

    try:
        pos = build_position(side, entry, float(size["leverage"]), venue,
                             qty=float(size["qty"]), allow_above_cap=True)
    except BadInput as exc:
        return {"side": side, "basis": basis, "entry": _r(entry), "price": None,
                "distance_pct": None, "distance_daily_std": None, "note": str(exc)}
    lp = position_liquidation_price(pos)
    if not (lp > 0 and math.isfinite(lp)):
        return {"side": side, "basis": basis, "entry": _r(entry), "price": None,
                "distance_pct": None, "distance_daily_std": None,
                "note": "cannot be liquidated at this leverage (liquidation price at or below 0)"}
    distance = 100 * (lp / close - 1)
    sigmas = abs(math.log(lp / close)) / std if std else None
    return {"side": side, "basis": basis, "entry": _r(entry), "price": _r(lp),
            "distance_pct": _r(distance), "distance_daily_std": _r(sigmas),
            "note": "already beyond the liquidation price at the last close"
                    if (lp - close) * (1 if side == "long" else -1) >= 0 else None}


def _daily_std(closes, timeframe: str):
    import numpy as np
    import pandas as pd

    from sitcli.bars import bar_duration

    series = closes
    if bar_duration(timeframe) < pd.Timedelta("1D"):
        series = closes.groupby(closes.index.normalize()).last()
    returns = np.diff(np.log(series.to_numpy(np.float64)))[-VOL_DAYS:]
    if len(returns) < 2:
        return None
    return float(np.std(returns, ddof=1))


def _carry(bars, venue, timeframe: str, data_root=None) -> dict:
    """Funding or financing as the cost per day for a long and a short (negative: received):
    `bars.carry_per_day`, the clock the backtest charges by and `scenario` averages."""
    import pandas as pd

    from sitcli.bars import bar_duration, carry_per_day, financing_rates

    when = bars.index[-1]

    def per_day() -> dict:
        return {f"{name}_pct_per_day": _r(100 * carry_per_day(side, venue, when, data_root))
                for name, side in (("long", 1), ("short", -1))}

    if venue.funding_rate_8h:
        if "funding_rate" in bars and bars["funding_rate"].notna().any():
            rate = float(bars["funding_rate"].dropna().iloc[-1])
            per_day = rate * (pd.Timedelta("1D") / bar_duration(timeframe))
            return {"kind": "funding", "rate_pct": _r(100 * rate), "per": f"{timeframe} bar",
                    "source": "the last stored funding rate",
                    "long_pct_per_day": _r(100 * per_day), "short_pct_per_day": _r(-100 * per_day)}
        return {"kind": "funding", "rate_pct": _r(100 * venue.funding_rate_8h), "per": "8h",
                "source": f"{venue.name} default (no funding history stored)", **per_day()}
    long_rate, short_rate = financing_rates(venue, when, data_root)
    if long_rate or short_rate:
        bench = long_rate - venue.financing_markup
        name = (f"{venue.benchmark_series} on {when:%Y-%m-%d} " if venue.benchmark_series
                else "")
        return {"kind": "financing", "rate_pct": _r(100 * long_rate), "per": "year",
                "source": (f"{venue.name}: benchmark {name}{100 * bench:g}% "
                           f"± markup {100 * venue.financing_markup:g}% over "
                           f"{venue.financing_days:g} days"), **per_day()}
    return {"kind": "none", "rate_pct": 0.0, "per": None, "source": f"{venue.name} charges none",
            "long_pct_per_day": 0.0, "short_pct_per_day": 0.0}


def _catalysts(events, raw_known, instrument, instant) -> dict:
    import pandas as pd

    from sitcli.events import about

    def listing(frame):
        return frame[about(frame, instrument.symbol, instrument.asset_class)]

    recent = listing(raw_known)
    recent = recent[recent["time"] >= instant - pd.Timedelta(days=RECENT_DAYS)]
    ahead = listing(events)
    ahead = ahead[(ahead["time"] > instant) & ahead["category"].isin(SCHEDULED_CATEGORIES)
                  & (ahead["status"] == "confirmed")
                  & (ahead["time"] <= instant + pd.Timedelta(days=UPCOMING_DAYS))]
    return {"recent": [_event_record(r) for _, r in recent.iloc[::-1].iterrows()],
            "upcoming": [_event_record(r) for _, r in ahead.iterrows()]}


def _event_record(row) -> dict:
    return {"time": _event_time(row), "title": str(row["title"]), "category": str(row["category"]),
            "status": str(row["status"]), "direction": int(row["direction"])}


# --------------------------------------------------------------------------------------------
# small helpers


def _iso(t) -> str:
    import pandas as pd

    t = pd.Timestamp(t)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _hours(delta) -> float:
    return round(delta.total_seconds() / 3600, 2)


def _fmt_age(delta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} h"


def _r(value, digits: int = 6):
    """Rounded to `digits` significant figures (files stay readable and stable); NaN -> None."""
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    if value == 0:
        return 0.0
    return float(f"{value:.{digits}g}")


def _params(params: dict) -> dict:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in params.items()}


# --------------------------------------------------------------------------------------------
# rendering lives in sitcli.report_render; its names stay importable from here

_RENDERED = ("RENDERERS", "to_json", "to_markdown", "to_html", "write_report", "svg_chart",
             "signal_rows", "status_block", "SUMMARY_COLUMNS", "BACKTEST_COLUMNS", "PRICE_COLOR",
             "LIQ_COLOR")


def __getattr__(name: str):
    if name in _RENDERED:
        from sitcli import report_render

        return getattr(report_render, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
