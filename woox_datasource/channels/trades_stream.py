"""The consumer's side of a trades stream: a bounded queue that never loses a trade silently, and
``backfill_from``.

Trades are never conflated. While the consumer keeps up, each one is queued; once its queue is
full, :class:`~.trades_overflow.OverflowGate` drops further trades and counts them, and the loss
is reported in place (``gap_unfillable`` with the first and last dropped trade's times and the
exact count) once the consumer has drained half of the queue.

A backfill is the stream's own: its feed is shared with streams that asked for no past (or for
another one), so the stream runs a private :class:`~.trades_sync.TradeSync` that starts at
``backfill_from`` and treats the feed's output as one more socket. That output holds every trade
after the feed's frontier when the stream attached (the feed delivers each trade exactly once,
in order), which is all the sync needs to join it at an exact seam after reading the past from
REST. Should the feed itself report a window it could not recover while the backfill is still
being read, that "socket" is taken as lost there and a new one begins after the window (its
trades inside the window are partial): the stream reads that window from REST itself, and
reports only what it, too, could not cover. Once the private sync has joined and holds nothing
more back, it steps aside and the feed's events flow straight through.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

from host_stub.spec import StatusEvent, StatusKind, StreamConfig, StreamEvent, TradeEvent
from woox_datasource.channels.trades_overflow import OverflowGate
from woox_datasource.channels.trades_rest import Recovery
from woox_datasource.channels.trades_sync import Event, TradeSync
from woox_datasource.stream.feed import Feed
from woox_datasource.stream.live import LiveStream, StreamEnv
from woox_datasource.stream.stats import log


class TradeSource(Protocol):
    """What a backfilling trades stream needs of its feed."""

    @property
    def frontier(self) -> int | None:
        """Every trade after this millisecond will be delivered (None before a first ack or
        push)."""
        ...


class _Output:
    """The feed's output as a socket of the stream's private sync (one per unbroken run)."""

    __slots__ = ("number",)

    def __init__(self, number: int) -> None:
        self.number = number

    def __repr__(self) -> str:
        return f"<feed output {self.number}>"


class TradesStream(LiveStream):
    """A live trades stream (see the module docstring)."""

    def __init__(self, stream_id: str, *, symbol: str, config: StreamConfig, env: StreamEnv
                 ) -> None:  # fmt: skip
        super().__init__(stream_id, symbol=symbol, config=config, env=env)
        self.gate = OverflowGate(symbol, env.options.queue_capacity)
        self.backfill: TradeSync | None = None
        """The private sync of a backfill, until it has joined the feed's output."""
        self._output = _Output(0)
        self._skip_before: int | None = None
        """Feed trades before this ms are not the private sync's (a window the feed reported)."""
        self._begun = False
        self._recovery: Recovery | None = None

    # -- attaching and backfill ---------------------------------------------------------------

    def attached(self, feed: Feed[Any]) -> None:
        start = self.config.backfill_from
        if start is None:
            return
        sync = self.backfill = TradeSync(self.symbol, backfill_from=start)
        self._recovery = Recovery(sync, feed.host.rest, self._from_backfill, self._room)
        self.spawn(self._run_backfill(self._recovery), "trades-backfill")
        frontier = cast(TradeSource, feed).frontier  # (the channel's feeds: TradesFeed)
        if frontier is not None:
            self.feed_started(frontier)

    def feed_started(self, frontier: int) -> None:
        """The feed delivers every trade after ``frontier`` from now on."""
        sync = self.backfill
        if sync is None or self._begun or self.ended:
            return
        self._begun = True
        self._from_backfill(sync.subscribed(self._output, frontier))

    async def _run_backfill(self, recovery: Recovery) -> None:
        try:
            await recovery.run()
        finally:
            self._recovery = None

    async def _room(self) -> None:
        """Before each backfill read: the consumer has drained half of the queue."""
        await self._queue.wait_below(max(1, self._queue.capacity // 2))

    def _from_backfill(self, events: list[Event]) -> None:
        """Events of the private sync: queued whatever the queue holds (bounded by a page and
        the pushes held meanwhile; the next read waits for room)."""
        queue = self._queue
        for event in events:
            if not queue.push(event):
                queue.push_force(event)
        sync = self.backfill
        if sync is not None and sync.settled:
            self.backfill = None  # joined, nothing held back: the feed's events go straight on
        elif self._recovery is not None and sync is not None and sync.recovering:
            self._recovery.poke()

    def _feed_gap(self, event: StatusEvent) -> None:
        """The feed could not recover ``[start, end)`` while the backfill is still being read:
        its output broke there (see the module docstring)."""
        sync = self.backfill
        assert sync is not None and event.end is not None
        self._from_backfill(sync.lost(self._output))
        self._output = _Output(self._output.number + 1)
        self._skip_before = event.end
        self._from_backfill(sync.subscribed(self._output, event.end - 1))

    # -- producer side (called by the feed, never blocking) -----------------------------------

    def offer_trade(self, event: TradeEvent) -> None:
        if self.ended:
            return
        sync = self.backfill
        if sync is not None:
            skip = self._skip_before
            if skip is not None and event.trade.time < skip:
                return
            self._from_backfill(sync.push(event.trade, self._output))
            return
        queue = self._queue
        gate = self.gate
        if not gate.dropping and len(queue) < gate.capacity:
            queue.push(event)  # (the common case, inline)
            return
        dropping = gate.dropping
        for out in gate.trade(event, len(queue)):
            if not queue.push(out):
                queue.push_force(out)
        if gate.dropping and not dropping:
            self._stats.overflows += 1
            log.warning("%s: consumer too slow (%d events waiting); trades are dropped and "
                        "counted until it catches up", self._id, len(queue))  # fmt: skip

    def offer_status(self, event: StatusEvent) -> None:
        if self.ended:
            return
        sync = self.backfill
        if sync is not None and sync.recovering:
            if event.kind is StatusKind.GAP_UNFILLABLE:
                if self._begun:
                    self._feed_gap(event)
                return  # (before the output began, the window is the backfill's to read)
            if event.kind is StatusKind.GAP_FILLED:
                return  # the backfill reports what it delivered
        report = self.gate.report()
        if report is not None:
            self._queue.push_force(report)
        super().offer_status(event)

    # -- consumer side ------------------------------------------------------------------------

    async def __anext__(self) -> StreamEvent:
        gate = self.gate
        if gate.dropping and len(self._queue) < gate.low_water:
            report = gate.drained()
            if report is not None:
                self._queue.push_force(report)
        return await super().__anext__()
