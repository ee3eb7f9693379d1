"""`--detail` in the kernel: hand-made daily bars with hand-made hourly paths where the order
inside the day decides the outcome, and the identities detail must keep.

Rows are (open, high, low, close). A signal on bar 0 fills at bar 1's open (100). Cash is
1000, all of it margin, no costs, maintenance 0: a long at leverage L is liquidated at
100 * (1 - 1/L) and loses its whole margin there.
"""

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from engine_helpers import fine_bars, run_kernel

from sitcli.engine.records import LIQUIDATION, STOP, TAKE

# one worker compiles the `--detail` kernels for both modules (`make test`: --dist loadgroup)
pytestmark = pytest.mark.xdist_group("detail")

sys.path.insert(0, str(Path(__file__).resolve().parent / "benchmarks"))

FLAT = (100, 100, 100, 100)
DAY = (100, 106, 85, 95)     # the day: up to 106, down to 85, close 95


def day_bars(day=DAY):
    a = np.array([FLAT, day, (95, 95, 95, 95)], float)
    return a[:, 0], a[:, 1], a[:, 2], a[:, 3]


def run(hours, *, take_first=False, **kw):
    """Long from bar 1's open; `hours`: bar 1's hourly rows, None for no detail."""
    detail = None if hours is None else [[FLAT], hours, [(95, 95, 95, 95)]]
    return run_kernel(*day_bars(kw.pop("day", DAY)), [1, 0, 0], detail=detail,
                      take_first=take_first, **kw)


def only(trades):
    assert len(trades) == 1, trades
    return trades[0]


UP_FIRST = [(100, 106, 99, 105), (105, 105, 85, 95)]     # the high, then the low
DOWN_FIRST = [(100, 100, 85, 90), (90, 106, 90, 95)]     # the low, then the high


def test_take_profit_before_stop_when_the_high_comes_first():
    """Slow (20-35 s) when first in a run on an empty numba cache: it compiles the
    full-record kernel's `--detail` version, which `make warm` leaves out."""
    # stop 5% at 95, take 5% at 105; the daily rule assumes the low first: stop at 95
    kw = dict(stop=0.05, take=0.05)
    plain = only(run(None, **kw)[1])
    assert (plain["exit_reason"], plain["exit_price"]) == (STOP, 95)
    up = only(run(UP_FIRST, **kw)[1])
    # qty = 1000 / 100 = 10; take at 105: pnl = 10 * (105 - 100) = +50
    assert (up["exit_reason"], up["exit_price"], up["pnl"]) == (TAKE, 105, pytest.approx(50))
    down = only(run(DOWN_FIRST, **kw)[1])
    # the low first: stop at 95, pnl = 10 * (95 - 100) = -50, as the daily rule says
    assert (down["exit_reason"], down["exit_price"], down["pnl"]) == (STOP, 95,
                                                                     pytest.approx(-50))


def test_take_first_flatters_a_day_whose_low_came_first():
    # --take-first on daily bars takes the 105; the hours say the stop came first
    kw = dict(stop=0.05, take=0.05, take_first=True)
    assert only(run(None, **kw)[1])["exit_reason"] == TAKE
    assert only(run(DOWN_FIRST, **kw)[1])["exit_reason"] == STOP
    assert only(run(UP_FIRST, **kw)[1])["exit_reason"] == TAKE


def test_stop_before_liquidation_on_the_way_down():
    """Slow (20-35 s) when first in a run on an empty numba cache: it compiles the
    full-record kernel's `--detail` version, which `make warm` leaves out."""
    # 10x: liquidation at 100 * (1 - 1/10) = 90; stop 8% at 92. Hour 1 reaches 91 (the stop,
    # not the liquidation), hour 2 goes through 90: the stop closed the trade first.
    hours = [(100, 100, 91, 93), (93, 106, 85, 95)]
    eq, trades, liqs = run(hours, leverage=10, stop=0.08)
    t = only(trades)
    # qty = 1000 * 10 / 100 = 100; pnl = 100 * (92 - 100) = -800
    assert (t["exit_reason"], t["exit_price"], t["pnl"]) == (STOP, 92, pytest.approx(-800))
    assert len(liqs) == 0


