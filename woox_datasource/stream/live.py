"""The consumer's side of one stream: filtering, its own watermark, backfill and catch-up.

A stream takes what its topic delivers (provisional updates, finals, statuses) into its own
bounded :class:`EventQueue`. It keeps its own watermark (the ``close_time`` of the last final it
queued) so that nothing reaches the consumer twice, whichever path it came by.

History joins live in one mechanism, *catch-up*: read closed candles from REST up to the topic's
frontier (the open time of the next candle the topic will finalize), and repeat until no final
was produced meanwhile; then, without yielding to the event loop, switch to live. It serves two
cases: ``backfill_from`` (history first, then live, exact seam), and a consumer so slow that its
queue is full of finals: rather than keep an unbounded backlog, the stream stops queueing, and
once the consumer has drained half of the queue it re-reads the missed finals from history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from host_stub.spec import CandleEvent, StatusEvent, StatusKind, StreamConfig, StreamEvent
from woox_datasource.rest.budget import set_priority
from woox_datasource.stream.history import HistoryUnavailable, fill_priority
from woox_datasource.stream.options import StreamOptions
from woox_datasource.stream.queue import EventQueue
from woox_datasource.stream.stats import StreamStats, log
from woox_datasource.timeframes import Timeframe

if TYPE_CHECKING:
    from woox_datasource.stream.topic import Topic

_KEEP_WHEN_FULL = frozenset({StatusKind.GAP_FILLED, StatusKind.GAP_UNFILLABLE,
                             StatusKind.BACKFILLED})  # fmt: skip
"""Statuses kept even past capacity (rare, and they describe data); connection-health statuses
are dropped instead while the consumer is that far behind."""


class LiveStream:
    """A live stream (satisfies :class:`host_stub.spec.Stream`): ``async for event in stream``.

    Iteration ends after :meth:`StreamManager.stop` (or :meth:`aclose`); it raises
    :class:`~host_stub.spec.UnknownSymbol` or :class:`~host_stub.spec.StreamFailed` once if the
    stream fails for good."""

    def __init__(
        self,
        stream_id: str,
        *,
        symbol: str,
        tf: Timeframe,
        config: StreamConfig,
        options: StreamOptions,
        stats: StreamStats,
        stop: Callable[[str], Awaitable[None]],
    ) -> None:
        self._id = stream_id
        self.symbol = symbol
        self.timeframe = tf
        self.config = config
        self._options = options
        self._stats = stats
        self._stop = stop
        self._queue = EventQueue(options.queue_capacity)
        self._from = config.backfill_from if config.backfill_from is not None else -(2**63)
        self._finals_only = config.finals_only
        self._next_open: int | None = None
        self._catching_up = False
        self._catch_task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self.ended = False
        self.topic: Topic | None = None

    @property
    def id(self) -> str:
        return self._id

    def __repr__(self) -> str:
        return f"<LiveStream {self._id} queued={len(self._queue)} ended={self.ended}>"

    # -- consumer side ------------------------------------------------------------------------

    def __aiter__(self) -> LiveStream:
        return self

    async def __anext__(self) -> StreamEvent:
        event = await self._queue.get()
        if event is not None:
            return event
        error, self._error = self._error, None
        if error is not None:
            raise error
        raise StopAsyncIteration

    @property
    def pending(self) -> int:
        """Events waiting for the consumer."""
        return len(self._queue)

    async def aclose(self) -> None:
        """Stop this stream (same as ``StreamManager.stop(stream.id)``)."""
        await self._stop(self._id)

    async def __aenter__(self) -> LiveStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- producer side (called by the topic, never blocking) ----------------------------------

    def offer_provisional(self, event: CandleEvent) -> None:
        if self._finals_only or self._catching_up or event.candle.open_time < self._from:
            return
        if self._next_open is not None and event.candle.open_time < self._next_open:
            return
        if self._queue.push_provisional(event):
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
        if self.ended:
            return
        if self._catching_up and event.kind in (StatusKind.GAP_FILLED, StatusKind.GAP_UNFILLABLE):
            return  # the catch-up reads (and reports) these candles itself
        if self._queue.push(event):
            return
        if event.kind in _KEEP_WHEN_FULL:
            self._queue.push_force(event)
        else:
            self._stats.statuses_dropped += 1

    # -- catch-up from history ----------------------------------------------------------------

    def start_catch_up(self, start: int, *, backfill: bool) -> None:
        self._catching_up = True
        self._catch_task = asyncio.get_running_loop().create_task(
            self._catch_up(start, backfill), name=f"woox-stream-catch-up-{self._id}"
        )

    async def _catch_up(self, start: int, backfill: bool) -> None:
        topic = self.topic
        assert topic is not None
        set_priority(fill_priority(self.timeframe, start))
        queue = self._queue
        low_water = max(1, queue.capacity // 2)
        cursor = start
        count = 0
        try:
            if not backfill:
                await queue.wait_below(low_water)
            while True:
                frontier = await topic.wait_frontier()
                if cursor < frontier:
                    count += await self._read_history(cursor, frontier, backfill)
                    cursor = frontier
                await queue.wait_below(low_water)
                if self.ended:
                    return
                if (topic.tracker.frontier or cursor) <= cursor:
                    break  # nothing was finalized live meanwhile: join live right here
        except Exception as exc:  # a bug must not leave the stream stuck in catch-up
            log.exception("%s: catch-up from history failed", self._id)
            end = max(topic.tracker.frontier or cursor, cursor)
            if cursor < end:
                self._report_hole(cursor, end, f"reading history failed: {exc!r}")
            self._next_open = max(self._next_open or end, end)
        self._catching_up = False  # (no await from the last check to here: nothing slips by)
        self._catch_task = None
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
        topic = self.topic
        assert topic is not None
        count = 0
        error: str | None = None
        try:
            async for batch in topic.history.batches(self.symbol, self.timeframe, start, end):
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

    # -- ending -------------------------------------------------------------------------------

    def fail(self, error: BaseException) -> None:
        """End with ``error``: queued events are still delivered, then iteration raises it."""
        if self.ended:
            return
        self.ended = True
        self._error = error
        self._queue.close(discard=False)
        self._cancel_catch_up()

    def _cancel_catch_up(self) -> asyncio.Task[None] | None:
        task, self._catch_task = self._catch_task, None
        if task is not None and not task.done():
            task.cancel()
            return task
        return None

    def shutdown(self) -> list[asyncio.Task[None]]:
        """End iteration now (stop): queued events are discarded, the catch-up task cancelled
        and returned (to be awaited), if there was one."""
        self.ended = True
        self._queue.close(discard=True)
        task = self._cancel_catch_up()
        return [task] if task is not None and task is not asyncio.current_task() else []
