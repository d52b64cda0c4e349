"""The candle channel's feed: one subscribed (symbol, interval) shared by every stream that asked
for it.

The feed reads each kline push's times (its head: a closing push whole, since a final is
checked before anyone sees it; see :mod:`.candle_kline`), turns it into events through its
:class:`CandleTracker` and fans them out to its streams. When the tracker needs history (a gap,
or a candle whose closing push was missed) the feed holds further pushes, reads REST once for
all its streams, delivers the fill and then replays what it held, so events stay in exchange
order and no stream sees live candles jump ahead of a gap being filled.

During a rotation both connections deliver the topic, each in its own order. Feeding both to the
tracker blindly would let the new connection's first push of candle N+1 arrive before the old
one's closing push of candle N, which looks like a missed closing push (and costs a REST read).
So the new connection's pushes are held back until the old connection has caught up with them
(it delivered a push for the first candle held, or later); then the held pushes are replayed,
the feed listens to the new connection only, and releases the old one: no candle lost or
doubled.
"""

from __future__ import annotations

import asyncio
from typing import Final

import attrs

from host_stub.spec import OHLCV, CandleEvent, Channel, StatusKind
from woox_datasource import wire
from woox_datasource.channels.candle_history import HistorySource, fill_priority
from woox_datasource.channels.candle_kline import Kline, read_kline
from woox_datasource.channels.candle_stream import CandleStream
from woox_datasource.channels.candle_tracker import (
    DUPLICATE,
    FILL,
    FINAL,
    LATE,
    PROVISIONAL,
    STALE,
    CandleTracker,
    Fill,
)
from woox_datasource.rest.budget import Priority, set_priority
from woox_datasource.stream.connection import Connection
from woox_datasource.stream.feed import Feed, FeedHost
from woox_datasource.stream.handover import Handover
from woox_datasource.stream.stats import log
from woox_datasource.timeframes import Timeframe

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


def hold_push(held: list[Kline], push: Kline) -> int:
    """Append ``push`` to pushes held back (``held`` non-empty, ascending by candle), keeping
    only the newest state of each candle, so holding costs about one push per candle. Returns
    PROVISIONAL if kept, or DUPLICATE / STALE if dropped."""
    last = held[-1]
    start, last_start = push.open_time, last.open_time
    if start > last_start:
        held.append(push)
    elif start < last_start:
        return STALE
    elif last.ts >= last.close_time:  # the held one closed this candle already
        return DUPLICATE
    elif push.ts >= last.ts:
        held[-1] = push
    else:
        return STALE
    return PROVISIONAL


_read_kline: Final = read_kline

FILL_PATIENCE_S = 0.5
"""A gap fill not done by then, because it waits for the REST budget, is announced (stale)."""

HISTORY: Final = "candles.history"
"""The session's :class:`HistorySource` (a FeedHost service)."""


def seen_upto(feed: CandleFeed) -> int | None:
    """Open time up to which the feed has been fed (candles before it are final or being
    filled; a push for it was seen); None before any push."""
    tracker = feed.tracker
    marks = [tracker.next_open]
    if tracker.live is not None:
        marks.append(tracker.live.open_time)
    if tracker.pending is not None:
        marks.append(tracker.pending.end)
    return max((m for m in marks if m is not None), default=None)