def test_liquidated_on_the_daily_rule_and_not_with_detail():
    # 10x, take 5% at 105: the daily rule assumes the low (85) first: liquidated at 90,
    # margin 1000 lost. The hours reach 106 first: take at 105, +500.
    kw = dict(leverage=10, take=0.05)
    _, plain, plain_liqs = run(None, **kw)
    assert only(plain)["exit_reason"] == LIQUIDATION and len(plain_liqs) == 1
    assert only(plain)["pnl"] == pytest.approx(-1000)
    eq, trades, liqs = run(UP_FIRST, **kw)
    t = only(trades)
    # pnl = 100 * (105 - 100) = +500
    assert (t["exit_reason"], t["exit_price"], t["pnl"]) == (TAKE, 105, pytest.approx(500))
    assert len(liqs) == 0
    assert eq[-1] == pytest.approx(1500)


def test_liquidated_with_detail_and_not_on_the_daily_rule():
    # --take-first on the daily bar takes 105 (+500); the hours hit 85 first: liquidated
    kw = dict(leverage=10, take=0.05, take_first=True)
    assert only(run(None, **kw)[1])["exit_reason"] == TAKE
    _, trades, liqs = run(DOWN_FIRST, **kw)
    assert only(trades)["exit_reason"] == LIQUIDATION
    assert (liqs[0]["trigger_price"], liqs[0]["fill_price"], liqs[0]["extreme"]) == (90, 90, 85)


def test_a_gap_at_an_hourly_open_fills_worse_than_the_daily_rule():
    # 10x, liquidation at 90. The day's low 85 comes after a gap: hour 2 opens at 86. The
    # daily rule fills at 90 exactly; detail fills at the hourly open 86, 4 below it.
    hours = [(100, 100, 95, 96), (86, 106, 85, 95)]
    _, plain, plain_liqs = run(None, leverage=10, nbp=False)
    assert plain_liqs[0]["fill_price"] == 90 and not plain_liqs[0]["gap"]
    assert only(plain)["pnl"] == pytest.approx(-1000)
    _, trades, liqs = run(hours, leverage=10, nbp=False)
    rec = liqs[0]
    assert (rec["fill_price"], rec["gap"], rec["extreme"]) == (86, True, 85)
    # without negative balance protection: pnl = 100 * (86 - 100) = -1400, 400 beyond the
    # margin (the gap loss)
    assert only(trades)["pnl"] == pytest.approx(-1400)
    assert rec["gap_loss"] == pytest.approx(400)
    # with it, the trade loses its margin and the 400 is forgiven
    t = only(run(hours, leverage=10)[1])
    assert (t["pnl"], t["protection"]) == (pytest.approx(-1000), pytest.approx(400))


def test_a_gap_at_an_hourly_open_through_the_stop_and_the_take():
    # stop 5% (95), take 5% (105): hour 2 opens at 94, below the stop: stopped at 94
    hours = [(100, 101, 99, 100), (94, 106, 94, 100)]
    t = only(run(hours, stop=0.05, take=0.05)[1])
    assert (t["exit_reason"], t["exit_price"]) == (STOP, 94)
    hours = [(100, 101, 99, 100), (107, 107, 85, 100)]
    t = only(run(hours, stop=0.05, take=0.05)[1])
    assert (t["exit_reason"], t["exit_price"]) == (TAKE, 107)


# -- funding at an 8-hour stamp inside the day

STAMP_DAY = (100, 100, 91, 95)
STAMP_HOURS = [(100, 100, 95, 95),   # 00-08: its close is the 08:00 stamp
               (95, 95, 91, 93),     # 08-16: the day's low, 91
               (93, 96, 92, 95)]     # 16-24


def stamp_run(hours, fine_funding):
    a = np.array([FLAT, STAMP_DAY, (95, 95, 95, 95)], float)
    detail = None if hours is None else [[FLAT], hours, [(95, 95, 95, 95)]]
    return run_kernel(a[:, 0], a[:, 1], a[:, 2], a[:, 3], [1, 0, 0], leverage=10,
                      funding=[0, 0.02, 0], detail=detail, fine_funding=fine_funding)


