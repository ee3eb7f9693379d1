"""Pulling market data into the store: incremental, locked, one symbol's failure isolated.

A pull fetches only what the store lacks (the range before its first bar and after its last),
merges it in with the store's atomic write, and holds an exclusive lock on the symbol's file
meanwhile, so two processes pulling the same symbol take turns instead of corrupting it.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sitcli.data.sources.base import SourceError
from sitcli.data.store import Store, file_lock
from sitcli.errors import BadInput, SitcliError


@dataclass
class PullReport:
    symbol: str
    source: str
    ok: bool = False
    new_bars: int = 0
    rows: int = 0
    first: pd.Timestamp | None = None
    last: pd.Timestamp | None = None
    funding_stamps: int = 0
    actions: int = 0
    message: str = ""
    notes: list[str] = field(default_factory=list)


def symbol_lock(path: Path, timeout: float = 120.0):
    """An exclusive advisory lock on `path`'s sibling `.lock` file (the store's own lock)."""
    return file_lock(path, timeout)


# Fewer, shorter retries than a library default: with no network a pull must say so within
# seconds (waits 0.5 + 1 + 2 s), while a blip of a few seconds is still ridden out.
ATTEMPTS = 4
BASE_WAIT = 0.5


# Seconds one symbol's pull may take in all (requests, retries, waits) unless --timeout says
# otherwise; and the longest a single request may wait for the server.
DEFAULT_TIMEOUT = 30.0
REQUEST_TIMEOUT = 20.0


def source_for(symbol: str, exchange: str, timeout: float | None = None):
    """Yahoo for equities and indices, ccxt for `BASE/QUOTE` pairs. SITCLI_YAHOO_URL points
    the Yahoo adapter at a mirror (the tests' local replica)."""
    request = min(REQUEST_TIMEOUT, timeout) if timeout else REQUEST_TIMEOUT
    if "/" in symbol:
        from sitcli.data.sources.ccxt import CcxtSource

        return CcxtSource(exchange=exchange, attempts=ATTEMPTS, base_wait=BASE_WAIT,
                          config={"timeout": int(request * 1000)})
    from sitcli.data.sources.yahoo import YahooSource

    return YahooSource(base_url=os.environ.get("SITCLI_YAHOO_URL") or None, attempts=ATTEMPTS,
                       base_wait=BASE_WAIT, timeout=request)


class PullTimeout(SourceError):
    """The symbol's pull ran past its deadline (--timeout)."""


def _within(seconds: float | None, what: str, call, total: float | None = None):
    """`call()`, or PullTimeout once `seconds` have passed. The call runs in a daemon thread:
    a request stuck on a silent server cannot be cancelled, but it no longer holds the pull
    (or the process's exit) up."""
    if seconds is None:
        return call()
    if seconds <= 0:
        raise PullTimeout(f"{what}: no answer within the deadline; check the network or "
                          "raise --timeout")
    box: dict = {}

    def run():
        try:
            box["value"] = call()
        except BaseException as exc:   # handed to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=run, name="sitcli-fetch", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise PullTimeout(f"{what}: no complete answer within {total or seconds:.3g} s "
                          "(--timeout); check the network or raise --timeout")
    if "error" in box:
        raise box["error"]
    return box["value"]


def missing_ranges(have_first, have_last, start, end, step: pd.Timedelta):
    """What to fetch given what is stored: before the first bar and after the last."""
    if have_first is None:
        return [(start, end)]
    ranges = []
    if start is not None and start < have_first:
        ranges.append((start, have_first))
    after = have_last + step
    if end is None or after < end:
        ranges.append((after, end))
    return ranges