class CandleFeed(Feed[CandleStream]):
    """Finality, gap filling and fan-out for one kline topic of one session."""

    channel = Channel.CANDLES

    def __init__(self, host: FeedHost, name: str, symbol: str, tf: Timeframe) -> None:
        super().__init__(host, name, symbol)
        self.tf = tf
        self.interval = tf.interval
        self._ws_type = tf.ws_type or ""
        self.tracker = CandleTracker()
        self._held: list[Kline] | None = None
        """Pushes held while a fill is pending."""
        self._fill_task: asyncio.Task[None] | None = None
        self._frontier_waiters: list[asyncio.Future[None]] = []
        self._handover: Handover | None = None
        self._moved = False
        """In a rotation: the new connection is the one fed now."""
        self._from_new: list[Kline] | None = None
        """In a rotation: the new connection's pushes held until the old one caught up."""

    @property
    def history(self) -> HistorySource:
        host = self.host
        return host.service(HISTORY, lambda: HistorySource(host.rest, host.options, host.rng))

    # -- pushes -------------------------------------------------------------------------------

    def on_push(self, push: wire.Push, source: Connection) -> None:
        """Read one push (its head, or all of it if it closes its candle), feed it to the
        tracker and deliver the outcome (the hot path)."""
        try:
            kline = _read_kline(push, self.symbol, self._ws_type)
        except wire.MalformedFrame as exc:
            self.malformed(exc)
            return
        if self._handover is None:
            self._apply(kline)
        else:
            self._rotating(kline, source, self._handover)

    def _apply(self, push: Kline) -> None:
        if self._held is not None:
            self._hold(push)
            return
        candle = push.decoded
        code = self.tracker.on_push(push if candle is None else candle, push.ts)
        if code == PROVISIONAL:
            for stream in self.streams:
                stream.offer_provisional(push)
        elif code == FINAL:
            assert candle is not None  # (a closing push is decoded whole: see on_push)
            event = candle_event(candle, True)
            for stream in self.streams:
                stream.offer_final(event)
        elif code == FILL:
            self._held = [push]
            if self._fill_task is None:
                self._fill_task = self.spawn(self._fill(), "fill")
        elif code == DUPLICATE:
            self.host.stats.duplicates += 1
        elif code == LATE:
            self.host.stats.late_updates += 1
            self.host.limiter.warning(
                "late", "%s: update after the candle was final, ignored: %s", self.name, push
            )
        else:
            self.host.stats.stale += 1
        if self._frontier_waiters:
            self._wake_frontier()

    def _hold(self, push: Kline) -> None:
        """Keep a push until the fill is done."""
        assert self._held is not None
        outcome = hold_push(self._held, push)
        if outcome == DUPLICATE:
            self.host.stats.duplicates += 1
        elif outcome == STALE:
            self.host.stats.stale += 1

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
        history = self.history
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
            stats = self.host.stats
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
                self.status(StatusKind.GAP_UNFILLABLE, reason=reason, start=start, end=end)
            count = sum(1 for c in result.finals if c.open_time >= gap_start)
            if count:
                self.status(StatusKind.GAP_FILLED, start=gap_start, end=fill.end, count=count)
            held, self._held = self._held, None
            assert held is not None
            for index, push in enumerate(held):
                self._apply(push)
                if self._held is not None:  # that push needs another fill first
                    self._held.extend(held[index + 1 :])
                    break
            if self._held is None:
                return

    def _fill_waits(self, fill: Fill, priority: Priority) -> None:
        """The fill is still not done: if it waits for the REST budget, say so and for how
        long (after a reconnect across a candle boundary, every topic of the venue needs one
        read, at 10 per second)."""
        queued = self.history.queue_position(priority)
        if queued is not None:
            reason = f"gap fill queued for REST behind {queued[0]} request(s), {queued[1]}"
            self.status(StatusKind.STALE, reason=reason, start=fill.start, end=fill.end)

    # -- frontier (for streams catching up from history) ----------------------------------------

    @property
    def frontier(self) -> int | None:
        """The open time of the next candle this feed will finalize (None before a push)."""
        return self.tracker.frontier

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

    # -- rotation -----------------------------------------------------------------------------

    def begin_handover(self, handover: Handover) -> None:
        self.subscribed = False
        self.status(StatusKind.RECONNECTING, reason=handover.reason)
        self._handover = handover
        self._moved = False
        self._from_new = None

    def _rotating(self, push: Kline, source: Connection, handover: Handover) -> None:
        """A push during a rotation (see the module docstring)."""
        if source is handover.old:
            if self._moved:
                self.host.stats.duplicates += 1  # the new connection carries the topic now
                return
            self._apply(push)
            if self._from_new:
                self._check_caught_up()
        elif self._moved:
            self._apply(push)
        else:
            held = self._from_new
            if held is None:
                self._from_new = [push]
            else:
                outcome = hold_push(held, push)
                if outcome == DUPLICATE:
                    self.host.stats.duplicates += 1
                elif outcome == STALE:
                    self.host.stats.stale += 1
            self._check_caught_up()

    def _check_caught_up(self) -> None:
        held = self._from_new
        assert held
        fed = seen_upto(self)
        if fed is not None and fed >= held[0].open_time:
            self._move()

    def _move(self) -> None:
        """Listen to the new connection only, from the pushes it held on."""
        self._moved = True
        held, self._from_new = self._from_new, None
        if self._handover is not None:
            self._handover.release(self.name)
        for push in held or ():
            self._apply(push)

    def end_handover(self, handover: Handover, completed: bool) -> None:
        if handover is not self._handover:
            return
        if completed:
            if not self._moved:
                self._move()  # the overlap ran out, or the old connection is gone
        else:
            self._from_new = None  # the new connection is dropped with what it sent
            super().end_handover(handover, completed)
        self._handover = None
        self._moved = False

    # -- lifecycle ----------------------------------------------------------------------------

    def _cancel_waiters(self) -> None:
        self._fill_task = None
        for waiter in self._frontier_waiters:
            waiter.cancel()
        self._frontier_waiters.clear()

    def fail(self, error: Exception) -> None:
        self._cancel_waiters()
        super().fail(error)

    def shutdown(self) -> list[asyncio.Task[None]]:
        self._cancel_waiters()
        return super().shutdown()
