"""sitcli from Python: the CLI's numbers as pandas objects, using only the public API.

Run: python examples/api_tour.py   (embedded demo data; writes runs/api-tour/)
"""

import sitcli
from sitcli.errors import BadInput

store = sitcli.demo()          # or sitcli.Store() (your store), sitcli.Store("path/to/data")

# the trader's tour (docs/trader.md) starts with `sitcli backtest --demo`: the same run
tour = sitcli.backtest(store=store)
print(tour.aggregate[["total_return_pct", "max_drawdown_pct", "trades", "liquidations"]])

# `sitcli backtest --demo --symbols NVDA,RENDER/USDT --venue perp-binance --leverage 20`
run = sitcli.backtest("catalyst_momentum", symbols=["NVDA", "RENDER/USDT"],
                      venue="perp-binance", leverage=20, params={"hold": 3}, store=store)
print(run.stats[["total_return_pct", "max_drawdown_pct", "trades", "liquidations",
                 "final_equity"]])
print(run.trades.head())
print(f"{len(run.liquidations)} liquidations; equity {run.equity.shape}")
print("wrote", run.save("runs/api-tour"))    # the files of `backtest --out runs/api-tour`

# `sitcli sweep`: a row per grid combination, best first
table = sitcli.sweep(symbols=["NVDA"], grid={"leverage": [2, 5], "hold": [1, 3, 5]},
                     store=store, rank_by="sharpe")
print(table[["total_return_pct", "sharpe", "liquidations"]])

# `sitcli liquidation --side long --entry 100 --leverage 50 --venue perp-bybit`
calc = sitcli.liquidation(side="long", entry=100, leverage=50, venue="perp-bybit")
print(f"liquidated at {calc['liquidation_price']:.4f} ({calc['adverse_move_pct']:+.2f}%)")

# `sitcli scenario --demo --symbols NVDA --leverage 10,50 --horizon 1,5`
for info in sitcli.scenario(["NVDA"], leverage=[10, 50], horizon=[1, 5], store=store).values():
    for row in info["rows"]:
        print(info["symbol"], row["leverage"], row["horizon"], row["p_liquidation_pct"])

# bad arguments raise the CLI's errors (sitcli.errors.BadInput names the flag)
try:
    sitcli.backtest(symbols=["NVDA"], leverage=-1, store=store)
except BadInput as exc:
    print("error:", exc)
