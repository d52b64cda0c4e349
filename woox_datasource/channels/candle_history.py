"""Closed candles from REST for the live stream: gap fills, confirmations, backfill, catch-up.

REST history holds only closed candles, which is exactly what a fill needs. Two things are added
on top of :class:`~woox_datasource.rest.RestClient` (which already retries single requests):

* persistence within a deadline: a gap fill keeps trying through 429s and 5xx for
  ``fill_deadline_s`` after the first failure (time spent queued for the shared REST budget,
  minutes after a venue-wide reconnect, is not failure) before the gap is declared unfillable,
  and re-reads the newest candles a
  few times if history lags the socket (a candle that just closed may not be served yet);
* the live-only ``3d`` timeframe, which klineHistory does not serve, derived from three ``1d``
  candles: open of the first, close of the last, extreme high/low, summed volumes, in exact
  decimal arithmetic. Windows are anchored on the range's end, an open time the exchange itself
  sent (a ``3d`` push's ``st``), so no assumption about the ``3d`` anchor is made. It does
  assume the exchange's ``3d`` candle aggregates the same trades as its three daily ones, which
  no source confirms, so it is opt-in (``StreamOptions.derive_3d``); by default such gaps are
  reported unfillable.
"""

from __future__ import annotations

import asyncio
import decimal
import math
import random
from collections.abc import AsyncGenerator
from contextlib import aclosing

from host_stub.spec import OHLCV, ExchangeError, HistoryRequest, InvalidRequest, UnknownSymbol
from woox_datasource.rest import RestClient
from woox_datasource.rest.budget import Priority
from woox_datasource.stream.options import StreamOptions
from woox_datasource.timeframes import Timeframe, for_history

_DAY_S = 86_400
_SUM_CONTEXT = decimal.Context(prec=80)
"""Sums of exchange decimals stay exact (the default 28 digits could round a month's turnover)."""


class HistoryUnavailable(Exception):
    """History could not supply a range (REST kept failing, or the timeframe has none)."""


def derive_candles(days: list[OHLCV], tf: Timeframe, first_open: int) -> list[OHLCV]:
    """Aggregate ascending daily candles into ``tf`` candles opening at ``first_open + k*step``.
    A window missing any of its days is left out (the caller sees the hole)."""
    step = tf.interval * 1000
    per_window = tf.interval // _DAY_S
    out: list[OHLCV] = []
    group: list[OHLCV] = []
    window = None
    for day in days:
        index = (day.open_time - first_open) // step
        if index != window:
            if len(group) == per_window:
                out.append(_aggregate(group, tf, first_open + window * step))  # type: ignore[operator]
            group, window = [], index
        expected = first_open + index * step + len(group) * _DAY_S * 1000
        if day.open_time == expected:
            group.append(day)
    if len(group) == per_window and window is not None:
        out.append(_aggregate(group, tf, first_open + window * step))
    return out


def _aggregate(group: list[OHLCV], tf: Timeframe, open_time: int) -> OHLCV:
    add = _SUM_CONTEXT.add
    volume = quote = decimal.Decimal(0)
    for day in group:
        volume = add(volume, day.volume)
        quote = add(quote, day.quote_volume)
    return OHLCV(
        symbol=group[0].symbol,
        interval=tf.interval,
        open_time=open_time,
        close_time=open_time + tf.interval * 1000,
        open=group[0].open,
        high=max(day.high for day in group),
        low=min(day.low for day in group),
        close=group[-1].close,
        volume=volume,
        quote_volume=quote,
    )


def fill_priority(tf: Timeframe, start: int) -> Priority:
    """The REST priority of reading candles from ``start`` for a live stream (gap fills,
    backfill, catch-up): the shortest interval first, since its consumer watches most closely
    and its next candle is soonest due, then the oldest gap."""
    return (0.0, float(tf.interval), float(start))


