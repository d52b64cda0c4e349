"""24 h rolling statistics of a symbol's trades: the ``ticker`` topic and ``futures``' 24h fields.

The window ending at ``t`` holds the trades with ``t - 24 h < time <= t``. It is summed from the
minutes' closed-form plans (whole minutes and whole hours, cached) and, at its two ragged edges,
from the trades themselves, so it equals the sum of the tape to the last digit. A cold symbol
needs 1440 minute plans once (about 20 ms); a :class:`Warmer` does that work in slices on the
event loop so that subscribing a whole venue's tickers never blocks the simulator.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Iterable
from typing import NamedTuple

from .market import CandleModel
from .minutes import MINUTE_MS, MinutePlan, edge_times
from .trades import Tape
from .units import fmt_decimal

DAY_MS = 86_400_000
HOUR_MINUTES = 60
_CACHED_HOURS = 32
_CACHED_MINUTES = 256


class Agg(NamedTuple):
    """Trades summed: first and last trade (price, time), extremes, volume, amount, count."""

    first_price: int
    first_time: int
    last_price: int
    last_time: int
    high: int
    low: int
    volume: int
    amount: int
    trades: int


def merge(a: Agg | None, b: Agg | None) -> Agg | None:
    """``a`` followed by ``b`` (``a``'s trades all earlier)."""
    if a is None:
        return b
    if b is None:
        return a
    return Agg(a.first_price, a.first_time, b.last_price, b.last_time, max(a.high, b.high),
               min(a.low, b.low), a.volume + b.volume, a.amount + b.amount,
               a.trades + b.trades)  # fmt: skip


class Ticker(NamedTuple):
    """The 24 h window ending at ``time``, as the ``ticker`` topic sends it (decimal strings)."""

    symbol: str
    time: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    amount: str
    trades: int
    last_trade_time: int


class DayStats:
    """Rolling 24 h sums of one symbol's tape."""

    def __init__(self, model: CandleModel, tape: Tape) -> None:
        self.model = model
        self.tape = tape
        self._hours: dict[int, Agg | None] = {}
        self._minutes: dict[int, Agg | None] = {}

    def minute(self, m: int) -> Agg | None:
        if m in self._minutes:
            return self._minutes[m]
        agg = self._minute(m)
        if len(self._minutes) >= _CACHED_MINUTES:
            del self._minutes[next(iter(self._minutes))]
        self._minutes[m] = agg
        return agg

    def _minute(self, m: int) -> Agg | None:
        if m < self.tape.first_minute:
            return None
        return _summed(self.model.minute_plan(m))

    def hour(self, h: int) -> Agg | None:
        if h in self._hours:
            return self._hours[h]
        agg: Agg | None = None
        first = max(h * HOUR_MINUTES, self.tape.first_minute)
        for p in self.model.minute_plans(first, (h + 1) * HOUR_MINUTES):
            agg = merge(agg, _summed(p))
        if len(self._hours) >= _CACHED_HOURS:
            del self._hours[next(iter(self._hours))]
        self._hours[h] = agg
        return agg

    def _span(self, m0: int, m1: int) -> Agg | None:
        """Whole minutes ``[m0, m1)``: loose minutes at the ends, cached hours between."""
        agg: Agg | None = None
        m = m0
        while m < m1:
            if m % HOUR_MINUTES == 0 and m + HOUR_MINUTES <= m1:
                agg = merge(agg, self.hour(m // HOUR_MINUTES))
                m += HOUR_MINUTES
            else:
                agg = merge(agg, self.minute(m))
                m += 1
        return agg

    def _part(self, m: int, lo: int, hi: int) -> Agg | None:
        """Trades of minute ``m`` with ``lo <= time <= hi``."""
        whole = self.minute(m)
        if whole is None or (lo <= whole.first_time and whole.last_time <= hi):
            return whole
        agg: Agg | None = None
        for t in self.tape.minute(m):
            if lo <= t.time <= hi:
                one = Agg(t.price, t.time, t.price, t.time, t.price, t.price, t.size,
                          t.price * t.size, 1)  # fmt: skip
                agg = merge(agg, one)
        return agg

    def window(self, t: int) -> Agg | None:
        """The trades with ``t - 24 h < time <= t``."""
        lo = t - DAY_MS + 1
        ma, mb = lo // MINUTE_MS, t // MINUTE_MS
        first, end = _whole_minutes(t)
        head = self._part(ma, lo, t) if first != ma else None
        tail = self._part(mb, lo, t) if end != mb + 1 else None
        return merge(merge(head, self._span(first, end)), tail)

    def cold_hours(self, t: int) -> list[int]:
        """Hours the window ending at ``t`` needs that are not computed yet."""
        first, end = _whole_minutes(t)
        hours = range(-(-first // HOUR_MINUTES), end // HOUR_MINUTES)
        return [h for h in hours if h not in self._hours]

    def ticker(self, t: int) -> Ticker:
        agg = self.window(t)
        p = self.model.profile
        pdp, vdp = p.price_dp, p.volume_dp
        if agg is None:  # nothing traded for a day: flat at the last price
            price = fmt_decimal(self.model.price_at_minute(t // MINUTE_MS), pdp)
            return Ticker(self.model.symbol, t, price, price, price, price, "0", "0", 0, t)
        return Ticker(
            self.model.symbol,
            t,
            fmt_decimal(agg.first_price, pdp),
            fmt_decimal(agg.high, pdp),
            fmt_decimal(agg.low, pdp),
            fmt_decimal(agg.last_price, pdp),
            fmt_decimal(agg.volume, vdp),
            fmt_decimal(agg.amount, pdp + vdp),
            agg.trades,
            agg.last_time,
        )


def _summed(p: MinutePlan) -> Agg | None:
    if p.n_trades == 0:
        return None
    first, last = edge_times(p)
    return Agg(p.open, first, p.close, last, p.high, p.low, p.volume, p.amount, p.n_trades)


def _whole_minutes(t: int) -> tuple[int, int]:
    """The whole minutes ``[first, end)`` inside the window ending at ``t``."""
    lo = t - DAY_MS + 1
    first = -(-lo // MINUTE_MS)
    end = (t + 1) // MINUTE_MS
    return first, end


def ticker_push(topic: str, k: Ticker, send_ms: int) -> str:
    """A ``ticker@SYMBOL`` push (woox-api-streams.md §1.7). The simulator makes no difference
    between WOO X's own and aggregated trades here: ``q``/``u`` repeat ``v``/``a``."""
    return (
        f'{{"topic":"{topic}","ts":{send_ms},"data":{{"s":"{k.symbol}","o":"{k.open}",'
        f'"c":"{k.close}","h":"{k.high}","l":"{k.low}","v":"{k.volume}","a":"{k.amount}",'
        f'"q":"{k.volume}","u":"{k.amount}","cnt":{k.trades},"ts":{k.time},'
        f'"tts":{k.last_trade_time}}}}}'
    )


class Warmer:
    """Computes cold 24 h windows in slices (one hour of minutes, about 1 ms, between yields),
    so that a venue's worth of new ticker subscriptions never stalls the event loop."""

    def __init__(self) -> None:
        self._queue: collections.deque[tuple[DayStats, int]] = collections.deque()
        self._task: asyncio.Task[None] | None = None
        self._progress = asyncio.Event()

    def request(self, stats: DayStats, t: int) -> None:
        """Warm ``stats`` for the window ending at ``t`` (soon, in the background)."""
        self._queue.append((stats, t))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="woox-sim-warmer")

    async def ready(self, items: Iterable[DayStats], t: int) -> None:
        """Return once every one of ``items`` can compute the window ending at ``t`` from its
        cache (the work done in slices, other tasks running in between)."""
        pending = [s for s in items if s.cold_hours(t)]
        for stats in pending:
            self.request(stats, t)
        while any(s.cold_hours(t) for s in pending):
            self._progress.clear()
            await self._progress.wait()

    async def _run(self) -> None:
        while self._queue:
            stats, t = self._queue.popleft()
            for h in stats.cold_hours(t):
                stats.hour(h)
                await asyncio.sleep(0)
            self._progress.set()
        self._progress.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
