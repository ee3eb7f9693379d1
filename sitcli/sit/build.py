"""Synthetic SIT market data: the index and its listed futures as stored bars, and the curve.

One seeded path of the model (``sitcli.sit.model``) is simulated on a 10-minute grid from the
model origin (the first day, 00:00 UTC) with the exact scheme; every bar's OHLC comes from the
grid points inside it. The grid does not depend on the bar size, so ``--freq 1d`` and ``--freq 1h``
with the same seed describe the same path, and ``sit curve`` from the same origin and seed sees it too.

Stored (source ``sit``, marked synthetic, note "synthetic:sit-model scenario=... seed=..."):

- ``SIT``: the spot index, every day (the index is computed 24/7; the futures trade Mon-Fri).
- ``SIT-F1`` .. ``SIT-F10``: generic futures by listing position (F1 the nearest contract)
  on Mon-Fri sessions of 00:00-24:00 UTC (the paper: Monday-Friday, 24-hour continuous).
  Prices are F(t,T) on the path, on the $0.01 tick, with the daily limits applied contract by
  contract. The series are not back-adjusted: a slot rolls to the next contract on the session
  after the last trading day, so the bar after a roll shows the calendar spread as a gap that no
  held contract earned (backtests holding through a roll should read it that way).
- ``sit-build.json`` beside the files: the build's scenario, seed, origin and parameters, and per
  futures symbol the bars halted at a limit, the bars locked at a limit for their whole length
  (no trading: the backtester defers orders on them) and the contract in each slot.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from sitcli.errors import BadInput, DataMissing
from sitcli.sit import futures as fut
from sitcli.sit.model import SitParams, load_scenario, simulate_log_grid

SOURCE = "sit"
INDEX_SYMBOL = "SIT"
N_GENERIC = fut.MONTHLY + fut.QUARTERLY
FINE_MINUTES = 10                          # grid step: a first-tier halt is one grid step
FINE_PER_DAY = 24 * 60 // FINE_MINUTES
FREQS = {"1d": FINE_PER_DAY, "1h": 60 // FINE_MINUTES}
SIDECAR = "sit-build.json"
MAX_DAYS = 366 * 20


def generic_symbol(k: int) -> str:
    return f"SIT-F{k}"


def parse_day(text, flag: str) -> date:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise BadInput(f"{flag} {text!r} is not a date; use YYYY-MM-DD") from None


def check_range(start: date, end: date) -> None:
    if start > end:
        raise BadInput(f"--start {start} is after --end {end}; swap them")
    if (end - start).days + 1 > MAX_DAYS:
        raise BadInput(f"--start {start} to --end {end} is longer than 20 years; shorten it")


def simulate_fine(params: SitParams, origin: date, last_day: date, seed: int, scheme: str = "exact"):
    """Log index on the 10-minute grid from origin 00:00 to the end of ``last_day``."""
    n = ((last_day - origin).days + 1) * FINE_PER_DAY
    minutes_per_year = fut.DAYS_PER_YEAR * 24 * 60
    times = np.arange(n + 1) * FINE_MINUTES / minutes_per_year
    return times, simulate_log_grid(params, times, 1, seed, scheme)[0]


def _bars(stamps, prices: np.ndarray, per_bar: int) -> pd.DataFrame:
    """OHLC of consecutive windows of per_bar steps (per_bar + 1 points, sharing ends)."""
    n = (len(prices) - 1) // per_bar
    idx = np.arange(n)[:, None] * per_bar + np.arange(per_bar + 1)[None, :]
    w = prices[idx]
    return pd.DataFrame({"open": w[:, 0], "high": w.max(1), "low": w.min(1), "close": w[:, -1],
                         "volume": 0.0}, index=pd.DatetimeIndex(stamps, name="time"))


def index_bars(x: np.ndarray, origin: date, freq: str) -> pd.DataFrame:
    per_bar = FREQS[freq]
    n = (len(x) - 1) // per_bar
    stamps = pd.Timestamp(origin, tz="UTC") + pd.to_timedelta(np.arange(n) * per_bar * FINE_MINUTES, "min")
    return _bars(stamps, np.exp(x), per_bar)


def trading_days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)
            if (start + timedelta(days=i)).weekday() < 5]


def contract_prices(params: SitParams, times, x, origin: date, contract: fut.Contract, days: list[date]):
    """Traded fine-grid prices and limit states of one contract over its sessions ``days``."""
    first = np.array([(d - origin).days * FINE_PER_DAY for d in days])
    pts = (first[:, None] + np.arange(FINE_PER_DAY + 1)[None, :]).ravel()
    session = np.repeat(np.arange(len(days)), FINE_PER_DAY + 1)
    T = fut.settlement_time(contract, origin)
    raw = fut.round_to_tick(fut.futures_price(params, x[pts], times[pts], T))
    traded, state, _ = fut.apply_daily_limits(raw, session, float(raw[0]), halt_steps=1)
    if days[-1] == contract.last_trade:
        # cash settlement to the index at the close of the last trading day; not a trade, so
        # no limit applies to it
        traded[-1] = fut.round_to_tick(math.exp(x[pts[-1]]))
        state[-1] = fut.FREE
    return traded.reshape(len(days), -1), state.reshape(len(days), -1)


def futures_bars(params: SitParams, times, x, origin: date, end: date, freq: str):
    """Generic SIT-F1..F10 bars on Mon-Fri sessions, and per symbol the limit records."""
    days = trading_days(origin, end)
    if not days:
        return {}, {}
    per_bar = FREQS[freq]
    per_day = FINE_PER_DAY // per_bar
    slots = {d: fut.listing(d) for d in days}
    contracts = {c.code: c for cs in slots.values() for c in cs}
    rows = {k: [] for k in range(1, N_GENERIC + 1)}
    for code, contract in contracts.items():
        listed = [d for d in days if contract in slots[d]]
        traded, state = contract_prices(params, times, x, origin, contract, listed)
        for di, d in enumerate(listed):
            k = slots[d].index(contract) + 1
            for b in range(per_day):
                seg = traded[di, b * per_bar:(b + 1) * per_bar + 1]
                st = state[di, b * per_bar:(b + 1) * per_bar + 1]
                stamp = pd.Timestamp(d, tz="UTC") + pd.Timedelta(minutes=b * per_bar * FINE_MINUTES)
                rows[k].append((stamp, seg[0], seg.max(), seg.min(), seg[-1], bool((st != fut.FREE).any()),
                                bool((st != fut.FREE).all()), code))
    bars, records = {}, {}
    for k, r in rows.items():
        frame = pd.DataFrame(r, columns=["time", "open", "high", "low", "close", "limit", "locked",
                                         "contract"]).sort_values("time").set_index("time")
        symbol = generic_symbol(k)
        bars[symbol] = frame[["open", "high", "low", "close"]].assign(volume=0.0)
        change = frame["contract"].ne(frame["contract"].shift())
        records[symbol] = {
            "limit": [t.isoformat() for t in frame.index[frame["limit"].to_numpy()]],
            "locked": [t.isoformat() for t in frame.index[frame["locked"].to_numpy()]],
            "contracts": [{"from": t.isoformat(), "code": c,
                           "last_trade": contracts[c].last_trade.isoformat()}
                          for t, c in zip(frame.index[change.to_numpy()], frame["contract"][change],
                                          strict=True)],
        }
    return bars, records


def build_note(scenario: str, seed: int, origin: date, scheme: str) -> str:
    return f"synthetic:sit-model scenario={scenario} seed={seed} origin={origin} scheme={scheme}"


def build(store, scenario: str, start: date, end: date, freq: str, seed: int,
          scheme: str = "exact") -> dict:
    """Simulate and store the index and the futures; returns a summary for the CLI."""
    if freq not in FREQS:
        raise BadInput(f"--freq {freq!r}: use one of {', '.join(FREQS)}")
    check_range(start, end)
    params = load_scenario(scenario)
    times, x = simulate_fine(params, start, end, seed, scheme)
    note = build_note(scenario, seed, start, scheme)
    series = {INDEX_SYMBOL: index_bars(x, start, freq)}
    fbars, records = futures_bars(params, times, x, start, end, freq)
    series.update(fbars)
    written = []
    for symbol, frame in series.items():
        store.write(frame, source=SOURCE, symbol=symbol, timeframe=freq, synthetic=True, note=note)
        written.append({"symbol": symbol, "bars": len(frame), "first": frame.index[0],
                        "last": frame.index[-1], "last_close": float(frame["close"].iloc[-1]),
                        "limit_bars": len(records.get(symbol, {}).get("limit", [])),
                        "locked_bars": len(records.get(symbol, {}).get("locked", []))})
    sidecar = {"scenario": scenario, "seed": seed, "origin": start.isoformat(), "end": end.isoformat(),
               "freq": freq, "scheme": scheme, "params": asdict(params), "note": note,
               "symbols": records}
    _write_json(store.root / SOURCE / freq / SIDECAR, sidecar)
    return {"scenario": scenario, "seed": seed, "start": start, "end": end, "freq": freq,
            "scheme": scheme, "source": SOURCE, "note": note, "series": written}


def _write_json(path: Path, payload: dict) -> None:
    from sitcli.files import atomic_write

    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(payload, indent=1),
                                                  encoding="utf-8"))


def read_sidecar(directory: Path) -> dict | None:
    path = Path(directory) / SIDECAR
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def locked_mask(bars: pd.DataFrame) -> np.ndarray | None:
    """Bars of a stored SIT futures series locked at a limit for their whole length, or None
    when the bars did not come from ``sit build``."""
    path = bars.attrs.get("sitcli", {}).get("path")
    if not path:
        return None
    meta = read_sidecar(Path(path).parent)
    record = (meta or {}).get("symbols", {}).get(bars.attrs["sitcli"].get("symbol", ""))
    if not record:
        return None
    return bars.index.isin(pd.DatetimeIndex(record["locked"]))


# ---------------------------------------------------------------- curve


def curve_rows(params: SitParams, origin: date, asof: date, daily_log_closes: np.ndarray) -> list[dict]:
    """The listed contracts at the close of ``asof``.

    ``daily_log_closes`` are the log index at the closes of the days origin..asof (the last one
    is asof's close). The margin rate uses each contract's own 20-day settlement volatility
    along that history (Mon-Fri settlements), or the model's instantaneous futures volatility
    when fewer than 21 settlements exist.
    """
    days = [origin + timedelta(days=i) for i in range(len(daily_log_closes))]
    t_close = np.array([fut.year_fraction(d + timedelta(days=1), origin) for d in days])
    weekday = np.array([d.weekday() < 5 for d in days])
    rows = []
    for c in fut.listing(asof):
        T = fut.settlement_time(c, origin)
        price = float(fut.round_to_tick(fut.futures_price(params, daily_log_closes[-1], t_close[-1], T)))
        hist = weekday & (t_close <= T)
        if hist.sum() > fut.VOL_WINDOW:
            settle = fut.round_to_tick(fut.futures_price(params, daily_log_closes[hist], t_close[hist], T))
            vol, basis = float(fut.realised_vol(settle)[-1]), "20-day"
        else:
            vol, basis = float(fut.model_futures_vol(params, T - t_close[-1])), "model"
        rate = float(fut.initial_margin_rate(vol))
        rows.append({"contract": c.code, "delivery": c.delivery, "kind": c.kind,
                     "last_trade": c.last_trade.isoformat(), "days_to_expiry": (c.last_trade - asof).days,
                     "price": price, "vol_20d": vol, "vol_basis": basis, "initial_margin": rate,
                     "maintenance_margin": rate * fut.MAINTENANCE_RATIO})
    return rows


def simulated_curve(scenario: str, origin: date, asof: date, seed: int) -> dict:
    if asof < origin:
        raise BadInput(f"--asof {asof} is before --origin {origin}; the path starts at the origin")
    check_range(origin, asof)
    params = load_scenario(scenario)
    _, x = simulate_fine(params, origin, asof, seed)
    closes = x[FINE_PER_DAY::FINE_PER_DAY]
    return {"scenario": scenario, "seed": seed, "origin": origin, "asof": asof, "index": math.exp(closes[-1]),
            "source": f"simulated ({build_note(scenario, seed, origin, 'exact')})",
            "contracts": curve_rows(params, origin, asof, closes)}


def stored_curve(store, asof: date) -> dict:
    """The curve on the index stored by ``sit build`` (its scenario, seed and origin)."""
    meta = read_sidecar(store.root / SOURCE / "1d") or read_sidecar(store.root / SOURCE / "1h")
    if meta is None:
        raise DataMissing(f"no SIT build in {store.root}; run \"sitcli sit build\" first or "
                          "drop --from-store")
    freq = meta["freq"]
    origin = date.fromisoformat(meta["origin"])
    bars = store.read(INDEX_SYMBOL, freq, source=SOURCE)
    stamps = bars.index + pd.Timedelta(1, "D" if freq == "1d" else "h")   # bar closes
    midnight = (stamps.hour == 0) & (stamps.minute == 0)
    closes = pd.Series(bars["close"].to_numpy()[midnight], index=stamps[midnight].date)
    want = [origin + timedelta(days=i + 1) for i in range((asof - origin).days + 1)]
    if asof < origin or want[-1] not in closes.index:
        raise DataMissing(f"--asof {asof} is outside the stored SIT build ({meta['origin']} to "
                          f"{meta['end']}); pick a date inside it or rebuild")
    daily = closes.reindex(want)
    kinks = tuple(tuple(k) for k in meta["params"]["theta_kinks"])
    params = SitParams(**{**meta["params"], "theta_kinks": kinks})
    log_closes = np.log(daily.to_numpy(dtype=float))
    return {"scenario": meta["scenario"], "seed": meta["seed"], "origin": origin, "asof": asof,
            "index": float(daily.iloc[-1]), "source": f"store ({meta['note']})",
            "contracts": curve_rows(params, origin, asof, log_closes)}