def test_funding_at_an_8h_stamp_moves_the_liquidation_price_before_the_days_low():
    # 10x long at 100: qty 100, margin 1000, liquidation at 100 - 1000 / 100 = 90.
    # Daily rule: the low 91 stays above 90; at the close the day's funding 2% is paid,
    # 100 * 95 * 0.02 = 190, the margin falls to 810 and the liquidation price rises to
    # 100 - 810 / 100 = 91.9, under the close 95: the trade lives and ends at 95,
    # pnl = 100 * (95 - 100) - 190 = -690.
    _, plain, plain_liqs = stamp_run(None, None)
    assert len(plain_liqs) == 0
    t = only(plain)
    assert (t["exit_price"], t["funding"], t["pnl"]) == (95, pytest.approx(190),
                                                         pytest.approx(-690))
    # Detail: the same 190 is paid at 08:00 (the first hour's close, 95), so the
    # liquidation price is 91.9 before the low 91 of the next bar: liquidated at 91.9 on the
    # finer bar after the stamp (row 2: row 0 is day 0's, rows 1-3 day 1's), losing the
    # margin: pnl = 100 * (91.9 - 100) - 190 = -1000
    _, trades, liqs = stamp_run(STAMP_HOURS, [[0.0], [0.02, 0.0, 0.0], [0.0]])
    t = only(trades)
    assert t["exit_reason"] == LIQUIDATION and t["exit_bar"] == 1
    assert (t["exit_price"], t["funding"], t["pnl"]) == (pytest.approx(91.9),
                                                         pytest.approx(190),
                                                         pytest.approx(-1000))
    rec = liqs[0]
    assert (rec["fine_row"], rec["extreme"], rec["gap"]) == (2, 91, False)
    assert rec["trigger_price"] == pytest.approx(91.9)
    # the plain run's records come from no finer bar
    stamps_at_close = stamp_run(STAMP_HOURS, None)
    assert len(stamps_at_close[2]) == 0   # funding all at the close: the daily outcome


def test_funding_in_a_bars_last_finer_bar_is_paid_at_the_bars_close():
    # the stamp at the last hour's close is the bar's close: the daily rule's order
    _, trades, liqs = stamp_run(STAMP_HOURS, [[0.0], [0.0, 0.0, 0.02], [0.0]])
    assert len(liqs) == 0 and only(trades)["pnl"] == pytest.approx(-690)


def funding_day(hours, fine_funding, coarse):
    a = np.array([FLAT, (100, 104, 96, 100), (100, 100, 100, 100)], float)
    detail = None if hours is None else [[FLAT], hours, [(100, 100, 100, 100)]]
    return run_kernel(a[:, 0], a[:, 1], a[:, 2], a[:, 3], [1, 0, 0], funding=[0, coarse, 0],
                      detail=detail, fine_funding=fine_funding)


def test_detail_charges_each_funding_stamp_once():
    # 1x long, qty 10. Stamps of 0.1%, 0.2%, 0.3% at the three 8-hour closes; the day's
    # funding is their sum, 0.6%: the daily rule pays 10 * 100 * 0.006 = 6 at the close.
    rates = [[0.0], [0.001, 0.002, 0.003], [0.0]]
    plain = only(funding_day(None, None, 0.006)[1])
    assert plain["funding"] == pytest.approx(6.0)
    # closes at 100 at every stamp: the same 6, to the last digit of its rounding
    flat = [(100, 104, 99, 100), (100, 101, 96, 100), (100, 101, 99, 100)]
    assert only(funding_day(flat, rates, 0.006)[1])["funding"] == pytest.approx(6.0, rel=1e-12)
    # the stamps at 102 and 98: 10 * (102 * 0.001 + 98 * 0.002) + 10 * 100 * 0.003 = 5.98
    moved = [(100, 104, 99, 102), (102, 102, 96, 98), (98, 101, 97, 100)]
    assert only(funding_day(moved, rates, 0.006)[1])["funding"] == pytest.approx(5.98)
    # a stamp no finer bar settles (a hole in the finer data) is paid at the bar's close:
    # 10 * 102 * 0.001 + 10 * 100 * (0.003 + 0.002) = 6.02
    holed = [[0.0], [0.001, 0.0, 0.003], [0.0]]
    assert only(funding_day(moved, holed, 0.006)[1])["funding"] == pytest.approx(6.02)