def pull_symbol(store: Store, source, symbol: str, timeframe: str, start=None, end=None,
                refresh: bool = False, timeout: float | None = None) -> PullReport:
    """Fetch what the store lacks and merge it in. A symbol with no stored bars that gets
    none is a failure (an empty answer is not "up to date"); `timeout` bounds the whole
    symbol (requests, retries and waits)."""
    from sitcli.bars import bar_duration

    deadline = None if timeout is None else time.monotonic() + timeout
    report = PullReport(symbol, source.name)
    step = bar_duration(timeframe)
    with store.locked(source.name, symbol, timeframe) as path:
        have_first = have_last = None
        if path.exists() and not refresh:
            stored = store.read(symbol, timeframe, source=source.name)
            have_first, have_last = stored.index[0], stored.index[-1]
        frames, funding, actions = [], [], []
        for lo, hi in missing_ranges(have_first, have_last, start, end, step):
            left = None if deadline is None else deadline - time.monotonic()
            got = _within(left, f"{source.name} {symbol}",
                          lambda lo=lo, hi=hi: source.fetch(symbol, timeframe, lo, hi), timeout)
            report.notes.extend(got.notes)
            if got.bars is not None and len(got.bars):
                frames.append(got.bars)
            if got.funding is not None and len(got.funding):
                funding.append(got.funding)
            if got.actions is not None and len(got.actions):
                actions.append(got.actions)
        new = pd.concat(frames) if frames else None
        if (new is None or not len(new)) and not path.exists():
            span = (f" between {start:%Y-%m-%d} and {end:%Y-%m-%d}" if start is not None
                    and end is not None else "")
            raise SourceError(f"{source.name} returned no {timeframe} bars for {symbol}{span} "
                              "and none are stored; check the symbol and the date range")
        if new is not None and len(new):
            new = new[~new.index.duplicated(keep="last")].sort_index()
            if funding:
                from sitcli.data.sources.ccxt import funding_sums_per_bar

                rates = pd.concat(funding)
                new["funding_rate"] = funding_sums_per_bar(new.index, rates, timeframe).to_numpy()
                report.funding_stamps = int(len(rates))
            report.new_bars = int(len(new))
            try:
                store.write(new, source=source.name, symbol=symbol, timeframe=timeframe,
                            merge=path.exists() and not refresh,
                            note=f"pulled from {source.name}")
            except BadInput as exc:   # the source's answer, not the user's input, is wrong
                raise SourceError(f"{source.name} sent bars for {symbol} that fail the store's "
                                  f"checks ({exc}); nothing was stored") from None
        if actions:
            report.actions = int(sum(len(a) for a in actions))
            _write_actions(path, pd.concat(actions))
        stored = store.read(symbol, timeframe, source=source.name)
    report.rows, report.first, report.last = len(stored), stored.index[0], stored.index[-1]
    report.ok = True
    report.message = "up to date" if report.new_bars == 0 else f"{report.new_bars} new bars"
    return report


def _write_actions(path: Path, actions: pd.DataFrame) -> None:
    """Splits and dividends beside the bars (`<file>.actions.csv`), merged and atomic."""
    from sitcli.files import atomic_write

    target = path.with_name(path.stem + ".actions.csv")
    if target.exists():
        old = pd.read_csv(target, index_col=0, parse_dates=True)
        actions = pd.concat([old, actions])
    actions = actions[~actions.index.duplicated(keep="last")].sort_index()
    atomic_write(target, actions.to_csv)


def pull_many(store: Store, symbols: list[str], timeframe: str, start=None, end=None,
              refresh: bool = False, exchange: str = "binance", on_symbol=None,
              timeout: float | None = DEFAULT_TIMEOUT) -> list[PullReport]:
    """Every symbol in turn; a failure is recorded in its report and the next one goes on.
    Once a source has timed out or given up after its retries, its remaining symbols are
    marked failed without asking it again, so a dead network fails the run quickly."""
    reports = []
    down: dict[str, str] = {}     # source kind -> the failure that took it down
    for symbol in symbols:
        if on_symbol:
            on_symbol(symbol)
        kind = "ccxt" if "/" in symbol else "yahoo"
        if kind in down:
            reports.append(PullReport(symbol, kind, ok=False,
                                      message=f"skipped: {kind} did not answer ({down[kind]})"))
            continue
        try:
            source = source_for(symbol, exchange, timeout)
            reports.append(pull_symbol(store, source, symbol, timeframe, start, end, refresh,
                                       timeout=timeout))
        except SitcliError as exc:
            if isinstance(exc, PullTimeout) or "gave up after" in str(exc):
                down[kind] = f"{symbol}: {exc}"
            reports.append(PullReport(symbol, kind, ok=False, message=str(exc)))
    return reports


def universe(name: str) -> list[str]:
    """Named baskets from instruments.toml: `depin` = the crypto instruments as USDT pairs."""
    from sitcli.instruments import instruments_table

    if name != "depin":
        raise BadInput(f"--universe {name}: the only universe is depin")
    return [f"{key}/USDT" for key, row in instruments_table().items()
            if row["asset_class"] == "crypto"]
