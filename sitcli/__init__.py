"""sitcli: backtest AI-compute news through leveraged CFDs and perpetuals, honestly.

From Python (`sitcli.api`, loaded on first use so `import sitcli` stays light)::

    import sitcli
    run = sitcli.backtest("catalyst_momentum", ["NVDA"], store=sitcli.demo(), leverage=20)
    run.stats, run.trades, run.equity, run.liquidations; run.save("runs/nvda-20x")
    sitcli.liquidation(side="long", entry=100, leverage=50, venue="perp-bybit")
    sitcli.scenario(...); sitcli.sweep(...); sitcli.Store(path); sitcli.Strategy
    sitcli.load_run("runs/nvda-20x")         # a saved run: .stats .trades .equity .manifest
"""

import sys
import types

__version__ = "0.1.0"

API = ("Run", "SavedRun", "Store", "Strategy", "backtest", "demo", "liquidation", "load_run",
       "scenario", "sweep")


def __getattr__(name: str):
    if name in API:
        from sitcli import api

        return getattr(api, name)
    raise AttributeError(f"module 'sitcli' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *API])


class _Package(types.ModuleType):
    """Importing the submodules sitcli.backtest, .sweep, .scenario, .liquidation and .demo
    would bind them over the API functions of the same name: the package keeps the functions.
    The modules stay importable by their full names (`from sitcli.backtest import RunConfig`,
    `importlib.import_module`); `import sitcli.backtest as m` would give the function."""

    def __setattr__(self, name, value):
        if name in API and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
