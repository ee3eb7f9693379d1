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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sitcli.domains import ENGINE as ENGINE_DOMAINS
from sitcli.domains import Domain, check
from sitcli.errors import BadInput, RuntimeFailure


@dataclass(frozen=True)
class Param:
    """A strategy parameter: its type is its default's; `domain` bounds numeric values
    (default: any finite number, an integer for int defaults, nan allowed as "off" when the
    default is nan)."""
    default: Any
    doc: str
    domain: Domain | None = None

    def checked_domain(self, key: str) -> Domain | None:
        if isinstance(self.default, bool) or not isinstance(self.default, int | float):
            return None
        if key in ENGINE_DOMAINS:     # stop, take, hold mean the same in every strategy
            return ENGINE_DOMAINS[key]
        if self.domain is not None:
            return self.domain
        if isinstance(self.default, int):
            return Domain(integer=True)
        return Domain(nan_off=math.isnan(self.default))


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
    # optional: a strategy that trades news names, per order bar, the row of `events` that
    # triggered the order there (catalysts[t] = i); trades.csv and the reports show it
    catalysts: dict = field(default_factory=dict)


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
    param = declared[key]
    default = param.default
    try:
        if isinstance(default, bool):
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return text.lower() in ("true", "1", "yes")
        if isinstance(default, int):
            value = int(text)
        elif isinstance(default, float):
            value = float(text)
        else:
            return text
    except ValueError:
        kind = {bool: "true or false", int: "an integer", float: "a number"}[type(default)]
        raise BadInput(f"{key}={text}: expected {kind}") from None
    return check(key, value, param.checked_domain(key))


def builtin_names() -> list[str]:
    import sitcli.strategies as package

    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_"))


def _builtin_dirs() -> set[Path]:
    import sitcli.strategies as package

    return {Path(p).resolve() for p in package.__path__}


def user_files(directory: Path) -> dict[str, str]:
    """Strategy name -> file for the strategy files in a directory the user named.

    Files are read, not run: a file counts as a strategy when it defines a class deriving
    from `Strategy`, so listing a folder never executes a helper script that happens to sit
    in it."""
    import ast

    out = {}
    for path in sorted(Path(directory).glob("*.py")):
        if path.name.startswith("_"):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and any(
                    getattr(b, "id", getattr(b, "attr", None)) == "Strategy" for b in node.bases):
                out[_declared_name(node) or path.stem] = str(path)
                break
    return out


def file_summary(path: str | Path) -> str:
    """First line of a strategy file's class (or module) docstring, read without running it."""
    import ast

    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and ast.get_docstring(node):
            return ast.get_docstring(node).strip().splitlines()[0]
    doc = ast.get_docstring(tree)
    return doc.strip().splitlines()[0] if doc else ""


def _declared_name(node) -> str | None:
    import ast

    for stmt in node.body:
        if (isinstance(stmt, ast.Assign) and any(getattr(t, "id", None) == "name"
                                                 for t in stmt.targets)
                and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)):
            return stmt.value.value or None
    return None


def available(directories: list[Path] | None = None) -> dict[str, str]:
    """Strategy name -> where it comes from ("built-in" or a file path): the built-ins and
    the strategy files in the directories the user named."""
    out = {name: "built-in" for name in builtin_names()}
    for directory in directories or []:
        if not Path(directory).is_dir():
            raise BadInput(f"--dir {directory}: no such directory")
        for name, path in user_files(Path(directory)).items():
            if name in out:
                raise BadInput(f"strategy file {path} is named {name!r}, which is already "
                               f"{'a built-in' if out[name] == 'built-in' else 'in ' + out[name]}; "
                               "give it another `name`")
            out[name] = path
    return out


def load_strategy(name: str) -> type[Strategy]:
    """A built-in by name, or a user's .py file by its path (the only way user code runs:
    a file in ./strategies/ is never picked up by name)."""
    if name.endswith(".py") or "/" in name or "\\" in name:
        path = Path(name)
        if path.is_file() and path.resolve().parent in _builtin_dirs():
            name = path.stem      # the built-in file itself (running from a checkout)
        else:
            return _load_file(path)
    if name in builtin_names():
        cls = _find_class(importlib.import_module(f"sitcli.strategies.{name}"), name)
        cls.origin = "built-in"     # what headers and JSON say in place of a file path
        return cls
    raise BadInput(f"unknown strategy {name!r}; built-in: {', '.join(builtin_names())} "
                   "(or give the path to your own .py file, e.g. ./my_strategy.py)")


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
    except SystemExit as exc:
        raise BadInput(f"strategy file {path} called sys.exit({exc.code!r}) while loading; "
                       "a strategy file must not exit") from None
    except Exception as exc:   # the user's module failed while importing
        raise BadInput(f"strategy file {path}: failed to load: {type(exc).__name__}: {exc}") from None
    cls = _find_class(module, str(path))
    if cls.name in builtin_names():
        raise BadInput(f"strategy file {path} is named {cls.name!r}, the name of a built-in "
                       "strategy; set another `name = ...` in its class so results cannot be "
                       "mistaken for the built-in's")
    return cls


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
        domain = p.checked_domain(key)
        if domain is not None and not domain.contains(float(p.default)):
            raise BadInput(f"strategy {origin}: default of parameter {key}={p.default!r} is out "
                           f"of range: expected {domain.describe()}")
    if not cls.name:
        cls.name = Path(origin).stem
    cls.origin = origin
    return cls


