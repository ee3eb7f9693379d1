"""sitcli: backtest AI-compute news through leveraged CFDs and perpetuals, honestly."""

__version__ = "0.1.0"
