"""The declared domain of every numeric input, checked in one place.

A value from a flag, `--set`, `--param`, a strategy `Param`, a config or an events file is
checked here against its domain (finite, integer, range, or "nan means off"); a value outside
it is `BadInput` (exit 2) naming the field, the value and what is allowed.

Ranges are deliberately wide: they reject nonsense (a negative fee, a stop of -50%, a NaN
leverage, infinite cash), not unusual but meaningful settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sitcli.errors import BadInput


@dataclass(frozen=True)
class Domain:
    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False      # True: lo itself is excluded
    hi_open: bool = False
    integer: bool = False
    nan_off: bool = False      # NaN is allowed and means "off" (stops, take-profits)

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a finite number"
        if self.lo > -math.inf and self.hi < math.inf:
            left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
            where = f" in {left}{self.lo:g}, {self.hi:g}{right}"
        elif self.lo > -math.inf:
            where = f" {'>' if self.lo_open else '>='} {self.lo:g}"
        elif self.hi < math.inf:
            where = f" {'<' if self.hi_open else '<='} {self.hi:g}"
        else:
            where = ""
        return kind + where + (" (or nan = off)" if self.nan_off else "")

    def contains(self, value: float) -> bool:
        if isinstance(value, float) and math.isnan(value):
            return self.nan_off
        if not math.isfinite(value):
            return False
        if self.integer and value != int(value):
            return False
        above = value > self.lo if self.lo_open else value >= self.lo
        below = value < self.hi if self.hi_open else value <= self.hi
        return above and below


FINITE = Domain()
POSITIVE = Domain(lo=0.0, lo_open=True)
NON_NEGATIVE = Domain(lo=0.0)
RATE = Domain(lo=0.0, hi=0.1)              # a cost as a fraction of notional, per side
LEVERAGE = Domain(lo=0.0, hi=1e6, lo_open=True)
MONEY = Domain(lo=0.0, hi=1e15, lo_open=True)
FRACTION = Domain(lo=0.0, hi=1.0, lo_open=True)
COUNT = Domain(lo=0, hi=1e9, integer=True)

# Venue fields (--set KEY=VALUE, user venue presets).
VENUE = {
    "closeout_level": Domain(lo=0.0, hi=1.0),
    "default_leverage": LEVERAGE,
    "max_leverage": LEVERAGE,
    "fee": RATE,
    "half_spread": RATE,
    "slippage": RATE,
    "financing_benchmark": Domain(lo=-0.5, hi=1.0),    # annual; negative rates have happened
    "financing_markup": Domain(lo=0.0, hi=1.0),
    "financing_days": Domain(lo=1.0, hi=366.0),
    "funding_rate_8h": Domain(lo=-0.1, hi=0.1),
    "liquidation_fee": RATE,
}

# The engine parameters every strategy has (see sitcli.strategy.ENGINE_PARAMS).
ENGINE = {
    "stop": Domain(lo=0.0, hi=100.0, lo_open=True, nan_off=True),
    "take": Domain(lo=0.0, hi=100.0, lo_open=True, nan_off=True),
    "hold": COUNT,
}

# Command-line flags shared by several commands.
FLAGS = {
    "--cash": MONEY,
    "--size": FRACTION,
    "--leverage": LEVERAGE,
    "--risk-budget": MONEY,
    "--lookback-days": Domain(lo=1, hi=1e6, integer=True),
    "--timeout": Domain(lo=0.0, hi=86_400.0, lo_open=True),
    "--strategy-timeout": Domain(lo=0.0, hi=86_400.0, lo_open=True),
    "--entry": Domain(lo=0.0, hi=1e15, lo_open=True),
    "--qty": Domain(lo=0.0, hi=1e15, lo_open=True),
    "--margin": MONEY,
    "--mmr": Domain(lo=0.0, hi=1.0, hi_open=True),
    "--maint-amount": Domain(lo=0.0, hi=1e15),
    "--fee": RATE,
}


def check(field: str, value, domain: Domain, sep: str = "="):
    """`value` if it lies in `domain`, else BadInput naming the field, value and domain
    (`sep` joins them as the user wrote them: "fee=-1" for --set, "--cash inf" for flags)."""
    if isinstance(value, bool) or value is None:
        return value
    if not domain.contains(float(value)):
        raise BadInput(f"{field}{sep}{_show(value)} is out of range: expected "
                       f"{domain.describe()}")
    return int(value) if domain.integer else value


def check_flags(**values) -> None:
    """Check CLI flags by their Python names (cash=..., risk_budget=...); None = not given."""
    for name, value in values.items():
        flag = "--" + name.replace("_", "-")
        if value is not None:
            check(flag, value, FLAGS[flag], sep=" ")


def parse(field: str, text: str, domain: Domain, kind: type = float):
    """Text from --set/--param/a file into a checked int or float."""
    try:
        value = int(text) if kind is int else float(text)
    except (TypeError, ValueError):
        raise BadInput(f"{field}={text}: expected {domain.describe()}") from None
    return check(field, value, domain)


def _show(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# Timestamps (bars, events, --asof): market data and news between these years; outside them
# a date is a typo (or beyond what a nanosecond timestamp can hold, from 2262 on).
FIRST_YEAR, END_YEAR = 1900, 2200


def time_range_text() -> str:
    return f"from {FIRST_YEAR}-01-01 to before {END_YEAR}-01-01"


def check_years(years) -> int | None:
    """Index of the first year outside [FIRST_YEAR, END_YEAR), or None. `years` is array-like."""
    import numpy as np

    years = np.asarray(years)
    bad = np.flatnonzero((years < FIRST_YEAR) | (years >= END_YEAR))
    return int(bad[0]) if len(bad) else None
