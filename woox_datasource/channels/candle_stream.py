"""The consumer's side of a candle stream: filtering, its own watermark, backfill and catch-up.

A stream takes what its feed delivers (provisional updates, finals, statuses) into its own
bounded :class:`CandleQueue`. It keeps its own watermark (the ``close_time`` of the last final
it queued) so that nothing reaches the consumer twice, whichever path it came by.

History joins live in one mechanism, *catch-up*: read closed candles from REST up to the feed's
frontier (the open time of the next candle the feed will finalize), and repeat until no final
was produced meanwhile; then, without yielding to the event loop, switch to live. It serves two
cases: ``backfill_from`` (history first, then live, exact seam), and a consumer so slow that its
queue is full of finals: rather than keep an unbounded backlog, the stream stops queueing, and
once the consumer has drained half of the queue it re-reads the missed finals from history.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

from host_stub.spec import CandleEvent, StatusEvent, StatusKind, StreamConfig, StreamEvent
from woox_datasource import wire
from woox_datasource.channels.candle_history import (
    HistorySource,
    HistoryUnavailable,
    fill_priority,
)
from woox_datasource.channels.candle_kline import Kline
from woox_datasource.rest.budget import set_priority
from woox_datasource.stream.feed import Feed
from woox_datasource.stream.live import LiveStream, StreamEnv
from woox_datasource.stream.queue import EventQueue
from woox_datasource.stream.stats import log
from woox_datasource.timeframes import Timeframe


class Frontier(Protocol):
    """What a candle stream needs of its feed to join history to live."""

    @property
    def frontier(self) -> int | None:
        """The open time of the next candle the feed will finalize (None before a push)."""
        ...

    async def wait_frontier(self) -> int:
        """The frontier, once there is one."""
        ...

    @property
    def history(self) -> HistorySource: ...


class CandleQueue(EventQueue):
    """The candle policy on the stream's queue: a provisional update replaces the one still
    waiting for the same candle (keyed by open time), and a final withdraws it, so the consumer
    never sees a provisional after the final of its candle. Finals and statuses count against
    the capacity; what does not fit is re-read from history (see the module docstring). A
    provisional update is a :class:`CandleEvent` or a :class:`Kline` (turned into one when the
    consumer takes it)."""

    __slots__ = ()

    def push_provisional(self, event: CandleEvent | Kline) -> bool:
        """Queue a provisional update, replacing a waiting one of the same candle (then True)."""
        key = event.open_time if isinstance(event, Kline) else event.candle.open_time
        return self.conflate(key, event)

    def push(self, event: object) -> bool:
        """Queue a final or status event; False (nothing queued) if the queue is full."""
        if type(event) is CandleEvent:
            self.withdraw(event.candle.open_time)
        return super().push(event)


class CandleStream(LiveStream):
    """A live candle stream (see the module docstring)."""

    def __init__(
        self, stream_id: str, *, symbol: str, tf: Timeframe, config: StreamConfig, env: StreamEnv
    ) -> None:
        self._candles = CandleQueue(env.options.queue_capacity)
        super().__init__(stream_id, symbol=symbol, config=config, env=env, queue=self._candles)
        self.timeframe = tf
        self._from = config.backfill_from if config.backfill_from is not None else -(2**63)
        self._finals_only = config.finals_only
        self._next_open: int | None = None
        self._catching_up = False
        self.feed: Frontier | None = None

    def attached(self, feed: Feed[Any]) -> None:
        self.feed = cast(Frontier, feed)  # (the candle channel's feeds: CandleFeed)
        if self.config.backfill_from is not None:
            self.start_catch_up(self.config.backfill_from, backfill=True)

    # -- producer side (called by the feed, never blocking) -----------------------------------

    async def __anext__(self) -> StreamEvent:
        while True:
            event: object = await super().__anext__()
            if type(event) is not Kline:
                return cast(StreamEvent, event)
            try:
                return event.provisional()  # (built now: most were superseded before this)
            except wire.MalformedFrame as exc:
                self._stats.malformed += 1
                log.warning("%s: ignored %s", self._id, exc)

    def offer_provisional(self, push: Kline) -> None:
        start = push.open_time
        if self._finals_only or self._catching_up or start < self._from:
            return
        if self._next_open is not None and start < self._next_open:
            return
        if self._candles.conflate(start, push):
            self._stats.conflated += 1

    def offer_final(self, event: CandleEvent) -> None:
        candle = event.candle
        if self._catching_up or candle.open_time < self._from or self.ended:
            return
        if self._next_open is not None and candle.open_time < self._next_open:
            self._stats.duplicates += 1
            return
        if self._queue.push(event):
            self._next_open = candle.close_time
            return
        self._stats.overflows += 1
        log.warning("%s: consumer too slow (%d events waiting); finals will be re-read from "
                    "history once it catches up", self._id, len(self._queue))  # fmt: skip
        start = self._next_open if self._next_open is not None else candle.open_time
        self.start_catch_up(start, backfill=False)

    def offer_status(self, event: StatusEvent) -> None:
        if self._catching_up and event.kind in (StatusKind.GAP_FILLED, StatusKind.GAP_UNFILLABLE):
            return  # the catch-up reads (and reports) these candles itself
        super().offer_status(event)

    # -- catch-up from history ----------------------------------------------------------------

    def start_catch_up(self, start: int, *, backfill: bool) -> None:
        self._catching_up = True
        self.spawn(self._catch_up(start, backfill), "catch-up")

    async def _catch_up(self, start: int, backfill: bool) -> None:
        feed = self.feed
        assert feed is not None
        set_priority(fill_priority(self.timeframe, start))
        queue = self._queue
        low_water = max(1, queue.capacity // 2)
        cursor = start
        count = 0
        try:
            if not backfill:
                await queue.wait_below(low_water)
            while True:
                frontier = await feed.wait_frontier()
                if cursor < frontier:
                    count += await self._read_history(cursor, frontier, backfill)
                    cursor = frontier
                await queue.wait_below(low_water)
                if self.ended:
                    return
                if (feed.frontier or cursor) <= cursor:
                    break  # nothing was finalized live meanwhile: join live right here
        except Exception as exc:  # a bug must not leave the stream stuck in catch-up
            log.exception("%s: catch-up from history failed", self._id)
            end = max(feed.frontier or cursor, cursor)
            if cursor < end:
                self._report_hole(cursor, end, f"reading history failed: {exc!r}")
            self._next_open = max(self._next_open or end, end)
        self._catching_up = False  # (no await from the last check to here: nothing slips by)
        if backfill or count:
            kind = StatusKind.BACKFILLED if backfill else StatusKind.GAP_FILLED
            self.offer_status(StatusEvent(
                kind, self.symbol, self.timeframe.interval,
                start=start, end=max(cursor, start), count=count,
            ))  # fmt: skip

    async def _read_history(self, start: int, end: int, backfill: bool) -> int:
        """Queue history's finals in ``[start, end)`` (waiting for room); report holes. Before
        the first final of a backfill, missing candles are not a hole: the range may start
        before the symbol was listed."""
        feed = self.feed
        assert feed is not None
        count = 0
        error: str | None = None
        try:
            async for batch in feed.history.batches(self.symbol, self.timeframe, start, end):
                for candle in batch:
                    opened = candle.open_time
                    if opened < self._from or opened < start:
                        continue
                    expected = self._next_open
                    if expected is None and not backfill:
                        expected = start
                    if expected is not None:
                        if opened < expected:
                            continue
                        if opened > expected:
                            self._report_hole(expected, opened, "missed live and not in history")
                    await self._queue.push_wait(CandleEvent(candle, True))
                    if self.ended:
                        return count
                    self._next_open = candle.close_time
                    count += 1
        except HistoryUnavailable as exc:
            error = str(exc)
        reached = self._next_open
        if reached is None and (error is not None or not backfill):
            reached = start
        if reached is not None and reached < end:
            self._report_hole(reached, end, error or "history lacks these closed candles")
            self._next_open = end
        return count

    def _report_hole(self, start: int, end: int, reason: str) -> None:
        self._stats.gaps_unfillable += 1
        log.warning("%s: candles [%d, %d) unfillable: %s", self._id, start, end, reason)
        event = StatusEvent(
            StatusKind.GAP_UNFILLABLE, self.symbol, self.timeframe.interval,
            reason=reason, start=start, end=end,
        )  # fmt: skip
        if not self._queue.push(event):
            self._queue.push_force(event)
