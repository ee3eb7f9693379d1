"""The built-in strategies on hand-made bars and events: exact order bars, signs, no look-ahead.

Bars are daily from Monday 2024-01-01 (bar i is 2024-01-(i+1)), every calendar day, with an
equity-like session: open 14:30 UTC, close 21:00 UTC. An event's fill bar j is the first bar
opening at or after it; its order sits on bar j-1. So news at 22:00 on day d (after the close of
bar d-1) is ordered on bar d-1 and fills at bar d's open; news at 12:00 on day d is ordered on
bar d-2 and fills at bar d's open too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sitcli.errors import BadInput
from sitcli.events import COLUMNS
from sitcli.strategy import Context, Strategy, check_no_lookahead, load_strategy, run_signals

NAMES = ("catalyst_momentum", "catalyst_fade", "confirmation_breakout", "sit_shock", "buy_and_hold")


def make_bars(closes) -> pd.DataFrame:
    c = np.asarray(closes, np.float64)
    o = np.concatenate([[c[0]], c[:-1]])
    index = pd.date_range("2024-01-01", periods=len(c), freq="D", tz="UTC")
    return pd.DataFrame({"open": o, "high": np.maximum(o, c) + 0.5, "low": np.minimum(o, c) - 0.5,
                         "close": c, "volume": 1.0}, index=index)


def make_events(*rows) -> pd.DataFrame:
    """rows: (time, category, direction, status[, asset_classes[, title]])."""
    out = []
    for n, row in enumerate(rows):
        time, category, direction, status, *rest = row
        classes = rest[0] if rest else "equity;index;crypto;synthetic"
        title = rest[1] if len(rest) > 1 else f"event {n}"
        out.append({"time": time, "title": title, "category": category, "direction": direction,
                    "status": status, "asset_classes": classes, "symbols": "",
                    "reach": "asset_class", "source": "test"})
    frame = pd.DataFrame(out, columns=list(COLUMNS))
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def make_context(bars, events, symbol="NVDA", asset_class="equity", series=None) -> Context:
    open_times = bars.index + pd.Timedelta("14h30min")
    close_times = bars.index + pd.Timedelta("21h")
    event_bars = np.searchsorted(open_times, events["time"], side="left")
    return Context(symbol, asset_class, open_times, close_times, event_bars, series or {})


NO_EVENTS = make_events()


def run(name, bars, events, context=None, **given):
    """Signals of a built-in with its defaults overridden by `given`, checked for look-ahead."""
    cls = load_strategy(name)
    strategy = cls()
    params = cls.resolve({k: str(v) for k, v in given.items()})
    context = context or make_context(bars, events)
    entries, exits = run_signals(strategy, bars, events, params, context)
    check_no_lookahead(strategy, bars, events, params, context, entries, exits, cuts=40)
    return entries, exits


def orders(entries) -> dict[int, int]:
    return {int(t): int(entries[t]) for t in np.flatnonzero(entries)}


@pytest.mark.parametrize("name", NAMES)
def test_each_builtin_loads_with_a_summary(name):
    cls = load_strategy(name)
    assert cls.name == name and cls.summary().startswith(f"{name}: ")
    assert set(cls.all_params()) >= {"stop", "take", "hold"}


def test_engine_defaults_overridden_where_declared():
    assert load_strategy("catalyst_momentum").resolve({})["hold"] == 5
    assert load_strategy("catalyst_fade").resolve({})["hold"] == 5
    assert load_strategy("confirmation_breakout").resolve({})["hold"] == 5
    assert load_strategy("sit_shock").resolve({})["hold"] == 3
    assert load_strategy("buy_and_hold").resolve({})["hold"] == 0     # the engine's: off


# --- catalyst_momentum -----------------------------------------------------------------------

MOMENTUM_EVENTS = make_events(
    ("2024-01-01T10:00Z", "keynote", 1, "confirmed"),        # before bar 0 opens: j=0, no bar to order on
    ("2024-01-03T22:00Z", "earnings", 1, "confirmed"),       # after bar 2's close: j=3, order on bar 2
    ("2024-01-06T15:00Z", "export-control", -1, "confirmed"),  # during bar 5: j=6, order on 5
    ("2024-01-09T12:00Z", "deal", 1, "rumor"),               # before bar 8 opens: j=8, order on 7
    ("2024-01-11T12:00Z", "deal", 1, "denied"),              # denied: not in the default statuses
    ("2024-01-13T12:00Z", "keynote", 0, "confirmed"),        # direction 0: j=12, only side=long/short
    ("2024-01-15T12:00Z", "earnings", 1, "confirmed", "crypto"),  # not for equities
    ("2024-01-20T16:00Z", "earnings", -1, "confirmed"),      # after the last open: j=20=n, order on 19
)


def test_catalyst_momentum_follows_each_events_direction():
    bars = make_bars(np.linspace(100, 120, 20))
    entries, exits = run("catalyst_momentum", bars, MOMENTUM_EVENTS)
    # +1 earnings (bar 2), -1 export control (bar 5), +1 rumor (bar 7), -1 on the last bar (it
    # fills at the next, unseen open); j=0, denied, direction 0 and the crypto-only event: none
    assert orders(entries) == {2: 1, 5: -1, 7: 1, 19: -1}
    assert not exits.any()


def test_catalyst_momentum_side_status_and_category():
    bars = make_bars(np.linspace(100, 120, 20))
    # side=long: every selected event is bought, the direction-0 keynote included (bar 11)
    assert orders(run("catalyst_momentum", bars, MOMENTUM_EVENTS, side="long")[0]) == {
        2: 1, 5: 1, 7: 1, 11: 1, 19: 1}
    # side=short: the same bars sold
    assert orders(run("catalyst_momentum", bars, MOMENTUM_EVENTS, side="short")[0]) == {
        2: -1, 5: -1, 7: -1, 11: -1, 19: -1}
    # status=confirmed drops the rumor on bar 7
    assert orders(run("catalyst_momentum", bars, MOMENTUM_EVENTS, status="confirmed")[0]) == {
        2: 1, 5: -1, 19: -1}
    # status=denied trades only the denied deal (12:00 on day 11: j=10, order on bar 9)
    assert orders(run("catalyst_momentum", bars, MOMENTUM_EVENTS, status="denied")[0]) == {9: 1}
    # category=export-control keeps only the short on bar 5
    assert orders(run("catalyst_momentum", bars, MOMENTUM_EVENTS,
                      category="export-control")[0]) == {5: -1}
    # on a crypto instrument the crypto-only event (12:00 on day 15: j=14) is traded on bar 13
    crypto = make_context(bars, MOMENTUM_EVENTS, "BTC-PERP", "crypto")
    assert orders(run("catalyst_momentum", bars, MOMENTUM_EVENTS, crypto)[0]) == {
        2: 1, 5: -1, 7: 1, 13: 1, 19: -1}
    with pytest.raises(BadInput, match="side='sideways'"):
        run("catalyst_momentum", bars, MOMENTUM_EVENTS, side="sideways")


# --- catalyst_fade ---------------------------------------------------------------------------

FADE_CLOSES = [100, 100, 100, 105, 105, 105, 105, 105, 105, 101,
               101, 101, 101, 101, 101, 97, 97, 97, 99, 99]
FADE_EVENTS = make_events(
    # R1 after bar 2's close: first move close[2]=100 -> close[3]=105 (+5%), never confirmed
    ("2024-01-03T22:00Z", "deal", 1, "rumor"),
    # R2 after bar 8's close: 105 -> 101 (-3.8%), confirmed 14h later than 1 day after it
    ("2024-01-09T22:00Z", "earnings", 1, "rumor"),
    ("2024-01-11T12:00Z", "earnings", 1, "confirmed"),
    # R3 after bar 14's close: 101 -> 97 (-4.0%); a "deal" is confirmed only 3.6 days later
    ("2024-01-15T22:00Z", "deal", 1, "rumor"),
    ("2024-01-19T12:00Z", "deal", 1, "confirmed"),
    # R4 after bar 17's close: 97 -> 99 (+2.1%); its 3-day window ends after the last bar
    ("2024-01-18T22:00Z", "keynote", 1, "rumor"),
    # a rumor on crypto only: ignored on equities
    ("2024-01-05T22:00Z", "deal", 1, "rumor", "crypto"),
)


def test_catalyst_fade_fades_unconfirmed_rumors_after_the_window():
    bars = make_bars(FADE_CLOSES)
    entries, exits = run("catalyst_fade", bars, FADE_EVENTS)
    # R1: first close at or after 01-06 22:00 is bar 6 (01-07 21:00): short against the +5%
    # R2: confirmed on 01-11 12:00, inside (01-09 22:00, 01-12 22:00]: no trade
    # R3: its window ends 01-18 22:00; the confirmation at 01-19 12:00 is too late, so on
    #     bar 18 (01-19 21:00) it goes long against the -4%
    # R4: the window closes 01-21 22:00, after the last bar (19): no decision yet
    assert orders(entries) == {6: -1, 18: 1}
    assert not exits.any()


def test_catalyst_fade_params():
    bars = make_bars(FADE_CLOSES)
    # confirm_days=1: R1 on bar 4 (01-05 21:00 >= 01-04 22:00); R2's confirmation now falls
    # outside (01-09 22:00, 01-10 22:00], so it is faded long on bar 10; R3 long on bar 16;
    # R4 short against its +2.1% on bar 19
    assert orders(run("catalyst_fade", bars, FADE_EVENTS, confirm_days=1)[0]) == {
        4: -1, 10: 1, 16: 1, 19: -1}
    # min_move=0.045 keeps only R1's +5% (R3 moved 4.0%)
    assert orders(run("catalyst_fade", bars, FADE_EVENTS, min_move=0.045)[0]) == {6: -1}
    # confirm_days=4: R3's confirmation (3.6 days later) now counts, and R1's decision moves
    # to bar 7 (01-08 21:00 >= 01-07 22:00)
    assert orders(run("catalyst_fade", bars, FADE_EVENTS, confirm_days=4)[0]) == {7: -1}


def test_catalyst_fade_confirmation_matches_title_too():
    bars = make_bars(FADE_CLOSES)
    events = make_events(
        ("2024-01-03T22:00Z", "deal", 1, "rumor", "equity", "Stargate"),
        # a different category but the same headline, confirmed a day later: R1 is not faded
        ("2024-01-04T22:00Z", "infrastructure", 1, "confirmed", "equity", "Stargate"),
    )
    assert orders(run("catalyst_fade", bars, events)[0]) == {}


# --- confirmation_breakout -------------------------------------------------------------------

BREAKOUT_CLOSES = [100, 101, 99, 100, 101, 99, 100, 101,     # 0-7: range
                   101, 102,                                  # 8 inside, 9 above E1's range
                   101, 102, 101, 102,                        # 10-13: E2's range
                   101, 100, 103,                             # 14 inside, 15 below, 16 above
                   103, 104, 103, 104, 103,                   # 17-21: E3's range
                   103, 104, 103, 104, 103,                   # 22-26: inside for E3's 5 bars
                   106, 106, 106]                             # 27: breakout one bar too late


def breakout_events():
    return make_events(
        ("2024-01-02T22:00Z", "keynote", 1, "confirmed"),     # j=2 < lookback 5: skipped
        ("2024-01-08T22:00Z", "earnings", 1, "confirmed"),    # E1: j=8
        ("2024-01-14T22:00Z", "export-control", -1, "confirmed"),  # E2: j=14
        ("2024-01-17T22:00Z", "deal", 1, "rumor"),            # a rumor: never traded
        ("2024-01-22T22:00Z", "keynote", 1, "confirmed"),     # E3: j=22
    )


def test_confirmation_breakout_trades_the_first_close_outside_the_range():
    bars = make_bars(BREAKOUT_CLOSES)
    entries, exits = run("confirmation_breakout", bars, breakout_events())
    # E1: range of bars 3-7 is high 101.5 (bar 7: open 100, close 101, +0.5) .. low 98.5;
    #     bar 8 closes 101 (inside), bar 9 at 102 > 101.5: long on bar 9
    # E2: bars 9-13 span 100.5 .. 102.5; bar 14 closes 101 (inside), bar 15 at 100 < 100.5: short
    # the rumor (j=17, range 12-16 tops at 103.5) would have gone long on bar 18 at 104: ignored
    # E3: bars 17-21 span 102.5 .. 104.5; bars 22-26 stay inside, 106 comes on bar 27 = j+5
    assert orders(entries) == {9: 1, 15: -1}
    assert not exits.any()


def test_confirmation_breakout_params():
    bars = make_bars(BREAKOUT_CLOSES)
    events = breakout_events()
    # allow_short=false: E2's downside close on bar 15 is ignored, its upside close on bar 16
    # (103 > 102.5) still falls in the window and goes long
    assert orders(run("confirmation_breakout", bars, events, allow_short=False)[0]) == {
        9: 1, 16: 1}
    # window=6 reaches bar 27 for E3
    assert orders(run("confirmation_breakout", bars, events, window=6)[0]) == {
        9: 1, 15: -1, 27: 1}
    # lookback=2: the early keynote (j=2) now has a range, bars 0-1 (99.5 .. 101.5), and bar 2
    # closes 99 below it: short; E1's range is bars 6-7 (98.5 .. 101.5) and bar 9 still breaks
    assert orders(run("confirmation_breakout", bars, events, lookback=2)[0]) == {
        2: -1, 9: 1, 15: -1}
    with pytest.raises(BadInput, match="at least 1"):
        run("confirmation_breakout", bars, events, window=0)


# --- sit_shock -------------------------------------------------------------------------------

def sit_series(n=30):
    """SIT closes: ±1% alternating log returns, +5% on bar 25, -5% on bar 27, +2% on bar 29;
    no SIT data before bar 2 (NaN)."""
    r = np.where(np.arange(n) % 2, 0.01, -0.01)
    r[[25, 27, 29]] = [0.05, -0.05, 0.02]
    sit = 100 * np.exp(np.cumsum(r))
    sit[:2] = np.nan
    return sit


def test_sit_shock_trades_k_sigma_moves_of_sit():
    bars = make_bars(np.linspace(50, 60, 30))
    sit = pd.Series(sit_series(), index=bars.index)
    context = make_context(bars, NO_EVENTS, series={"SIT": sit})
    entries, exits = run("sit_shock", bars, NO_EVENTS, context)
    # returns exist from bar 3 (bar 2 is SIT's first close); 20 of them before the current bar
    # first exist at bar 23. The ±1% returns have sd ~1.03%, so +5% on bar 25 is a shock (long);
    # with it in the window sd ~1.51% and -5% on bar 27 is one too (short); with both in the
    # window sd ~1.89% and +2% on bar 29 is below 2 sd
    assert orders(entries) == {25: 1, 27: -1}
    assert not exits.any()
    # side=against fades them
    assert orders(run("sit_shock", bars, NO_EVENTS, context, side="against")[0]) == {25: -1, 27: 1}
    # k=1: +2% on bar 29 is above 1 sd (~1.89%) too
    assert orders(run("sit_shock", bars, NO_EVENTS, context, k=1.0)[0]) == {25: 1, 27: -1, 29: 1}


def test_sit_shock_on_sit_itself_and_without_sit():
    closes = sit_series()[2:]                       # SIT from its first close: 28 bars
    bars = make_bars(closes)
    # on SIT without a series: its own close; the shocks are bars 23 and 25 of this table,
    # but with 20 returns needed before them (returns from bar 1, first sd at bar 21) both count
    context = make_context(bars, NO_EVENTS, symbol="SIT", asset_class="synthetic")
    assert orders(run("sit_shock", bars, NO_EVENTS, context)[0]) == {23: 1, 25: -1}
    with_series = make_context(bars, NO_EVENTS, "SIT", "synthetic", {"SIT": bars["close"]})
    assert orders(run("sit_shock", bars, NO_EVENTS, with_series)[0]) == {23: 1, 25: -1}
    with pytest.raises(BadInput, match="needs the SIT index"):
        run("sit_shock", bars, NO_EVENTS, make_context(bars, NO_EVENTS, "NVDA"))


# --- buy_and_hold ----------------------------------------------------------------------------

def test_buy_and_hold_buys_on_the_first_bar_and_never_exits():
    bars = make_bars(np.linspace(100, 80, 15))
    entries, exits = run("buy_and_hold", bars, MOMENTUM_EVENTS)
    # one long order on bar 0, filled at bar 1's open; the engine closes it at the end
    assert orders(entries) == {0: 1}
    assert not exits.any()
    entries, exits = run("buy_and_hold", bars.iloc[:1], NO_EVENTS)
    assert orders(entries) == {0: 1} and len(exits) == 1


# --- the look-ahead check itself -------------------------------------------------------------

class Peeker(Strategy):
    """Trades tomorrow's close today: the look-ahead check must catch it."""

    name = "peeker"

    def signals(self, bars, events, params, context):
        close = bars["close"].to_numpy()
        entries = np.zeros(len(bars), np.int8)
        entries[:-1] = np.sign(np.diff(close))
        return entries, np.zeros(len(bars), bool)


def test_check_no_lookahead_rejects_a_peeking_strategy():
    bars = make_bars([100, 102, 101, 103, 104, 102, 101, 105, 106, 104,
                      103, 107, 108, 106, 105, 109, 110, 108, 107, 111])
    context = make_context(bars, NO_EVENTS)
    strategy = Peeker()
    entries, exits = run_signals(strategy, bars, NO_EVENTS, {}, context)
    with pytest.raises(BadInput, match="looks ahead"):
        check_no_lookahead(strategy, bars, NO_EVENTS, {}, context, entries, exits)
