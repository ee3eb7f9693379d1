"""The Strategy interface and the loader for strategy files.

A strategy declares typed parameters (the type is its default's) and turns one instrument's
bars plus the event calendar into orders:

    entries[t] = +1 / -1   open long / short (an opposite position is reversed)
    exits[t]   = True      close the position

An order on bar t is decided with what was known at bar t's close, plus news published up
to bar t+1's open, and fills at bar t+1's open (with `--fill close`: news up to bar t's close,
filled at that close).
Stops, take-profits, time exits and liquidation belong to the engine: a strategy sets them
through the engine parameters `stop`, `take` and `hold`, which every strategy has.

Built-in strategies live in `strategies/` (installed as `sitcli.strategies`). A user strategy
is any `.py` file defining a `Strategy` subclass, named with `--strategy path/to/file.py` or
dropped into `./strategies/`.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import pkgutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sitcli.errors import BadInput


@dataclass(frozen=True)
class Param:
    default: Any
    doc: str


ENGINE_PARAMS = {
    "stop": Param(math.nan, "stop: adverse move from entry that closes the trade, fraction (nan = off)"),
    "take": Param(math.nan, "take-profit: favourable move from entry, fraction (nan = off)"),
    "hold": Param(0, "time exit: close after this many bars held (0 = off)"),
}


@dataclass
class Context:
    """What a strategy may look at besides its own bars and the events."""
    symbol: str
    asset_class: str
    open_times: Any          # DatetimeIndex: each bar's real opening time (UTC)
    close_times: Any         # DatetimeIndex: each bar's real closing time (UTC)
    # for each event row, j: an order on bar j-1 is the first that can act on it (it fills at
    # bar j's open, the first at or after the event; with fill=close, bar j-1 is the first
    # bar closing at or after it); len(bars) if none
    event_bars: Any = None
    series: dict = field(default_factory=dict)   # other symbols' closes (Strategy.inputs),
    #                                              as known at each bar's close (as-of join)


class Strategy:
    """Base class. Subclasses set `name`, `params` and implement `signals`."""

    name = ""
    params: dict[str, Param] = {}
    inputs: tuple[str, ...] = ()    # other symbols whose closes the strategy reads

    def signals(self, bars, events, params: dict, context: Context):
        """Return (entries, exits): int8 array in {-1, 0, 1} and bool array, len(bars) each."""
        raise NotImplementedError

    @classmethod
    def all_params(cls) -> dict[str, Param]:
        return {**ENGINE_PARAMS, **cls.params}

    @classmethod
    def summary(cls) -> str:
        doc = (cls.__doc__ or sys.modules[cls.__module__].__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    @classmethod
    def resolve(cls, given: dict[str, str]) -> dict[str, Any]:
        """Defaults overridden by --param key=value strings, each coerced to its default's type."""
        declared = cls.all_params()
        out = {k: p.default for k, p in declared.items()}
        for key, text in given.items():
            out[key] = coerce(cls.name, key, text, declared)
        return out


def coerce(strategy: str, key: str, text: str, declared: dict[str, Param]) -> Any:
    if key not in declared:
        raise BadInput(f"{key}: {strategy} has no such parameter; it takes "
                       f"{', '.join(declared)}")
    default = declared[key].default
    try:
        if isinstance(default, bool):
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return text.lower() in ("true", "1", "yes")
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError:
        kind = {bool: "true or false", int: "an integer", float: "a number"}[type(default)]
        raise BadInput(f"{key}={text}: expected {kind}") from None
    return text


def builtin_names() -> list[str]:
    import sitcli.strategies as package

    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_"))


def user_dir() -> Path | None:
    """./strategies/, unless it is the built-in folder itself (running from a checkout)."""
    import sitcli.strategies as package

    here = Path.cwd() / "strategies"
    builtin = {Path(p).resolve() for p in package.__path__}
    return here if here.is_dir() and here.resolve() not in builtin else None


def available() -> dict[str, str]:
    """Strategy name -> where it comes from ("built-in" or a file path)."""
    out = {name: "built-in" for name in builtin_names()}
    if user_dir() is not None:
        for path in sorted(user_dir().glob("*.py")):
            if not path.name.startswith("_"):
                out[path.stem] = str(path)
    return out


