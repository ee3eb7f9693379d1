"""The one interface every market-data source implements, and the retry policy they share.

A source turns (symbol, timeframe, start, end) into a `Fetch`: raw bars in the store's column
names with a UTC index (the store validates them), plus whatever else the venue has (funding
rates, splits and dividends). Sources raise only the errors below, so `sitcli data pull` can
tell a transient fault (retried with backoff) from a final one (reported for that symbol).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sitcli.errors import BadInput, RuntimeFailure


class SourceError(RuntimeFailure):
    """A final failure for one symbol: no network, HTTP 4xx, geo-block, unknown symbol."""


class Transient(SourceError):
    """Worth retrying: timeout, connection reset, HTTP 5xx, HTTP 429 (after `retry_after`)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class UnknownSymbol(SourceError, BadInput):
    """The venue does not list the symbol (or no longer does: delisted)."""

    exit_code = 2


@dataclass
class Fetch:
    bars: Any                       # DataFrame: UTC index, open/high/low/close/volume
    funding: Any = None             # Series of funding rates at their UTC timestamps (perps)
    actions: Any = None             # DataFrame of splits and dividends (equities)
    notes: list[str] = field(default_factory=list)


class Source(Protocol):
    name: str                       # the store's source folder: "yahoo", "ccxt"

    def fetch(self, symbol: str, timeframe: str, start, end) -> Fetch:
        """Bars with start <= time < end (UTC Timestamps; None = as far as the venue goes)."""


def with_retries(call, *, what: str, attempts: int = 5, base_wait: float = 0.5,
                 max_wait: float = 30.0, sleep=None):
    """Run `call()`; retry `Transient` errors with exponential backoff (honouring a 429's
    Retry-After, capped at `max_wait`); after `attempts` raise a final SourceError."""
    import time

    from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt

    def wait(state) -> float:
        exc = state.outcome.exception()
        backoff = min(max_wait, base_wait * 2 ** (state.attempt_number - 1))
        if isinstance(exc, Transient) and exc.retry_after is not None:
            return min(max_wait, max(exc.retry_after, 0.0))
        return backoff

    retrying = Retrying(retry=retry_if_exception_type(Transient), wait=wait,
                        stop=stop_after_attempt(attempts), sleep=sleep or time.sleep,
                        reraise=False)
    try:
        return retrying(call)
    except RetryError as exc:
        last = exc.last_attempt.exception()
        raise SourceError(f"{what}: gave up after {attempts} attempts: {last}") from None
