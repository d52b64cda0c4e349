"""Helpers for REST tests against the simulator: ground truth as records, and request-log checks."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing, asynccontextmanager
from decimal import Decimal

import aiohttp

from host_stub.spec import OHLCV, HistoryRequest
from woox_datasource.rest import RateBudget, RestClient
from woox_datasource.simulator import SimCandle, WooXSimulator

MINUTE = 60_000
HOUR = 3_600_000
DAY = 86_400_000


def truth(
    sim: WooXSimulator, symbol: str, rest_type: str, interval: int, start: int, end: int
) -> list[OHLCV]:
    """The simulator's own closed candles for the range, as the records the plugin must produce
    (klineHistory serves closed candles only, as the real exchange appears to)."""
    now = sim.clock.now_ms()
    return [
        OHLCV(c.symbol, interval, c.start_ms, c.end_ms, *map(Decimal, _numbers(c)))
        for c in sim.candles(symbol, rest_type, start, end)
        if c.end_ms <= now
    ]


def _numbers(c: SimCandle) -> tuple[str, ...]:
    return (c.open, c.high, c.low, c.close, c.volume, c.amount)


def same_digits(got: Sequence[OHLCV], want: Sequence[OHLCV]) -> None:
    """Equal records, and equal digits too (Decimal('1.0') == Decimal('1') would hide a loss)."""
    assert got == want
    fields = ("open", "high", "low", "close", "volume", "quote_volume")
    for g, w in zip(got, want, strict=True):
        assert [str(getattr(g, f)) for f in fields] == [str(getattr(w, f)) for f in fields]


def max_per_window(times: Sequence[float], window_s: float = 1.0) -> int:
    """The most requests that arrived within any ``window_s`` span (sliding)."""
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, t + window_s) - i for i, t in enumerate(ordered)), default=0
    )


def assert_polite(sim: WooXSimulator, limit: int = 10, window_s: float = 1.0) -> None:
    """The simulator's own limiter never fired, no 1 s window saw more than ``limit`` arrivals,
    and no request carried ``after`` (let alone ``before`` and ``after`` together)."""
    assert not [r for r in sim.requests if r.rate_limited]
    assert max_per_window([r.time for r in sim.requests], window_s) <= limit
    assert all("after" not in r.query for r in sim.requests)


@asynccontextmanager
async def client_for(sim: WooXSimulator, **kwargs: object) -> AsyncIterator[RestClient]:
    budget = kwargs.pop("budget", None) or RateBudget()
    async with aiohttp.ClientSession() as session:
        yield RestClient(session, sim.rest_url, budget=budget, **kwargs)  # type: ignore[arg-type]


async def collect(client: RestClient, request: HistoryRequest) -> list[OHLCV]:
    """Drain fetch_history, checking the batch contract on the way (ascending, no repeats)."""
    out: list[OHLCV] = []
    async with aclosing(client.fetch_history(request)) as batches:
        async for batch in batches:
            assert batch
            assert all(a.open_time < b.open_time for a, b in itertools.pairwise(batch))
            assert not out or out[-1].open_time < batch[0].open_time
            out.extend(batch)
    return out