def describe(cls) -> str:
    """How messages name a strategy: a built-in by its name, a user's by its file."""
    origin = getattr(cls, "origin", "built-in")
    return cls.name if origin == "built-in" else f"{cls.name} ({origin})"


# Seconds one call of a strategy's `signals` may take (None: no limit); set by the commands'
# --strategy-timeout through `time_limit`.
_TIME_LIMIT: float | None = None


@contextmanager
def time_limit(seconds: float | None):
    """Limit every strategy call inside the block to `seconds` (None: no limit)."""
    global _TIME_LIMIT
    previous, _TIME_LIMIT = _TIME_LIMIT, seconds
    try:
        yield
    finally:
        _TIME_LIMIT = previous


class StrategyTimeout(RuntimeFailure):
    pass


@contextmanager
def _alarm(seconds: float | None, origin: str, symbol: str):
    import signal
    import threading

    # SIGALRM interrupts pure-Python loops; it exists only on POSIX and in the main thread
    if (not seconds or not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return

    def expired(signum, frame):
        raise StrategyTimeout(f"strategy {origin} ran longer than {seconds:g} s on {symbol} and "
                              "was stopped; fix the loop or raise --strategy-timeout")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_signals(strategy: Strategy, bars, events, params: dict, context: Context):
    """Call the strategy and check what it returned; errors name the strategy's file."""
    import numpy as np

    origin = describe(type(strategy))
    try:
        with _alarm(_TIME_LIMIT, origin, context.symbol):
            out = strategy.signals(bars, events, params, context)
        entries, exits = out
    except (BadInput, StrategyTimeout):
        raise
    except SystemExit as exc:
        raise BadInput(f"strategy {origin} called sys.exit({exc.code!r}) on {context.symbol}; "
                       "a strategy returns its signals, it must not exit") from None
    except Exception as exc:
        raise BadInput(f"strategy {origin} failed on {context.symbol}: "
                       f"{type(exc).__name__}: {exc}") from None
    entries, exits = np.asarray(entries), np.asarray(exits)
    n = len(bars)
    if entries.shape != (n,) or exits.shape != (n,):
        raise BadInput(f"strategy {origin} returned signals of shape {entries.shape} and "
                       f"{exits.shape} for {n} bars of {context.symbol}; return two arrays of "
                       "len(bars)")
    for what, values in (("entries", entries), ("exits", exits)):
        if values.dtype.kind == "f" and np.isnan(values).any():
            i = int(np.flatnonzero(np.isnan(values))[0])
            raise BadInput(f"strategy {origin} returned NaN in its {what} on {context.symbol} "
                           f"at {bars.index[i]}; return 0/1 (entries -1, 0 or 1, exits "
                           "True/False), e.g. fill NaN with 0")
        if values.dtype.kind not in "biuf":
            raise BadInput(f"strategy {origin} returned {what} of type {values.dtype} on "
                           f"{context.symbol}; return numbers or booleans")
    if not np.isin(entries, (-1, 0, 1)).all():
        raise BadInput(f"strategy {origin}: entries must be -1, 0 or 1 ({context.symbol})")
    if not np.isin(exits, (0, 1)).all():
        raise BadInput(f"strategy {origin}: exits must be True/False or 0/1 ({context.symbol})")
    return entries.astype(np.int8), exits.astype(bool)


# More orders than this are sampled evenly for the look-ahead check (one strategy call each).
MAX_ORDER_CUTS = 400


def check_no_lookahead(strategy: Strategy, bars, events, params: dict, context: Context,
                       entries, exits, cuts: int = 4, fill: str = "open") -> None:
    """Run the strategy again on the data as it stood at earlier bars: every order it placed
    before the cut must be the same, or it read the future.

    Cuts: `cuts` spread over the data, the second-to-last bar, and one just after every bar
    with an order (up to MAX_ORDER_CUTS of them, evenly spaced), so an order anywhere, the
    last tenth of the data included, is checked against the data as it stood at that bar."""
    import numpy as np

    n = len(bars)
    origin = describe(type(strategy))
    placed = np.flatnonzero((np.asarray(entries) != 0) | np.asarray(exits, dtype=bool)) + 1
    if len(placed) > MAX_ORDER_CUTS:
        placed = placed[np.unique(np.linspace(0, len(placed) - 1, MAX_ORDER_CUTS).astype(int))]
    spread = {int(n * f) for f in np.linspace(0.3, 0.9, cuts)} | {n - 1}
    for m in sorted((spread | {int(m) for m in placed}) - {0, n}):
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
