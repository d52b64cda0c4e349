"""A consumer too slow for the tape: trades beyond the queue's capacity are counted, not hidden.

Trades cannot be conflated (each one is a fact, unlike a provisional candle), and holding them
all would let a stalled consumer grow memory without bound. So once a stream's queue is full,
further trades are dropped, but counted with the exchange times of the first and the last one
dropped; when the consumer has drained the queue below its low-water mark the count is reported
as one ``gap_unfillable`` status, placed exactly where the trades were lost:
``[start, end)`` runs from the first dropped trade's millisecond to just after the last one's,
and ``count`` is the exact number dropped (the trades of that window the consumer did receive
are real and each appears once). Dropping continues until the low-water mark is reached, so a
consumer hovering at capacity sees one report per stall, not one per trade.

Status events (gaps the channel reports, connection health) are never dropped here; one that
arrives while trades are being dropped first flushes the loss counted so far, so that reports
stay in exchange-time order.
"""

from __future__ import annotations

from host_stub.spec import Channel, StatusEvent, StatusKind, Trade, TradeEvent

Event = TradeEvent | StatusEvent


class OverflowGate:
    """Decides, per event, what a bounded queue of one trades stream takes (pure: the caller
    passes the number of events waiting and queues what is returned, statuses past capacity
    too)."""

    __slots__ = ("_count", "_dropping", "_first", "_last", "capacity", "low_water", "symbol")

    def __init__(self, symbol: str, capacity: int, low_water: int | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.symbol = symbol
        self.capacity = capacity
        self.low_water = max(1, capacity // 2) if low_water is None else low_water
        if not 1 <= self.low_water <= capacity:
            raise ValueError(f"low_water must be in [1, {capacity}], got {low_water}")
        self._dropping = False
        self._count = 0
        self._first = 0
        self._last = 0

    @property
    def dropping(self) -> bool:
        return self._dropping

    @property
    def dropped(self) -> int:
        """Trades dropped and not reported yet."""
        return self._count

    def trade(self, event: TradeEvent, waiting: int) -> list[Event]:
        """What to queue for ``event`` while ``waiting`` events wait: ``[event]``, nothing
        (dropped and counted), or the loss report followed by ``event``."""
        if self._dropping:
            if waiting >= self.low_water:
                self._drop(event.trade)
                return []
            self._dropping = False
            report = self.report()
            return [report, event] if report is not None else [event]
        if waiting >= self.capacity:
            self._dropping = True
            self._drop(event.trade)
            return []
        return [event]

    def status(self, event: StatusEvent) -> list[Event]:
        """A status is always queued; a loss counted before it is reported first."""
        report = self.report()
        return [report, event] if report is not None else [event]

    def drained(self) -> StatusEvent | None:
        """The consumer has drained the queue below the low-water mark: stop dropping, and
        the loss counted (if any), to be queued now rather than with the next event (a quiet
        market may not send one for a while)."""
        self._dropping = False
        return self.report()

    def report(self) -> StatusEvent | None:
        """The loss counted since the last report, if any (and forget it)."""
        if not self._count:
            return None
        count, self._count = self._count, 0
        reason = (f"consumer too slow: {count} trades dropped while {self.capacity} events "
                  "waited")  # fmt: skip
        return StatusEvent(StatusKind.GAP_UNFILLABLE, self.symbol, None, reason, self._first,
                           self._last + 1, count, Channel.TRADES)  # fmt: skip

    def _drop(self, trade: Trade) -> None:
        if not self._count:
            self._first = trade.time
        self._last = trade.time
        self._count += 1
