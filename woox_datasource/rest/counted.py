"""History by count: the latest N closed candles before a time, or the first N from a time.

klineHistory pages backwards from a ``before`` cursor alone (client.py says why), and a count has
no second bound to plan windows from. So the latest N start with one plain page (no cursor when
no end is given: the exchange's own "now", never the local clock, decides which candle is still
forming), which also shows where the data is; the rest is planned as windows on the timeframe's
grid and fetched concurrently inside the shared budget, exactly as a range is. Contiguous data
therefore costs ceil(N/1000) requests, one more when the first page held a forming candle. Where
the data is not where the grid says (a hole in the exchange's data, the symbol's listing), plain
paging takes over, which jumps a hole by itself; a page that comes back short proves that nothing
older exists, which is how a recent listing ends the search without an error.

The first N from a start go forwards window by window; when a stretch holds no candle at all
(long before a listing, a long hole), a bisection with backward pages finds the next candle in a
logarithmic number of requests instead of walking through the void.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import TYPE_CHECKING

from host_stub.spec import OHLCV, ExchangeError, HistoryRequest
from woox_datasource.rest.windows import Window, later_ms, plan_windows
from woox_datasource.timeframes import (
    Timeframe,
    ceil_open,
    count_opens,
    floor_open,
    next_open,
    nth_open,
)
from woox_datasource.wire import MAX_KLINE_LIMIT

if TYPE_CHECKING:
    from woox_datasource.rest.client import RestClient

MAX_PROBES = 64
"""Bisection steps before giving up on an exchange whose cursor does not behave (each step at
least halves the unknown stretch, so a well-behaved exchange needs ~30 even for 1m since 1970)."""


async def fetch_counted(
    client: RestClient, symbol: str, tf: Timeframe, request: HistoryRequest
) -> AsyncGenerator[list[OHLCV], None]:
    """Ascending batches of at most 1000 candles answering a request with a ``limit``."""
    assert request.limit is not None
    if request.start is not None:
        async with aclosing(first_candles(client, symbol, tf, request.start, request.limit)) as it:
            async for batch in it:
                yield batch
        return
    # The oldest of the latest N is known only once all N are in: they are held, then released.
    candles = await last_candles(client, symbol, tf, request.limit, request.end)
    for i in range(0, len(candles), MAX_KLINE_LIMIT):
        yield candles[i : i + MAX_KLINE_LIMIT]


async def last_candles(
    client: RestClient, symbol: str, tf: Timeframe, limit: int, end: int | None
) -> list[OHLCV]:
    """The ``limit`` closed candles opening before ``end`` (the exchange's now when None),
    ascending; fewer only when the exchange has no more."""
    chunks: list[list[OHLCV]] = []  # newest first
    page = await client.page(symbol, tf, end, min(limit, MAX_KLINE_LIMIT))
    newest = [c for c in page.candles if end is None or c.open_time < end]
    chunks.append(newest)
    got = len(newest)
    cursor = page.oldest if end is None or page.oldest is None else min(page.oldest, end)
    exhausted = page.short or cursor is None
    while got < limit and not exhausted:
        assert cursor is not None
        deficit = limit - got
        windows = plan_windows(tf, nth_open(tf, cursor, -deficit), cursor)
        found, first_exhausted = await _collect(client, symbol, tf, windows)
        if found:
            found = found[-deficit:]
            chunks.append(found)
            got += len(found)
            cursor, exhausted = found[0].open_time, first_exhausted
            continue
        if first_exhausted:
            break
        # The grid's stretch held nothing: a hole in the exchange's data. A plain page jumps it.
        before = windows[0].start if windows else cursor
        page = await client.page(symbol, tf, before, min(deficit, MAX_KLINE_LIMIT))
        older = [c for c in page.candles if c.open_time < before]
        chunks.append(older)
        got += len(older)
        if page.oldest is None or page.oldest >= before:  # empty, or a cursor that did not move
            break
        cursor, exhausted = page.oldest, page.short
    candles = [c for chunk in reversed(chunks) for c in chunk]
    return candles[-limit:]


async def _collect(
    client: RestClient, symbol: str, tf: Timeframe, windows: list[Window]
) -> tuple[list[OHLCV], bool]:
    """All candles of ``windows`` (ascending) and whether the oldest window proved that nothing
    older exists."""
    found: list[OHLCV] = []
    exhausted: bool | None = None
    async with aclosing(client.windows(symbol, tf, windows)) as results:
        async for result in results:
            if exhausted is None:
                exhausted = result.exhausted
            found.extend(result.candles)
    return found, bool(exhausted)


async def first_candles(
    client: RestClient, symbol: str, tf: Timeframe, start: int, limit: int
) -> AsyncGenerator[list[OHLCV], None]:
    """The first ``limit`` closed candles opening at or after ``start``, in ascending batches as
    their windows complete; fewer only when the exchange has no more up to its now."""
    got, cursor = 0, start
    server_ms: int | None = None
    while got < limit:
        now = max(_local_ms(), server_ms or 0)
        horizon = next_open(tf, floor_open(tf, now))  # every closed candle opens before it
        if cursor >= horizon:
            return
        hi = min(nth_open(tf, cursor, limit - got), horizon)
        windows = plan_windows(tf, cursor, hi)
        if not windows and server_ms is None:
            # No open of ours before the local horizon: ask the exchange's clock before giving up.
            server_ms = (await client.page(symbol, tf, None, 1)).server_ms or _local_ms()
            continue
        found = False
        async with aclosing(client.windows(symbol, tf, windows)) as results:
            async for result in results:
                server_ms = later_ms(server_ms, result.server_ms)
                batch = result.candles[: limit - got]
                if batch:
                    found = True
                    got += len(batch)
                    yield batch
                if got >= limit:
                    return
        exchange_now = server_ms if server_ms is not None else _local_ms()
        if hi >= exchange_now:
            return  # every closed candle from start on has been seen
        if found:
            cursor = hi
            continue
        first = await first_open_from(client, symbol, tf, hi, exchange_now)
        if first is None:
            return
        cursor = first


async def first_open_from(
    client: RestClient, symbol: str, tf: Timeframe, t: int, now: int
) -> int | None:
    """Open time of the first closed candle opening at or after ``t`` (before ``now``), or None.

    Bisection over time with backward pages: a page before ``probe`` either shows no candle in
    ``[t, probe)`` (they all start later), or reaches back past ``t`` (or to the very first
    candle) and so shows the first one, or is full of candles after ``t`` (the first is earlier
    than all of them)."""
    low, high = t, None  # no candle opens in [t, low); one opens at ``high`` (when known)
    probe = next_open(tf, floor_open(tf, now))
    for _ in range(MAX_PROBES):
        page = await client.page(symbol, tf, probe, MAX_KLINE_LIMIT)
        after = [c.open_time for c in page.candles if t <= c.open_time < probe]
        reaches_back = page.short or page.oldest is None or page.oldest < t
        if after and reaches_back:
            return after[0]
        if after:
            high = after[0]
        elif high is None:
            return None  # nothing from t up to the exchange's now
        elif probe == high:
            return high
        else:
            low = probe
        middle = ceil_open(tf, low + (high - low) // 2)
        if count_opens(tf, low, high) < MAX_KLINE_LIMIT or not low < middle < high:
            probe = high
        else:
            probe = middle
    raise ExchangeError(
        f"could not locate the first {tf.label} candle of {symbol} after {t} within "
        f"{MAX_PROBES} klineHistory requests; the exchange's cursor does not behave as documented",
        retryable=False,
    )


def _local_ms() -> int:
    return time.time_ns() // 1_000_000