def test_a_day_without_hours_keeps_the_daily_rule():
    kw = dict(leverage=10, take=0.05)
    empty = run([], **kw)
    plain = run(None, **kw)
    for a, b in zip(empty, plain, strict=True):
        assert np.array_equal(a, b)
    assert only(empty[1])["exit_reason"] == LIQUIDATION


# -- one finer bar per bar: the plain run exactly, on every account kind


def random_run(seed, mode, shared):
    from bench_suite import workload

    from sitcli.engine.records import ACCOUNT, CROSS, ISOLATED

    args, _, _ = workload(300, 3, 8, seed=seed, vol=0.03)
    args = list(args)
    cols, accounts = args[8].copy(), args[9].copy()
    accounts["mode"] = {"isolated": ISOLATED, "cross": CROSS, "account": ACCOUNT}[mode]
    accounts["closeout"] = 0.5
    cols["im_leverage"] = 5.0
    if shared:   # three symbols in one account per combination
        cols["group"] = np.arange(len(cols)) // 3
        accounts = accounts[:len(cols) // 3]
        cols["size"] = 0.3
    args[8], args[9] = cols, accounts
    return args


def funding_stamps(args):
    """Each bar's funding as its one finer bar's: the stamps at the bar's close."""
    return np.ascontiguousarray(args[4])


@pytest.mark.parametrize("mode,shared", [("isolated", False), ("cross", True),
                                         ("account", True), ("account", False)])
def test_one_finer_bar_per_bar_is_the_plain_run_exactly(mode, shared):
    from sitcli.engine.kernel import simulate

    args = random_run(3, mode, shared)
    o, h, l, c = args[:4]
    n, n_inst = o.shape
    start = np.repeat(np.arange(n + 1, dtype=np.int64)[:, None], n_inst, axis=1)
    plain = simulate(*args)
    detailed = simulate(*args[:18], o, h, l, c, start, funding_stamps(args))
    assert len(plain[1]) > 20 and len(plain[2]) > 0
    assert_same_run(plain, detailed)
    # a liquidation the walk decided names its finer row, here its bar's only one
    liqs = detailed[2]
    walked = liqs["fine_row"] >= 0
    assert walked.any() and (liqs["fine_row"][walked] == liqs["bar"][walked]).all()


def assert_same_run(plain, detailed):
    """Equity, trades and liquidations equal to the last bit, but for the finer row a
    detailed liquidation records."""
    for a, b in zip(plain[:2], detailed[:2], strict=True):
        assert np.array_equal(a, b)
    names = [f for f in plain[2].dtype.names if f != "fine_row"]
    assert np.array_equal(plain[2][names], detailed[2][names])


@pytest.mark.parametrize("mode", ["cross", "account"])
def test_a_shared_account_holding_a_symbol_without_finer_bars_keeps_the_bar_rule(mode):
    """Symbol 0 has one finer bar per bar (the plain run), symbols 1 and 2 none: the shared
    account's bars fall back to the bar rule whenever 1 or 2 is held, so the run is the
    plain run exactly."""
    from sitcli.engine.kernel import simulate

    args = random_run(6, mode, True)
    n, n_inst = args[0].shape
    fine = [np.full((n, n_inst), np.nan) for _ in range(4)]
    for f, a in zip(fine, args[:4], strict=True):
        f[:, 0] = a[:, 0]
    start = np.full((n + 1, n_inst), n, np.int64)
    start[:, 0] = np.arange(n + 1)
    plain = simulate(*args)
    detailed = simulate(*args[:18], *fine, start, args[23])
    assert len(plain[1]) > 20
    assert_same_run(plain, detailed)


def test_every_detailed_liquidation_lies_on_a_finer_bar_that_reached_it():
    """A random hourly path per day whose extremes are the day's: every detailed liquidation
    is on the first hour of its day whose adverse extreme reached its trigger."""
    from sitcli.engine.kernel import simulate

    rng = np.random.default_rng(5)
    args = random_run(9, "isolated", False)
    args[8]["leverage"] = 50.0
    fine, start = hourly_paths(rng, *args[:4], 24)
    _, trades, liqs = simulate(*args[:18], *fine, start, args[23])
    assert len(liqs) > 5
    check_liquidations_on_fine_bars(liqs, trades, args[8], fine, start)


def hourly_paths(rng, o, h, l, c, k):
    """k hourly bars per daily bar: a random walk from the open to the close that touches
    the day's high and low once each."""
    n, n_inst = o.shape
    fine = np.empty((4, n * k, n_inst))
    for t in range(n):
        for i in range(n_inst):
            a, b = sorted(rng.choice(np.arange(1, k - 1), 2, replace=False))
            path = np.interp(np.arange(k + 1), [0, a, b, k],
                             [o[t, i], *((h[t, i], l[t, i]) if rng.random() < 0.5
                                         else (l[t, i], h[t, i])), c[t, i]])
            rows = slice(t * k, (t + 1) * k)
            fine[0, rows, i] = path[:-1]
            fine[3, rows, i] = path[1:]
            fine[1, rows, i] = np.maximum(path[:-1], path[1:])
            fine[2, rows, i] = np.minimum(path[:-1], path[1:])
    start = np.repeat((np.arange(n + 1, dtype=np.int64) * k)[:, None], n_inst, axis=1)
    return tuple(np.ascontiguousarray(x) for x in fine), start


def check_liquidations_on_fine_bars(liqs, trades, cols, fine, start):
    """Each liquidation: the first finer bar of its bar whose open or adverse extreme
    reaches the trigger is the one recorded (its extreme), and the fill is the trigger, or
    that bar's open on a gap."""
    from sitcli.engine.margin import reaches

    fo, fh, fl, _ = fine
    for rec in liqs:
        i = cols[rec["col"]]["inst"]
        t, s, lp = rec["bar"], rec["side"], rec["trigger_price"]
        adverse = fl[:, i] if s > 0 else fh[:, i]
        rows = range(start[t, i], start[t + 1, i])
        hit = [r for r in rows if reaches(s, adverse[r], lp)]
        assert hit, rec
        r = hit[0]
        assert rec["extreme"] == adverse[r]
        # the walk names the finer bar (a gap at the bar's own open is the bar's rule)
        assert rec["fine_row"] == (r if rec["fine_row"] >= 0 else -1)
        assert rec["fine_row"] >= 0 or (rec["gap"] and r == start[t, i])
        if rec["gap"]:
            assert rec["fill_price"] == fo[r, i] and reaches(s, fo[r, i], lp)
        else:
            assert rec["fill_price"] == lp
    assert math.isfinite(sum(trades["pnl"]))


def test_sweep_kernel_with_detail_equals_the_full_record_kernel_with_detail():
    """Slow (20-35 s) when first in a run on an empty numba cache: it compiles the
    sweep kernel's `--detail` version, which `make warm` leaves out."""
    from sitcli.engine.kernel import S_LIQS, S_PNL, S_TRADES, simulate, sweep_serial_nb

    rng = np.random.default_rng(8)
    args = random_run(4, "isolated", False)
    fine, start = hourly_paths(rng, *args[:4], 12)
    full_args = (*args[:18], *fine, start, args[23])
    _, trades, liqs = simulate(*full_args)
    k = len(args[8])
    acc_start = np.arange(k + 1, dtype=np.int64)
    combo_start = np.arange(9, dtype=np.int64) * 3
    no_blocks = np.empty(0, np.int64)
    stats, _, _, _ = sweep_serial_nb(*full_args, acc_start, combo_start, 0, 8, no_blocks)
    for col in range(k):
        mine = trades[trades["col"] == col]
        assert stats[col, S_TRADES] == len(mine)
        assert stats[col, S_PNL] == pytest.approx(mine["pnl"].sum(), rel=1e-12, abs=1e-9)
        assert stats[col, S_LIQS] == (liqs["col"] == col).sum()
    # and detail changed something: the plain sweep differs
    plain, _, _, _ = sweep_serial_nb(*args, acc_start, combo_start, 0, 8, no_blocks)
    assert not np.array_equal(plain[:, S_PNL], stats[:, S_PNL])


def test_fine_bars_helper_lays_out_spans():
    fo, fh, fl, fc, start, _ = fine_bars([[FLAT], [], [(1, 2, 0.5, 1.5), (1.5, 3, 1, 2)]], 3)
    assert start[:, 0].tolist() == [0, 1, 1, 3]
    assert fh[:, 0].tolist() == [100, 2, 3]