class HistorySource:
    """REST history as the stream needs it (see the module docstring)."""

    def __init__(self, rest: RestClient, options: StreamOptions, rng: random.Random) -> None:
        self.rest = rest
        self._options = options
        self._rng = rng

    def _derivable(self, tf: Timeframe) -> bool:
        return (
            self._options.derive_3d
            and not tf.months
            and tf.interval % _DAY_S == 0
            and tf.interval > _DAY_S
        )

    async def _source(
        self, symbol: str, tf: Timeframe, start: int, end: int
    ) -> AsyncGenerator[list[OHLCV], None]:
        if tf.history:
            async with aclosing(self.rest.fetch_history(HistoryRequest(symbol, tf.interval, start, end))) as it:  # fmt: skip  # noqa: E501
                async for batch in it:
                    yield batch
            return
        if not self._derivable(tf):
            raise HistoryUnavailable(f"WOO X serves no {tf.label} history")
        step = tf.interval * 1000
        first = end - (end - start) // step * step
        if first >= end:
            return
        day = for_history(_DAY_S)
        days: list[OHLCV] = []
        async with aclosing(self.rest.fetch_history(HistoryRequest(symbol, day.interval, first, end))) as it:  # fmt: skip  # noqa: E501
            async for batch in it:
                days.extend(batch)
        derived = derive_candles(days, tf, first)
        if derived:
            yield derived

    async def batches(
        self, symbol: str, tf: Timeframe, start: int, end: int
    ) -> AsyncGenerator[list[OHLCV], None]:
        """Ascending batches of the closed candles in ``[start, end)``. Retries until the fill
        deadline, then raises :class:`HistoryUnavailable`; if the newest candles are missing,
        re-reads them ``fill_lag_retries`` times before giving up on them quietly (the caller
        sees the hole)."""
        opts = self._options
        loop = asyncio.get_running_loop()
        deadline = math.inf  # set by the first failure
        covered = start
        attempt = lag_reads = 0
        while covered < end:
            try:
                async with aclosing(self._source(symbol, tf, covered, end)) as it:
                    async for batch in it:
                        fresh = [c for c in batch if c.open_time >= covered]
                        if fresh:
                            covered = fresh[-1].close_time
                            yield fresh
            except HistoryUnavailable:
                raise
            except (InvalidRequest, UnknownSymbol) as exc:
                raise HistoryUnavailable(str(exc)) from exc
            except Exception as exc:  # ExchangeError, RateLimited, transport, closed session
                retryable = not isinstance(exc, ExchangeError) or exc.retryable
                deadline = min(deadline, loop.time() + opts.fill_deadline_s)
                if not retryable or isinstance(exc, RuntimeError) or loop.time() >= deadline:
                    raise HistoryUnavailable(f"{type(exc).__name__}: {exc}") from exc
                attempt += 1
                nominal = min(opts.backoff_max_s, opts.backoff_initial_s * 2.0 ** (attempt - 1))
                delay = min(nominal * self._rng.uniform(0.5, 1.0), deadline - loop.time())
                await asyncio.sleep(max(0.0, delay))
                continue
            if covered >= end or lag_reads >= opts.fill_lag_retries:
                return
            lag_reads += 1
            await asyncio.sleep(opts.fill_lag_delay_s)

    def queue_position(self, priority: Priority) -> tuple[int, str] | None:
        """If reads of ``priority`` wait for the shared REST budget: how many requests go
        before or with them, and how long that takes at the budget's rate."""
        budget = self.rest.budget
        ahead = budget.queued_ahead(priority)
        if ahead == 0:
            return None
        eta = ahead / budget.max_requests * budget.per_seconds
        rate = f"{budget.max_requests} per {budget.per_seconds:g} s"
        return ahead, f"about {eta:.1f} s at {rate}, the exchange's limit per IP"

    async def fill(
        self, symbol: str, tf: Timeframe, start: int, end: int
    ) -> tuple[list[OHLCV], str | None]:
        """All closed candles in ``[start, end)`` that could be had, and why not all, if not."""
        rows: list[OHLCV] = []
        try:
            async with aclosing(self.batches(symbol, tf, start, end)) as it:
                async for batch in it:
                    rows.extend(batch)
        except HistoryUnavailable as exc:
            return rows, str(exc)
        return rows, None
