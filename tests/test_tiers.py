"""Each symbol's own maintenance tiers: shipped snapshots, the nearest-date rule, aliases, the
default, and a backtest on RENDER that uses RENDER's brackets (issue 13, part 1)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from sitcli import tiers
from sitcli.backtest import RunConfig, run_backtest
from sitcli.data.store import Store
from sitcli.events import load_events

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RENDER_DAILY = SHARED / "crypto" / "daily" / "RENDER-USDT.csv"
NO_COSTS = {"fee": 0.0, "half_spread": 0.0, "slippage": 0.0, "funding_rate_8h": 0.0,
            "liquidation_fee": 0.0}


def shipped():
    return [s for s in tiers.snapshots("binance") if not s.pulled]


def test_three_binance_snapshots_ship_with_their_dates():
    assert [s.date for s in shipped()] == [dt.date(2024, 5, 23), dt.date(2024, 7, 20),
                                           dt.date(2024, 10, 24)]


@pytest.mark.parametrize("snap", shipped(), ids=lambda s: s.label)
def test_every_shipped_table_satisfies_binances_maintenance_recurrence(snap):
    """cum_n = cum_{n-1} + floor_n x (mmr_n - mmr_{n-1}): the amounts sitcli computes
    (`Tiers.cum`) equal the ones Binance published (`info.cum`), tier by tier."""
    table = tiers.read_snapshot(snap)
    assert len(table) >= 10
    for key, rows in table.items():
        t = tiers.to_tiers(rows, key)
        published = [float(r["info"]["cum"]) for r in sorted(rows, key=lambda r: r["minNotional"])]
        assert t.cum == pytest.approx(published, rel=1e-12, abs=1e-9), key
        # contiguous: each tier starts where the one before ends, rates and caps monotone
        for a, b in zip(rows, rows[1:], strict=False):
            assert b["minNotional"] == a["maxNotional"], key
            assert b["maintenanceMarginRate"] > a["maintenanceMarginRate"], key
            assert b["maxLeverage"] <= a["maxLeverage"], key


@pytest.mark.parametrize("symbol, when, expected", [
    # RENDER traded as RNDR until 2024-07: its first bar (2024-07-26) is 6 days from the
    # 2024-07-20 snapshot (RNDR) and 90 from 2024-10-24 (RENDER)
    ("RENDER/USDT", dt.date(2024, 7, 26), "RNDR/USDT:USDT binance 2024-07-20"),
    ("RENDER", dt.date(2024, 12, 1), "RENDER/USDT:USDT binance 2024-10-24"),
    ("RNDR", dt.date(2023, 1, 1), "RNDR/USDT:USDT binance 2024-05-23"),
    # on a tie (2024-06-21 is 29 days from both) the newer snapshot
    ("BTC/USDT:USDT@binance", dt.date(2024, 6, 21), "BTC/USDT:USDT binance 2024-07-20"),
    # HNT is only in the oldest snapshot
    ("HNT", dt.date(2024, 10, 1), "HNT/USDT:USDT binance 2024-05-23"),
])
def test_the_snapshot_nearest_the_date_that_lists_the_symbol(symbol, when, expected):
    assert tiers.symbol_tiers("binance", symbol, when).name.startswith(expected)


def test_rndr_2024_07_20_brackets_as_published():
    t = tiers.symbol_tiers("binance", "RENDER", dt.date(2024, 7, 26))
    assert t.floor[:4] == (0.0, 5000.0, 50000.0, 100000.0)
    assert t.mmr[:4] == (0.015, 0.02, 0.025, 0.05)
    assert t.max_leverage[:4] == (26.0, 25.0, 20.0, 10.0)
    # 5000 x (0.02 - 0.015) = 25; + 50000 x 0.005 = 275; + 100000 x 0.025 = 2775
    assert t.cum[:4] == (0.0, 25.0, 275.0, 2775.0)


def test_a_symbol_without_a_table_keeps_the_venue_default_and_says_so():
    assert tiers.symbol_tiers("binance", "AKT", dt.date(2024, 7, 1)) is None
    v = tiers.venue_for("AKT", when=dt.date(2024, 7, 1))
    assert v.tiers.mmr[0] == 0.004 and "default: no binance table lists AKT" in v.tiers.name
    # CFD accounts have no brackets: nothing to look up
    assert tiers.venue_for("NVDA").tiers.name == "flat"


def test_a_pulled_snapshot_wins_when_nearer(tmp_path):
    rows = [{"tier": 1, "minNotional": 0.0, "maxNotional": 1000.0,
             "maintenanceMarginRate": 0.03, "maxLeverage": 10.0, "info": {"cum": "0"}}]
    path = tiers.snapshot_path(tmp_path, "binance", dt.date(2026, 1, 5))
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"RENDER/USDT:USDT": rows}))
    recent = tiers.symbol_tiers("binance", "RENDER", dt.date(2026, 2, 1), tmp_path)
    assert recent.mmr == (0.03,) and "2026-01-05 (pulled)" in recent.name
    old = tiers.symbol_tiers("binance", "RENDER", dt.date(2024, 11, 1), tmp_path)
    assert old.name.startswith("RENDER/USDT:USDT binance 2024-10-24 (shipped)")


def _render_store(tmp_path) -> Store:
    if not RENDER_DAILY.exists():
        pytest.skip(f"{RENDER_DAILY} is absent (shared real data)")
    df = pd.read_csv(RENDER_DAILY, parse_dates=["date"]).set_index("date")
    df.index = pd.DatetimeIndex(df.index, name="time").tz_convert("UTC")
    store = Store(tmp_path / "store")
    store.write(df.astype(float), source="ccxt", symbol="RENDER/USDT", timeframe="1d")
    return store


def test_a_backtest_on_render_uses_rndrs_brackets_from_the_nearest_snapshot(tmp_path):
    """RENDER/USDT from 2024-07-26 (real Binance bars), buy and hold at 20x from 10,000, no
    costs, filled at the first close E = 6.777.

    Nearest snapshot: 2024-07-20, where the symbol is RNDR. The order asks for
    10,000 x 20 = 200,000 of notional; RNDR's brackets allow 20x only below 100,000 (the
    bracket from 100,000 allows 10x), so the fill is cut to 100,000 (qty 100000 / 6.777, margin
    5,000). At the liquidation price the notional is about 97,000: bracket 3 (floor 50,000,
    rate 2.5%, amount 275), so
        LP = (M + cum - q E) / (q (m - 1)) = (5000 + 275 - 100000) / (q x (0.025 - 1))
           = E x 94725 / 97500 = 6.777 x 0.971538... = 6.58411...
    (the default BTC ladder would fill all 200,000 and put LP at E x 0.9548...)."""
    store = _render_store(tmp_path)
    cfg = RunConfig(["RENDER/USDT"], strategy="buy_and_hold", venue="perp-isolated",
                    leverage=20, fill="close", overrides=NO_COSTS)
    result = run_backtest(cfg, store, load_events())
    a = result.assumptions()
    assert a["venues"]["RENDER/USDT"]["tiers"].startswith("RNDR/USDT:USDT binance 2024-07-20")
    assert any("RNDR/USDT:USDT binance 2024-07-20" in n and "2024-07-26" in n
               for n in a["notes"])
    tr = result.trades[0]
    e = 6.777
    assert tr["entry_price"] == pytest.approx(e)
    assert tr["qty"] * e == pytest.approx(100_000.0, rel=1e-9)
    assert tr["requested_qty"] * e == pytest.approx(200_000.0, rel=1e-9)
    assert tr["margin"] == pytest.approx(5_000.0, rel=1e-9)
    lp = e * 94_725 / 97_500
    liq = result.liquidations[0]
    assert liq["trigger_price"] == pytest.approx(lp, rel=1e-9)
    # the first bar whose low reaches it: 2024-07-27 (low 6.35)
    assert result.index[liq["bar"]] == pd.Timestamp("2024-07-27", tz="UTC")

