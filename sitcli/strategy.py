"""The Strategy interface and the loader for strategy files.

A strategy declares typed parameters and turns bars plus the event calendar into orders:
`entries` (+1 open long, -1 open short, 0 nothing) and `exits` (True = close), one value per
bar, where a value at bar t is an order filled at bar t+1's open. Stops, take-profits, time
exits and liquidation belong to the engine; a strategy sets them through its parameters
`stop`, `take` and `max_bars` when it declares them.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Any

from sitcli.errors import BadInput


@dataclass(frozen=True)
class Param:
    default: Any
    doc: str


ENGINE_PARAMS = {
    "stop": Param(math.nan, "stop: adverse move from entry that closes the trade, fraction (nan = off)"),
    "take": Param(math.nan, "take-profit: favourable move from entry, fraction (nan = off)"),
}


class Strategy:
    """Base class. Subclasses set `name`, `params` and implement `signals`."""

    name = ""
    params: dict[str, Param] = {}

    def signals(self, bars, events, params: dict, context: dict):
        """Return (entries int8 array, exits bool array), each of len(bars).

        `context["open_times"]` holds each bar's real opening time (UTC), which for daily
        equity bars is the session open, not midnight.
        """
        raise NotImplementedError

    @classmethod
    def all_params(cls) -> dict[str, Param]:
        return {**ENGINE_PARAMS, **cls.params}

    @classmethod
    def resolve(cls, given: dict[str, str]) -> dict[str, Any]:
        """Defaults overridden by --param key=value strings, each coerced to its default's type."""
        declared = cls.all_params()
        out = {k: p.default for k, p in declared.items()}
        for key, text in given.items():
            if key not in declared:
                raise BadInput(f"--param {key}: {cls.name} has no such parameter; it takes "
                               f"{', '.join(declared)}")
            out[key] = _coerce(key, text, declared[key].default)
        return out


def _coerce(key: str, text: str, default: Any) -> Any:
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
        raise BadInput(f"--param {key}={text}: expected {kind}") from None
    return text


BUILTIN = {"catalyst_long": "sitcli.strategies.catalyst_long"}


def load_strategy(name: str) -> type[Strategy]:
    if name not in BUILTIN:
        raise BadInput(f"unknown strategy {name!r}; built-in: {', '.join(BUILTIN)}")
    module = importlib.import_module(BUILTIN[name])
    return module.STRATEGY