def load_strategy(name: str) -> type[Strategy]:
    """A built-in by name, a file in ./strategies/ by name, or a path to a .py file."""
    if name.endswith(".py") or "/" in name:
        return _load_file(Path(name))
    local = user_dir() / f"{name}.py" if user_dir() is not None else None
    if local is not None and local.is_file():
        return _load_file(local)
    if name in builtin_names():
        return _find_class(importlib.import_module(f"sitcli.strategies.{name}"), name)
    raise BadInput(f"unknown strategy {name!r}; built-in: {', '.join(builtin_names())} "
                   "(or give a path to your own .py file)")


def _load_file(path: Path) -> type[Strategy]:
    if not path.is_file():
        raise BadInput(f"strategy file {path} does not exist")
    spec = importlib.util.spec_from_file_location(f"sitcli_user_strategy_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # dataclasses and friends look their module up there
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise BadInput(f"strategy file {path}: syntax error at line {exc.lineno}: {exc.msg}") from None
    except Exception as exc:   # the user's module failed while importing
        raise BadInput(f"strategy file {path}: failed to load: {type(exc).__name__}: {exc}") from None
    return _find_class(module, str(path))


def _find_class(module, origin: str) -> type[Strategy]:
    found = [obj for obj in vars(module).values()
             if isinstance(obj, type) and issubclass(obj, Strategy) and obj is not Strategy
             and obj.__module__ == module.__name__]
    if len(found) != 1:
        raise BadInput(f"strategy {origin}: expected one Strategy subclass, found {len(found)}; "
                       "define `class MyStrategy(Strategy)` with a `signals` method")
    cls = found[0]
    if cls.signals is Strategy.signals:
        raise BadInput(f"strategy {origin}: {cls.__name__} has no `signals(self, bars, events, "
                       "params, context)` method")
    for key, p in cls.params.items():
        if not isinstance(p, Param):
            raise BadInput(f"strategy {origin}: parameter {key!r} must be a Param(default, doc)")
    if not cls.name:
        cls.name = Path(origin).stem
    cls.origin = origin
    return cls


def run_signals(strategy: Strategy, bars, events, params: dict, context: Context):
    """Call the strategy and check what it returned; errors name the strategy's file."""
    import numpy as np

    origin = getattr(type(strategy), "origin", strategy.name)
    try:
        out = strategy.signals(bars, events, params, context)
        entries, exits = out
    except BadInput:
        raise
    except Exception as exc:
        raise BadInput(f"strategy {origin} failed on {context.symbol}: "
                       f"{type(exc).__name__}: {exc}") from None
    entries, exits = np.asarray(entries), np.asarray(exits)
    n = len(bars)
    if entries.shape != (n,) or exits.shape != (n,):
        raise BadInput(f"strategy {origin} returned signals of shape {entries.shape} and "
                       f"{exits.shape} for {n} bars of {context.symbol}; return two arrays of "
                       "len(bars)")
    if not np.isin(entries, (-1, 0, 1)).all():
        raise BadInput(f"strategy {origin}: entries must be -1, 0 or 1 ({context.symbol})")
    return entries.astype(np.int8), exits.astype(bool)


def check_no_lookahead(strategy: Strategy, bars, events, params: dict, context: Context,
                       entries, exits, cuts: int = 4, fill: str = "open") -> None:
    """Run the strategy again on the data as it stood at a few earlier bars: every order it
    placed before the cut must be the same, or it read the future."""
    import numpy as np

    n = len(bars)
    origin = getattr(type(strategy), "origin", strategy.name)
    for m in sorted({int(n * f) for f in np.linspace(0.3, 0.9, cuts)} - {0, n}):
        # known when bar m-1's order is placed: bars up to m-1, and news up to the moment it
        # fills (bar m's open, or bar m-1's own close with fill=close)
        known = context.open_times[m] if fill == "open" else context.close_times[m - 1]
        cut_events = events[events["time"] <= known]
        cut_ctx = Context(context.symbol, context.asset_class, context.open_times[:m],
                          context.close_times[:m],
                          None if context.event_bars is None else
                          np.minimum(context.event_bars[: len(cut_events)], m),
                          {k: v[:m] for k, v in context.series.items()})
        e, x = run_signals(strategy, bars.iloc[:m], cut_events, params, cut_ctx)
        bad = np.flatnonzero((e != entries[:m]) | (x != exits[:m]))
        if len(bad):
            raise BadInput(f"strategy {origin} looks ahead: its order on {bars.index[bad[0]]:%Y-%m-%d} "
                           f"({context.symbol}) changes when later bars are hidden; use only "
                           "data up to each bar's close")
