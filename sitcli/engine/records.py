"""Codes and structured dtypes shared by the kernels and their callers."""

import numpy as np

# side
LONG = 1
SHORT = -1

# margin modes (per account)
ISOLATED = 0   # each position has its own margin and liquidation price (perp-isolated)
CROSS = 1      # one wallet; liquidate everything when equity <= total maintenance margin
ACCOUNT = 2    # CFD: close out everything when equity <= close-out level x used margin

MARGIN_MODES = {"isolated": ISOLATED, "cross": CROSS, "account": ACCOUNT}

# exit reasons
SIGNAL, STOP, TAKE, TIME, LIQUIDATION, CLOSE_OUT, END = range(7)
EXIT_REASONS = ("signal", "stop", "take", "time", "liquidation", "close-out", "end")

# pending order codes (entries use +1/-1)
NO_ORDER = 0
EXIT_ORDER = 2

# One column = one independent strategy run on one instrument with one parameter set.
column_dt = np.dtype([
    ("inst", np.int64),        # index into the price arrays' columns
    ("sig", np.int64),         # index into the signal arrays' columns
    ("group", np.int64),       # account index; columns of one account must be adjacent
    ("tiers", np.int64),       # index into the maintenance tier tables
    ("leverage", np.float64),
    ("size", np.float64),      # fraction of free collateral committed as margin per entry
    ("stop", np.float64),      # adverse move from entry that closes the trade, fraction; NaN = off
    ("take", np.float64),      # favourable move from entry, fraction; NaN = off
    ("max_bars", np.int64),    # time exit after this many bars held; 0 = off
    ("fee", np.float64),       # commission, fraction of notional per side
    ("half_spread", np.float64),
    ("slippage", np.float64),
    ("fin_long", np.float64),  # overnight financing a long pays, annual fraction
    ("fin_short", np.float64), # ... a short pays (negative = receives)
    ("fin_days", np.float64),  # day-count divisor, 365 or 360
    ("liq_fee", np.float64),   # liquidation fee, fraction of notional
    ("im_leverage", np.float64),  # ACCOUNT: the venue's margin requirement as a leverage (the
    #                               cap), so used margin = notional / im_leverage; 0 = leverage
    ("liq_rule", np.int64),    # the venue's isolated liquidation rule, `margin.LIQ_*` (0 Binance)
])

account_dt = np.dtype([
    ("init_cash", np.float64),
    ("mode", np.int64),           # ISOLATED, CROSS or ACCOUNT
    ("closeout", np.float64),     # ACCOUNT: close out when equity <= closeout x used margin
    ("nbp", np.bool_),            # negative balance protection
    ("topup", np.bool_),          # --on-ruin topup: refill to init_cash after a wipe-out
    ("ruin_level", np.float64),   # wiped out: flat with equity <= ruin_level x init_cash
])

trade_dt = np.dtype([
    ("col", np.int64),
    ("side", np.int64),
    ("entry_bar", np.int64),
    ("exit_bar", np.int64),
    ("qty", np.float64),
    ("requested_qty", np.float64), # before the maintenance brackets cut it (= qty when not cut)
    ("leverage", np.float64),
    ("effective_leverage", np.float64),  # notional / the margin the order asked for
    ("margin", np.float64),
    ("entry_price", np.float64),   # fills, spread and slippage included
    ("exit_price", np.float64),
    ("pnl_gross", np.float64),     # price PnL at mid prices, before every cost
    ("fees", np.float64),          # commissions actually paid, entry and exit
    ("exit_fee", np.float64),      # the exit's part of `fees`
    ("spread", np.float64),
    ("slippage", np.float64),
    ("financing", np.float64),
    ("funding", np.float64),
    ("liq_fee", np.float64),       # what the venue kept at a liquidation (actually paid)
    ("protection", np.float64),    # price loss forgiven by negative balance protection / the
    #                                isolated cap (after forgiving the exit's own fees)
    ("pnl", np.float64),           # net: gross - costs + protection
    ("return_on_margin", np.float64),
    ("exit_reason", np.int64),
])

# the trade buffer of the sweep's common account (one isolated column): only what the fold
# into per-column statistics, negative balance protection and a cross liquidation's fee
# shares read (`kernel._fold_trades_nb`); the kernel leaves out the rest of `trade_dt` for it
# (`kernel._full_record_nb`)
fold_trade_dt = np.dtype([(name, trade_dt[name]) for name in (
    "col", "qty", "requested_qty", "effective_leverage", "exit_price", "fees", "exit_fee",
    "spread", "slippage", "financing", "funding", "liq_fee", "protection", "pnl")])

liquidation_dt = np.dtype([
    ("col", np.int64),
    ("bar", np.int64),
    ("side", np.int64),
    ("kind", np.int64),            # LIQUIDATION or CLOSE_OUT
    ("trigger_price", np.float64), # liquidation / close-out price
    ("fill_price", np.float64),
    ("extreme", np.float64),       # the bar's adverse extreme (low for longs, high for shorts)
    ("gap", np.bool_),             # the open was already beyond the trigger
    ("gap_loss", np.float64),      # loss beyond the margin (isolated) or below zero equity (account)
    ("fine_row", np.int64),        # --detail: the finer bar that decided it; -1 = the bar's rule
])
