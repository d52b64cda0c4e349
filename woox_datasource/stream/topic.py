"""One subscribed (symbol, interval) shared by every stream that asked for it.

A topic turns pushes into events through its :class:`CandleTracker` and fans them out to its
streams. When the tracker needs history (a gap, or a candle whose closing push was missed) the
topic holds further pushes, reads REST once for all its streams, delivers the fill and then
replays what it held, so events stay in exchange order and no stream sees live candles jump
ahead of a gap being filled.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol

import attrs

from host_stub.spec import OHLCV, CandleEvent, StatusEvent, StatusKind
from woox_datasource import wire
from woox_datasource.rest.budget import Priority, set_priority
from woox_datasource.stream.candles import (
    DUPLICATE,
    FILL,
    FINAL,
    LATE,
    PROVISIONAL,
    STALE,
    CandleTracker,
    Fill,
)
from woox_datasource.stream.history import fill_priority
from woox_datasource.stream.stats import LogLimiter, StreamStats, log
from woox_datasource.timeframes import Timeframe

if TYPE_CHECKING:
    from woox_datasource.stream.history import HistorySource
    from woox_datasource.stream.live import LiveStream
    from woox_datasource.stream.slot import Slot


assert tuple(a.name for a in attrs.fields(CandleEvent)) == ("candle", "final")
assert all(a.validator is None for a in attrs.fields(CandleEvent))
_new_event = object.__new__
_set_candle = CandleEvent.__dict__["candle"].__set__
_set_final = CandleEvent.__dict__["final"].__set__


def candle_event(candle: OHLCV, final: bool) -> CandleEvent:
    """``CandleEvent(candle, final)`` at a third of the cost: one is built per push, and the
    frozen attrs ``__init__`` goes through ``object.__setattr__`` per field. Same object (the
    asserts above fail at import if CandleEvent ever grows a field or a validator)."""
    event: CandleEvent = _new_event(CandleEvent)
    _set_candle(event, candle)
    _set_final(event, final)
    return event


def hold_push(held: list[wire.KlinePush], push: wire.KlinePush) -> int:
    """Append ``push`` to pushes held back (``held`` non-empty, ascending by candle), keeping
    only the newest state of each candle, so holding costs about one push per candle. Returns
    PROVISIONAL if kept, or DUPLICATE / STALE if dropped."""
    last = held[-1]
    start, last_start = push.candle.open_time, last.candle.open_time
    if start > last_start:
        held.append(push)
    elif start < last_start:
        return STALE
    elif last.ts >= last.candle.close_time:  # the held one closed this candle already
        return DUPLICATE
    elif push.ts >= last.ts:
        held[-1] = push
    else:
        return STALE
    return PROVISIONAL


FILL_PATIENCE_S = 0.5
"""A gap fill not done by then, because it waits for the REST budget, is announced (stale)."""


def seen_upto(topic: Topic) -> int | None:
    """Open time up to which the topic has been fed (candles before it are final or being
    filled; a push for it was seen); None before any push."""
    tracker = topic.tracker
    marks = [tracker.next_open]
    if tracker.live is not None:
        marks.append(tracker.live.open_time)
    if tracker.pending is not None:
        marks.append(tracker.pending.end)
    return max((m for m in marks if m is not None), default=None)


class TopicHost(Protocol):
    stats: StreamStats
    limiter: LogLimiter
    history: HistorySource

    def forget(self, topic: Topic) -> None: ...


class Topic:
    """Finality, gap filling and fan-out for one kline topic of one session."""

    def __init__(self, host: TopicHost, name: str, symbol: str, tf: Timeframe) -> None:
        self._host = host
        self.name = name
        self.symbol = symbol
        self.tf = tf
        self.streams: list[LiveStream] = []
        self.tracker = CandleTracker()
        self.slot: Slot | None = None
        self.subscribed = False
        self.closed = False
        self._held: list[wire.KlinePush] | None = None
        self._fill_task: asyncio.Task[None] | None = None
        self._frontier_waiters: list[asyncio.Future[None]] = []

    @property
    def host(self) -> TopicHost:
        return self._host

    @property
    def history(self) -> HistorySource:
        return self._host.history

    # -- pushes -------------------------------------------------------------------------------

    def on_push(self, push: wire.KlinePush) -> None:
        """Feed one push to the tracker and deliver the outcome (the hot path)."""
        if self._held is not None:
            self._hold(push)
            return
        code = self.tracker.on_push(push.candle, push.ts)
        if code == PROVISIONAL:
            event = candle_event(push.candle, False)
            for stream in self.streams:
                stream.offer_provisional(event)
        elif code == FINAL:
            event = candle_event(push.candle, True)
            for stream in self.streams:
                stream.offer_final(event)
        elif code == FILL:
            self._held = [push]
            if self._fill_task is None:
                self._fill_task = asyncio.get_running_loop().create_task(
                    self._fill(), name=f"woox-stream-fill-{self.name}"
                )
        elif code == DUPLICATE:
            self._host.stats.duplicates += 1
        elif code == LATE:
            self._host.stats.late_updates += 1
            self._host.limiter.warning(
                "late", "%s: update after the candle was final, ignored: %s", self.name, push
            )
        else:
            self._host.stats.stale += 1
        if self._frontier_waiters:
            self._wake_frontier()

    def _hold(self, push: wire.KlinePush) -> None:
        """Keep a push until the fill is done."""
        assert self._held is not None
        outcome = hold_push(self._held, push)
        if outcome == DUPLICATE:
            self._host.stats.duplicates += 1
        elif outcome == STALE:
            self._host.stats.stale += 1

    async def _fill(self) -> None:
        try:
            await self._fill_held()
        except Exception:  # a bug must not leave the topic holding pushes for ever
            log.exception("%s: gap fill failed; dropping it", self.name)
            self._held = None
            self.tracker.pending = None
        finally:
            self._fill_task = None

    async def _fill_held(self) -> None:
        tracker = self.tracker
        history = self._host.history
        while True:
            fill = tracker.pending
            assert fill is not None
            priority = fill_priority(self.tf, fill.start)
            set_priority(priority)
            loop = asyncio.get_running_loop()
            timer = loop.call_later(FILL_PATIENCE_S, self._fill_waits, fill, priority)
            try:
                rows, error = await history.fill(self.symbol, self.tf, fill.start, fill.end)
            finally:
                timer.cancel()
            result = tracker.apply_fill(rows)
            stats = self._host.stats
            stats.fills += 1
            stats.gap_candles += len(result.finals)
            stats.gaps_unfillable += len(result.holes)
            for candle in result.finals:
                event = candle_event(candle, True)
                for stream in self.streams:
                    stream.offer_final(event)
            gap_start = fill.live_start
            for start, end in result.holes:
                if fill.unconfirmed is not None and start == fill.start:
                    why = "its closing push was missed and history could not confirm it"
                else:
                    why = "missed live and not in history"
                reason = f"{why}" + (f" ({error})" if error else "")
                log.warning("%s: candles [%d, %d) unfillable: %s", self.name, start, end, reason)
                self._status(StatusKind.GAP_UNFILLABLE, reason=reason, start=start, end=end)
            count = sum(1 for c in result.finals if c.open_time >= gap_start)
            if count:
                self._status(StatusKind.GAP_FILLED, start=gap_start, end=fill.end, count=count)
            held, self._held = self._held, None
            assert held is not None
            for index, push in enumerate(held):
                self.on_push(push)
                if self._held is not None:  # that push needs another fill first
                    self._held.extend(held[index + 1 :])
                    break
            if self._held is None:
                return

    def _fill_waits(self, fill: Fill, priority: Priority) -> None:
        """The fill is still not done: if it waits for the REST budget, say so and for how
        long (after a reconnect across a candle boundary, every topic of the venue needs one
        read, at 10 per second)."""
        queued = self._host.history.queue_position(priority)
        if queued is not None:
            reason = f"gap fill queued for REST behind {queued[0]} request(s), {queued[1]}"
            self._status(StatusKind.STALE, reason=reason, start=fill.start, end=fill.end)

    # -- frontier (for streams catching up from history) ----------------------------------------

    async def wait_frontier(self) -> int:
        """The open time of the next candle this topic will finalize (waits for a first push)."""
        while (frontier := self.tracker.frontier) is None:
            waiter = asyncio.get_running_loop().create_future()
            self._frontier_waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._frontier_waiters:
                    self._frontier_waiters.remove(waiter)
        return frontier

    def _wake_frontier(self) -> None:
        if self.tracker.frontier is None:
            return
        waiters, self._frontier_waiters = self._frontier_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- lifecycle ----------------------------------------------------------------------------

    def _status(self, kind: StatusKind, **fields: object) -> None:
        event = StatusEvent(kind, self.symbol, self.tf.interval, **fields)  # type: ignore[arg-type]
        for stream in self.streams:
            stream.offer_status(event)

    def status_for_new_stream(self) -> StatusEvent | None:
        if not self.subscribed:
            return None
        return StatusEvent(StatusKind.CONNECTED, self.symbol, self.tf.interval)

    def on_subscribed(self) -> None:
        self.subscribed = True
        self._status(StatusKind.CONNECTED)

    def on_reconnecting(self, reason: str) -> None:
        self.subscribed = False
        self._status(StatusKind.RECONNECTING, reason=reason)

    def on_stale(self, reason: str) -> None:
        """Not live, and not about to be: ``reason`` says why and until when."""
        self._status(StatusKind.STALE, reason=reason)

    def fail(self, exc: Exception) -> None:
        """End every stream of this topic with ``exc`` (unknown symbol, refusal, lost session)."""
        self.closed = True
        self._cancel_fill()
        self._host.forget(self)
        streams, self.streams = self.streams, []
        for stream in streams:
            stream.fail(exc)

    def _cancel_fill(self) -> None:
        task, self._fill_task = self._fill_task, None
        if task is not None:
            task.cancel()
        for waiter in self._frontier_waiters:
            waiter.cancel()
        self._frontier_waiters.clear()

    def shutdown(self) -> list[asyncio.Task[None]]:
        """Stop filling (no stream is left): the fill task is cancelled and returned (to be
        awaited), if there was one."""
        self.closed = True
        task = self._fill_task
        self._cancel_fill()
        return [task] if task is not None else []
